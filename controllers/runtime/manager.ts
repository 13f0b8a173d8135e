/**
 * Runs a set of controllers in one process (controller-runtime pkg/manager):
 * shared informers, an HTTP server for `/healthz`, `/readyz` and `/metrics`,
 * and optional leader election that gates the controllers only. Caches and
 * the HTTP server run on every replica, so a standby is warm and ready.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as k8s from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { createLogger, type Logger } from '../../lib/log.ts';
import { systemClock, type Clock } from './clock.ts';
import { KubeClient } from './client.ts';
import { Controller, type ControllerOptions } from './controller.ts';
import { ControllerError } from './errors.ts';
import { SharedInformerFactory, type Informer } from './informer.ts';
import { kubeLeaseStore, LeaderElector, type LeaseStore } from './leader.ts';

export interface LeaderElectionConfig {
  /** Lease namespace and name, e.g. `outpost-system` / `outpost-controllers`. */
  namespace: string;
  name: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  releaseOnStop?: boolean;
  /** Replaces the API server Lease (tests). */
  store?: LeaseStore;
}

export interface ManagerOptions {
  /** Needed for `informers` and for leader election without a `store`. */
  kubeConfig?: k8s.KubeConfig;
  log?: Logger;
  /** Where all metrics go; a fresh Registry by default (never the global one). */
  registry?: Registry;
  clock?: Clock;
  random?: () => number;
  /** Probes and metrics listener; default port 8080 on all interfaces; `false` for none. */
  http?: { port: number; host?: string } | false;
  leaderElection?: LeaderElectionConfig;
  /** Deadline for the first cache sync in `start()`; default 2 min. */
  cacheSyncTimeoutMs?: number;
  /**
   * Called after the controllers stopped because leadership was lost. Default:
   * log and `process.exit(1)`, so the Deployment restarts the pod (controller-runtime does the same).
   */
  onLeadershipLost?: (err: ControllerError) => void;
}

/**
 * Lifecycle: `new Manager(opts)` → `informers.informerFor(...)`,
 * `controller({...}).watches(...)` → `start()` → `stop()`.
 */
export class Manager {
  readonly log: Logger;
  readonly registry: Registry;
  readonly client: KubeClient | undefined;
  readonly #opts: ManagerOptions;
  readonly #clock: Clock;
  readonly #controllers: Controller[] = [];
  #factory: SharedInformerFactory | undefined;
  #elector: LeaderElector | undefined;
  #server: Server | undefined;
  #state: 'new' | 'starting' | 'running' | 'stopped' = 'new';

  constructor(opts: ManagerOptions = {}) {
    this.#opts = opts;
    this.log = opts.log ?? createLogger();
    this.registry = opts.registry ?? new Registry();
    this.#clock = opts.clock ?? systemClock;
    this.client = opts.kubeConfig ? new KubeClient(opts.kubeConfig) : undefined;
  }

  /** The shared informer factory (requires `kubeConfig`). */
  get informers(): SharedInformerFactory {
    if (!this.client) throw new ControllerError('CTRL_INVALID_CONFIG', 'Manager.informers needs a kubeConfig; pass one to new Manager({kubeConfig}).');
    this.#factory ??= new SharedInformerFactory({ client: this.client, log: this.log, clock: this.#opts.clock, random: this.#opts.random });
    return this.#factory;
  }

  /** Adds a controller; it starts with the manager (or when this replica becomes leader). */
  add(controller: Controller): Controller {
    this.#controllers.push(controller);
    if (this.#state !== 'running') return controller;
    for (const i of controller.informers()) i.start();
    if (!this.#elector || this.#elector.isLeader()) void this.#startControllers([controller]);
    return controller;
  }

  /** Creates a controller that logs, measures and keeps time through this manager, and adds it. */
  controller(opts: Omit<ControllerOptions, 'log' | 'registry' | 'clock'>): Controller {
    return this.add(new Controller({ ...opts, log: this.log, registry: this.registry, clock: this.#clock, random: opts.random ?? this.#opts.random }));
  }

  /** Every informer in use: the factory's plus those controllers were given directly. */
  #allInformers(): Informer[] {
    const set = new Set<Informer>(this.#factory?.informers() ?? []);
    for (const c of this.#controllers) for (const i of c.informers()) set.add(i);
    return [...set];
  }

  /** Ready once every cache has synced (leader or not). */
  ready(): boolean {
    return this.#state === 'running' && this.#allInformers().every((i) => i.hasSynced());
  }

  /** Address of the HTTP server once listening (port 0 picks a free one). */
  httpAddress(): AddressInfo | undefined {
    const a = this.#server?.address();
    return a && typeof a === 'object' ? a : undefined;
  }

  /**
   * Starts the HTTP server and informers, waits for the caches to sync, then
   * starts the controllers (directly, or on becoming leader). Rejects with
   * CTRL_CACHE_SYNC_TIMEOUT when caches do not sync in time: exit and let the
   * pod restart. Not restartable after `stop()`.
   */
  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'starting';
    if (this.#opts.http !== false) await this.#listen(this.#opts.http ?? { port: 8080 });
    this.#factory?.start();
    for (const i of this.#allInformers()) i.start();
    await Promise.all(this.#allInformers().map((i) => i.waitForSync(this.#opts.cacheSyncTimeoutMs ?? 120_000)));
    if (this.#state !== 'starting') return; // stopped meanwhile
    this.#state = 'running';
    const le = this.#opts.leaderElection;
    if (!le) {
      await this.#startControllers(this.#controllers);
      return;
    }
    const store = le.store ?? kubeLeaseStore(this.#requireClient(), le.namespace, le.name, le.renewDeadlineMs ?? 10_000);
    this.#elector = new LeaderElector({
      store,
      identity: le.identity,
      leaseDurationMs: le.leaseDurationMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryPeriodMs: le.retryPeriodMs,
      releaseOnStop: le.releaseOnStop,
      log: this.log.child({ lease: `${le.namespace}/${le.name}` }),
      clock: this.#opts.clock,
      random: this.#opts.random,
      onStartedLeading: () => void this.#startControllers(this.#controllers),
      onStoppedLeading: (reason) => {
        if (reason === 'lost') void this.#leadershipLost();
      },
    });
    this.#elector.start();
  }

  /**
   * Stops controllers (waiting for in-flight reconciles), releases the Lease,
   * stops informers and closes the HTTP server. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    await Promise.all(this.#controllers.map((c) => c.stop()));
    await this.#elector?.stop();
    this.#factory?.stop();
    for (const i of this.#allInformers()) i.stop();
    const server = this.#server;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    this.log.info('Stopped manager');
  }

  #requireClient(): KubeClient {
    if (!this.client) throw new ControllerError('CTRL_INVALID_CONFIG', 'Leader election needs a kubeConfig (or leaderElection.store); pass one to new Manager({kubeConfig}).');
    return this.client;
  }

  async #startControllers(controllers: Controller[]): Promise<void> {
    await Promise.all(
      controllers.map((c) =>
        c.start().catch((err: unknown) => {
          this.log.error('Failed to start controller', { err, controller: c.name });
        }),
      ),
    );
  }

  async #leadershipLost(): Promise<void> {
    if (this.#state === 'stopped') return;
    await Promise.all(this.#controllers.map((c) => c.stop()));
    const err = new ControllerError('CTRL_LEASE_LOST', 'Lost the leader election Lease; stopped all controllers. The process should exit and restart as a candidate.');
    const handler =
      this.#opts.onLeadershipLost ??
      ((e: ControllerError) => {
        this.log.error('Exiting', { err: e });
        process.exit(1);
      });
    handler(err);
  }

  #listen(addr: { port: number; host?: string }): Promise<void> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405).end();
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const waiting = this.#allInformers().filter((i) => !i.hasSynced()).map((i) => i.description);
        const ok = this.ready();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : `not ready: ${waiting.length ? `caches not synced: ${waiting.join(', ')}` : this.#state}\n`);
      } else if (path === '/metrics') {
        this.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
          (err: unknown) => {
            this.log.error('Failed to collect metrics', { err });
            res.writeHead(500).end();
          },
        );
      } else {
        res.writeHead(404).end();
      }
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(addr.port, addr.host, () => {
        server.off('error', reject);
        this.log.info('Serving probes and metrics', { address: this.httpAddress() });
        resolve();
      });
    });
  }
}
