/** HubSources over a Map for hub tests without an API server. */
import type { HubSources, RoutedKind } from '../../cloud/hub/hub.ts';
import { keyOf, kinds, type RoutedObject } from '../../cloud/hub/routing.ts';

/** HubSources over a Map, for tests: put()/remove() fire the change callbacks like informers do. */
export class MemorySources implements HubSources {
  readonly objects = new Map<string, RoutedObject & Record<string, unknown>>();
  readonly #cbs: ((kind: RoutedKind, type: 'add' | 'update' | 'delete', obj: RoutedObject) => void)[] = [];
  #rv = 100;

  get(key: string) {
    return this.objects.get(key);
  }

  onChange(cb: (kind: RoutedKind, type: 'add' | 'update' | 'delete', obj: RoutedObject) => void): void {
    this.#cbs.push(cb);
  }

  put(kind: RoutedKind, obj: RoutedObject & Record<string, unknown>): void {
    const o = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.#rv) } };
    const key = keyOf(o, kinds[kind]);
    const type = this.objects.has(key) ? 'update' : 'add';
    this.objects.set(key, o);
    for (const cb of this.#cbs) cb(kind, type, o);
  }
}

