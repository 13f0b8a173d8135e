/**
 * Read-only views of other objects that validators need (a Device's
 * DeviceModel, the Devices of a model, Nodes, NodeGroups, Namespaces).
 *
 * Production reads informer caches. A cache can lag the API server by a few
 * milliseconds: `kubectl apply` of a DeviceModel and its Device in one file
 * may ask about the Device before the cache has seen the model. So
 * `InformerLookups.run` records every lookup by name that missed the cache
 * and every list it consulted, reads exactly those from the API server and
 * runs the validator once more against them. Lists (the Devices of a
 * namespace, all NodeGroups) are only consulted by the DeviceModel, NodeGroup
 * and EdgeApplication webhooks, whose objects are written rarely; Pods and
 * Devices, written often, are answered from the cache unless a name misses.
 * A read that fails or times out leaves the cache's answer standing.
 */
import type * as k8s from '@kubernetes/client-node';
import { DeviceGVK, DeviceModelGVK, NodeGroupGVK, type Device, type DeviceModel, type NodeGroup } from '../api/index.ts';
import { collectionPath, KubeApiError, objectKey, type Informer, type KubeClient, type SharedInformerFactory } from '../controllers/runtime/index.ts';

/** Read-only views of the objects validators need; `undefined` means the object does not exist. */
export interface Lookups {
  deviceModel(namespace: string, name: string): DeviceModel | undefined;
  /** Devices in `namespace`. */
  devices(namespace: string): readonly Device[];
  node(name: string): k8s.V1Node | undefined;
  nodeGroup(name: string): NodeGroup | undefined;
  nodeGroups(): readonly NodeGroup[];
  namespace(name: string): k8s.V1Namespace | undefined;
}

/** Runs a validator against lookups; async because a cache miss may be re-read from the API server. */
export interface LookupProvider {
  run<R>(fn: (lookups: Lookups) => R): Promise<R>;
}

/** The objects of {@link staticLookups}. */
export interface StaticObjects {
  deviceModels?: DeviceModel[];
  devices?: Device[];
  nodes?: k8s.V1Node[];
  nodeGroups?: NodeGroup[];
  namespaces?: k8s.V1Namespace[];
}

const keyOf = (o: k8s.KubernetesObject) => objectKey(o.metadata);

/** Lookups over plain arrays (unit tests, and the overlay of objects read after a cache miss). */
export function staticLookups(objs: StaticObjects): Lookups {
  const index = <T extends k8s.KubernetesObject>(list: T[] | undefined) => new Map((list ?? []).map((o) => [keyOf(o), o]));
  const models = index(objs.deviceModels);
  const nodes = index(objs.nodes);
  const groups = index(objs.nodeGroups);
  const namespaces = index(objs.namespaces);
  return {
    deviceModel: (ns, name) => models.get(`${ns}/${name}`),
    devices: (ns) => (objs.devices ?? []).filter((d) => d.metadata?.namespace === ns),
    node: (name) => nodes.get(name),
    nodeGroup: (name) => groups.get(name),
    nodeGroups: () => [...groups.values()],
    namespace: (name) => namespaces.get(name),
  };
}

/** A LookupProvider over fixed lookups. */
export const staticProvider = (lookups: Lookups): LookupProvider => ({ run: async (fn) => fn(lookups) });

type GetKind = 'deviceModel' | 'node' | 'nodeGroup' | 'namespace';

const refFor: Record<GetKind, { apiVersion: string; kind: string }> = {
  deviceModel: { apiVersion: DeviceModelGVK.apiVersion, kind: DeviceModelGVK.kind },
  node: { apiVersion: 'v1', kind: 'Node' },
  nodeGroup: { apiVersion: NodeGroupGVK.apiVersion, kind: NodeGroupGVK.kind },
  namespace: { apiVersion: 'v1', kind: 'Namespace' },
};

/** The collection paths the webhooks watch. */
export const lookupPaths = {
  deviceModels: collectionPath(DeviceModelGVK.apiVersion, DeviceModelGVK.plural),
  devices: collectionPath(DeviceGVK.apiVersion, DeviceGVK.plural),
  nodes: collectionPath('v1', 'nodes'),
  nodeGroups: collectionPath(NodeGroupGVK.apiVersion, NodeGroupGVK.plural),
  namespaces: collectionPath('v1', 'namespaces'),
} as const;

/** What a first run consulted that the cache may not know yet: `get:<kind>:<key>` and `list:<path>` entries. */
type Reads = Set<string>;

/** Lookups backed by shared informers, re-reading misses and lists from the API server (see the file comment). */
export class InformerLookups implements LookupProvider {
  readonly #inf: {
    deviceModels: Informer<DeviceModel>;
    devices: Informer<Device>;
    nodes: Informer<k8s.V1Node>;
    nodeGroups: Informer<NodeGroup>;
    namespaces: Informer<k8s.V1Namespace>;
  };
  readonly #client: KubeClient;
  readonly #timeoutMs: number;

  /** Registers (does not start) the five informers on `factory`. */
  constructor(factory: SharedInformerFactory, client: KubeClient, opts: { liveReadTimeoutMs?: number } = {}) {
    this.#inf = {
      deviceModels: factory.informerFor<DeviceModel>(lookupPaths.deviceModels),
      devices: factory.informerFor<Device>(lookupPaths.devices),
      nodes: factory.informerFor<k8s.V1Node>(lookupPaths.nodes),
      nodeGroups: factory.informerFor<NodeGroup>(lookupPaths.nodeGroups),
      namespaces: factory.informerFor<k8s.V1Namespace>(lookupPaths.namespaces),
    };
    this.#client = client;
    this.#timeoutMs = opts.liveReadTimeoutMs ?? 2_000;
  }

  /** The informers this provider reads (all must have synced before the webhooks are registered). */
  informers(): Informer[] {
    return Object.values(this.#inf) as unknown as Informer[];
  }

  /** Lookups over the caches; `live` answers what was re-read, `reads` records what to re-read. */
  #lookups(live: Map<string, unknown>, reads: Reads | undefined): Lookups {
    const inf = this.#inf;
    const get = <T extends k8s.KubernetesObject>(kind: GetKind, informer: Informer<T>, name: string, namespace?: string): T | undefined => {
      const key = `get:${kind}:${objectKey({ namespace, name })}`;
      const hit = live.has(key) ? (live.get(key) as T | undefined) : informer.get(name, namespace);
      if (!hit && reads && name) reads.add(key);
      return hit;
    };
    const list = <T extends k8s.KubernetesObject>(path: string, cached: () => readonly T[]): readonly T[] => {
      const key = `list:${path}`;
      reads?.add(key);
      return live.has(key) ? (live.get(key) as T[]) : cached();
    };
    return {
      deviceModel: (ns, name) => get('deviceModel', inf.deviceModels, name, ns),
      devices: (ns) => list(collectionPath(DeviceGVK.apiVersion, DeviceGVK.plural, ns), () => inf.devices.list(ns)),
      node: (name) => get('node', inf.nodes, name),
      nodeGroup: (name) => get('nodeGroup', inf.nodeGroups, name),
      nodeGroups: () => list(lookupPaths.nodeGroups, () => inf.nodeGroups.list()),
      namespace: (name) => get('namespace', inf.namespaces, name),
    };
  }

  async #read(key: string): Promise<unknown> {
    if (key.startsWith('list:')) return (await this.#client.list<k8s.KubernetesObject>(key.slice(5), { timeoutMs: this.#timeoutMs })).items;
    const [, kind, ref] = /^get:([^:]+):(.*)$/.exec(key)!;
    const [namespace, name] = ref!.includes('/') ? ref!.split('/') : [undefined, ref];
    const path = await this.#client.pathFor({ ...refFor[kind as GetKind], name, namespace });
    try {
      return await this.#client.request<k8s.KubernetesObject>('GET', path, { timeoutMs: this.#timeoutMs });
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404) return undefined; // confirmed absent
      throw err;
    }
  }

  async run<R>(fn: (lookups: Lookups) => R): Promise<R> {
    const reads: Reads = new Set();
    const first = fn(this.#lookups(new Map(), reads));
    if (reads.size === 0) return first;
    const live = new Map<string, unknown>();
    await Promise.all([...reads].map(async (key) => {
      try {
        live.set(key, await this.#read(key));
      } catch {
        // Timeout or transport error: the cache's answer stands for this read.
      }
    }));
    return live.size === 0 ? first : fn(this.#lookups(live, undefined));
  }
}
