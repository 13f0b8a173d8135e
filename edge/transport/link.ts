/**
 * The transport port: a {@link Link} carries opaque, whole messages in order
 * between an edge and the hub; a {@link Listener} hands out the links that
 * edges open. edge/protocol frames and validates the bytes; a transport only
 * delivers each message intact, in order, once, or reports why it stopped.
 */
import type { Logger } from '../../lib/log.ts';
import { TransportError, type TransportErrorCode } from './errors.ts';

/** Which implementation a link runs on. */
export type Protocol = 'websocket' | 'quic' | 'memory';

/** Who is on the other end, as far as TLS proved it. */
export interface PeerInfo {
  /** Subject CN of the certificate the peer presented (the node name on the hub side). */
  readonly commonName: string | undefined;
  /** `host:port` the link's packets come from (`memory` for the in-memory pair). */
  readonly remoteAddress: string;
}

/**
 * Why a link closed. Codes use WebSocket numbering on every transport:
 * 1000 normal, 1001 going away (listener closing), 1002 protocol violation,
 * 1006 connection lost (never sent on the wire), 1009 message too large,
 * 1011 internal error, 1013 the sender's data made no progress (see
 * {@link SendWatchdog}), 4000-4999 for edge/protocol's own reasons.
 */
export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
  /** True when the peer (or the network) ended the link, false when this side called close(). */
  readonly byPeer: boolean;
  /** Set when the link ended abnormally (peer dead, TLS failure, oversize message...). */
  readonly error?: TransportError;
}

/** One connection between an edge and the hub. */
export interface Link {
  readonly protocol: Protocol;
  readonly peer: PeerInfo;
  /** Bytes accepted by send() but not yet handed to the OS (or, for QUIC, to quiche). */
  readonly bufferedAmount: number;
  /** True once the link has closed (after the onClose callbacks were scheduled). */
  readonly closed: boolean;
  /**
   * Queues one message. Resolves once the bytes are handed to the OS, so
   * awaiting each send applies the network's backpressure to the caller.
   * Rejects with TRANSPORT_MESSAGE_TOO_LARGE (the link stays open) or
   * TRANSPORT_CLOSED. The caller must not change `frame` until it resolves.
   */
  send(frame: Uint8Array): Promise<void>;
  /**
   * Registers a message callback. Messages that arrive before the first one
   * is registered are kept and delivered to it. A callback must not throw
   * (a throw surfaces as an uncaught exception).
   */
  onFrame(cb: (frame: Uint8Array) => void): void;
  /** Registers a close callback; called once, also when registered after the close. */
  onClose(cb: (info: CloseInfo) => void): void;
  /**
   * Closes after every message sent before it has been delivered (a closing
   * handshake), or after `closeTimeoutMs` at the latest. `code` is 1000 or
   * 4000-4999. Idempotent; resolves when the link is closed.
   */
  close(code?: number, reason?: string): Promise<void>;
}

/** Accepts links on one address. */
export interface Listener {
  readonly protocol: Protocol;
  /** The bound address (port 0 in the options is resolved here). */
  readonly address: { host: string; port: number };
  /** Registers the callback for new links (peer already authenticated). */
  onLink(cb: (link: Link) => void): void;
  /** Stops accepting and closes open links with 1001. Idempotent. */
  close(): Promise<void>;
}

/** PEM material for mutual TLS. */
export interface TlsMaterial {
  /** CA bundle that peers' certificates must chain to. */
  ca: string;
  cert: string;
  key: string;
}

/** Options every transport shares. */
export interface LinkOptions {
  /** Largest message accepted in either direction (default 16 MiB, edge/protocol's default maxFrameBytes). */
  maxMessageBytes?: number;
  /** Heartbeat interval: WebSocket ping / QUIC keep-alive (default 2000 ms). */
  keepAliveMs?: number;
  /** A peer silent this long is dead (default 7000 ms: noticed within 10 s). */
  deadAfterMs?: number;
  /** Longest wait for the peer's side of a closing handshake (default 2000 ms). */
  closeTimeoutMs?: number;
  /**
   * A link with bytes waiting to be sent and no send progress for this long
   * fails with TRANSPORT_SEND_STALLED (default 30 000 ms; see
   * {@link SendWatchdog}). 0 turns the watchdog off.
   */
  stallTimeoutMs?: number;
  log?: Logger;
}

/** Options of a transport's dial(). */
export interface DialOptions extends LinkOptions {
  host: string;
  port: number;
  /** Name checked against the hub certificate's SANs (default: host). */
  serverName?: string;
  /** Client certificate and the CA that signed the hub's; `cert`/`key` may be omitted only to test refusal. */
  tls: { ca: string; cert?: string; key?: string };
  /** Give up connecting after this long (default 10 000 ms). */
  connectTimeoutMs?: number;
}

/** Options of a transport's listen(). */
export interface ListenOptions extends LinkOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  tls: TlsMaterial;
}

/** Defaults of {@link LinkOptions}, resolved. */
export interface ResolvedLinkOptions {
  maxMessageBytes: number;
  keepAliveMs: number;
  deadAfterMs: number;
  closeTimeoutMs: number;
  stallTimeoutMs: number;
  log: Logger | undefined;
}

/**
 * Default {@link LinkOptions.stallTimeoutMs}. Far above anything a working
 * link shows: the watchdog counts progress in chunks of at most 64 KiB
 * ({@link SEND_CHUNK_BYTES}), so 30 s without one means under 2.2 KB/s for
 * half a minute, while the impaired-link benchmark's worst working case (5 %
 * loss, 200 ms each way, 50 edges) still moves a 64 KiB chunk in a few
 * seconds. It is also well above deadAfterMs (7 s), so a vanished peer is
 * still reported as TRANSPORT_PEER_DEAD, not as a stall.
 */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

/** Largest piece a transport hands to its connection at once, so send progress is visible per chunk. */
export const SEND_CHUNK_BYTES = 64 * 1024;

/** Fills defaults and checks ranges; throws TRANSPORT_INVALID_ARGUMENT. */
export function resolveLinkOptions(o: LinkOptions): ResolvedLinkOptions {
  const r = {
    maxMessageBytes: o.maxMessageBytes ?? 16 * 1024 * 1024,
    keepAliveMs: o.keepAliveMs ?? 2000,
    deadAfterMs: o.deadAfterMs ?? 7000,
    closeTimeoutMs: o.closeTimeoutMs ?? 2000,
    stallTimeoutMs: o.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
    log: o.log,
  };
  const int = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) throw new TransportError('TRANSPORT_INVALID_ARGUMENT', `${name} must be an integer in [${min}, ${max}], got ${v}`);
  };
  int('maxMessageBytes', r.maxMessageBytes, 0, 2 ** 32 - 2);
  int('keepAliveMs', r.keepAliveMs, 10, 3_600_000);
  int('deadAfterMs', r.deadAfterMs, 20, 3_600_000);
  int('closeTimeoutMs', r.closeTimeoutMs, 0, 60_000);
  if (r.stallTimeoutMs !== 0) int('stallTimeoutMs', r.stallTimeoutMs, 100, 3_600_000);
  if (r.deadAfterMs < 2 * r.keepAliveMs) throw new TransportError('TRANSPORT_INVALID_ARGUMENT', `deadAfterMs (${r.deadAfterMs}) must be at least twice keepAliveMs (${r.keepAliveMs}), or a live peer can look dead between two heartbeats`);
  return r;
}

/** A monotonic clock and timers, injectable so tests control time. */
export interface WatchdogClock {
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const realClock: WatchdogClock = {
  now: () => performance.now(),
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

/**
 * Send-progress watchdog: the link must never sit forever with unsent data
 * and no progress. Liveness checks (keep-alives, QUIC's idle timeout) only
 * prove the peer answers; a peer that answers but never lets our data
 * through (a receive window or flow-control credit that never reopens, a
 * lost wake-up in the QUIC library) keeps a link open and useless. Every
 * `checkMs` the watchdog asks `progress()` for a counter of bytes that left
 * the send buffer; while `backlog()` is above zero and that counter has not
 * moved for `timeoutMs`, `onStall(idleMs)` is called once. The edge's
 * reconnect and resume then deliver what was stuck.
 */
export class SendWatchdog {
  #timer: unknown;
  #clock: WatchdogClock;
  #last = -1;
  #since: number;

  constructor(timeoutMs: number, backlog: () => number, progress: () => number, onStall: (idleMs: number) => void, clock: WatchdogClock = realClock) {
    this.#clock = clock;
    this.#since = clock.now();
    if (timeoutMs === 0) return;
    this.#timer = clock.setInterval(() => {
      const now = clock.now();
      const p = progress();
      if (backlog() === 0 || p !== this.#last) {
        this.#last = p;
        this.#since = now;
        return;
      }
      if (now - this.#since >= timeoutMs) {
        this.stop();
        onStall(Math.round(now - this.#since));
      }
    }, Math.max(10, Math.min(1000, Math.floor(timeoutMs / 4))));
  }

  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** TRANSPORT_SEND_STALLED with a message that says what to do. */
export function sendStalled(peer: string, idleMs: number, backlog: number, timeoutMs: number): TransportError {
  return new TransportError('TRANSPORT_SEND_STALLED', `${backlog} bytes to ${peer} made no progress for ${idleMs} ms (stallTimeoutMs ${timeoutMs}) although the link looked alive; the link was dropped and should be dialled again (resume delivers what was stuck)`);
}

/** Checks a close code an application may send; throws TRANSPORT_INVALID_ARGUMENT. */
export function checkCloseCode(code: number): void {
  if (code !== 1000 && !(Number.isInteger(code) && code >= 4000 && code <= 4999)) {
    throw new TransportError('TRANSPORT_INVALID_ARGUMENT', `close code must be 1000 or 4000-4999, got ${code}`);
  }
}

/**
 * The bookkeeping every Link shares: callbacks registered late still get
 * what already happened, the close is reported exactly once, and send()
 * checks happen before any bytes move. Implementations call `deliver` for
 * each whole message and `finish` exactly when the connection is gone.
 */
export abstract class LinkBase implements Link {
  abstract readonly protocol: Protocol;
  abstract readonly peer: PeerInfo;
  abstract get bufferedAmount(): number;
  abstract send(frame: Uint8Array): Promise<void>;
  abstract close(code?: number, reason?: string): Promise<void>;
  /** close() with 1001 "going away", used when a listener shuts down. */
  abstract goAway(): Promise<void>;

  readonly maxMessageBytes: number;
  #frameCbs: ((f: Uint8Array) => void)[] = [];
  #early: Uint8Array[] = [];
  #closeCbs: ((i: CloseInfo) => void)[] = [];
  #closeInfo: CloseInfo | undefined;

  constructor(maxMessageBytes: number) {
    this.maxMessageBytes = maxMessageBytes;
  }

  get closed(): boolean {
    return this.#closeInfo !== undefined;
  }

  /** How the link closed, once it has. */
  get closeInfo(): CloseInfo | undefined {
    return this.#closeInfo;
  }

  onFrame(cb: (frame: Uint8Array) => void): void {
    this.#frameCbs.push(cb);
    if (this.#frameCbs.length === 1 && this.#early.length > 0) {
      const early = this.#early;
      this.#early = [];
      for (const f of early) cb(f);
    }
  }

  onClose(cb: (info: CloseInfo) => void): void {
    const info = this.#closeInfo;
    if (info) queueMicrotask(() => cb(info));
    else this.#closeCbs.push(cb);
  }

  /**
   * Hands one received message to the callbacks (or keeps it until one is
   * registered). A callback that throws is a bug in the layer above: the
   * error is rethrown as an uncaught exception, the same on every transport,
   * instead of breaking the transport's read loop.
   */
  protected deliver(frame: Uint8Array): void {
    if (this.#closeInfo) return;
    if (this.#frameCbs.length === 0) this.#early.push(frame);
    for (const cb of this.#frameCbs) {
      try {
        cb(frame);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  /** Records the close and schedules the close callbacks; later calls are ignored. Returns whether this call closed the link. */
  protected finish(info: CloseInfo): boolean {
    if (this.#closeInfo) return false;
    this.#closeInfo = info;
    const cbs = this.#closeCbs;
    this.#closeCbs = [];
    queueMicrotask(() => {
      for (const cb of cbs) cb(info);
    });
    return true;
  }

  /** Rejects what send() must refuse before touching the connection. */
  protected checkSend(frame: Uint8Array): TransportError | undefined {
    if (this.#closeInfo) return new TransportError('TRANSPORT_CLOSED', `the ${this.protocol} link to ${this.peer.remoteAddress} is closed (${this.#closeInfo.code} ${this.#closeInfo.reason}); dial again`, { cause: this.#closeInfo.error });
    if (!(frame instanceof Uint8Array)) return new TransportError('TRANSPORT_INVALID_ARGUMENT', 'send() takes a Uint8Array');
    if (frame.byteLength > this.maxMessageBytes) return tooLarge(frame.byteLength, this.maxMessageBytes, 'send');
    return undefined;
  }
}

/** TRANSPORT_MESSAGE_TOO_LARGE with a message that says which side's limit it was. */
export function tooLarge(size: number | undefined, max: number, where: 'send' | 'receive'): TransportError {
  return new TransportError(
    'TRANSPORT_MESSAGE_TOO_LARGE',
    where === 'send'
      ? `message of ${size} bytes exceeds maxMessageBytes ${max}; split it (edge/protocol chunks large payloads) or raise maxMessageBytes on both sides`
      : `the peer sent a message ${size === undefined ? 'larger than' : `of ${size} bytes, over`} this side's maxMessageBytes ${max}; the link was closed with 1009`,
  );
}

/**
 * What a close code received from the peer means, as a CloseInfo. Codes the
 * transport itself sends for a failure map back to the same error code on
 * the other side, so both ends log the same cause.
 */
export function peerCloseInfo(code: number, reason: string): CloseInfo {
  const err = (c: TransportErrorCode, m: string): CloseInfo => ({ code, reason, byPeer: true, error: new TransportError(c, m) });
  switch (code) {
    case 1002:
    case 1003:
      return err('TRANSPORT_PROTOCOL_VIOLATION', `the peer closed the link for a protocol violation (${code} ${reason})`);
    case 1009:
      return err('TRANSPORT_MESSAGE_TOO_LARGE', `the peer refused a message over its maxMessageBytes (${reason}); lower what is sent or raise the limit on both sides`);
    case 1005:
    case 1006:
      return err('TRANSPORT_CLOSED', `the connection was lost without a close handshake (${code}${reason ? ' ' + reason : ''})`);
    case 1011:
      return err('TRANSPORT_CLOSED', `the peer closed the link after an internal error (${reason})`);
    case 1013:
      return err('TRANSPORT_SEND_STALLED', `the peer dropped the link because its sends to this side made no progress (${reason}); dial again`);
    default:
      return { code, reason, byPeer: true };
  }
}

/** A close reason cut to the 123 UTF-8 bytes a close frame has room for (RFC 6455 §5.5), on a character boundary. */
export function clipReason(reason: string): string {
  let r = reason.slice(0, 123);
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

/** `host:port`, with IPv6 hosts in brackets. */
export function formatAddress(host: string | undefined, port: number | undefined): string {
  return `${host?.includes(':') ? `[${host}]` : (host ?? '?')}:${port ?? '?'}`;
}

/**
 * Listener bookkeeping: links accepted before onLink is registered are kept,
 * open links are tracked so close() can close them with 1001.
 */
export abstract class ListenerBase implements Listener {
  abstract readonly protocol: Protocol;
  abstract readonly address: { host: string; port: number };
  #cbs: ((l: Link) => void)[] = [];
  #early: Link[] = [];
  protected readonly links = new Set<Link>();
  #closing: Promise<void> | undefined;

  onLink(cb: (link: Link) => void): void {
    this.#cbs.push(cb);
    if (this.#cbs.length === 1) for (const l of this.#early.splice(0)) if (!l.closed) cb(l);
  }

  /** Hands a new, authenticated link to the callbacks. */
  protected accept(link: Link): void {
    this.links.add(link);
    link.onClose(() => this.links.delete(link));
    if (this.#cbs.length === 0) this.#early.push(link);
    for (const cb of this.#cbs) cb(link);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([...this.links].map((l) => (l as LinkBase).goAway()));
      await this.stop();
    })();
    return this.#closing;
  }

  /** Stops accepting and releases the socket. */
  protected abstract stop(): Promise<void>;
}
