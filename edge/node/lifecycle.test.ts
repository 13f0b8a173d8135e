import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { openEdgeStore, type EdgeStore } from '../store/store.ts';
import { NodeLifecycle } from './lifecycle.ts';
import type { HostFacts } from './node-info.ts';

const facts: HostFacts = { cpu: 2, memoryBytes: 2 ** 31, storageBytes: 0, internalIP: '10.0.0.7', hostname: 'h', kernelVersion: 'k', osImage: 'o', architecture: 'amd64', machineID: 'm', systemUUID: 's', bootID: 'b' };
let store: EdgeStore | undefined;
let dir = '';
afterEach(() => {
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('NodeLifecycle', () => {
  it('queues the registration, then coalesced lease and status heartbeats (status only once registered)', () => {
    dir = mkdtempSync(join(tmpdir(), 'outpost-node-'));
    store = openEdgeStore(join(dir, 'edge.db'));
    let now = Date.UTC(2026, 0, 1);
    let notified = 0;
    const n = new NodeLifecycle({
      nodeName: 'e1', outbox: store.outbox, log: silentLogger, facts, dataDir: dir, containerRuntimeVersion: 'outpost-process://0.1.0',
      notify: () => notified++, heartbeatMs: 3_600_000, pressure: () => ({ memory: false, disk: false, pid: false }), now: () => now,
    });
    n.start();
    const kinds = () => store!.outbox.pending(100).map((e) => `${e.kind} ${e.key}`);
    expect(kinds()).toEqual(['node-register v1/Node//e1', 'lease coordination.k8s.io/v1/Lease/kube-node-lease/e1']);
    const reg = store.outbox.pending(1)[0]!.payload as { metadata: { labels: Record<string, string> }; status: { daemonEndpoints: unknown; addresses: unknown } };
    expect(reg.metadata.labels['node-role.kubernetes.io/edge']).toBe('');
    expect(reg.status.daemonEndpoints).toEqual({ kubeletEndpoint: { Port: 10350 } });
    expect(reg.status.addresses).toEqual([{ type: 'InternalIP', address: '10.0.0.7' }, { type: 'Hostname', address: 'h' }]);
    // offline: beats coalesce into one pending lease
    for (let i = 0; i < 5; i++) {
      now += 10_000;
      n.heartbeat();
    }
    expect(kinds()).toEqual(['node-register v1/Node//e1', 'lease coordination.k8s.io/v1/Lease/kube-node-lease/e1']);
    expect((store.outbox.pending(100).at(-1)!.payload as { renewTime: string }).renewTime).toBe('2026-01-01T00:00:50.000000Z');
    // once the cloud acknowledged the registration, status heartbeats follow
    store.outbox.ack([store.outbox.pending(1)[0]!.id]);
    n.heartbeat();
    expect(kinds()).toEqual(['lease coordination.k8s.io/v1/Lease/kube-node-lease/e1', 'node-status v1/Node//e1']);
    expect(n.heartbeats).toBe(7);
    expect(notified).toBe(7);
    n.stop();
  });
});
