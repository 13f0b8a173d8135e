/**
 * An in-memory Link pair for tests of the layers above (sessions, hub,
 * agent): asynchronous, ordered delivery with the same close and size rules
 * as the network transports, plus hooks to stall or sever the "network".
 */
import { TransportError } from './errors.ts';
import {
  DEFAULT_STALL_TIMEOUT_MS, LinkBase, SendWatchdog, checkCloseCode, clipReason, peerCloseInfo, sendStalled, tooLarge,
  type CloseInfo, type PeerInfo, type WatchdogClock,
} from './link.ts';

/** Options of {@link memoryLinkPair}. */
export interface MemoryPairOptions {
  /** Per-side limit, as for the network transports (default 16 MiB). */
  maxMessageBytes?: number | { a: number; b: number };
  /** send() resolves while the queue towards the peer holds less than this (default 1 MiB). */
  highWaterMark?: number;
  /** Certificate CNs the two ends claim (default `a` and `b`). */
  commonNames?: { a?: string; b?: string };
  /** As LinkOptions.stallTimeoutMs: a side whose queue does not move for this long fails with TRANSPORT_SEND_STALLED (default 30 000; 0 = off). */
  stallTimeoutMs?: number;
  /** Clock for the stall watchdog (tests). */
  clock?: WatchdogClock;
}

/** One end of {@link memoryLinkPair}. */
export class MemoryLink extends LinkBase {
  readonly protocol = 'memory' as const;
  readonly peer: PeerInfo;
  #net: MemoryNetwork;
  #side: 0 | 1;

  constructor(net: MemoryNetwork, side: 0 | 1, peerCn: string | undefined, max: number) {
    super(max);
    this.#net = net;
    this.#side = side;
    this.peer = { commonName: peerCn, remoteAddress: 'memory' };
  }

  get bufferedAmount(): number {
    return this.#net.queued[this.#side];
  }

  send(frame: Uint8Array): Promise<void> {
    const err = this.checkSend(frame);
    if (err) return Promise.reject(err);
    return this.#net.push(this.#side, frame.slice());
  }

  async close(code = 1000, reason = ''): Promise<void> {
    if (this.closed) return;
    checkCloseCode(code);
    await this.#net.closeFrom(this.#side, code, clipReason(reason));
  }

  async goAway(): Promise<void> {
    if (!this.closed) await this.#net.closeFrom(this.#side, 1001, 'going away');
  }

  /** @internal */ _deliver(frame: Uint8Array): void {
    if (frame.byteLength > this.maxMessageBytes) {
      this.#net.fail(this.#side, 1009, tooLarge(frame.byteLength, this.maxMessageBytes, 'receive'));
      return;
    }
    this.deliver(frame);
  }
  /** @internal */ _finish(info: CloseInfo): void {
    this.finish(info);
  }
}

const CLOSE_TIMEOUT_MS = 2000;

type Item = { frame: Uint8Array } | { close: { code: number; reason: string } };

class MemoryNetwork {
  readonly links: [MemoryLink, MemoryLink];
  readonly queues: [Item[], Item[]] = [[], []]; // queues[i]: from side i to side 1-i
  readonly queued: [number, number] = [0, 0];
  readonly drained: [(() => void)[], (() => void)[]] = [[], []];
  readonly highWaterMark: number;
  /** Bytes delivered from side i (send progress for the watchdogs). */
  readonly delivered: [number, number] = [0, 0];
  readonly watchdogs: SendWatchdog[];
  stalled = false;
  scheduled = false;
  closing: [((v: void) => void) | undefined, ((v: void) => void) | undefined] = [undefined, undefined];

  constructor(o: MemoryPairOptions) {
    const max = o.maxMessageBytes ?? 16 * 1024 * 1024;
    const [ma, mb] = typeof max === 'number' ? [max, max] : [max.a, max.b];
    this.highWaterMark = o.highWaterMark ?? 1024 * 1024;
    this.links = [new MemoryLink(this, 0, o.commonNames?.b ?? 'b', ma), new MemoryLink(this, 1, o.commonNames?.a ?? 'a', mb)];
    const stallMs = o.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    this.watchdogs = ([0, 1] as const).map((s) => new SendWatchdog(stallMs, () => this.queued[s], () => this.delivered[s], (idleMs) => {
      if (this.links[s].closed) return;
      this.links[s]._finish({ code: 1006, reason: 'send stalled', byPeer: true, error: sendStalled('memory', idleMs, this.queued[s], stallMs) });
      this.links[1 - s]!._finish(peerCloseInfo(1013, 'send stalled'));
      this.end();
    }, o.clock));
  }

  push(side: 0 | 1, frame: Uint8Array): Promise<void> {
    this.queues[side].push({ frame });
    this.queued[side] += frame.byteLength;
    this.schedule();
    if (this.queued[side] < this.highWaterMark) return Promise.resolve();
    return new Promise((resolve) => this.drained[side].push(resolve));
  }

  closeFrom(side: 0 | 1, code: number, reason: string): Promise<void> {
    this.queues[side].push({ close: { code, reason } });
    this.schedule();
    return new Promise((resolve) => {
      // Like the network transports: a peer that never answers the closing
      // handshake (stalled network) does not keep close() pending forever.
      const t = setTimeout(() => {
        this.links[side]._finish({ code, reason, byPeer: false });
        resolve();
      }, CLOSE_TIMEOUT_MS);
      this.closing[side] = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Ends both sides: `side` saw `err`; the other sees the link lost. */
  fail(side: 0 | 1, code: number, err: TransportError): void {
    this.links[side]._finish({ code, reason: err.message, byPeer: true, error: err });
    this.links[1 - side]!._finish(peerCloseInfo(code, err.message));
    this.end();
  }

  end(): void {
    for (const w of this.watchdogs) w.stop();
    for (const s of [0, 1] as const) {
      this.queues[s].length = 0;
      this.queued[s] = 0;
      for (const r of this.drained[s].splice(0)) r();
      this.closing[s]?.();
    }
  }

  schedule(): void {
    if (this.scheduled || this.stalled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  pump(): void {
    for (const s of [0, 1] as const) {
      const to = this.links[1 - s]!;
      let item: Item | undefined;
      while (!this.stalled && (item = this.queues[s].shift())) {
        if ('frame' in item) {
          this.queued[s] -= item.frame.byteLength;
          this.delivered[s] += item.frame.byteLength;
          to._deliver(item.frame);
        } else {
          const { code, reason } = item.close;
          to._finish({ code, reason, byPeer: true });
          this.links[s]._finish({ code, reason, byPeer: false });
          this.end();
          return;
        }
      }
      if (this.queued[s] < this.highWaterMark) for (const r of this.drained[s].splice(0)) r();
    }
  }
}

/** The pair plus the test hooks on the "network" between them. */
export interface MemoryPair {
  a: MemoryLink;
  b: MemoryLink;
  /** Stops delivery in both directions (a black-holed network): queues and bufferedAmount grow, send() stops resolving. */
  stall(): void;
  /** Resumes delivery after stall(). */
  resume(): void;
  /** Drops the connection: both ends close with 1006 and TRANSPORT_PEER_DEAD, queued messages are lost. */
  sever(): void;
}

/**
 * Two connected in-memory links. Delivery is asynchronous (setImmediate) and
 * ordered; close(code, reason) is delivered after everything sent before it.
 */
export function memoryLinkPair(opts: MemoryPairOptions = {}): MemoryPair {
  const net = new MemoryNetwork(opts);
  const [a, b] = net.links;
  return {
    a,
    b,
    stall: () => void (net.stalled = true),
    resume: () => {
      net.stalled = false;
      net.schedule();
    },
    sever: () => {
      const err = new TransportError('TRANSPORT_PEER_DEAD', 'the in-memory link was severed (test hook)');
      for (const l of [a, b]) l._finish({ code: 1006, reason: err.message, byPeer: true, error: err });
      net.end();
    },
  };
}
