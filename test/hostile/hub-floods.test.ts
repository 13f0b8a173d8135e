/**
 * Floods from one edge are bounded and do not hurt the others (issue "Chaos
 * and hostile-input suite", deliverable 3), on the real CloudHub/Session
 * code: a ping flood from an edge that never reads (over a real WebSocket),
 * an inventory that never ends, reports beyond the window, and an edge that
 * stops reading while its objects are sent. Each is stopped with a HUB_*
 * code or answered within a fixed memory bound, while a bystander edge's
 * round-trip latency stays low.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CloudHub } from '../../cloud/hub/hub.ts';
import type { Session } from '../../cloud/hub/session.ts';
import { decode, encode, type Msg } from '../../edge/protocol/index.ts';
import { memoryLinkPair } from '../../edge/transport/memory.ts';
import * as websocket from '../../edge/transport/websocket.ts';
import type { Link, Listener } from '../../edge/transport/link.ts';
import { createCa, issueCertificate } from '../../lib/pki.ts';
import { createLogger } from '../../lib/log.ts';
import { MemorySources } from './memory-sources.ts';

const log = createLogger({ level: 'error' });
const hello = (window = 64): Msg => ({ type: 'hello', versions: [1], caps: [], agent: 'flood/1', window, digest: '0'.repeat(64), inventory: {} });
const accept = { handle: async () => ({ ok: true as const }) };

interface Pki { ca: string; server: { cert: string; key: string }; node(name: string): Promise<{ cert: string; key: string }> }
async function pki(): Promise<Pki> {
  const ca = await createCa({ commonName: 'flood-ca', validityDays: 1 });
  const s = await issueCertificate({ ca, commonName: 'outpost-cloudhub', usage: 'server', validityDays: 1, ipAddresses: ['127.0.0.1'] });
  return {
    ca: ca.certPem, server: { cert: s.certPem, key: s.keyPem! },
    async node(name) {
      const c = await issueCertificate({ ca, commonName: `system:node:${name}`, usage: 'client', validityDays: 1 });
      return { cert: c.certPem, key: c.keyPem! };
    },
  };
}

/** A well-behaved edge over a real link: answers with acks and measures ping → pong round trips. */
async function bystander(link: Link): Promise<{ rtt(): Promise<number> }> {
  const waiting = new Map<number, () => void>();
  link.onFrame((f) => {
    const m = decode(f, { direction: 'down' });
    if (m.type === 'upsert' || m.type === 'delete') void link.send(encode({ type: 'ack', seq: m.seq }));
    if (m.type === 'pong') waiting.get(m.ts)?.();
  });
  await link.send(encode(hello()));
  let ts = 0;
  return {
    async rtt() {
      const t0 = performance.now();
      const id = ++ts;
      await new Promise<void>((r) => {
        waiting.set(id, r);
        void link.send(encode({ type: 'ping', ts: id }));
      });
      return performance.now() - t0;
    },
  };
}

describe('floods over a real WebSocket', () => {
  let p: Pki;
  let hub: CloudHub;
  let listener: Listener;
  const sessions: Session[] = [];

  beforeAll(async () => {
    p = await pki();
    hub = new CloudHub({ sources: new MemorySources(), reports: accept, log });
    hub.sessionListeners.add((s) => sessions.push(s));
    listener = await websocket.listen({ host: '127.0.0.1', port: 0, tls: { ca: p.ca, cert: p.server.cert, key: p.server.key } });
    listener.onLink((l) => hub.attach(l));
  });

  afterAll(async () => {
    await listener.close();
  });

  it('a ping flood from an edge that never reads costs at most ~1 MiB of backlog, and a bystander keeps its latency', async () => {
    const b = await websocket.dial({ host: '127.0.0.1', port: listener.address.port, tls: { ca: p.ca, ...(await p.node('calm')) } });
    const calm = await bystander(b);
    const before: number[] = [];
    for (let i = 0; i < 20; i++) before.push(await calm.rtt());

    const cred = await p.node('flooder');
    const ws = new WebSocket(`wss://127.0.0.1:${listener.address.port}${websocket.HUB_PATH}`, { ca: p.ca, cert: cred.cert, key: cred.key, perMessageDeflate: false });
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    ws.send(encode(hello()));
    await new Promise((r) => setTimeout(r, 200));
    // stop reading: the hub's pongs pile up in its socket buffer
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const flooder = () => sessions.find((s) => s.node === 'flooder' && !s.closed);
    const ping = encode({ type: 'ping', ts: 1 });
    let maxBacklog = 0;
    const during: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < 400 && performance.now() - t0 < 20_000; i++) {
      for (let k = 0; k < 1000; k++) ws.send(ping);
      await new Promise((r) => setImmediate(r));
      maxBacklog = Math.max(maxBacklog, flooder()?.link.bufferedAmount ?? 0);
      if (i % 40 === 0) during.push(await calm.rtt());
    }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    console.log(JSON.stringify({ pings: 400_000, maxHubBacklogBytes: maxBacklog, bystanderRttMs: { before: median(before), during: median(during) } }));
    expect(maxBacklog).toBeLessThan(2 << 20);
    expect(median(during)).toBeLessThan(Math.max(50, median(before) * 20));
    ws.terminate();
    await b.close();
  }, 60_000);
});

describe('floods over in-memory links', () => {
  it('an inventory that never ends is cut off with HUB_INVENTORY_TOO_LARGE', async () => {
    const hub = new CloudHub({ sources: new MemorySources(), reports: accept, log, session: { maxInventoryEntries: 20_000 } });
    const pair = memoryLinkPair({ commonNames: { b: 'system:node:inv' } });
    const got: Msg[] = [];
    pair.b.onFrame((f) => got.push(decode(f, { direction: 'down' })));
    const session = hub.attach(pair.a)!;
    // a known node with a digest that does not match → the hub asks for the inventory
    await pair.b.send(encode({ type: 'hello', versions: [1], caps: [], agent: 'x', window: 8, digest: '1'.repeat(64) }));
    await expect.poll(() => got.some((m) => m.type === 'welcome' && m.wantInventory)).toBe(true);
    for (let chunk = 0; chunk < 100 && !session.closed; chunk++) {
      const items = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`v1/ConfigMap/ns/c-${chunk}-${i}`, '1']));
      await pair.b.send(encode({ type: 'inventory', chunk, last: false, items })).catch(() => undefined);
      await new Promise((r) => setImmediate(r));
    }
    await expect.poll(() => got.find((m) => m.type === 'error')).toMatchObject({ code: 'HUB_INVENTORY_TOO_LARGE' });
    expect(session.closed).toBe(true);
  });

  it('reports beyond the window close that session only (HUB_REPORT_WINDOW_EXCEEDED)', async () => {
    let release: () => void = () => {};
    const slow = { handle: () => new Promise<{ ok: true }>((r) => (release = () => r({ ok: true }))) };
    const hub = new CloudHub({ sources: new MemorySources(), reports: slow, log, session: { reportWindow: 16 } });
    const pair = memoryLinkPair({ commonNames: { b: 'system:node:reports' } });
    const got: Msg[] = [];
    pair.b.onFrame((f) => got.push(decode(f, { direction: 'down' })));
    hub.attach(pair.a);
    await pair.b.send(encode(hello()));
    for (let i = 1; i <= 40; i++) await pair.b.send(encode({ type: 'report', id: String(i), kind: 'node-status', key: 'v1/Node//reports', payload: {} })).catch(() => undefined);
    await expect.poll(() => got.find((m) => m.type === 'error')).toMatchObject({ code: 'HUB_REPORT_WINDOW_EXCEEDED' });
    release();
  });

  it('a report flood from one edge does not make another edge wait behind it for API writes (fair write slots)', async () => {
    // a slow API: 4 write slots, each write held until the test releases it
    const writes: { node: string; release: () => void }[] = [];
    const slow = { handle: (node: string) => new Promise<{ ok: true }>((r) => writes.push({ node, release: () => r({ ok: true }) })) };
    const hub = new CloudHub({ sources: new MemorySources(), reports: slow, log, reportWriteConcurrency: 4, session: { reportWindow: 256 } });
    const connect = async (node: string) => {
      const pair = memoryLinkPair({ commonNames: { b: `system:node:${node}` } });
      const got: Msg[] = [];
      pair.b.onFrame((f) => got.push(decode(f, { direction: 'down' })));
      hub.attach(pair.a);
      await pair.b.send(encode(hello()));
      return { pair, got };
    };
    const flooder = await connect('flooder');
    const bystander = await connect('bystander');
    // 200 distinct pod-status reports from the flooder, then one from the bystander
    for (let i = 0; i < 200; i++) await flooder.pair.b.send(encode({ type: 'report', id: String(i), kind: 'pod-status', key: `v1/Pod/ns/p-${i}`, payload: {} }));
    await bystander.pair.b.send(encode({ type: 'report', id: 'b1', kind: 'pod-status', key: 'v1/Pod/ns/b', payload: {} }));
    await expect.poll(() => writes.length).toBe(4);
    // as slots free up, the bystander's write starts after at most one more flooder write
    for (let i = 0; i < 2; i++) {
      writes.find((w) => w.node === 'flooder')!.release();
      writes.splice(writes.findIndex((w) => w.node === 'flooder'), 1);
      await new Promise((r) => setImmediate(r));
    }
    expect(writes.some((w) => w.node === 'bystander')).toBe(true);
    for (const w of writes) w.release();
  });

  it('an edge that stops reading while its objects are sent is closed with HUB_SLOW_CONSUMER once the backlog passes the bound', async () => {
    const sources = new MemorySources();
    const hub = new CloudHub({ sources, reports: accept, log, session: { maxBufferedBytes: 256 * 1024 } });
    sources.put('node', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'stuck' } });
    const names = Array.from({ length: 40 }, (_, i) => `big-${i}`);
    for (const n of names) sources.put('configMap', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: n, namespace: 'ns' }, data: { v: 'x'.repeat(64 * 1024) } });
    sources.put('pod', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' }, spec: { nodeName: 'stuck', volumes: names.map((n) => ({ configMap: { name: n } })) } });
    const pair = memoryLinkPair({ commonNames: { b: 'system:node:stuck' }, highWaterMark: 64 * 1024 });
    const session = hub.attach(pair.a)!;
    await pair.b.send(encode(hello(1000)));
    await new Promise((r) => setTimeout(r, 20));
    pair.stall(); // the edge stops reading (nothing is delivered any more)
    // each change is one more upsert queued towards the stalled edge
    for (let i = 0; i < 40 && !session.closed; i++) {
      sources.put('configMap', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names[i]!, namespace: 'ns' }, data: { v: 'y'.repeat(64 * 1024) } });
      await new Promise((r) => setImmediate(r));
    }
    expect(session.closed).toBe(true);
    // the bound, plus at most one window's worth of frames queued before the check ran
    expect(pair.a.bufferedAmount).toBeLessThan(256 * 1024 + 2 * 66 * 1024);
  });
});
