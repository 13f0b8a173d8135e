/**
 * One CloudHub session: the link of one authenticated edge node, from `hello`
 * to close. Downstream it streams the node's objects as windowed, coalesced
 * upserts/deletes (NodeSync decides what); upstream it hands reports to the
 * report handler and acknowledges each one only after the API-server write
 * succeeded. Node identity comes from the link's client certificate, never
 * from a message.
 */
import {
  decode, encode, encodeUpsert, ProtocolError, SUPPORTED_VERSIONS,
  type Hello, type Msg, type Rejection, type Report,
} from '../../edge/protocol/index.ts';
import type { Link } from '../../edge/transport/link.ts';
import type { Logger } from '../../lib/log.ts';
import type { NodeSync } from './node-sync.ts';

/** What a session needs from the hub. */
export interface SessionHost {
  /** The node's NodeSync (remembered across sessions). */
  syncFor(node: string): { sync: NodeSync; known: boolean };
  /** Keys the node should have now. */
  routedKeys(node: string): string[];
  /** The current version of `key` if the node should have it. */
  desired(node: string, key: string): { rv: string } | undefined;
  /** Encoded bytes of the current version of `key` (the object must exist). */
  body(key: string): Uint8Array;
  /** True when the object behind `key` no longer exists (vs. unassigned from the node). */
  isDeleted(key: string): boolean;
  handleReport(node: string, report: Report): Promise<ReportOutcome>;
  detach(session: Session): void;
  /** Tunnelled request/response frames (kubectl logs/exec), when supported. */
  onTunnel?(session: Session, msg: Extract<Msg, { type: 'request' | 'response' }>): void;
}

export type ReportOutcome = { ok: true } | { ok: false; permanent: boolean; code: string; message: string };

export interface SessionConfig {
  heartbeatMs: number;
  /** Reports the edge may have in flight. */
  reportWindow: number;
  helloTimeoutMs: number;
  maxFrameBytes: number;
  /** Delay before retrying a report whose write failed transiently. */
  reportRetryMs: number;
  /**
   * Bytes queued towards an edge that does not read (link.bufferedAmount)
   * beyond which the session fails with HUB_SLOW_CONSUMER. Downstream data
   * is bounded by the edge's window; this bounds everything else.
   */
  maxBufferedBytes: number;
  /** Most entries an edge may claim across its inventory frames (HUB_INVENTORY_TOO_LARGE beyond). */
  maxInventoryEntries: number;
}

export const defaultSessionConfig: SessionConfig = {
  heartbeatMs: 5000, reportWindow: 256, helloTimeoutMs: 10_000, maxFrameBytes: 16 << 20, reportRetryMs: 1000,
  maxBufferedBytes: 64 << 20, maxInventoryEntries: 500_000,
};

/** Above this backlog towards the edge, pings are not answered (a peer that does not read needs no pong). */
const PONG_BACKLOG_BYTES = 1 << 20;

let sessionCounter = 0;

export class Session {
  readonly node: string;
  readonly id: string;
  readonly link: Link;
  readonly #host: SessionHost;
  readonly #log: Logger;
  readonly #cfg: SessionConfig;
  #state: 'hello' | 'inventory' | 'sync' | 'closed' = 'hello';
  #sync: NodeSync | undefined;
  #window = 1;
  #inventory = new Map<string, string>();
  #syncDoneSent = false;
  #pumpScheduled = false;
  #lastSeen = Date.now();
  readonly #timers = new Set<NodeJS.Timeout>();
  #reportsInFlight = new Set<string>();
  #ackIds: string[] = [];
  #rejected: Rejection[] = [];
  #ackScheduled = false;
  /** Bytes this session sent to the edge (frames only). */
  bytesSent = 0;
  framesSent = 0;

  constructor(host: SessionHost, link: Link, node: string, log: Logger, cfg: SessionConfig) {
    this.#host = host;
    this.link = link;
    this.node = node;
    this.#cfg = cfg;
    this.id = `${Date.now().toString(36)}-${(++sessionCounter).toString(36)}`;
    this.#log = log.child({ node, session: this.id, protocol: link.protocol });
    link.onFrame((f) => this.#onFrame(f));
    link.onClose((info) => {
      this.#state = 'closed';
      for (const t of this.#timers) clearTimeout(t);
      this.#timers.clear();
      this.#log.info('Closed session', { code: info.code, reason: info.reason, byPeer: info.byPeer, bytesSent: this.bytesSent });
      host.detach(this);
    });
    this.#timer(() => {
      if (this.#state === 'hello') this.fail('PROTO_HELLO_TIMEOUT', `no hello within ${cfg.helloTimeoutMs} ms`);
    }, cfg.helloTimeoutMs);
    this.#heartbeatCheck();
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  #timer(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    t.unref?.();
    this.#timers.add(t);
  }

  #heartbeatCheck(): void {
    this.#timer(() => {
      if (this.closed) return;
      if (Date.now() - this.#lastSeen > 3 * this.#cfg.heartbeatMs) {
        this.fail('HUB_PEER_SILENT', `no frame for ${3 * this.#cfg.heartbeatMs} ms`);
        return;
      }
      this.#heartbeatCheck();
    }, this.#cfg.heartbeatMs);
  }

  /** Sends one message; counts bytes. Never throws (a dead link closes the session). */
  send(msg: Msg | Uint8Array): void {
    if (this.closed) return;
    if (this.link.bufferedAmount > this.#cfg.maxBufferedBytes) {
      // no error frame: it would queue behind the backlog the edge is not reading
      this.#log.warn('Failed session', { code: 'HUB_SLOW_CONSUMER', message: `more than ${this.#cfg.maxBufferedBytes} bytes wait for an edge that does not read` });
      this.#state = 'closed';
      void this.link.close(4000, 'HUB_SLOW_CONSUMER');
      return;
    }
    const frame = msg instanceof Uint8Array ? msg : encode(msg);
    this.bytesSent += frame.byteLength;
    this.framesSent++;
    this.link.send(frame).catch((err: unknown) => this.#log.debug('Dropped frame on a closing link', { err }));
  }

  /** Sends a fatal error and closes. */
  fail(code: string, message: string): void {
    if (this.closed) return;
    this.#log.warn('Failed session', { code, message });
    this.send({ type: 'error', code, message, fatal: true });
    this.#state = 'closed';
    void this.link.close(code.startsWith('PROTO_') ? 4002 : 4000, code);
  }

  /** Closes because a newer session of the same node took over. */
  replace(): void {
    if (this.closed) return;
    this.send({ type: 'error', code: 'HUB_SESSION_REPLACED', message: 'a newer connection of this node replaced this one', fatal: true });
    void this.link.close(4001, 'replaced');
  }

  #onFrame(bytes: Uint8Array): void {
    if (this.closed) return;
    this.#lastSeen = Date.now();
    let msg: Msg;
    try {
      msg = decode(bytes, { direction: 'up', limits: { maxFrameBytes: this.#cfg.maxFrameBytes } });
    } catch (err) {
      if (err instanceof ProtocolError) return this.fail(err.code, err.message);
      throw err;
    }
    switch (msg.type) {
      case 'hello':
        return this.#onHello(msg);
      case 'inventory':
        if (this.#state !== 'inventory') return this.fail('HUB_UNEXPECTED_FRAME', 'inventory was not requested');
        for (const [k, rv] of Object.entries(msg.items)) this.#inventory.set(k, rv);
        // an edge that never sends `last` must not grow this map without end
        if (this.#inventory.size > this.#cfg.maxInventoryEntries) return this.fail('HUB_INVENTORY_TOO_LARGE', `inventory has more than ${this.#cfg.maxInventoryEntries} entries`);
        if (msg.last) this.#startSync(this.#inventory);
        return;
      case 'ack':
        if (this.#state !== 'sync' || !this.#sync!.ack(msg.seq)) {
          return this.fail('HUB_BAD_ACK', `ack ${msg.seq} is beyond the last frame sent (${this.#sync?.lastSeq ?? 0})`);
        }
        this.schedulePump();
        return;
      case 'report':
        return this.#onReport(msg);
      case 'ping':
        // a ping flood from an edge that does not read its socket would otherwise queue pongs without bound
        if (this.link.bufferedAmount > PONG_BACKLOG_BYTES) return;
        return this.send({ type: 'pong', ts: msg.ts });
      case 'pong':
        return;
      case 'error':
        this.#log.warn('Received error from edge', { code: msg.code, message: msg.message, fatal: msg.fatal });
        if (msg.fatal) void this.link.close(1000, 'edge reported a fatal error');
        return;
      case 'request':
      case 'response':
        if (this.#host.onTunnel) return this.#host.onTunnel(this, msg);
        return this.fail('HUB_UNEXPECTED_FRAME', `${msg.type} is not supported by this hub`);
      default:
        // decode(direction 'up') never yields cloud-to-edge types
        return this.fail('HUB_UNEXPECTED_FRAME', `unexpected ${msg.type}`);
    }
  }

  #onHello(hello: Hello): void {
    if (this.#state !== 'hello') return this.fail('HUB_UNEXPECTED_FRAME', 'hello was already received');
    const version = Math.max(...hello.versions.filter((v) => SUPPORTED_VERSIONS.includes(v)));
    if (!Number.isFinite(version)) {
      return this.fail('PROTO_UNSUPPORTED_VERSION', `edge speaks versions ${hello.versions.join(',')}; this hub speaks ${SUPPORTED_VERSIONS.join(',')}`);
    }
    this.#window = hello.window;
    const { sync, known } = this.#host.syncFor(this.node);
    this.#sync = sync;
    const trusted = hello.inventory === undefined && known && hello.digest === sync.digest;
    const wantInventory = hello.inventory === undefined && !trusted;
    this.send({
      type: 'welcome', version, session: this.id, caps: [], heartbeatMs: this.#cfg.heartbeatMs,
      resume: 'delta', wantInventory, window: this.#cfg.reportWindow,
    });
    this.#log.info('Opened session', { agent: hello.agent, window: hello.window, resume: trusted ? 'digest-match' : hello.inventory ? 'inventory-in-hello' : 'inventory-requested' });
    if (wantInventory) {
      this.#state = 'inventory';
      return;
    }
    this.#startSync(hello.inventory ? new Map(Object.entries(hello.inventory)) : undefined);
  }

  #startSync(inventory: Map<string, string> | undefined): void {
    this.#state = 'sync';
    const pending = this.#sync!.resume(this.#host.routedKeys(this.node), inventory);
    this.#inventory = new Map();
    this.#log.debug('Resumed', { candidates: pending });
    this.#pump();
  }

  /** Something for this node may have changed: pump on the next tick. */
  schedulePump(): void {
    if (this.#pumpScheduled || this.#state !== 'sync') return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#state !== 'sync') return;
    const sync = this.#sync!;
    const ops = sync.next((k) => this.#host.desired(this.node, k), this.#window, (k) => this.#host.isDeleted(k));
    for (const op of ops) {
      if (op.op === 'upsert') this.send(encodeUpsert(op.seq, op.key, op.rv, this.#host.body(op.key)));
      else this.send({ type: 'delete', seq: op.seq, key: op.key, ...(op.rv !== undefined ? { rv: op.rv } : {}), reason: op.reason });
    }
    if (!this.#syncDoneSent && sync.pendingCount === 0) {
      this.#syncDoneSent = true;
      this.send({ type: 'sync-done', seq: sync.lastSeq });
    }
  }

  #onReport(report: Report): void {
    if (this.#state !== 'sync' && this.#state !== 'inventory') return this.fail('HUB_UNEXPECTED_FRAME', 'report before hello');
    if (this.#reportsInFlight.has(report.id)) return; // a resend of one being written
    if (this.#reportsInFlight.size >= this.#cfg.reportWindow) {
      return this.fail('HUB_REPORT_WINDOW_EXCEEDED', `more than ${this.#cfg.reportWindow} reports in flight`);
    }
    this.#reportsInFlight.add(report.id);
    const attempt = (): void => {
      if (this.closed) return;
      this.#host.handleReport(this.node, report).then((outcome) => {
        if (outcome.ok) {
          this.#reportsInFlight.delete(report.id);
          this.#ackIds.push(report.id);
        } else if (outcome.permanent) {
          this.#reportsInFlight.delete(report.id);
          this.#rejected.push({ id: report.id, code: outcome.code, message: outcome.message.slice(0, 4096) });
          this.#log.warn('Refused report', { id: report.id, kind: report.kind, key: report.key, code: outcome.code, message: outcome.message });
        } else {
          this.#log.debug('Retrying report', { id: report.id, kind: report.kind, code: outcome.code, message: outcome.message });
          this.#timer(attempt, this.#cfg.reportRetryMs);
          return;
        }
        this.#scheduleReportAck();
      }, (err: unknown) => {
        this.#log.error('Report handler failed', { id: report.id, err });
        this.#timer(attempt, this.#cfg.reportRetryMs);
      });
    };
    attempt();
  }

  #scheduleReportAck(): void {
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    setImmediate(() => {
      this.#ackScheduled = false;
      if (this.#ackIds.length === 0 && this.#rejected.length === 0) return;
      // keep frames bounded: at most 1000 ids per report-ack
      while (this.#ackIds.length || this.#rejected.length) {
        const ids = this.#ackIds.splice(0, 1000);
        const rejected = this.#rejected.splice(0, 100);
        this.send({ type: 'report-ack', ids, rejected });
      }
    });
  }
}
