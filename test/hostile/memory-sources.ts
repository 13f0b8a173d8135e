/** HubSources over a Map for hub tests without an API server. */
import type { HubSources, RoutedKind } from '../../cloud/hub/hub.ts';
import { keyOf, kinds, type RoutedObject } from '../../cloud/hub/routing.ts';

/**
 * HubSources over a Map, for tests: put() fires the change callbacks like
 * informers do, and a new callback first gets every existing object as
 * 'add' (the HubSources contract).
 */
export class MemorySources implements HubSources {
  readonly objects = new Map<string, RoutedObject & Record<string, unknown>>();
  readonly #kindOf = new Map<string, RoutedKind>();
  readonly #cbs: ((kind: RoutedKind, type: 'add' | 'update' | 'delete', obj: RoutedObject) => void)[] = [];
  #rv = 100;

  get(key: string) {
    return this.objects.get(key);
  }

  onChange(cb: (kind: RoutedKind, type: 'add' | 'update' | 'delete', obj: RoutedObject) => void): void {
    this.#cbs.push(cb);
    for (const [key, obj] of this.objects) cb(this.#kindOf.get(key)!, 'add', obj);
  }

  put(kind: RoutedKind, obj: RoutedObject & Record<string, unknown>): void {
    const o = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.#rv) } };
    const key = keyOf(o, kinds[kind]);
    const type = this.objects.has(key) ? 'update' : 'add';
    this.objects.set(key, o);
    this.#kindOf.set(key, kind);
    for (const cb of this.#cbs) cb(kind, type, o);
  }
}
