/**
 * Hostile frames through the real CloudHub and Session code (in-memory
 * links, so many thousands of sessions run in seconds; the same frames go
 * over real WebSocket and QUIC links in hub-fuzz.int.test.ts). For every
 * frame, sent first or after a valid hello:
 *
 * - a frame edge/protocol refuses closes that session, after an `error`
 *   frame carrying exactly decode's PROTO_* code, with close code 4002;
 * - a valid frame is handled (or refused with a HUB_* / PROTO_* code, e.g. an
 *   ack beyond the last seq), never with anything else;
 * - the hub never throws (an uncaught exception fails this file), and a
 *   bystander edge (the real EdgeHub with a SQLite store) keeps its one
 *   session and keeps receiving its objects throughout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudHub } from '../../cloud/hub/hub.ts';
import { MemorySources } from './memory-sources.ts';
import type { ReportOutcome } from '../../cloud/hub/session.ts';
import { decode, encode, type Msg, type Report } from '../../edge/protocol/index.ts';
import { memoryLinkPair } from '../../edge/transport/memory.ts';
import { EdgeHub } from '../../edge/hub/edge-hub.ts';
import { openEdgeStore, type EdgeStore } from '../../edge/store/store.ts';
import { InventoryDigest } from '../../edge/protocol/index.ts';
import { createLogger } from '../../lib/log.ts';
import { expectedError, sampleFrames } from './frames.ts';

const FRAMES = Number(process.env.OUTPOST_FUZZ_FRAMES ?? 20_000);
const log = createLogger({ level: 'error' });

/** A report handler that accepts every report (authorization is tested against the API server elsewhere). */
const acceptAll = { handle: async (_node: string, _r: Report): Promise<ReportOutcome> => ({ ok: true }) };

describe('hub under hostile frames (in-memory links)', () => {
  let dir: string;
  let sources: MemorySources;
  let hub: CloudHub;
  let store: EdgeStore;
  let bystander: EdgeHub;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'outpost-fuzz-'));
    sources = new MemorySources();
    hub = new CloudHub({ sources, reports: acceptAll, log });
    sources.put('node', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'bystander' } });
    sources.put('configMap', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'ns' }, data: { v: '0' } });
    sources.put('pod', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'app', namespace: 'ns' }, spec: { nodeName: 'bystander', volumes: [{ configMap: { name: 'cfg' } }] } });
    store = openEdgeStore(join(dir, 'edge.db'), { objects: { incrementalDigest: () => new InventoryDigest() } });
    bystander = new EdgeHub({
      store, log,
      dial: async () => {
        const p = memoryLinkPair({ commonNames: { a: 'outpost-cloudhub', b: 'system:node:bystander' } });
        hub.attach(p.a);
        return p.b;
      },
    });
    bystander.start();
    for (let i = 0; i < 500 && bystander.state !== 'synced'; i++) await new Promise((r) => setTimeout(r, 10));
  });

  afterAll(async () => {
    await bystander.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Opens a session as `node`, optionally says hello, sends `frame`, and reports how the hub answered. */
  async function probe(node: string, frame: Uint8Array, afterHello: boolean): Promise<{ closeCode: number | undefined; errorCode: string | undefined }> {
    const p = memoryLinkPair({ commonNames: { a: 'outpost-cloudhub', b: `system:node:${node}` } });
    const got: Msg[] = [];
    let closeCode: number | undefined;
    p.b.onFrame((f) => got.push(decode(f, { direction: 'down' })));
    p.b.onClose((info) => (closeCode = info.code));
    hub.attach(p.a);
    const tick = () => new Promise((r) => setImmediate(r));
    if (afterHello) {
      await p.b.send(encode({ type: 'hello', versions: [1], caps: [], agent: 'fuzz/1', window: 8, digest: '0'.repeat(64), inventory: {} }));
      for (let i = 0; i < 20 && !got.some((m) => m.type === 'sync-done'); i++) await tick();
    }
    await p.b.send(frame).catch(() => undefined);
    for (let i = 0; i < 6 && closeCode === undefined; i++) await tick();
    const error = got.filter((m) => m.type === 'error').at(-1) as Extract<Msg, { type: 'error' }> | undefined;
    if (closeCode === undefined) await p.b.close(1000, 'probe done');
    return { closeCode, errorCode: error?.code };
  }

  it(`${FRAMES} hostile frames: each refused with decode's PROTO_* code, nothing else affected`, async () => {
    const frames = sampleFrames(20261122, FRAMES);
    const outcomes = new Map<string, number>();
    const wrong: string[] = [];
    let n = 0;
    for (const [i, frame] of frames.entries()) {
      const afterHello = i % 2 === 1;
      const want = expectedError(frame);
      const { closeCode, errorCode } = await probe(`fuzz-${i % 64}`, frame, afterHello);
      const k = want ?? (errorCode ? `valid→${errorCode}` : 'valid→handled');
      outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
      if (want !== undefined) {
        // a hello that was refused for its version also counts: the frame itself must name the decode error
        if (errorCode !== want || closeCode !== 4002) wrong.push(`#${i} ${Buffer.from(frame.subarray(0, 40)).toString('hex')}: decode says ${want}, hub sent ${errorCode} and closed ${closeCode}`);
      } else if (errorCode !== undefined && !/^(HUB|PROTO)_/.test(errorCode)) {
        wrong.push(`#${i}: valid frame refused with ${errorCode}`);
      }
      if (++n % 500 === 0) sources.put('configMap', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'ns' }, data: { v: String(n) } });
    }
    if (process.env.OUTPOST_FUZZ_VERBOSE) console.log(Object.fromEntries(outcomes));
    expect(wrong.slice(0, 10)).toEqual([]);
    // a good spread of outcomes: many distinct PROTO_* codes and valid frames too
    expect([...outcomes.keys()].filter((k) => k.startsWith('PROTO_')).length).toBeGreaterThanOrEqual(8);
    expect([...outcomes.keys()].some((k) => k.startsWith('valid'))).toBe(true);
    // the bystander never lost its session and has the newest ConfigMap
    expect(bystander.stats.connects).toBe(1);
    await expect.poll(() => (store.objects.get('v1/ConfigMap/ns/cfg') as { data?: { v?: string } } | undefined)?.data?.v).toBe(String(Math.floor(n / 500) * 500));
    expect(hub.session('bystander')?.closed).toBe(false);
    // every probe session is gone
    await expect.poll(() => hub.connectedNodes).toBe(1);
  }, 120_000);
});
