/**
 * A link whose sends stop making progress while it still looks alive (the
 * impaired-link benchmark's QUIC stall, docs/benchmarks.md) must not hold an
 * edge's updates forever: the transport's send-progress watchdog fails the
 * link with TRANSPORT_SEND_STALLED, the edge dials again and the resume
 * delivers what was stuck. Memory links with a short stallTimeoutMs stand in
 * for the network; the contract suite shows the same failure on QUIC and
 * WebSocket.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryLinkPair, type MemoryPair } from '../../edge/transport/index.ts';
import { openEdgeStore } from '../../edge/store/store.ts';
import { EdgeHub } from '../../edge/hub/edge-hub.ts';
import { InventoryDigest } from '../../edge/protocol/index.ts';
import { silentLogger } from '../../lib/log.ts';
import { CloudHub } from './hub.ts';
import { MemorySources } from './memory-sources.ts';
import { objectKey } from './routing.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('CloudHub and EdgeHub across a stalled link', () => {
  it('the stalled link fails with TRANSPORT_SEND_STALLED and the reconnect resumes the update that was stuck', async () => {
    const sources = new MemorySources();
    const hub = new CloudHub({ sources, log: silentLogger, reports: { handle: async () => ({ ok: true }) } });
    cleanups.push(() => hub.close());
    const store = openEdgeStore(join(mkdtempSync(join(tmpdir(), 'stall-test-')), 'n1.db'), { objects: { incrementalDigest: () => new InventoryDigest() } });
    const pairs: MemoryPair[] = [];
    const edge = new EdgeHub({
      store, log: silentLogger, backoff: { initialMs: 20, maxMs: 100 },
      dial: async () => {
        // 400 ms: far below the session heartbeats (5 s) so the watchdog, not a heartbeat, ends the link
        const pair = memoryLinkPair({ commonNames: { a: 'hub', b: 'system:node:n1' }, stallTimeoutMs: 400 });
        pairs.push(pair);
        hub.attach(pair.a);
        return pair.b;
      },
    });
    edge.start();
    cleanups.push(async () => {
      await edge.stop();
      store.close();
    });
    const key = objectKey('v1', 'ConfigMap', 'ns', 'big');
    const data = (v: string) => ({ metadata: { namespace: 'ns', name: 'big' }, data: { v, pad: 'x'.repeat(256 * 1024) } });
    sources.upsert('configMap', data('1'));
    // a pod on n1 that mounts it puts the ConfigMap in n1's routing set
    sources.upsert('pod', { metadata: { namespace: 'ns', name: 'p' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }], volumes: [{ name: 'v', configMap: { name: 'big' } }] } });
    await expect.poll(() => edge.state).toBe('synced');
    expect(pairs).toHaveLength(1);

    // The network stops moving bytes but nothing closes: the 256 KiB update queues on the hub side.
    const first = pairs[0]!;
    first.stall();
    sources.upsert('configMap', data('2'));
    await expect.poll(() => first.a.closed && first.b.closed, { timeout: 5000 }).toBe(true);
    // whichever side noticed first, both report the stall (the other through close code 1013)
    expect(first.a.closeInfo?.error?.code).toBe('TRANSPORT_SEND_STALLED');
    expect(first.b.closeInfo?.error?.code).toBe('TRANSPORT_SEND_STALLED');

    // The edge dialled again and the resume delivered the update that was stuck.
    await expect.poll(() => (store.objects.get(key) as unknown as { data: { v: string } } | undefined)?.data.v, { timeout: 5000 }).toBe('2');
    expect(pairs.length).toBeGreaterThanOrEqual(2);
    expect(pairs.at(-1)!.a.closed).toBe(false);
  });
});
