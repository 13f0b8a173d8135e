/**
 * HubSources backed by the manager's shared informers: one watch per routed
 * resource type (Nodes, Pods, ConfigMaps, Secrets, Devices, DeviceModels),
 * never one per node. The same caches answer the report authorizer.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { parseKey } from '../../edge/protocol/index.ts';
import { collectionPath, type Informer, type SharedInformerFactory } from '../../controllers/runtime/index.ts';
import type { HubSources, RoutedKind } from './hub.ts';
import { kinds, type RoutedObject } from './routing.ts';

const plurals: Record<RoutedKind, string> = {
  node: 'nodes', pod: 'pods', configMap: 'configmaps', secret: 'secrets', device: 'devices', deviceModel: 'devicemodels',
};

export class InformerSources implements HubSources {
  readonly informers: Record<RoutedKind, Informer<KubernetesObject>>;
  readonly #byKind = new Map<string, Informer<KubernetesObject>>();

  constructor(factory: SharedInformerFactory) {
    const entries = (Object.keys(kinds) as RoutedKind[]).map((k) => {
      const inf = factory.informerFor<KubernetesObject>(collectionPath(kinds[k].apiVersion, plurals[k]));
      this.#byKind.set(`${kinds[k].apiVersion}/${kinds[k].kind}`, inf);
      return [k, inf] as const;
    });
    this.informers = Object.fromEntries(entries) as Record<RoutedKind, Informer<KubernetesObject>>;
  }

  get(key: string): (RoutedObject & Record<string, unknown>) | undefined {
    let ref;
    try {
      ref = parseKey(key);
    } catch {
      return undefined;
    }
    const apiVersion = ref.group ? `${ref.group}/${ref.version}` : ref.version;
    const inf = this.#byKind.get(`${apiVersion}/${ref.kind}`);
    return inf?.get(ref.name, ref.namespace || undefined) as (RoutedObject & Record<string, unknown>) | undefined;
  }

  onChange(cb: (kind: RoutedKind, type: 'add' | 'update' | 'delete', obj: RoutedObject) => void): void {
    for (const [kind, inf] of Object.entries(this.informers) as [RoutedKind, Informer<KubernetesObject>][]) {
      inf.onChange((type, obj) => cb(kind, type, obj as RoutedObject));
    }
  }
}
