/**
 * The chaos harness's delaying relay: this kernel has no `tc netem`
 * (reference/platform-notes.md), so delay, jitter and reordering are added
 * in userspace by a TCP and UDP proxy that sits between one edge and the hub
 * and holds what it forwards.
 *
 * - TCP (WebSocket edges): every chunk is held `delayMs + U(0, jitterMs)`
 *   but never overtakes the chunk before it (a TCP byte stream cannot be
 *   reordered by a proxy that terminates it; packet-level reordering inside
 *   one TCP connection is absorbed by the kernel and shows up only as delay).
 *   At most `maxQueuedBytes` are held per direction; beyond that the relay
 *   stops reading, so the sender's TCP window closes as on a slow path.
 * - UDP (QUIC edges): each datagram gets its own delay; with `reorderPct`
 *   that share of datagrams is released independently of the ones before
 *   it, so they arrive out of order. At most `maxQueuedDatagrams` are held;
 *   more are dropped (a router queue overflowing).
 *
 * Loss, bandwidth and partitions are done in the kernel (nftables, tbf),
 * not here. Byte counters per direction give the "bytes to converge" figures.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';

export interface ImpairSettings {
  delayMs: number;
  jitterMs: number;
  /** UDP only: share (0-100) of datagrams released independently of the ones before them. */
  reorderPct: number;
}

export const NO_IMPAIRMENT: Readonly<ImpairSettings> = Object.freeze({ delayMs: 0, jitterMs: 0, reorderPct: 0 });

export interface RelayStats {
  /** Hub → edge bytes (TCP payload + UDP datagrams). */
  bytesDown: number;
  /** Edge → hub bytes. */
  bytesUp: number;
  tcpConnections: number;
  udpDropped: number;
}

export interface RelayOptions {
  listenHost: string;
  tcpPort: number;
  /** UDP listen port; absent = no UDP relay. */
  udpPort?: number;
  target: { host: string; tcpPort: number; udpPort?: number };
  random?: () => number;
  maxQueuedBytes?: number;
  maxQueuedDatagrams?: number;
}

/** Forwards one direction of a TCP connection, holding chunks for the current delay without reordering them. */
class DelayedPipe {
  readonly #src: net.Socket;
  readonly #dst: net.Socket;
  readonly #settings: () => ImpairSettings;
  readonly #random: () => number;
  readonly #count: (n: number) => void;
  readonly #max: number;
  #queue: { at: number; chunk: Buffer }[] = [];
  #bytes = 0;
  #last = 0;
  #timer: NodeJS.Timeout | undefined;
  #ended = false;
  #dstBlocked = false;

  constructor(src: net.Socket, dst: net.Socket, settings: () => ImpairSettings, random: () => number, count: (n: number) => void, max: number) {
    this.#src = src;
    this.#dst = dst;
    this.#settings = settings;
    this.#random = random;
    this.#count = count;
    this.#max = max;
    src.on('data', (c: Buffer) => this.#push(c));
    src.on('end', () => {
      this.#ended = true;
      this.#flush();
    });
  }

  #push(chunk: Buffer): void {
    this.#count(chunk.length);
    const s = this.#settings();
    const now = performance.now();
    if (s.delayMs === 0 && s.jitterMs === 0 && this.#queue.length === 0) {
      this.#write(chunk);
      return;
    }
    const at = Math.max(now + s.delayMs + this.#random() * s.jitterMs, this.#last);
    this.#last = at;
    this.#queue.push({ at, chunk });
    this.#bytes += chunk.length;
    if (this.#bytes > this.#max) this.#src.pause();
    this.#schedule();
  }

  #write(chunk: Buffer): void {
    if (this.#dst.destroyed) return;
    if (!this.#dst.write(chunk) && !this.#dstBlocked) {
      this.#dstBlocked = true;
      this.#src.pause();
      this.#dst.once('drain', () => {
        this.#dstBlocked = false;
        this.#maybeResume();
      });
    }
  }

  #maybeResume(): void {
    if (!this.#dstBlocked && this.#bytes <= this.#max / 2 && !this.#src.destroyed) this.#src.resume();
  }

  #schedule(): void {
    if (this.#timer || this.#queue.length === 0) return;
    const wait = Math.max(0, this.#queue[0]!.at - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, wait);
  }

  #flush(): void {
    const now = performance.now();
    while (this.#queue.length > 0 && this.#queue[0]!.at <= now + 1) {
      const { chunk } = this.#queue.shift()!;
      this.#bytes -= chunk.length;
      this.#write(chunk);
    }
    this.#maybeResume();
    if (this.#queue.length === 0 && this.#ended) this.#dst.end();
    else this.#schedule();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#queue = [];
  }
}

/** One edge's relay: TCP (and optionally UDP) from `listenHost` to the hub. */
export class DelayRelay {
  readonly #o: RelayOptions;
  readonly #random: () => number;
  #settings: ImpairSettings = { ...NO_IMPAIRMENT };
  readonly #stats: RelayStats = { bytesDown: 0, bytesUp: 0, tcpConnections: 0, udpDropped: 0 };
  #server: net.Server | undefined;
  #udp: dgram.Socket | undefined;
  readonly #sockets = new Set<net.Socket>();
  readonly #pipes = new Set<DelayedPipe>();
  readonly #ups = new Map<string, { sock: dgram.Socket; lastUsed: number }>();
  readonly #udpTimers = new Set<NodeJS.Timeout>();
  #udpLast = { up: 0, down: 0 };
  #sweep: NodeJS.Timeout | undefined;

  constructor(o: RelayOptions) {
    this.#o = o;
    this.#random = o.random ?? Math.random;
  }

  get settings(): ImpairSettings {
    return { ...this.#settings };
  }

  /** Changes the impairment for data arriving from now on. */
  set(s: Partial<ImpairSettings>): void {
    this.#settings = { ...this.#settings, ...s };
  }

  stats(): RelayStats {
    return { ...this.#stats };
  }

  async start(): Promise<void> {
    const maxBytes = this.#o.maxQueuedBytes ?? 4 << 20;
    this.#server = net.createServer((down) => {
      const up = net.connect(this.#o.target.tcpPort, this.#o.target.host);
      this.#stats.tcpConnections++;
      for (const s of [down, up]) {
        this.#sockets.add(s);
        s.setNoDelay(true);
      }
      const settings = () => this.#settings;
      const p1 = new DelayedPipe(down, up, settings, this.#random, (n) => (this.#stats.bytesUp += n), maxBytes);
      const p2 = new DelayedPipe(up, down, settings, this.#random, (n) => (this.#stats.bytesDown += n), maxBytes);
      this.#pipes.add(p1).add(p2);
      const end = () => {
        p1.stop();
        p2.stop();
        this.#pipes.delete(p1);
        this.#pipes.delete(p2);
        down.destroy();
        up.destroy();
        this.#sockets.delete(down);
        this.#sockets.delete(up);
      };
      for (const s of [down, up]) s.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(this.#o.tcpPort, this.#o.listenHost, () => resolve());
    });
    if (this.#o.udpPort !== undefined && this.#o.target.udpPort !== undefined) {
      const udp = (this.#udp = dgram.createSocket('udp4'));
      udp.on('message', (msg, from) => this.#fromEdge(msg, from));
      udp.on('error', () => {});
      await new Promise<void>((resolve) => udp.bind(this.#o.udpPort, this.#o.listenHost, () => resolve()));
      // forget client mappings idle for a minute (bounded state)
      this.#sweep = setInterval(() => {
        const cutoff = performance.now() - 60_000;
        for (const [k, u] of this.#ups) {
          if (u.lastUsed < cutoff) {
            u.sock.close();
            this.#ups.delete(k);
          }
        }
      }, 10_000);
      this.#sweep.unref();
    }
  }

  get tcpPort(): number {
    return (this.#server?.address() as net.AddressInfo | null)?.port ?? 0;
  }

  get udpPort(): number {
    return this.#udp?.address().port ?? 0;
  }

  #delayDatagram(dir: 'up' | 'down', send: () => void): void {
    const s = this.#settings;
    if (s.delayMs === 0 && s.jitterMs === 0 && this.#udpTimers.size === 0) return send();
    if (this.#udpTimers.size >= (this.#o.maxQueuedDatagrams ?? 4096)) {
      this.#stats.udpDropped++;
      return;
    }
    const now = performance.now();
    let at = now + s.delayMs + this.#random() * s.jitterMs;
    if (!(s.reorderPct > 0 && this.#random() * 100 < s.reorderPct)) at = Math.max(at, this.#udpLast[dir]);
    this.#udpLast[dir] = Math.max(this.#udpLast[dir], at);
    const t = setTimeout(() => {
      this.#udpTimers.delete(t);
      send();
    }, Math.max(0, at - now));
    this.#udpTimers.add(t);
  }

  #fromEdge(msg: Buffer, from: dgram.RemoteInfo): void {
    this.#stats.bytesUp += msg.length;
    const key = `${from.address}:${from.port}`;
    let up = this.#ups.get(key);
    if (!up) {
      const sock = dgram.createSocket('udp4');
      sock.on('error', () => {});
      sock.on('message', (back) => {
        this.#stats.bytesDown += back.length;
        this.#delayDatagram('down', () => this.#udp?.send(back, from.port, from.address));
      });
      sock.bind(0, '127.0.0.1');
      this.#ups.set(key, (up = { sock, lastUsed: performance.now() }));
    }
    up.lastUsed = performance.now();
    const u = up;
    this.#delayDatagram('up', () => u.sock.send(msg, this.#o.target.udpPort!, this.#o.target.host));
  }

  /** Drops every relayed TCP connection at once (both ends see a close). */
  resetConnections(): void {
    for (const s of this.#sockets) s.destroy();
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    for (const t of this.#udpTimers) clearTimeout(t);
    this.#udpTimers.clear();
    for (const p of this.#pipes) p.stop();
    for (const s of this.#sockets) s.destroy();
    for (const u of this.#ups.values()) u.sock.close();
    this.#ups.clear();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
    await new Promise<void>((r) => (this.#udp ? this.#udp.close(() => r()) : r()));
  }
}

/**
 * A plain byte forwarder between a TCP address and a Unix socket, either way
 * round. Unix sockets are not network-namespaced, so this is how a process in
 * the cloud's namespace reaches the kube-apiserver on the host's loopback
 * without giving the host namespace any new address.
 */
export async function forward(from: { host: string; port: number } | { path: string }, to: { host: string; port: number } | { path: string }): Promise<net.Server> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((a) => {
    const b = 'path' in to ? net.connect(to.path) : net.connect(to.port, to.host);
    sockets.add(a).add(b);
    const end = () => {
      a.destroy();
      b.destroy();
      sockets.delete(a);
      sockets.delete(b);
    };
    for (const s of [a, b]) s.on('error', end).on('close', end);
    a.pipe(b);
    b.pipe(a);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if ('path' in from) server.listen(from.path, () => resolve());
    else server.listen(from.port, from.host, () => resolve());
  });
  server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  }) as typeof server.close;
  return server;
}
