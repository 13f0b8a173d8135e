/**
 * Slow-loris connections to the hub's WebSocket listener are bounded in time
 * and do not hurt other edges (issue "Chaos and hostile-input suite",
 * deliverable 3). Five ways of never finishing, 40 connections each, all at
 * once, while a bystander edge measures its ping round trips:
 *
 *   tcp-silent     TCP open, nothing sent (TLS never starts)
 *   tls-trickle    a TLS ClientHello sent 1 byte per second
 *   http-trickle   TLS done, the HTTP upgrade request sent 1 byte per second
 *   no-hello       WebSocket open, no `hello`
 *   frame-trickle  `hello` sent, then a frame 1 byte per second
 *
 * Each must be closed by the server within its bound (TLS/HTTP: 10 s
 * handshake and header timeouts; hello: the session's hello timeout; a
 * trickled frame: 3 missed heartbeats), counted from when it opened.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CloudHub } from '../../cloud/hub/hub.ts';
import { decode, encode, type Msg } from '../../edge/protocol/index.ts';
import * as websocket from '../../edge/transport/websocket.ts';
import type { Listener } from '../../edge/transport/link.ts';
import { createCa, issueCertificate } from '../../lib/pki.ts';
import { createLogger } from '../../lib/log.ts';
import { MemorySources } from './memory-sources.ts';

const log = createLogger({ level: 'error' });
const PER_KIND = 40;

describe('slow-loris connections to the WebSocket listener', () => {
  let listener: Listener;
  let ca: string;
  let client: { cert: string; key: string };
  let issue: (name: string) => Promise<{ cert: string; key: string }>;
  let port = 0;
  let serial = 0;

  beforeAll(async () => {
    const c = await createCa({ commonName: 'loris-ca', validityDays: 1 });
    const s = await issueCertificate({ ca: c, commonName: 'outpost-cloudhub', usage: 'server', validityDays: 1, ipAddresses: ['127.0.0.1'] });
    issue = async (name) => {
      const n = await issueCertificate({ ca: c, commonName: `system:node:${name}`, usage: 'client', validityDays: 1 });
      return { cert: n.certPem, key: n.keyPem! };
    };
    ca = c.certPem;
    client = await issue('loris');
    const hub = new CloudHub({ sources: new MemorySources(), reports: { handle: async () => ({ ok: true }) }, log, session: { helloTimeoutMs: 3000, heartbeatMs: 1000 } });
    listener = await websocket.listen({ host: '127.0.0.1', port: 0, tls: { ca, cert: s.certPem, key: s.keyPem! } });
    listener.onLink((l) => hub.attach(l));
    port = listener.address.port;
  });

  afterAll(async () => {
    await listener.close();
  });

  /** Resolves with how long the server took to close `sock` (ms), or rejects after `limitMs`. */
  function closedWithin(sock: net.Socket, limitMs: number): Promise<number> {
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        sock.destroy();
        reject(new Error(`still open after ${limitMs} ms`));
      }, limitMs);
      sock.once('close', () => {
        clearTimeout(t);
        resolve(performance.now() - t0);
      });
      sock.on('error', () => {});
    });
  }

  function trickle(sock: net.Socket, bytes: Uint8Array): void {
    let i = 0;
    const t = setInterval(() => {
      if (sock.destroyed || i >= bytes.length) return clearInterval(t);
      sock.write(bytes.subarray(i, ++i));
    }, 1000);
    sock.once('close', () => clearInterval(t));
  }

  const kinds: Record<string, () => Promise<number>> = {
    'tcp-silent': async () => closedWithin(net.connect(port, '127.0.0.1'), 20_000),
    'tls-trickle': async () => {
      const s = net.connect(port, '127.0.0.1');
      // the start of a TLS 1.2 ClientHello record
      trickle(s, Uint8Array.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, ...Array(40).fill(7)]));
      return closedWithin(s, 20_000);
    },
    'http-trickle': async () => {
      const s = tls.connect({ host: '127.0.0.1', port, ca, ...client, servername: '' });
      await new Promise((r) => s.once('secureConnect', r));
      trickle(s, new TextEncoder().encode(`GET ${websocket.HUB_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`));
      return closedWithin(s, 20_000);
    },
    'no-hello': async () => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}${websocket.HUB_PATH}`, { ca, ...(await issue(`loris-${++serial}`)) });
      await new Promise((r, j) => ws.once('open', r).once('error', j));
      return closedWithin((ws as unknown as { _socket: net.Socket })._socket, 20_000);
    },
    'frame-trickle': async () => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}${websocket.HUB_PATH}`, { ca, ...(await issue(`loris-${++serial}`)) });
      await new Promise((r, j) => ws.once('open', r).once('error', j));
      ws.on('error', () => {});
      ws.send(encode({ type: 'hello', versions: [1], caps: [], agent: 'loris', window: 1, digest: '0'.repeat(64), inventory: {} }));
      const sock = (ws as unknown as { _socket: net.Socket })._socket;
      // a masked binary WebSocket frame header announcing 100 bytes, then nothing but single bytes
      trickle(sock, Uint8Array.from([0x82, 0x80 | 100, 1, 2, 3, 4, ...Array(100).fill(0)]));
      return closedWithin(sock, 20_000);
    },
  };

  it(`${PER_KIND} of each kind at once are all closed within their bounds, and a bystander keeps its latency`, async () => {
    const by = await websocket.dial({ host: '127.0.0.1', port, tls: { ca, ...(await issue('bystander')) } });
    const pongs = new Map<number, () => void>();
    by.onFrame((f) => {
      const m = decode(f, { direction: 'down' }) as Msg;
      if (m.type === 'pong') pongs.get(m.ts)?.();
    });
    await by.send(encode({ type: 'hello', versions: [1], caps: [], agent: 'bystander', window: 8, digest: '0'.repeat(64), inventory: {} }));
    let n = 0;
    const rtt = async () => {
      const t0 = performance.now();
      const id = ++n;
      await new Promise<void>((r) => {
        pongs.set(id, r);
        void by.send(encode({ type: 'ping', ts: id }));
      });
      return performance.now() - t0;
    };
    const before: number[] = [];
    for (let i = 0; i < 10; i++) before.push(await rtt());
    const results = Object.fromEntries(Object.keys(kinds).map((k) => [k, [] as number[]]));
    let done = false;
    const all = Promise.all(Object.entries(kinds).flatMap(([k, f]) => Array.from({ length: PER_KIND }, () => f().then((ms) => results[k]!.push(ms))))).finally(() => (done = true));
    const during: number[] = [];
    // the bystander pings every 500 ms (its heartbeat) for as long as the slow clients last
    const sampler = (async () => {
      for (let i = 0; i < 80 && !done; i++) {
        during.push(await rtt());
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    await Promise.all([all, sampler]);
    const max = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Math.round(Math.max(...v))]));
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    console.log(JSON.stringify({ closedAfterMaxMs: max, bystanderRttMs: { before: median(before), during: median(during) } }));
    // TLS and HTTP: 10 s handshake/header timeouts; hello: 3 s; silent peer: 3 heartbeats of 1 s (+ close handshake)
    expect(max['tcp-silent']).toBeLessThan(12_000);
    expect(max['tls-trickle']).toBeLessThan(12_000);
    expect(max['http-trickle']).toBeLessThan(14_000);
    expect(max['no-hello']).toBeLessThan(6_000);
    expect(max['frame-trickle']).toBeLessThan(8_000);
    expect(median(during)).toBeLessThan(Math.max(50, median(before) * 20));
    expect(by.closed).toBe(false);
    await by.close();
  }, 60_000);
});
