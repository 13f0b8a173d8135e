/**
 * CloudHub ↔ EdgeHub over the in-memory link pair, with a real SQLite edge
 * store: the fast version of hub.int.test.ts (which runs the same story
 * against the real control plane over WebSocket and QUIC).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryLinkPair } from '../../edge/transport/index.ts';
import { openEdgeStore, type EdgeStore } from '../../edge/store/store.ts';
import { EdgeHub } from '../../edge/hub/edge-hub.ts';
import { InventoryDigest, type Report } from '../../edge/protocol/index.ts';
import { silentLogger } from '../../lib/log.ts';
import { CloudHub } from './hub.ts';
import { MemorySources } from './memory-sources.ts';
import { objectKey } from './routing.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(opts: { reports?: (node: string, r: Report) => Promise<{ ok: true } | { ok: false; permanent: boolean; code: string; message: string }> } = {}) {
  const sources = new MemorySources();
  const written: { node: string; report: Report }[] = [];
  const hub = new CloudHub({
    sources, log: silentLogger,
    reports: { handle: opts.reports ?? (async (node, report) => (written.push({ node, report }), { ok: true })) },
  });
  cleanups.push(() => hub.close());
  const dir = mkdtempSync(join(tmpdir(), 'hub-test-'));
  const stores: EdgeStore[] = [];
  const edge = (node: string, cn = `system:node:${node}`) => {
    const store = openEdgeStore(join(dir, `${node}-${stores.length}.db`), { objects: { incrementalDigest: () => new InventoryDigest() } });
    stores.push(store);
    const e = new EdgeHub({
      store, log: silentLogger, backoff: { initialMs: 20, maxMs: 100 },
      dial: async () => {
        const { a, b } = memoryLinkPair({ commonNames: { a: 'hub', b: cn } }); // a (hub side) sees b's CN
        hub.attach(a);
        return b;
      },
    });
    e.start();
    cleanups.push(async () => {
      await e.stop();
      store.close();
    });
    return { e, store };
  };
  return { sources, hub, edge, written };
}

const pod = (name: string, node: string, cm?: string) => ({
  metadata: { namespace: 'ns', name }, spec: { nodeName: node, containers: [{ name: 'c', image: 'x' }], volumes: cm ? [{ name: 'v', configMap: { name: cm } }] : [] },
});

describe('CloudHub with EdgeHub over memory links', () => {
  it('delivers exactly the node\'s routing set and follows changes', async () => {
    const { sources, edge } = setup();
    sources.upsert('configMap', { metadata: { namespace: 'ns', name: 'cfg' }, data: { a: '1' } });
    sources.upsert('pod', pod('mine', 'n1', 'cfg'));
    sources.upsert('pod', pod('theirs', 'n2'));
    const { e, store } = edge('n1');
    await expect.poll(() => e.state).toBe('synced');
    expect([...store.objects.inventory().keys()].sort()).toEqual([objectKey('v1', 'ConfigMap', 'ns', 'cfg'), objectKey('v1', 'Pod', 'ns', 'mine')]);
    sources.upsert('configMap', { metadata: { namespace: 'ns', name: 'cfg' }, data: { a: '2' } });
    await expect.poll(() => (store.objects.get(objectKey('v1', 'ConfigMap', 'ns', 'cfg')) as unknown as { data: { a: string } }).data.a).toBe('2');
    sources.delete('pod', pod('mine', 'n1'));
    await expect.poll(() => store.objects.count()).toBe(0);
  });

  it('reports are written and leave the outbox only after the cloud acked them', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const { edge } = setup({ reports: async () => { await gate; return { ok: true }; } });
    const { e, store } = edge('n1');
    await expect.poll(() => e.state).toBe('synced');
    store.outbox.put('node-status', objectKey('v1', 'Node', '', 'n1'), { conditions: [] });
    e.notifyOutbox();
    await new Promise((r) => setTimeout(r, 100));
    expect(store.outbox.size()).toBe(1); // not yet written
    release();
    await expect.poll(() => store.outbox.size()).toBe(0);
  });

  it('drops a report the cloud refuses for good, and keeps one it could not write yet', async () => {
    let attempts = 0;
    const { edge } = setup({
      reports: async (_n, r) => {
        if (r.kind === 'event') return { ok: false, permanent: true, code: 'Forbidden', message: 'no' };
        return ++attempts < 3 ? { ok: false, permanent: false, code: 'Unavailable', message: 'api down' } : { ok: true };
      },
    });
    const { e, store } = edge('n1');
    await expect.poll(() => e.state).toBe('synced');
    store.outbox.put('event', 'v1/Event/ns/e1', { involvedObject: { kind: 'Node', name: 'n1' } });
    store.outbox.put('lease', objectKey('coordination.k8s.io/v1', 'Lease', 'kube-node-lease', 'n1'), { renewTime: 'now' });
    e.notifyOutbox();
    await expect.poll(() => store.outbox.size(), { timeout: 10_000 }).toBe(0);
    expect(attempts).toBe(3);
  });

  it('refuses a link whose certificate is not a node identity', async () => {
    const { hub } = setup();
    const { a, b } = memoryLinkPair({ commonNames: { b: 'admin' } });
    const closed = new Promise((r) => b.onClose(r));
    expect(hub.attach(a)).toBeUndefined();
    expect(await closed).toMatchObject({ code: 4003 });
  });

  it('a newer connection of the same node replaces the old session', async () => {
    const { hub, edge } = setup();
    const first = edge('n1');
    await expect.poll(() => first.e.state).toBe('synced');
    const s1 = hub.session('n1');
    const second = edge('n1');
    await expect.poll(() => second.e.state).toBe('synced');
    expect(hub.session('n1')).not.toBe(s1);
    expect(s1?.closed).toBe(true);
    await first.e.stop();
  });
});
