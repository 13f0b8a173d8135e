/**
 * An in-memory Informer for unit tests of controllers: the test plays the API
 * server by calling `upsert`/`remove`, and `sync()` marks the first list done.
 * The real ListWatchInformer is proven against a real API server
 * (informer.int.test.ts).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../../lib/log.ts';
import { systemClock, type Clock } from './clock.ts';
import { InformerBase, objectKey } from './informer.ts';

export class MemoryInformer<T extends KubernetesObject> extends InformerBase<T> {
  readonly #objects = new Map<string, T>();

  constructor(opts: { description?: string; log?: Logger; clock?: Clock } = {}) {
    super(opts.description ?? 'memory', opts.log ?? createLogger({ write: () => {} }), opts.clock ?? systemClock);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#objects.get(objectKey({ namespace, name }));
  }

  list(namespace?: string): readonly T[] {
    const all = [...this.#objects.values()];
    return namespace ? all.filter((o) => o.metadata?.namespace === namespace) : all;
  }

  start(): void {}
  stop(): void {}

  /** Marks the cache synced (the first list completed). */
  sync(): void {
    this.markSynced();
  }

  /** Stores `obj` and emits `add` or `update` (with the previous object). */
  upsert(obj: T): void {
    const key = objectKey(obj.metadata);
    const old = this.#objects.get(key);
    this.#objects.set(key, obj);
    if (old) this.emit('update', obj, old);
    else this.emit('add', obj);
  }

  /** Removes the object and emits `delete`; no-op when absent. */
  remove(name: string, namespace?: string): void {
    const key = objectKey({ namespace, name });
    const old = this.#objects.get(key);
    if (!old) return;
    this.#objects.delete(key);
    this.emit('delete', old);
  }
}
