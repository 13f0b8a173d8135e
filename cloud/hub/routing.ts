/**
 * Per-node routing sets, maintained incrementally from shared informer events
 * (one watch per resource type, never one per node). A node's routing set is:
 * its own Node object; the pods bound to it; the ConfigMaps and Secrets those
 * pods reference (volumes, projected sources, env, envFrom, imagePullSecrets);
 * the Devices whose spec.nodeName is the node; and the DeviceModels those
 * Devices use. Pure data structure: no I/O, no timers.
 */
import { formatKey } from '../../edge/protocol/index.ts';

/** The smallest shape of a Kubernetes object the index reads. */
export interface RoutedObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string };
  spec?: unknown;
}

export const kinds = {
  node: { apiVersion: 'v1', kind: 'Node' },
  pod: { apiVersion: 'v1', kind: 'Pod' },
  configMap: { apiVersion: 'v1', kind: 'ConfigMap' },
  secret: { apiVersion: 'v1', kind: 'Secret' },
  device: { apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device' },
  deviceModel: { apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'DeviceModel' },
} as const;

/** The protocol key for apiVersion/kind/namespace/name (`v1/Pod/ns/name`, `v1/Node//n1`). */
export function objectKey(apiVersion: string, kind: string, namespace: string, name: string): string {
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  return formatKey({ group, version, kind, namespace, name });
}

/** The protocol key of an object; `fallback` supplies apiVersion/kind when the object lacks them (informer caches often do). */
export function keyOf(obj: RoutedObject, fallback?: { apiVersion: string; kind: string }): string {
  return objectKey(obj.apiVersion ?? fallback?.apiVersion ?? '', obj.kind ?? fallback?.kind ?? '', obj.metadata?.namespace ?? '', obj.metadata?.name ?? '');
}

function nsKey(kind: { apiVersion: string; kind: string }, namespace: string, name: string): string {
  return objectKey(kind.apiVersion, kind.kind, namespace, name);
}

interface PodSpecLike {
  nodeName?: string;
  volumes?: { configMap?: { name?: string }; secret?: { secretName?: string }; projected?: { sources?: { configMap?: { name?: string }; secret?: { name?: string } }[] } }[];
  containers?: ContainerLike[];
  initContainers?: ContainerLike[];
  imagePullSecrets?: { name?: string }[];
}
interface ContainerLike {
  env?: { valueFrom?: { configMapKeyRef?: { name?: string }; secretKeyRef?: { name?: string } } }[];
  envFrom?: { configMapRef?: { name?: string }; secretRef?: { name?: string } }[];
}

/** Keys of the ConfigMaps and Secrets a pod references (same namespace). */
export function podReferences(pod: RoutedObject): string[] {
  const ns = pod.metadata?.namespace ?? '';
  const spec = (pod.spec ?? {}) as PodSpecLike;
  const out = new Set<string>();
  const cm = (n?: string) => n && out.add(nsKey(kinds.configMap, ns, n));
  const sec = (n?: string) => n && out.add(nsKey(kinds.secret, ns, n));
  for (const v of spec.volumes ?? []) {
    cm(v.configMap?.name);
    sec(v.secret?.secretName);
    for (const s of v.projected?.sources ?? []) {
      cm(s.configMap?.name);
      sec(s.secret?.name);
    }
  }
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    for (const e of c.env ?? []) {
      cm(e.valueFrom?.configMapKeyRef?.name);
      sec(e.valueFrom?.secretKeyRef?.name);
    }
    for (const e of c.envFrom ?? []) {
      cm(e.configMapRef?.name);
      sec(e.secretRef?.name);
    }
  }
  for (const s of spec.imagePullSecrets ?? []) sec(s.name);
  return [...out].sort();
}

/** A change in who should receive which key. */
export interface RouteChange {
  node: string;
  key: string;
  routed: boolean;
}

/** Counts references so a key shared by several pods/devices of one node is routed once. */
class RefCounts {
  readonly #byNode = new Map<string, Map<string, number>>();

  /** Returns true when the key became routed for the node. */
  inc(node: string, key: string): boolean {
    let m = this.#byNode.get(node);
    if (!m) this.#byNode.set(node, (m = new Map()));
    const n = (m.get(key) ?? 0) + 1;
    m.set(key, n);
    return n === 1;
  }

  /** Returns true when the key stopped being routed for the node. */
  dec(node: string, key: string): boolean {
    const m = this.#byNode.get(node);
    const n = m?.get(key);
    if (!m || n === undefined) return false;
    if (n > 1) {
      m.set(key, n - 1);
      return false;
    }
    m.delete(key);
    if (m.size === 0) this.#byNode.delete(node);
    return true;
  }

  keys(node: string): IterableIterator<string> {
    return (this.#byNode.get(node) ?? new Map<string, number>()).keys();
  }

  has(node: string, key: string): boolean {
    return this.#byNode.get(node)?.has(key) ?? false;
  }
}

interface Holder {
  node: string;
  refs: string[];
}

/**
 * The routing index. Feed it every informer event of the routed kinds with
 * `upsert(kind, obj)` / `remove(kind, obj)`; each call returns the route
 * changes it caused. `nodesFor(key)` answers "who must receive a new version
 * of this object". Node, Pod and Device objects route themselves; ConfigMaps,
 * Secrets and DeviceModels are routed through the objects that reference them.
 */
export class RoutingIndex {
  readonly #refs = new RefCounts();
  /** Pods and Devices: key → (node, referenced keys). */
  readonly #holders = new Map<string, Holder>();
  /** key → nodes that receive it (reverse of #refs). */
  readonly #receivers = new Map<string, Set<string>>();

  #route(node: string, key: string, out: RouteChange[]): void {
    if (!this.#refs.inc(node, key)) return;
    let s = this.#receivers.get(key);
    if (!s) this.#receivers.set(key, (s = new Set()));
    s.add(node);
    out.push({ node, key, routed: true });
  }

  #unroute(node: string, key: string, out: RouteChange[]): void {
    if (!this.#refs.dec(node, key)) return;
    const s = this.#receivers.get(key);
    s?.delete(node);
    if (s?.size === 0) this.#receivers.delete(key);
    out.push({ node, key, routed: false });
  }

  #setHolder(key: string, next: Holder | undefined, out: RouteChange[]): void {
    const prev = this.#holders.get(key);
    if (next) {
      this.#holders.set(key, next);
      this.#route(next.node, key, out);
      for (const r of next.refs) this.#route(next.node, r, out);
    } else {
      this.#holders.delete(key);
    }
    if (prev) {
      for (const r of prev.refs) this.#unroute(prev.node, r, out);
      this.#unroute(prev.node, key, out);
    }
  }

  /** Records an added or updated object; returns the route changes. */
  upsert(kind: keyof typeof kinds, obj: RoutedObject): RouteChange[] {
    const out: RouteChange[] = [];
    const key = keyOf(obj, kinds[kind]);
    switch (kind) {
      case 'node': {
        const name = obj.metadata?.name ?? '';
        if (!this.#holders.has(key)) this.#setHolder(key, { node: name, refs: [] }, out);
        break;
      }
      case 'pod': {
        const node = (obj.spec as PodSpecLike | undefined)?.nodeName;
        this.#setHolder(key, node ? { node, refs: podReferences(obj) } : undefined, out);
        break;
      }
      case 'device': {
        const spec = (obj.spec ?? {}) as { nodeName?: string; deviceModelRef?: { name?: string } };
        const model = spec.deviceModelRef?.name;
        const refs = model ? [nsKey(kinds.deviceModel, obj.metadata?.namespace ?? '', model)] : [];
        this.#setHolder(key, spec.nodeName ? { node: spec.nodeName, refs } : undefined, out);
        break;
      }
      case 'configMap':
      case 'secret':
      case 'deviceModel':
        break; // routed through their holders
    }
    return out;
  }

  /** Records a deleted object; returns the route changes. */
  remove(kind: keyof typeof kinds, obj: RoutedObject): RouteChange[] {
    const out: RouteChange[] = [];
    if (kind === 'node' || kind === 'pod' || kind === 'device') this.#setHolder(keyOf(obj, kinds[kind]), undefined, out);
    return out;
  }

  /** Nodes that must receive `key`. */
  nodesFor(key: string): ReadonlySet<string> {
    return this.#receivers.get(key) ?? new Set();
  }

  /** The node's routing set. */
  keysFor(node: string): string[] {
    return [...this.#refs.keys(node)];
  }

  isRouted(node: string, key: string): boolean {
    return this.#refs.has(node, key);
  }
}
