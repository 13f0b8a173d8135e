/**
 * The reconcile loop: informer events → keys → WorkQueue → `reconcile(req)`.
 * Reconcile takes a key, never an event (controller-runtime
 * pkg/reconcile/reconcile.go): handlers registered with `watches` only map an
 * object to requests and enqueue them. Error handling follows controller-runtime
 * `reconcileHandler`: throw → retry with per-key backoff, TerminalError → no
 * retry, `{requeueAfter}` → come back after that long, otherwise forget.
 */
import { randomUUID } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import type { BackoffPolicy } from '../../lib/backoff.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import { systemClock, type Clock } from './clock.ts';
import { TerminalError } from './errors.ts';
import type { EventType, Informer } from './informer.ts';
import { controllerMetrics, type ControllerMetrics } from './metrics.ts';
import { WorkQueue } from './queue.ts';

/** What to reconcile: an object's name and, when namespaced, its namespace. */
export interface Request {
  namespace?: string;
  name: string;
}

export interface ReconcileContext {
  /** Child logger with {controller, namespace, name, reconcileID}. */
  log: Logger;
  /** Start of this pass; pass it to pure plan functions instead of reading a clock. */
  now: Date;
  reconcileID: string;
}

/** `{}`/void: done until something changes; `{requeueAfter}`: reconcile again after that many ms. */
export type ReconcileResult = { requeueAfter?: number } | void;

/**
 * Level-triggered and idempotent: reads what it needs from caches. Throw to
 * retry with backoff; throw TerminalError for "do not retry". Never set timers.
 */
export type Reconciler = (req: Request, ctx: ReconcileContext) => Promise<ReconcileResult>;

export interface ErrorAction {
  retry: 'backoff' | 'terminal';
}

/**
 * Decides what a failed reconcile means, and may record it (e.g. patch a
 * Degraded condition). Returning nothing means the default: TerminalError →
 * terminal, anything else → backoff. A policy that throws is logged and
 * treated as backoff.
 */
export type ErrorPolicy = (err: unknown, req: Request, ctx: ReconcileContext) => ErrorAction | void | Promise<ErrorAction | void>;

/** Maps a changed object to the requests it affects. Pure and fast. */
export type MapFn<T> = (obj: T) => Request[];

/** Filters events at the source; return false to drop the event. */
export type Predicate<T> = (type: EventType, obj: T, oldObj?: T) => boolean;

/** MapFn for the primary kind: the object's own request. */
export function ownRequest(obj: KubernetesObject): Request[] {
  const name = obj.metadata?.name;
  if (!name) return [];
  return [obj.metadata?.namespace ? { namespace: obj.metadata.namespace, name } : { name }];
}

/**
 * MapFn for secondary kinds: the owners of kind `owner.kind` in the API group of
 * `owner.apiVersion` (any version), taken from ownerReferences. Owners live in
 * the child's namespace unless `clusterScoped`. `controllerOnly` keeps only the
 * reference with `controller: true`.
 */
export function ownerRequests(owner: { apiVersion: string; kind: string; clusterScoped?: boolean; controllerOnly?: boolean }): MapFn<KubernetesObject> {
  const group = (v: string) => (v.includes('/') ? v.slice(0, v.indexOf('/')) : '');
  return (obj) =>
    (obj.metadata?.ownerReferences ?? [])
      .filter((r) => r.kind === owner.kind && group(r.apiVersion) === group(owner.apiVersion) && (!owner.controllerOnly || r.controller === true))
      .map((r) => (owner.clusterScoped || !obj.metadata?.namespace ? { name: r.name } : { namespace: obj.metadata.namespace, name: r.name }));
}

/**
 * Passes adds, deletes, and updates that changed `metadata.generation` (spec
 * changes and the start of deletion). Do not use it where status or metadata
 * changes must trigger a reconcile (controller-runtime GenerationChangedPredicate).
 */
export function generationChanged(type: EventType, obj: KubernetesObject, oldObj?: KubernetesObject): boolean {
  return type !== 'update' || !oldObj || obj.metadata?.generation !== oldObj.metadata?.generation;
}

/** `namespace/name` or `name`. */
export function requestKey(req: Request): string {
  return req.namespace ? `${req.namespace}/${req.name}` : req.name;
}

/** Inverse of requestKey (names and namespaces cannot contain `/`). */
export function parseRequestKey(key: string): Request {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export interface ControllerOptions {
  /** Unique per process; used in logs and metric labels. */
  name: string;
  reconcile: Reconciler;
  /** Keys reconciled in parallel (never the same key twice); default 1. */
  concurrency?: number;
  errorPolicy?: ErrorPolicy;
  log?: Logger;
  /** Metrics go here; a private registry when omitted. */
  registry?: Registry;
  clock?: Clock;
  random?: () => number;
  /** Retry backoff per key; default 100 ms → 5 min. */
  backoff?: BackoffPolicy;
  /** `start()` fails with CTRL_CACHE_SYNC_TIMEOUT after this long; default 2 min. */
  cacheSyncTimeoutMs?: number;
}

interface Watch {
  informer: Informer<KubernetesObject>;
  map: MapFn<KubernetesObject>;
  predicate?: Predicate<KubernetesObject>;
}

/**
 * One controller for one Kind: `watches(...)` registrations feed a WorkQueue,
 * `concurrency` workers call `reconcile`. Metrics are labelled with `name`.
 */
export class Controller {
  readonly name: string;
  readonly #opts: ControllerOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #metrics: ControllerMetrics;
  readonly #watches: Watch[] = [];
  #queue: WorkQueue;
  #unsubscribe: (() => void)[] = [];
  #workers: Promise<void>[] = [];
  #state: 'idle' | 'starting' | 'running' | 'stopped' = 'idle';

  constructor(opts: ControllerOptions) {
    this.name = opts.name;
    this.#opts = opts;
    this.#log = (opts.log ?? createLogger()).child({ controller: opts.name });
    this.#clock = opts.clock ?? systemClock;
    this.#metrics = controllerMetrics(opts.registry ?? new Registry());
    this.#queue = this.#newQueue();
  }

  /**
   * Enqueues `map(obj)` for every change in `informer` (default map: the
   * object's own request; use `ownerRequests` for children). Register before
   * `start()`. Returns this for chaining.
   */
  watches<T extends KubernetesObject>(informer: Informer<T>, map: MapFn<T> = ownRequest, opts: { predicate?: Predicate<T> } = {}): this {
    this.#watches.push({ informer, map, predicate: opts.predicate } as unknown as Watch);
    return this;
  }

  /** Informers this controller reads. */
  informers(): Informer[] {
    return this.#watches.map((w) => w.informer);
  }

  /** Enqueues a request directly (external triggers). Ignored once stopped. */
  enqueue(req: Request): void {
    this.#queue.add(requestKey(req));
  }

  /**
   * Subscribes to the watched informers, waits until they have synced, then
   * starts `concurrency` workers and resolves. Rejects with
   * CTRL_CACHE_SYNC_TIMEOUT if a cache does not sync in time (the caller should
   * exit and let the Deployment restart the pod). No-op if already started.
   */
  async start(): Promise<void> {
    if (this.#state === 'starting' || this.#state === 'running') return;
    if (this.#queue.isShuttingDown()) this.#queue = this.#newQueue();
    this.#state = 'starting';
    const queue = this.#queue;
    for (const w of this.#watches) this.#unsubscribe.push(w.informer.onChange((type, obj, old) => this.#onChange(w, type, obj, old)));
    try {
      await Promise.all(this.#watches.map((w) => w.informer.waitForSync(this.#opts.cacheSyncTimeoutMs ?? 120_000)));
    } catch (err) {
      if (this.#state === 'starting') await this.stop();
      throw err;
    }
    if (this.#state !== 'starting') return; // stopped while waiting
    this.#state = 'running';
    const n = Math.max(1, this.#opts.concurrency ?? 1);
    this.#log.info('Started workers', { workers: n });
    this.#workers = Array.from({ length: n }, () => this.#work(queue));
  }

  /** Stops taking keys, unsubscribes, and waits for in-flight reconciles to finish. Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'idle' || this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#queue.shutDown();
    for (const u of this.#unsubscribe) u();
    this.#unsubscribe = [];
    await Promise.all(this.#workers);
    this.#workers = [];
    this.#log.info('Stopped workers');
  }

  #newQueue(): WorkQueue {
    const { queueDepth, queueAdds, queueRetries } = this.#metrics;
    const name = this.name;
    return new WorkQueue({
      backoff: this.#opts.backoff,
      clock: this.#clock,
      random: this.#opts.random,
      metrics: {
        depth: (n) => queueDepth.set({ name }, n),
        added: () => queueAdds.inc({ name }),
        retried: () => queueRetries.inc({ name }),
      },
    });
  }

  #onChange(w: Watch, type: EventType, obj: KubernetesObject, oldObj?: KubernetesObject): void {
    if (w.predicate && !w.predicate(type, obj, oldObj)) return;
    const reqs = w.map(obj);
    // On update also enqueue what the old object mapped to (e.g. a changed owner).
    if (type === 'update' && oldObj) reqs.push(...w.map(oldObj));
    // Dedupe here: a waiting worker takes the first add at once, so a duplicate
    // would count as "changed while processing" and cost a second pass.
    for (const key of new Set(reqs.map(requestKey))) this.#queue.add(key);
  }

  async #work(queue: WorkQueue): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        await this.#reconcileKey(queue, key);
      } finally {
        queue.done(key);
      }
    }
  }

  async #reconcileKey(queue: WorkQueue, key: string): Promise<void> {
    const req = parseRequestKey(key);
    const reconcileID = randomUUID();
    const log = this.#log.child({ namespace: req.namespace, name: req.name, reconcileID });
    const ctx: ReconcileContext = { log, now: new Date(this.#clock.now()), reconcileID };
    const m = this.#metrics;
    const labels = { controller: this.name };
    const started = this.#clock.now();
    m.activeWorkers.inc(labels);
    try {
      const result = await this.#opts.reconcile(req, ctx);
      queue.forget(key);
      const after = result?.requeueAfter;
      if (after !== undefined && Number.isFinite(after) && after > 0) {
        queue.addAfter(key, after);
        m.reconcileTotal.inc({ ...labels, result: 'requeue_after' });
      } else {
        m.reconcileTotal.inc({ ...labels, result: 'success' });
      }
      log.debug('Reconciled', { requeueAfter: after });
    } catch (err) {
      m.reconcileErrors.inc(labels);
      const action = await this.#decide(err, req, ctx);
      if (action.retry === 'terminal') {
        queue.forget(key);
        m.terminalReconcileErrors.inc(labels);
        m.reconcileTotal.inc({ ...labels, result: 'terminal_error' });
        log.error('Reconcile failed with a terminal error; not retrying until the object changes', { err });
      } else {
        const delayMs = queue.addRateLimited(key);
        m.reconcileTotal.inc({ ...labels, result: 'error' });
        log.error('Reconcile failed; retrying', { err, delayMs, attempt: queue.numRequeues(key) });
      }
    } finally {
      m.activeWorkers.dec(labels);
      m.reconcileTime.observe(labels, (this.#clock.now() - started) / 1000);
    }
  }

  async #decide(err: unknown, req: Request, ctx: ReconcileContext): Promise<ErrorAction> {
    const fallback: ErrorAction = { retry: err instanceof TerminalError ? 'terminal' : 'backoff' };
    if (!this.#opts.errorPolicy) return fallback;
    try {
      return (await this.#opts.errorPolicy(err, req, ctx)) ?? fallback;
    } catch (policyErr) {
      ctx.log.error('Error policy failed; retrying with backoff', { err: policyErr });
      return { retry: 'backoff' };
    }
  }
}
