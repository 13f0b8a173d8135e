/**
 * What each edge node must hold, computed from the API server alone: an
 * independent re-statement of the routing rules (cloud/hub/routing.ts is
 * deliberately not imported, so a bug there cannot hide itself). A node
 * holds its own Node, the Pods bound to it, the ConfigMaps and Secrets those
 * Pods reference (volumes, projected sources, env, envFrom, imagePullSecrets;
 * only those that exist), the Devices bound to it and the DeviceModels they
 * use. Each entry is key → resourceVersion, keys in edge/protocol's format.
 */
import type { KubeClient } from '../../controllers/runtime/index.ts';

export interface ApiObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion: string; uid?: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export interface ApiSnapshot {
  nodes: Map<string, ApiObject>;
  /** Pods bound to each node. */
  podsByNode: Map<string, ApiObject[]>;
  /** namespace/name → object. */
  configMaps: Map<string, ApiObject>;
  secrets: Map<string, ApiObject>;
  devices: ApiObject[];
  deviceModels: Map<string, ApiObject>;
}

const DEVICES_GV = 'devices.kubeedge.io/v1beta1';

export const keys = {
  node: (name: string) => `v1/Node//${name}`,
  pod: (ns: string, name: string) => `v1/Pod/${ns}/${name}`,
  configMap: (ns: string, name: string) => `v1/ConfigMap/${ns}/${name}`,
  secret: (ns: string, name: string) => `v1/Secret/${ns}/${name}`,
  device: (ns: string, name: string) => `${DEVICES_GV}/Device/${ns}/${name}`,
  deviceModel: (ns: string, name: string) => `${DEVICES_GV}/DeviceModel/${ns}/${name}`,
};

type Named = { name?: string } | undefined;
interface ContainerRefs {
  env?: { valueFrom?: { configMapKeyRef?: Named; secretKeyRef?: Named } }[];
  envFrom?: { configMapRef?: Named; secretRef?: Named }[];
}
interface PodSpecRefs {
  volumes?: { configMap?: Named; secret?: { secretName?: string }; projected?: { sources?: { configMap?: Named; secret?: Named }[] } }[];
  containers?: ContainerRefs[];
  initContainers?: ContainerRefs[];
  imagePullSecrets?: Named[];
}

/** ConfigMap and Secret names a pod spec references (whether or not they exist). */
export function referencedNames(spec: unknown): { configMaps: Set<string>; secrets: Set<string> } {
  const s = (spec ?? {}) as PodSpecRefs;
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  const cm = (n: string | undefined) => void (n && configMaps.add(n));
  const sec = (n: string | undefined) => void (n && secrets.add(n));
  for (const v of s.volumes ?? []) {
    cm(v.configMap?.name);
    sec(v.secret?.secretName);
    for (const p of v.projected?.sources ?? []) {
      cm(p.configMap?.name);
      sec(p.secret?.name);
    }
  }
  for (const c of [...(s.containers ?? []), ...(s.initContainers ?? [])]) {
    for (const e of c.env ?? []) {
      cm(e.valueFrom?.configMapKeyRef?.name);
      sec(e.valueFrom?.secretKeyRef?.name);
    }
    for (const e of c.envFrom ?? []) {
      cm(e.configMapRef?.name);
      sec(e.secretRef?.name);
    }
  }
  for (const p of s.imagePullSecrets ?? []) sec(p?.name);
  return { configMaps, secrets };
}

/** key → resourceVersion of everything `node` must hold. Pure. */
export function expectedInventory(node: string, s: ApiSnapshot): Map<string, string> {
  const out = new Map<string, string>();
  const n = s.nodes.get(node);
  if (n) out.set(keys.node(node), n.metadata.resourceVersion);
  for (const pod of s.podsByNode.get(node) ?? []) {
    const ns = pod.metadata.namespace ?? '';
    out.set(keys.pod(ns, pod.metadata.name), pod.metadata.resourceVersion);
    const refs = referencedNames(pod.spec);
    for (const name of refs.configMaps) {
      const o = s.configMaps.get(`${ns}/${name}`);
      if (o) out.set(keys.configMap(ns, name), o.metadata.resourceVersion);
    }
    for (const name of refs.secrets) {
      const o = s.secrets.get(`${ns}/${name}`);
      if (o) out.set(keys.secret(ns, name), o.metadata.resourceVersion);
    }
  }
  for (const d of s.devices) {
    if ((d.spec as { nodeName?: string } | undefined)?.nodeName !== node) continue;
    const ns = d.metadata.namespace ?? '';
    out.set(keys.device(ns, d.metadata.name), d.metadata.resourceVersion);
    const model = (d.spec as { deviceModelRef?: { name?: string } }).deviceModelRef?.name;
    const m = model ? s.deviceModels.get(`${ns}/${model}`) : undefined;
    if (m) out.set(keys.deviceModel(ns, model!), m.metadata.resourceVersion);
  }
  return out;
}

/** Reads what expectedInventory needs for `nodes` from the API server. */
export async function readSnapshot(client: KubeClient, nodes: readonly string[]): Promise<ApiSnapshot> {
  const s: ApiSnapshot = { nodes: new Map(), podsByNode: new Map(), configMaps: new Map(), secrets: new Map(), devices: [], deviceModels: new Map() };
  const namespaces = new Set<string>();
  for (const name of nodes) {
    const n = await client.get<ApiObject>({ apiVersion: 'v1', kind: 'Node', name });
    if (n) s.nodes.set(name, n);
    const pods = (await client.list<ApiObject>('/api/v1/pods', { fieldSelector: `spec.nodeName=${name}` })).items;
    s.podsByNode.set(name, pods);
    for (const p of pods) namespaces.add(p.metadata.namespace ?? '');
  }
  try {
    s.devices = (await client.list<ApiObject>(`/apis/${DEVICES_GV}/devices`)).items.filter((d) => nodes.includes((d.spec as { nodeName?: string } | undefined)?.nodeName ?? ''));
  } catch {
    s.devices = []; // CRDs not installed
  }
  for (const d of s.devices) namespaces.add(d.metadata.namespace ?? '');
  for (const ns of namespaces) {
    for (const c of (await client.list<ApiObject>(`/api/v1/namespaces/${ns}/configmaps`)).items) s.configMaps.set(`${ns}/${c.metadata.name}`, c);
    for (const c of (await client.list<ApiObject>(`/api/v1/namespaces/${ns}/secrets`)).items) s.secrets.set(`${ns}/${c.metadata.name}`, c);
    if (s.devices.some((d) => d.metadata.namespace === ns)) {
      for (const m of (await client.list<ApiObject>(`/apis/${DEVICES_GV}/namespaces/${ns}/devicemodels`)).items) s.deviceModels.set(`${ns}/${m.metadata.name}`, m);
    }
  }
  return s;
}

/** Keys that differ between what an edge has and what it should have (for failure messages). */
export function diff(have: ReadonlyMap<string, string>, want: ReadonlyMap<string, string>): { missing: string[]; extra: string[]; stale: string[] } {
  const missing = [...want.keys()].filter((k) => !have.has(k));
  const extra = [...have.keys()].filter((k) => !want.has(k));
  const stale = [...want.keys()].filter((k) => have.has(k) && have.get(k) !== want.get(k));
  return { missing, extra, stale };
}
