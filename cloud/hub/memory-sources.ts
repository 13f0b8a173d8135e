/**
 * HubSources kept in memory: for unit tests and for the hub benchmark, which
 * measures the hub itself (sessions, routing, fan-out) without the API server
 * in the loop. Production uses InformerSources over the shared informers.
 */
import type { HubSources, RoutedKind } from './hub.ts';
import { keyOf, kinds, type RoutedObject } from './routing.ts';

type Listener = (kind: RoutedKind, type: 'add' | 'update' | 'delete', obj: RoutedObject) => void;

export class MemorySources implements HubSources {
  readonly #objects = new Map<string, { kind: RoutedKind; obj: RoutedObject & Record<string, unknown> }>();
  readonly #listeners: Listener[] = [];
  #rv = 1;

  get(key: string): (RoutedObject & Record<string, unknown>) | undefined {
    return this.#objects.get(key)?.obj;
  }

  onChange(cb: Listener): void {
    this.#listeners.push(cb);
    for (const { kind, obj } of this.#objects.values()) cb(kind, 'add', obj);
  }

  /** The resourceVersion the next upsert will get. */
  nextResourceVersion(): string {
    return String(this.#rv + 1);
  }

  /** Adds or replaces an object, giving it a fresh resourceVersion (like the API server). */
  upsert(kind: RoutedKind, obj: RoutedObject & Record<string, unknown>): RoutedObject & Record<string, unknown> {
    const withMeta = { apiVersion: kinds[kind].apiVersion, kind: kinds[kind].kind, ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.#rv) } };
    const key = keyOf(withMeta);
    const type = this.#objects.has(key) ? 'update' : 'add';
    this.#objects.set(key, { kind, obj: withMeta });
    for (const l of this.#listeners) l(kind, type, withMeta);
    return withMeta;
  }

  delete(kind: RoutedKind, obj: RoutedObject): void {
    const key = keyOf(obj, kinds[kind]);
    const cur = this.#objects.get(key);
    if (!cur) return;
    this.#objects.delete(key);
    for (const l of this.#listeners) l(kind, 'delete', cur.obj);
  }
}
