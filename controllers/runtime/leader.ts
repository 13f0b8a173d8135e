/**
 * Leader election on a coordination.k8s.io/v1 Lease, after client-go
 * tools/leaderelection: every `retryPeriod` each candidate reads the Lease; the
 * holder renews it, others take it over once it has not changed for
 * `leaseDurationSeconds` as measured on their own clock (so clock skew between
 * replicas does not matter). Every write carries the resourceVersion that was
 * read, so two candidates can never both win: the loser gets a 409.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createLogger, type Logger } from '../../lib/log.ts';
import { systemClock, type Clock } from './clock.ts';
import type { KubeClient } from './client.ts';
import { ControllerError, isConflict, isNotFound } from './errors.ts';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** When this candidate last saw the Lease change (client-go `observedTime`). */
export interface LeaseObservation {
  resourceVersion: string;
  observedAt: number;
}

export type ElectionDecision =
  | { action: 'create' }
  | { action: 'acquire' }
  | { action: 'renew' }
  | { action: 'wait'; holder: string; expiresAt: number };

/** Pure: remembers `now` as the observation time whenever the Lease changed. */
export function observeLease(prev: LeaseObservation | undefined, lease: Lease | undefined, now: number): LeaseObservation | undefined {
  if (!lease) return undefined;
  const rv = lease.metadata.resourceVersion ?? '';
  return prev && prev.resourceVersion === rv ? prev : { resourceVersion: rv, observedAt: now };
}

/**
 * Pure decision for one election round:
 *  - no Lease → `create`;
 *  - we hold it → `renew`;
 *  - nobody holds it (released), or it has not changed for leaseDurationSeconds
 *    since `observedAt` → `acquire` (take over);
 *  - otherwise → `wait` until `expiresAt`.
 */
export function electionDecision(input: { lease: Lease | undefined; identity: string; now: number; observedAt: number }): ElectionDecision {
  const { lease, identity, now, observedAt } = input;
  if (!lease) return { action: 'create' };
  const holder = lease.spec?.holderIdentity ?? '';
  if (holder === identity) return { action: 'renew' };
  if (holder === '') return { action: 'acquire' };
  const expiresAt = observedAt + (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
  return now >= expiresAt ? { action: 'acquire' } : { action: 'wait', holder, expiresAt };
}

/** Lease I/O, so the election loop can run against an in-memory store in tests. */
export interface LeaseStore {
  /** The Lease, or undefined when it does not exist. */
  get(): Promise<Lease | undefined>;
  /** Creates it; throws a 409 error when it already exists. */
  create(spec: LeaseSpec): Promise<Lease>;
  /** Replaces the spec if the Lease still has `lease.metadata.resourceVersion`; throws a 409 error otherwise. */
  update(lease: Lease, spec: LeaseSpec): Promise<Lease>;
}

/** LeaseStore for `namespace/name` on the API server; requests time out after `timeoutMs`. */
export function kubeLeaseStore(client: KubeClient, namespace: string, name: string, timeoutMs = 10_000): LeaseStore {
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  const path = `${collection}/${encodeURIComponent(name)}`;
  return {
    async get() {
      try {
        return await client.request<Lease>('GET', path, { timeoutMs });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    create: (spec) => client.request<Lease>('POST', collection, { timeoutMs, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec } }),
    update: (lease, spec) =>
      client.request<Lease>('PUT', path, {
        timeoutMs,
        body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace, resourceVersion: lease.metadata.resourceVersion }, spec },
      }),
  };
}

/** metav1.MicroTime wants exactly six fractional digits ("…05.123000Z"); Go rejects three. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

/** `hostname_pid_random`, unique per process even across restarts in the same pod. */
export function defaultIdentity(): string {
  return `${hostname()}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

export type StoppedLeadingReason = 'lost' | 'released' | 'stopped';

export interface LeaderElectorOptions {
  store: LeaseStore;
  identity?: string;
  /** How long others wait after the last change before taking over; default 15 s. */
  leaseDurationMs?: number;
  /** The leader gives up if it could not renew for this long; default 10 s. */
  renewDeadlineMs?: number;
  /** Time between rounds; default 2 s (candidates add up to 20 % jitter). */
  retryPeriodMs?: number;
  /** On `stop()` while leading, hand the Lease over at once (client-go ReleaseOnCancel); default true. */
  releaseOnStop?: boolean;
  onStartedLeading?: () => void;
  /** `lost`: could not renew or was taken over (terminal for this elector); `released`/`stopped`: after `stop()`. */
  onStoppedLeading?: (reason: StoppedLeadingReason) => void;
  log?: Logger;
  clock?: Clock;
  random?: () => number;
}

/**
 * Runs the election loop. Once it has lost leadership it stops for good, like
 * client-go's `Run` returning: the process is expected to exit and restart.
 */
export class LeaderElector {
  readonly identity: string;
  readonly #store: LeaseStore;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #opts: LeaderElectorOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #random: () => number;
  #observed: LeaseObservation | undefined;
  #lease: Lease | undefined;
  #leader = false;
  #announced = false;
  #lastRenewAt = 0;
  #running = false;
  #cancelTimer: (() => void) | undefined;
  #round: Promise<void> = Promise.resolve();

  constructor(opts: LeaderElectorOptions) {
    this.#opts = opts;
    this.#store = opts.store;
    this.identity = opts.identity ?? defaultIdentity();
    this.#leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    // The same constraints client-go's NewLeaderElector enforces.
    if (!(this.#leaseDurationMs > this.#renewDeadlineMs && this.#renewDeadlineMs > 1.2 * this.#retryPeriodMs && this.#retryPeriodMs > 0)) {
      throw new ControllerError('CTRL_INVALID_CONFIG', `Leader election needs leaseDuration > renewDeadline > 1.2 × retryPeriod > 0 (got ${this.#leaseDurationMs}, ${this.#renewDeadlineMs}, ${this.#retryPeriodMs} ms).`);
    }
    this.#log = (opts.log ?? createLogger()).child({ identity: this.identity });
    this.#clock = opts.clock ?? systemClock;
    this.#random = opts.random ?? Math.random;
  }

  isLeader(): boolean {
    return this.#leader;
  }

  /** Starts the loop (first round now). Idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  /**
   * Ends the loop after the round in flight. If leading and `releaseOnStop`,
   * writes an empty holder with a 1 s duration so another replica takes over
   * at once; a failed release is logged (the Lease then simply expires).
   */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#cancelTimer?.();
    await this.#round;
    if (!this.#leader) return;
    this.#leader = false;
    let reason: StoppedLeadingReason = 'stopped';
    if ((this.#opts.releaseOnStop ?? true) && this.#lease) {
      const now = this.#clock.now();
      try {
        await this.#store.update(this.#lease, { ...this.#lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: microTime(now), renewTime: microTime(now) });
        reason = 'released';
        this.#log.info('Released Lease');
      } catch (err) {
        this.#log.warn('Failed to release Lease; it will expire', { err });
      }
    }
    if (this.#announced) this.#opts.onStoppedLeading?.(reason);
    this.#announced = false;
  }

  #schedule(ms: number): void {
    this.#cancelTimer = this.#clock.setTimer(() => {
      this.#round = this.#runRound();
    }, ms);
  }

  async #runRound(): Promise<void> {
    if (!this.#running) return;
    try {
      await this.#tryAcquireOrRenew();
    } catch (err) {
      // 409: someone else wrote first; we will see their write next round.
      if (isConflict(err)) this.#log.debug('Lost a Lease update race', { err });
      else this.#log.warn('Failed to read or update Lease', { err });
    }
    if (this.#leader && this.#clock.now() - this.#lastRenewAt > this.#renewDeadlineMs) {
      this.#lose(`could not renew the Lease within ${this.#renewDeadlineMs} ms`);
    }
    if (!this.#running) return;
    const jitter = this.#leader ? 0 : this.#retryPeriodMs * 0.2 * this.#random();
    this.#schedule(this.#retryPeriodMs + jitter);
  }

  async #tryAcquireOrRenew(): Promise<void> {
    const lease = await this.#store.get();
    const now = this.#clock.now();
    this.#observed = observeLease(this.#observed, lease, now);
    const decision = electionDecision({ lease, identity: this.identity, now, observedAt: this.#observed?.observedAt ?? now });
    const spec: LeaseSpec = { holderIdentity: this.identity, leaseDurationSeconds: Math.ceil(this.#leaseDurationMs / 1000), renewTime: microTime(now) };
    switch (decision.action) {
      case 'create':
        return this.#wrote(await this.#store.create({ ...spec, acquireTime: microTime(now), leaseTransitions: 0 }), now);
      case 'acquire':
        return this.#wrote(await this.#store.update(lease!, { ...spec, acquireTime: microTime(now), leaseTransitions: (lease!.spec?.leaseTransitions ?? 0) + 1 }), now);
      case 'renew':
        return this.#wrote(await this.#store.update(lease!, { ...lease!.spec, ...spec }), now);
      case 'wait':
        if (this.#leader) this.#lose(`Lease is held by ${decision.holder}`);
        return;
    }
  }

  #wrote(lease: Lease, now: number): void {
    this.#lease = lease;
    this.#observed = { resourceVersion: lease.metadata.resourceVersion ?? '', observedAt: now };
    this.#lastRenewAt = now;
    if (this.#leader) return;
    this.#leader = true;
    this.#log.info('Acquired Lease', { lease: lease.metadata.name, transitions: lease.spec?.leaseTransitions });
    // If stop() came while this round was in flight, stop() releases the Lease
    // and nobody was ever told we led.
    if (this.#running) {
      this.#announced = true;
      this.#opts.onStartedLeading?.();
    }
  }

  #lose(why: string): void {
    this.#leader = false;
    this.#running = false;
    this.#cancelTimer?.();
    this.#log.error('Lost leadership', { reason: why });
    if (this.#announced) this.#opts.onStoppedLeading?.('lost');
    this.#announced = false;
  }
}
