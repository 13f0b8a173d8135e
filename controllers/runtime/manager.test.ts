/**
 * Manager with in-memory caches and an in-memory Lease: probes, metrics, and
 * leader election gating only the controllers. Real timers, short durations.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import type { ControllerError } from './errors.ts';
import { Manager, type LeaderElectionConfig } from './manager.ts';
import { MemoryInformer } from './memory-informer.ts';
import { MemoryLeaseStore } from './memory-lease-store.ts';

const quiet = createLogger({ write: () => {} });
const obj = (name: string): KubernetesObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'ns', name, resourceVersion: '1' } });
const fastElection = (store: MemoryLeaseStore, identity: string): LeaderElectionConfig => ({ namespace: 'ns', name: 'lease', identity, store, leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 100 });

const managers: Manager[] = [];
afterEach(async () => {
  for (const m of managers.splice(0)) await m.stop();
});

function manager(leaderElection?: LeaderElectionConfig, onLeadershipLost?: (err: ControllerError) => void) {
  const informer = new MemoryInformer<KubernetesObject>();
  const reconciled: string[] = [];
  const mgr = new Manager({ log: quiet, http: { port: 0, host: '127.0.0.1' }, leaderElection, onLeadershipLost });
  mgr
    .controller({
      name: 'cm',
      reconcile: async (req) => {
        reconciled.push(req.name);
      },
    })
    .watches(informer);
  managers.push(mgr);
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${mgr.httpAddress()!.port}${path}`);
    return { status: res.status, text: await res.text() };
  };
  return { mgr, informer, reconciled, get };
}

describe('Manager', () => {
  it('is live at once, ready only after caches synced, and serves metrics', async () => {
    const { mgr, informer, reconciled, get } = manager();
    informer.upsert(obj('a'));
    const started = mgr.start();
    await expect.poll(() => mgr.httpAddress()).toBeDefined();
    expect((await get('/healthz')).status).toBe(200);
    const notReady = await get('/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.text).toContain('caches not synced: memory');
    informer.sync();
    await started;
    expect((await get('/readyz')).status).toBe(200);
    await expect.poll(() => reconciled).toEqual(['a']);
    const metrics = await get('/metrics');
    expect(metrics.text).toMatch(/outpost_controller_reconcile_total\{controller="cm",result="success"\} 1/);
    expect((await get('/nope')).status).toBe(404);
  });

  it('runs controllers only on the leader; a standby is ready and takes over when the leader stops', async () => {
    const store = new MemoryLeaseStore();
    const a = manager(fastElection(store, 'a'));
    const b = manager(fastElection(store, 'b'));
    for (const m of [a, b]) {
      m.informer.upsert(obj('x'));
      m.informer.sync();
    }
    await a.mgr.start();
    await expect.poll(() => a.reconciled).toEqual(['x']);
    await b.mgr.start();
    expect((await b.get('/readyz')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(b.reconciled).toEqual([]);
    await a.mgr.stop(); // releases the Lease
    await expect.poll(() => b.reconciled, { timeout: 2000 }).toEqual(['x']);
    expect(store.lease?.spec?.holderIdentity).toBe('b');
  });

  it('stops controllers and calls onLeadershipLost when the Lease cannot be renewed', async () => {
    const store = new MemoryLeaseStore();
    const lost: ControllerError[] = [];
    const { mgr, informer, reconciled } = manager(fastElection(store, 'a'), (err) => lost.push(err));
    informer.sync();
    await mgr.start();
    await expect.poll(() => store.lease?.spec?.holderIdentity).toBe('a');
    store.failing = true;
    await expect.poll(() => lost.map((e) => e.code), { timeout: 2000 }).toEqual(['CTRL_LEASE_LOST']);
    informer.upsert(obj('after'));
    await new Promise((r) => setTimeout(r, 100));
    expect(reconciled).toEqual([]);
  });
});
