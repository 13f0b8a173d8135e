/**
 * Informer cache on client-node's ListWatch, wrapped so it never stays
 * stopped. client-node 2.0.1 relists on 410 and reconnects after server-side
 * closes and its own 30 s inactivity timeout, but on any other error (HTTP 500,
 * connection refused, a failed list) it fires `error` and STOPS
 * (shared/reference/platform-notes.md §7; cache.ts `doneHandler`). We restart
 * it with jittered exponential backoff; `start()` resumes from the last
 * resourceVersion, and relists when there is none.
 *
 * client-node also swallows exceptions thrown by callbacks, so every handler
 * registered here is wrapped and its failures are logged.
 */
import * as k8s from '@kubernetes/client-node';
import { backoffDelay, type BackoffPolicy } from '../../lib/backoff.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import { systemClock, sleep, type Clock } from './clock.ts';
import type { KubeClient, ListResult } from './client.ts';
import { ControllerError, isNotFound } from './errors.ts';

export type EventType = 'add' | 'update' | 'delete';

/** Receives cache changes. Must only compute keys and enqueue: no I/O, no awaiting. */
export type ChangeHandler<T> = (type: EventType, obj: T, oldObj?: T) => void;

/** What controllers need from a cache of one resource (real or in-memory). */
export interface Informer<T extends k8s.KubernetesObject = k8s.KubernetesObject> {
  /** Human-readable identity, e.g. `/api/v1/configmaps?labelSelector=app=x`. */
  readonly description: string;
  /** True once the first list has been stored in the cache; stays true afterwards. */
  hasSynced(): boolean;
  /** Resolves when synced; rejects with CTRL_CACHE_SYNC_TIMEOUT after `timeoutMs`. */
  waitForSync(timeoutMs: number): Promise<void>;
  get(name: string, namespace?: string): T | undefined;
  /** All cached objects, or those in `namespace`. */
  list(namespace?: string): readonly T[];
  /**
   * Registers a handler; objects already in the cache are replayed to it as
   * `add`. A throwing handler is logged, never lost. Returns an unsubscribe function.
   */
  onChange(handler: ChangeHandler<T>): () => void;
  /** Idempotent. */
  start(): void;
  /** Idempotent; the informer can be started again and resumes where it was. */
  stop(): void;
}

/** `namespace/name`, or `name` for cluster-scoped objects. */
export function objectKey(meta: { namespace?: string; name?: string } | undefined): string {
  return meta?.namespace ? `${meta.namespace}/${meta.name ?? ''}` : (meta?.name ?? '');
}

/** Handler fan-out and sync bookkeeping shared by ListWatchInformer and MemoryInformer. */
export abstract class InformerBase<T extends k8s.KubernetesObject> implements Informer<T> {
  readonly description: string;
  protected readonly log: Logger;
  protected readonly clock: Clock;
  readonly #handlers = new Set<ChangeHandler<T>>();
  #synced = false;
  #syncWaiters: (() => void)[] = [];

  constructor(description: string, log: Logger, clock: Clock) {
    this.description = description;
    this.log = log;
    this.clock = clock;
  }

  abstract get(name: string, namespace?: string): T | undefined;
  abstract list(namespace?: string): readonly T[];
  abstract start(): void;
  abstract stop(): void;

  /** Why the last list/watch failed, for the sync-timeout message (set by subclasses). */
  protected lastError: string | undefined;

  hasSynced(): boolean {
    return this.#synced;
  }

  waitForSync(timeoutMs: number): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = () => {
        cancel();
        resolve();
      };
      const cancel = this.clock.setTimer(() => {
        this.#syncWaiters = this.#syncWaiters.filter((w) => w !== waiter);
        const why = this.lastError ? ` Last error: ${this.lastError}` : ' Check that the API server is reachable and that RBAC allows list and watch on it.';
        reject(new ControllerError('CTRL_CACHE_SYNC_TIMEOUT', `Cache for ${this.description} did not sync within ${timeoutMs} ms.${why}`));
      }, timeoutMs);
      this.#syncWaiters.push(waiter);
    });
  }

  onChange(handler: ChangeHandler<T>): () => void {
    for (const obj of this.list()) this.#call(handler, 'add', obj);
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  protected emit(type: EventType, obj: T, oldObj?: T): void {
    for (const h of [...this.#handlers]) this.#call(h, type, obj, oldObj);
  }

  protected markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    this.log.info('Synced cache', { informer: this.description, objects: this.list().length });
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    for (const w of waiters) w();
  }

  #call(h: ChangeHandler<T>, type: EventType, obj: T, oldObj?: T): void {
    const fail = (err: unknown) => this.log.error('Informer event handler failed', { err, informer: this.description, event: type, key: objectKey(obj.metadata) });
    try {
      // Handlers are typed `=> void`, but an async one still returns a promise.
      const r: unknown = h(type, obj, oldObj);
      if (r instanceof Promise) r.catch(fail);
    } catch (err) {
      fail(err);
    }
  }
}

/** `k8s.Watch#watch`, injectable so tests can script the server side. */
export type WatchFn = k8s.Watch['watch'];

export interface ListWatchInformerOptions<T> {
  /** Collection path to list and watch, e.g. `/api/v1/namespaces/ns/configmaps`. */
  path: string;
  labelSelector?: string;
  list: () => Promise<ListResult<T>>;
  watch: WatchFn;
  log?: Logger;
  clock?: Clock;
  random?: () => number;
  /** Restart backoff; default 800 ms → 30 s, ±50 % jitter. */
  backoff?: BackoffPolicy;
  /** A run this long without error resets the backoff; default 2 min. */
  healthyResetMs?: number;
}

export const defaultInformerBackoff: BackoffPolicy = { initialMs: 800, maxMs: 30_000 };

/** An Informer backed by client-node's ListWatch that restarts itself after any error. */
export class ListWatchInformer<T extends k8s.KubernetesObject> extends InformerBase<T> {
  readonly #lw: k8s.ListWatch<T>;
  readonly #backoff: BackoffPolicy;
  readonly #healthyResetMs: number;
  readonly #random: () => number;
  // Last seen version of each object, so `update` handlers get the old one
  // (ListWatch passes only the new object).
  readonly #known = new Map<string, T>();
  #stopped = true;
  #listed = false;
  #attempt = 0;
  #runStartedAt = 0;
  #cancelRestart: (() => void) | undefined;

  constructor(opts: ListWatchInformerOptions<T>) {
    const description = opts.labelSelector ? `${opts.path}?labelSelector=${opts.labelSelector}` : opts.path;
    const clock = opts.clock ?? systemClock;
    super(description, (opts.log ?? createLogger()).child({ informer: description }), clock);
    this.#backoff = opts.backoff ?? defaultInformerBackoff;
    this.#healthyResetMs = opts.healthyResetMs ?? 120_000;
    this.#random = opts.random ?? Math.random;

    const list = async () => {
      const result = await opts.list();
      this.#listed = true;
      return result;
    };
    // ListWatch stores the list's items and then opens the watch, so the first
    // watch after a list is the moment the cache is synced. Bookmarks keep the
    // resourceVersion fresh on quiet resources (fewer 410 relists).
    const watch = async (...[path, query, callback, done]: Parameters<WatchFn>): Promise<AbortController> => {
      if (this.#listed) {
        this.#listed = false;
        this.markSynced();
      }
      try {
        return await opts.watch(path, { ...query, allowWatchBookmarks: true }, callback, done);
      } catch (err) {
        // Thrown before the request (e.g. exec credential plugin failed): ListWatch
        // would turn this into an unhandled rejection; make it a normal error.
        done(err);
        return new AbortController();
      }
    };
    // ListWatch only calls `watch.watch(...)`; the class has private fields, hence the cast.
    const watcher = { watch } as unknown as k8s.Watch;
    this.#lw = new k8s.ListWatch<T>(opts.path, watcher, list, false, opts.labelSelector, undefined, {
      delayFn: (ms) => sleep(clock, ms),
    });
    this.#lw.on('add', (obj) => {
      this.#known.set(objectKey(obj.metadata), obj);
      this.emit('add', obj);
    });
    this.#lw.on('update', (obj) => {
      const key = objectKey(obj.metadata);
      const old = this.#known.get(key);
      this.#known.set(key, obj);
      this.emit('update', obj, old);
    });
    this.#lw.on('delete', (obj) => {
      this.#known.delete(objectKey(obj.metadata));
      this.emit('delete', obj);
    });
    this.#lw.on('error', (err) => this.#restartAfterError(err));
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#lw.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.#lw.list(namespace);
  }

  /** The resourceVersion the next watch resumes from ('' means the next start relists). */
  latestResourceVersion(): string {
    return this.#lw.latestResourceVersion();
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#run();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#cancelRestart?.();
    this.#cancelRestart = undefined;
    void this.#lw.stop();
  }

  #run(): void {
    this.#runStartedAt = this.clock.now();
    this.#lw.start().catch((err: unknown) => this.#restartAfterError(err));
  }

  #restartAfterError(err: unknown): void {
    // Aborting the request in stop() surfaces as an error too.
    if (this.#stopped || this.#cancelRestart) return;
    if (this.clock.now() - this.#runStartedAt >= this.#healthyResetMs) this.#attempt = 0;
    const delayMs = backoffDelay(this.#backoff, this.#attempt, this.#random);
    this.#attempt++;
    // A 404 on the list means the API server does not serve the resource at all: for
    // our kinds, the CRDs are not installed. Say so instead of a bare "not found".
    this.lastError = isNotFound(err)
      ? `the API server does not serve ${this.description} (HTTP 404); if this is an Outpost or KubeEdge kind, install the CRDs: \`outpost init\` or \`kubectl apply -k config/crd\``
      : err instanceof Error ? err.message : String(err);
    const log = isNotFound(err) && this.#attempt === 1 ? this.log.error.bind(this.log) : this.log.warn.bind(this.log);
    log(isNotFound(err) ? `Resource not served; restarting informer: ${this.lastError}` : 'Watch failed; restarting informer', { err, delayMs, attempt: this.#attempt, resourceVersion: this.#lw.latestResourceVersion() });
    this.#cancelRestart = this.clock.setTimer(() => {
      this.#cancelRestart = undefined;
      if (!this.#stopped) this.#run();
    }, delayMs);
  }
}

/**
 * Items of a core-API list carry no apiVersion/kind (watch events do); fill
 * them in from the list so every cached object is self-describing.
 */
export function withTypeMeta<T extends k8s.KubernetesObject>(list: ListResult<T> & { apiVersion?: string; kind?: string }): ListResult<T> {
  const kind = list.kind?.replace(/List$/, '');
  return { ...list, items: list.items.map((i) => ({ apiVersion: list.apiVersion, kind, ...i })) };
}

export interface SharedInformerFactoryOptions {
  client: KubeClient;
  log?: Logger;
  clock?: Clock;
  random?: () => number;
  /** Per-list request timeout; default 60 s (a hung list would otherwise never sync). */
  listTimeoutMs?: number;
}

/**
 * Hands out one informer per (collection path, labelSelector), so controllers
 * that watch the same resource share one list and one watch. Informers created
 * after `start()` start immediately.
 */
export class SharedInformerFactory {
  readonly #opts: SharedInformerFactoryOptions;
  readonly #log: Logger;
  readonly #watch: k8s.Watch;
  readonly #informers = new Map<string, ListWatchInformer<k8s.KubernetesObject>>();
  #started = false;

  constructor(opts: SharedInformerFactoryOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? createLogger();
    this.#watch = new k8s.Watch(opts.client.kubeConfig);
  }

  /**
   * The shared informer for `path` (see `collectionPath`). Idempotent: the same
   * arguments return the same instance. `T` is the caller's promise about the kind.
   */
  informerFor<T extends k8s.KubernetesObject>(path: string, opts: { labelSelector?: string } = {}): Informer<T> {
    const key = `${path}\n${opts.labelSelector ?? ''}`;
    let inf = this.#informers.get(key);
    if (!inf) {
      const { client, clock, random, listTimeoutMs = 60_000 } = this.#opts;
      inf = new ListWatchInformer<k8s.KubernetesObject>({
        path,
        labelSelector: opts.labelSelector,
        list: async () => withTypeMeta(await client.list<k8s.KubernetesObject>(path, { labelSelector: opts.labelSelector, timeoutMs: listTimeoutMs })),
        watch: this.#watch.watch.bind(this.#watch),
        log: this.#log,
        clock,
        random,
      });
      this.#informers.set(key, inf);
      if (this.#started) inf.start();
    }
    return inf as unknown as Informer<T>;
  }

  /** All informers handed out so far. */
  informers(): Informer[] {
    return [...this.#informers.values()];
  }

  start(): void {
    this.#started = true;
    for (const inf of this.#informers.values()) inf.start();
  }

  stop(): void {
    this.#started = false;
    for (const inf of this.#informers.values()) inf.stop();
  }

  hasSynced(): boolean {
    return this.informers().every((i) => i.hasSynced());
  }

  /** Resolves when every informer has synced; rejects with CTRL_CACHE_SYNC_TIMEOUT. */
  async waitForSync(timeoutMs: number): Promise<void> {
    await Promise.all(this.informers().map((i) => i.waitForSync(timeoutMs)));
  }
}
