/**
 * The hub fuzz of hub-fuzz.test.ts over real links (mutual-TLS WebSocket and
 * QUIC on loopback), plus oversized messages: each hostile frame closes only
 * its own session with decode's PROTO_* code, a message over the 16 MiB
 * limit is refused by the transport (1009) before it is buffered, and a
 * bystander edge (the real EdgeHub and SQLite store) keeps its one session
 * and keeps receiving its objects.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudHub } from '../../cloud/hub/hub.ts';
import { decode, encode, InventoryDigest, type Msg } from '../../edge/protocol/index.ts';
import { EdgeHub } from '../../edge/hub/edge-hub.ts';
import { openEdgeStore, type EdgeStore } from '../../edge/store/store.ts';
import * as quic from '../../edge/transport/quic.ts';
import * as websocket from '../../edge/transport/websocket.ts';
import type { Link, Listener } from '../../edge/transport/link.ts';
import { createCa, issueCertificate } from '../../lib/pki.ts';
import { createLogger } from '../../lib/log.ts';
import { expectedError, sampleFrames } from './frames.ts';
import { MemorySources } from './memory-sources.ts';

const log = createLogger({ level: 'error' });
const N = { websocket: Number(process.env.OUTPOST_FUZZ_WS_FRAMES ?? 600), quic: Number(process.env.OUTPOST_FUZZ_QUIC_FRAMES ?? 150) };

describe.each(['websocket', 'quic'] as const)('hostile frames over %s', (protocol) => {
  const transport = protocol === 'websocket' ? websocket : quic;
  let dir: string;
  let sources: MemorySources;
  let hub: CloudHub;
  let listener: Listener;
  let ca: string;
  let certs: { cert: string; key: string }[];
  let store: EdgeStore;
  let bystander: EdgeHub;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'outpost-fuzz-links-'));
    const c = await createCa({ commonName: 'fuzz-ca', validityDays: 1 });
    ca = c.certPem;
    const s = await issueCertificate({ ca: c, commonName: 'outpost-cloudhub', usage: 'server', validityDays: 1, ipAddresses: ['127.0.0.1'] });
    certs = await Promise.all(['bystander', ...Array.from({ length: 8 }, (_, i) => `fuzz-${i}`)].map(async (n) => {
      const x = await issueCertificate({ ca: c, commonName: `system:node:${n}`, usage: 'client', validityDays: 1 });
      return { cert: x.certPem, key: x.keyPem! };
    }));
    sources = new MemorySources();
    sources.put('node', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'bystander' } });
    sources.put('configMap', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'ns' }, data: { v: '0' } });
    sources.put('pod', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'app', namespace: 'ns' }, spec: { nodeName: 'bystander', volumes: [{ configMap: { name: 'cfg' } }] } });
    hub = new CloudHub({ sources, reports: { handle: async () => ({ ok: true }) }, log });
    listener = await transport.listen({ host: '127.0.0.1', port: 0, tls: { ca, cert: s.certPem, key: s.keyPem! } });
    listener.onLink((l) => hub.attach(l));
    store = openEdgeStore(join(dir, 'edge.db'), { objects: { incrementalDigest: () => new InventoryDigest() } });
    bystander = new EdgeHub({ store, log, dial: () => transport.dial({ host: '127.0.0.1', port: listener.address.port, tls: { ca, ...certs[0]! } }) });
    bystander.start();
    for (let i = 0; i < 1000 && bystander.state !== 'synced'; i++) await new Promise((r) => setTimeout(r, 10));
  }, 60_000);

  afterAll(async () => {
    await bystander.stop();
    store.close();
    await listener.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const dial = (i: number, maxMessageBytes?: number): Promise<Link> =>
    transport.dial({ host: '127.0.0.1', port: listener.address.port, tls: { ca, ...certs[1 + (i % 8)]! }, ...(maxMessageBytes ? { maxMessageBytes } : {}) });

  it(`${N[protocol]} hostile frames close only their own session, with decode's PROTO_* code`, async () => {
    const frames = sampleFrames(protocol === 'websocket' ? 7 : 8, N[protocol]);
    const wrong: string[] = [];
    const codes = new Set<string>();
    for (const [i, frame] of frames.entries()) {
      const link = await dial(i);
      const got: Msg[] = [];
      let closed: number | undefined;
      link.onFrame((f) => got.push(decode(f, { direction: 'down' })));
      link.onClose((c) => (closed = c.code));
      if (i % 2 === 1) await link.send(encode({ type: 'hello', versions: [1], caps: [], agent: 'fuzz', window: 8, digest: '0'.repeat(64), inventory: {} }));
      await link.send(frame).catch(() => undefined);
      const want = expectedError(frame);
      const deadline = performance.now() + 3000;
      while (want !== undefined && closed === undefined && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      const err = (got.filter((m) => m.type === 'error').at(-1) as { code?: string } | undefined)?.code;
      if (want !== undefined && (err !== want || closed !== 4002)) wrong.push(`#${i}: decode says ${want}, hub sent ${err}, close ${closed}`);
      if (want === undefined && err !== undefined && !/^(HUB|PROTO)_/.test(err)) wrong.push(`#${i}: valid frame refused with ${err}`);
      if (want) codes.add(want);
      if (closed === undefined) await link.close();
      if (i % 100 === 0) sources.put('configMap', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'ns' }, data: { v: String(i) } });
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(codes.size).toBeGreaterThanOrEqual(6);
    const last = String(Math.floor((frames.length - 1) / 100) * 100);
    await expect.poll(() => (store.objects.get('v1/ConfigMap/ns/cfg') as { data?: { v?: string } } | undefined)?.data?.v, { timeout: 10_000 }).toBe(last);
    expect(bystander.stats.connects).toBe(1);
  }, 300_000);

  it('a message over 16 MiB is refused by the transport (1009) and costs the hub nothing else', async () => {
    const link = await dial(0, 32 << 20);
    let closed: number | undefined;
    link.onClose((c) => (closed = c.code));
    await link.send(encode({ type: 'hello', versions: [1], caps: [], agent: 'big', window: 8, digest: '0'.repeat(64), inventory: {} }));
    const big = new Uint8Array((16 << 20) + 1024);
    void link.send(big).catch(() => undefined);
    await expect.poll(() => closed, { timeout: 20_000 }).toBe(1009);
    sources.put('configMap', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'ns' }, data: { v: 'after-big' } });
    await expect.poll(() => (store.objects.get('v1/ConfigMap/ns/cfg') as { data?: { v?: string } } | undefined)?.data?.v, { timeout: 10_000 }).toBe('after-big');
    expect(bystander.stats.connects).toBe(1);
  }, 60_000);
});
