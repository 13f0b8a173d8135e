/**
 * CloudHub: accepts edge links, authenticates the node from its client
 * certificate (CN `system:node:<name>`), keeps one session per node (a new
 * connection replaces the old one), and streams each node exactly its routing
 * set as per-node deltas. The routing index is fed by shared informers (one
 * watch per resource type); delivery bookkeeping is in memory (NodeSync), so
 * delivering an object costs the API server nothing.
 */
import { LRUCache } from 'lru-cache';
import type { Report } from '../../edge/protocol/index.ts';
import type { Link } from '../../edge/transport/link.ts';
import type { Logger } from '../../lib/log.ts';
import { FairScheduler } from './fair.ts';
import { NodeSync } from './node-sync.ts';
import { ObjectBodies, type EncodableObject } from './object-bodies.ts';
import { keyOf, kinds, RoutingIndex, type RoutedObject } from './routing.ts';
import { defaultSessionConfig, Session, type ReportOutcome, type SessionConfig, type SessionHost } from './session.ts';

export type RoutedKind = keyof typeof kinds;

/** The caches the hub reads: one informer per routed kind, shared with the controllers. */
export interface HubSources {
  /** Current object for a protocol key, if it exists. */
  get(key: string): (RoutedObject & EncodableObject) | undefined;
  /** Registers for changes of every routed kind; replays existing objects as 'add'. */
  onChange(cb: (kind: RoutedKind, type: 'add' | 'update' | 'delete', obj: RoutedObject) => void): void;
}

/** Writes one upstream report to the API server (authorizing it first). */
export interface ReportHandler {
  handle(node: string, report: Report): Promise<ReportOutcome>;
}

export interface HubOptions {
  sources: HubSources;
  reports: ReportHandler;
  log: Logger;
  session?: Partial<SessionConfig>;
  /** Bytes of encoded object bodies kept for sharing (default 64 MiB). */
  bodyCacheBytes?: number;
  /**
   * API writes for reports (node and pod status, leases, events) running at once, shared fairly
   * between nodes (FairScheduler); default 64.
   */
  reportWriteConcurrency?: number;
}

const nodeCN = /^system:node:([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$/;

/** Node name from a client certificate CN, or undefined when it is not a node identity. */
export function nodeFromCommonName(cn: string | undefined): string | undefined {
  return cn ? nodeCN.exec(cn)?.[1] : undefined;
}

export class CloudHub implements SessionHost {
  readonly routing = new RoutingIndex();
  readonly bodies: ObjectBodies;
  readonly #sources: HubSources;
  readonly #reports: ReportHandler;
  readonly #log: Logger;
  readonly #cfg: SessionConfig;
  readonly #syncs = new Map<string, NodeSync>();
  readonly #sessions = new Map<string, Session>();
  /** Per (node, kind, key): the newest report that arrived, and the tail of its write chain. */
  readonly #writes = new LRUCache<string, { latest: number; tail: Promise<unknown> }>({ max: 100_000 });
  readonly #arrivalOf = new WeakMap<Report, number>();
  readonly #fair: FairScheduler;
  #arrivals = 0;
  /** Called with every session as it opens (tests, tunnels). */
  readonly sessionListeners = new Set<(s: Session) => void>();
  onTunnel?: SessionHost['onTunnel'];

  constructor(opts: HubOptions) {
    this.#sources = opts.sources;
    this.#reports = opts.reports;
    this.#log = opts.log.child({ component: 'cloudhub' });
    this.#cfg = { ...defaultSessionConfig, ...opts.session };
    this.bodies = new ObjectBodies(opts.bodyCacheBytes);
    this.#fair = new FairScheduler(opts.reportWriteConcurrency ?? 64);
    opts.sources.onChange((kind, type, obj) => this.#onChange(kind, type, obj));
  }

  #onChange(kind: RoutedKind, type: 'add' | 'update' | 'delete', obj: RoutedObject): void {
    const changes = type === 'delete' ? this.routing.remove(kind, obj) : this.routing.upsert(kind, obj);
    const key = keyOf(obj, kinds[kind]);
    const touched = new Set<string>();
    for (const c of changes) {
      this.#dirty(c.node, c.key);
      touched.add(c.node);
    }
    for (const node of this.routing.nodesFor(key)) if (!touched.has(node)) this.#dirty(node, key);
  }

  #dirty(node: string, key: string): void {
    const sync = this.#syncs.get(node);
    if (!sync) return; // never connected: its first resume computes everything
    sync.markDirty(key);
    this.#sessions.get(node)?.schedulePump();
  }

  /** Takes ownership of a new link. Refuses links whose certificate is not a node identity. */
  attach(link: Link): Session | undefined {
    const node = nodeFromCommonName(link.peer.commonName);
    if (!node) {
      this.#log.warn('Refused link without a node identity', { commonName: link.peer.commonName, remote: link.peer.remoteAddress });
      void link.close(4003, 'client certificate CN must be system:node:<name>');
      return undefined;
    }
    const old = this.#sessions.get(node);
    const session = new Session(this, link, node, this.#log, this.#cfg);
    this.#sessions.set(node, session);
    old?.replace();
    for (const l of this.sessionListeners) l(session);
    return session;
  }

  /** The live session of a node, if connected. */
  session(node: string): Session | undefined {
    return this.#sessions.get(node);
  }

  get connectedNodes(): number {
    return this.#sessions.size;
  }

  // SessionHost

  syncFor(node: string): { sync: NodeSync; known: boolean } {
    let sync = this.#syncs.get(node);
    const known = sync !== undefined;
    if (!sync) this.#syncs.set(node, (sync = new NodeSync()));
    return { sync, known };
  }

  routedKeys(node: string): string[] {
    return this.routing.keysFor(node);
  }

  desired(node: string, key: string): { rv: string } | undefined {
    if (!this.routing.isRouted(node, key)) return undefined;
    const obj = this.#sources.get(key);
    const rv = obj?.metadata?.resourceVersion;
    return rv ? { rv } : undefined;
  }

  body(key: string): Uint8Array {
    const obj = this.#sources.get(key);
    if (!obj) throw new Error(`object ${key} vanished between desired() and body()`);
    return this.bodies.get(key, obj);
  }

  isDeleted(key: string): boolean {
    return this.#sources.get(key) === undefined;
  }

  /**
   * Writes reports about one object in the order they arrived, and never lets
   * an older value overwrite a newer one. Without this, a coalesced report
   * resent after a reconnect (its ack was lost) and the newer value queued
   * right after it were written concurrently, and the older write could land
   * last; a transient failure retried after a newer value was written did the
   * same (found by the chaos suite: a Lease left with an old renewTime, see
   * docs/reliability.md). Events do not coalesce and keep running in parallel.
   */
  handleReport(node: string, report: Report): Promise<ReportOutcome> {
    // Device twin/state reports carry their own per-property sequence and go to the device status
    // writer, which keeps only the newest, bounds its own writes and resolves after its next batched
    // write: neither ordering here nor a fair slot (held that long, it would throttle them).
    if (report.kind === 'device-twin' || report.kind === 'device-state') return this.#reports.handle(node, report);
    // Every other report is an API write: nodes share the write slots round-robin, so one flooding
    // edge cannot make the others' status wait behind its backlog. Events are distinct objects and
    // need no ordering.
    if (report.kind === 'event') return this.#fair.run(node, () => this.#reports.handle(node, report));
    const key = `${node}\n${report.kind}\n${report.key}`;
    let e = this.#writes.get(key);
    if (!e) this.#writes.set(key, (e = { latest: 0, tail: Promise.resolve() }));
    let arrival = this.#arrivalOf.get(report);
    if (arrival === undefined) {
      arrival = ++this.#arrivals;
      this.#arrivalOf.set(report, arrival);
      e.latest = arrival;
    }
    const entry = e;
    const seq = arrival;
    // superseded by a newer value of the same object: acknowledged without writing
    // (checked again once it has a write slot: a newer value may have arrived while it waited)
    const superseded = () => seq < entry.latest;
    const run = (): Promise<ReportOutcome> => (superseded() ? Promise.resolve({ ok: true })
      : this.#fair.run(node, () => (superseded() ? Promise.resolve({ ok: true }) : this.#reports.handle(node, report))));
    const p = entry.tail.then(run, run);
    entry.tail = p.catch(() => undefined);
    return p;
  }

  detach(session: Session): void {
    if (this.#sessions.get(session.node) === session) this.#sessions.delete(session.node);
  }

  /** Closes every session (the listeners are the caller's). */
  async close(): Promise<void> {
    await Promise.all([...this.#sessions.values()].map((s) => s.link.close(1000, 'hub shutting down')));
  }
}
