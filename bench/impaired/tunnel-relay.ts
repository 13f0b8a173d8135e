/**
 * The userspace half of the impaired link (bench/impaired/tunnel.ts): runs in
 * the router namespace and forwards VXLAN datagrams between the edge side and
 * the hub side, holding each one `delayMs` (one way) in a FIFO queue.
 *
 * Why a packet relay and not hack/chaos/relay.ts's DelayRelay: that relay
 * terminates TCP, so the TCP connection that crosses the lossy veth sees the
 * veth's ~0 ms RTT and recovers from loss in microseconds, while QUIC's UDP
 * passes through it end to end and recovers at the full RTT. Here both
 * transports' packets (inner IP packets inside VXLAN) cross the same delay and
 * the same nftables loss, so TCP's and QUIC's loss recovery both run at the
 * real RTT.
 *
 * Control: `{"cmd":"stats"}` per stdin line, one JSON answer per stdout line.
 * Exits when stdin closes, so it never outlives the bench.
 *
 * usage: node bench/impaired/tunnel-relay.ts <json config>
 */
import * as dgram from 'node:dgram';
import { createInterface } from 'node:readline';

export const VXLAN_PORT = 4789;
const VXLAN_HEADER = 8;
const ETH_HEADER = 14;

/**
 * Fills in the transport checksum of the IPv4 TCP/UDP packet inside a VXLAN
 * datagram, in place. The sending kernel leaves it to "hardware" (veth and
 * vxlan advertise checksum offload, and the packet never reaches a NIC
 * because a userspace socket reads it), so the receiver would drop every TCP
 * segment as TcpInCsumErrors. Returns false when the datagram is not IPv4
 * TCP/UDP (ARP, IPv6), which is forwarded unchanged. Pure.
 */
export function fixInnerChecksum(d: Buffer): boolean {
  const eth = VXLAN_HEADER;
  if (d.length < eth + ETH_HEADER + 20 || d.readUInt16BE(eth + 12) !== 0x0800) return false;
  const ip = eth + ETH_HEADER;
  const ihl = (d[ip]! & 0x0f) * 4;
  const total = d.readUInt16BE(ip + 2);
  const proto = d[ip + 9]!;
  const l4 = ip + ihl;
  const len = total - ihl;
  if ((proto !== 6 && proto !== 17) || ip + total > d.length || len < (proto === 6 ? 20 : 8)) return false;
  // fragments other than the first carry no transport header
  if ((d.readUInt16BE(ip + 6) & 0x1fff) !== 0) return false;
  const field = l4 + (proto === 6 ? 16 : 6);
  d.writeUInt16BE(0, field);
  let sum = 0;
  for (let i = ip + 12; i < ip + 20; i += 2) sum += d.readUInt16BE(i); // source and destination address
  sum += proto + len;
  const end = l4 + len;
  let i = l4;
  for (; i + 1 < end; i += 2) sum += (d[i]! << 8) | d[i + 1]!;
  if (i < end) sum += d[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  let c = ~sum & 0xffff;
  if (proto === 17 && c === 0) c = 0xffff; // RFC 768: a computed zero is sent as all ones
  d.writeUInt16BE(c, field);
  return true;
}

/** Bytes of the IP packet inside a VXLAN datagram (what a link would carry, headers and retransmissions included). */
export function innerIpBytes(d: Buffer): number {
  return Math.max(0, d.length - VXLAN_HEADER - ETH_HEADER);
}

export interface TunnelRelayConfig {
  /** One-way delay added in each direction. */
  delayMs: number;
  edgeSide: { listen: string; peer: string };
  hubSide: { listen: string; peer: string };
  /** Router queue per direction; more is dropped (counted). */
  maxQueued: number;
}

export interface TunnelRelayStats {
  /** Hub → edge: IP bytes and packets the hub side sent (before the lossy veth). */
  bytesDown: number;
  packetsDown: number;
  /** Edge → hub: IP bytes and packets that survived the lossy veth. */
  bytesUp: number;
  packetsUp: number;
  queueDropped: number;
  /** Largest IP packet seen: stays at the tunnel MTU (1450) unless GSO batches leak through. */
  maxPacketBytes: number;
}

/** One direction: a FIFO with a constant delay keeps datagram order, and one timer serves the head. */
class DelayQueue {
  readonly #q: { at: number; d: Buffer }[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #delayMs: number;
  readonly #max: number;
  readonly #out: (d: Buffer) => void;
  dropped = 0;

  constructor(delayMs: number, max: number, out: (d: Buffer) => void) {
    this.#delayMs = delayMs;
    this.#max = max;
    this.#out = out;
  }

  push(d: Buffer): void {
    if (this.#delayMs === 0) return this.#out(d);
    if (this.#q.length - this.#head >= this.#max) {
      this.dropped++;
      return;
    }
    this.#q.push({ at: performance.now() + this.#delayMs, d });
    this.#arm();
  }

  #arm(): void {
    if (this.#timer || this.#head >= this.#q.length) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const now = performance.now() + 0.5;
      while (this.#head < this.#q.length && this.#q[this.#head]!.at <= now) this.#out(this.#q[this.#head++]!.d);
      if (this.#head > 4096 && this.#head * 2 > this.#q.length) {
        this.#q.splice(0, this.#head);
        this.#head = 0;
      }
      this.#arm();
    }, Math.max(0, this.#q[this.#head]!.at - performance.now()));
  }

  stop(): void {
    clearTimeout(this.#timer);
  }
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]!) as TunnelRelayConfig;
  const stats: TunnelRelayStats = { bytesDown: 0, packetsDown: 0, bytesUp: 0, packetsUp: 0, queueDropped: 0, maxPacketBytes: 0 };
  const bind = async (host: string) => {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
    s.on('error', (err) => process.stderr.write(`tunnel-relay: ${err.message}\n`));
    await new Promise<void>((r) => s.bind(VXLAN_PORT, host, r));
    return s;
  };
  const edge = await bind(cfg.edgeSide.listen);
  const hub = await bind(cfg.hubSide.listen);
  const up = new DelayQueue(cfg.delayMs, cfg.maxQueued, (d) => hub.send(d, VXLAN_PORT, cfg.hubSide.peer));
  const down = new DelayQueue(cfg.delayMs, cfg.maxQueued, (d) => edge.send(d, VXLAN_PORT, cfg.edgeSide.peer));
  // counts a packet in its direction and queues it for the other side
  const forward = (dir: 'Up' | 'Down', queue: DelayQueue) => (d: Buffer) => {
    fixInnerChecksum(d);
    const n = innerIpBytes(d);
    stats[`bytes${dir}`] += n;
    if (n > stats.maxPacketBytes) stats.maxPacketBytes = n;
    stats[`packets${dir}`]++;
    queue.push(d);
  };
  edge.on('message', forward('Up', up));
  hub.on('message', forward('Down', down));
  const reply = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
  reply({ ready: true, pid: process.pid });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let c: { id?: number; cmd?: string };
    try {
      c = JSON.parse(line) as { id?: number; cmd?: string };
    } catch {
      return reply({ ok: false, error: `not JSON: ${line.slice(0, 100)}` });
    }
    if (c.cmd === 'stats') return reply({ id: c.id, ok: true, stats: { ...stats, queueDropped: up.dropped + down.dropped } });
    return reply({ id: c.id, ok: false, error: `unknown command ${String(c.cmd)}` });
  });
  rl.on('close', () => {
    up.stop();
    down.stop();
    edge.close();
    hub.close();
    process.exit(0);
  });
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`tunnel-relay: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
