/**
 * Keyed, rate-limited work queue between the informer cache and reconcile
 * workers, with client-go workqueue semantics
 * (k8s.io/client-go/util/workqueue; controller-runtime processNextWorkItem):
 *  - a key waiting in the queue is stored once, however often it is added;
 *  - a key is never handed to two workers at once: adding a key that is being
 *    processed marks it dirty, and `done(key)` puts it back in the queue;
 *  - `addRateLimited` delays by per-key jittered exponential backoff (100 ms → 5 min
 *    by default) until `forget(key)`; `addAfter` delays by a fixed time.
 */
import { backoffDelay, type BackoffPolicy } from '../../lib/backoff.ts';
import { systemClock, type Clock } from './clock.ts';

/** Optional metric callbacks; the controller wires them to prom-client. */
export interface QueueMetrics {
  /** Called with the number of keys waiting (not processing, not delayed) after every change. */
  depth?(n: number): void;
  /** Called for every `add` that was not merged into an already pending key. */
  added?(): void;
  /** Called for every `addRateLimited`. */
  retried?(): void;
}

export interface WorkQueueOptions {
  /** Per-key failure backoff; default 100 ms → 5 min, factor 2, ±50 % jitter. */
  backoff?: BackoffPolicy;
  clock?: Clock;
  random?: () => number;
  metrics?: QueueMetrics;
}

export const defaultQueueBackoff: BackoffPolicy = { initialMs: 100, maxMs: 5 * 60_000 };

/** See the module comment. Keys are request keys (`namespace/name`). */
export class WorkQueue {
  readonly #queue: string[] = [];
  /** Keys that need processing: waiting in #queue, or to be re-queued when done. */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #delayed = new Map<string, { at: number; cancel: () => void }>();
  readonly #failures = new Map<string, number>();
  #waiters: ((key: string | undefined) => void)[] = [];
  #shuttingDown = false;
  readonly #backoff: BackoffPolicy;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #metrics: QueueMetrics;

  constructor(opts: WorkQueueOptions = {}) {
    this.#backoff = opts.backoff ?? defaultQueueBackoff;
    this.#clock = opts.clock ?? systemClock;
    this.#random = opts.random ?? Math.random;
    this.#metrics = opts.metrics ?? {};
  }

  /** Marks `key` as needing processing. Idempotent while the key is pending; ignored after shutDown. */
  add(key: string): void {
    if (this.#shuttingDown) return;
    if (this.#dirty.has(key)) return;
    this.#metrics.added?.();
    this.#dirty.add(key);
    if (this.#processing.has(key)) return; // re-queued by done()
    this.#queue.push(key);
    this.#dispatch();
  }

  /**
   * Adds `key` after `ms`. If the key is already waiting for a delayed add, the
   * earlier of the two times wins. `ms <= 0` adds now.
   */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.#clock.now() + ms;
    const existing = this.#delayed.get(key);
    if (existing && existing.at <= at) return;
    existing?.cancel();
    const cancel = this.#clock.setTimer(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, { at, cancel });
  }

  /** Adds `key` after its next backoff delay (grows per call until `forget`); returns the delay. */
  addRateLimited(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const delay = backoffDelay(this.#backoff, failures, this.#random);
    this.#metrics.retried?.();
    this.addAfter(key, delay);
    return delay;
  }

  /** Resets `key`'s backoff (call after a successful reconcile). Does not remove it from the queue. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** How many times `key` was rate-limited since the last `forget`. */
  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /**
   * Waits for the next key and marks it processing; the caller must call
   * `done(key)` afterwards. Resolves undefined once the queue is shut down.
   */
  get(): Promise<string | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    const key = this.#take();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Ends processing of `key`; if it was added meanwhile, it goes back in the queue. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key) && !this.#shuttingDown) {
      this.#queue.push(key);
      this.#dispatch();
    }
  }

  /** Keys waiting to be handed out (not processing, not delayed). */
  len(): number {
    return this.#queue.length;
  }

  /** Keys currently handed out to workers. */
  processing(): number {
    return this.#processing.size;
  }

  /**
   * Stops handing out keys: pending `get()` calls resolve undefined, pending and
   * delayed keys are dropped, later adds are ignored. Keys in flight still
   * end with `done`. Idempotent.
   */
  shutDown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    for (const d of this.#delayed.values()) d.cancel();
    this.#delayed.clear();
    this.#queue.length = 0;
    this.#dirty.clear();
    this.#metrics.depth?.(0);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w(undefined);
  }

  isShuttingDown(): boolean {
    return this.#shuttingDown;
  }

  #take(): string | undefined {
    const key = this.#queue.shift();
    if (key === undefined) return undefined;
    this.#dirty.delete(key);
    this.#processing.add(key);
    this.#metrics.depth?.(this.#queue.length);
    return key;
  }

  #dispatch(): void {
    while (this.#waiters.length > 0 && this.#queue.length > 0) {
      this.#waiters.shift()!(this.#take());
    }
    this.#metrics.depth?.(this.#queue.length);
  }
}
