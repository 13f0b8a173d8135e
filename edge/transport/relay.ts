/**
 * Test helper: a loopback relay (TCP or UDP) between a client and a server
 * that can be switched to a black hole, the way a NAT rebind, a pulled cable
 * or a crashed host looks from the other end: no FIN, no RST, no ICMP, just
 * silence. Used by the contract suite to measure dead-peer detection and
 * backpressure. Listens on 127.0.0.1 only.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';

/** A running relay. */
export interface Relay {
  readonly port: number;
  /** From now on nothing crosses the relay in either direction; connections stay "open". */
  blackhole(): void;
  close(): Promise<void>;
}

/** Relays TCP from 127.0.0.1:<port> to `target`. */
export async function tcpRelay(target: { host: string; port: number }): Promise<Relay> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  let holed = false;
  const server = net.createServer((down) => {
    const up = net.connect(target.port, target.host);
    const pair: [net.Socket, net.Socket] = [down, up];
    pairs.add(pair);
    const end = () => {
      down.destroy();
      up.destroy();
      pairs.delete(pair);
    };
    for (const s of pair) s.on('error', end).on('close', end);
    if (holed) return;
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    blackhole() {
      holed = true;
      // Stop reading: the senders' kernel buffers fill up and nothing is ACKed upstream of the relay.
      for (const [down, up] of pairs) {
        down.unpipe(up);
        up.unpipe(down);
        down.pause();
        up.pause();
      }
    },
    async close() {
      for (const [down, up] of pairs) {
        down.destroy();
        up.destroy();
      }
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Relays UDP datagrams from 127.0.0.1:<port> to `target` (one upstream socket per client address). */
export async function udpRelay(target: { host: string; port: number }): Promise<Relay> {
  const sock = dgram.createSocket('udp4');
  const ups = new Map<string, dgram.Socket>();
  let holed = false;
  sock.on('message', (msg, from) => {
    if (holed) return;
    const key = `${from.address}:${from.port}`;
    let up = ups.get(key);
    if (!up) {
      const u = dgram.createSocket('udp4');
      u.on('message', (back) => void (holed || sock.send(back, from.port, from.address)));
      u.bind(0, '127.0.0.1');
      ups.set(key, (up = u));
    }
    up.send(msg, target.port, target.host);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  return {
    port: sock.address().port,
    blackhole: () => void (holed = true),
    async close() {
      for (const u of ups.values()) u.close();
      await new Promise<void>((r) => sock.close(() => r()));
    },
  };
}
