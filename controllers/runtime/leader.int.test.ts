/**
 * Leader election against the real API server with two electors on one
 * Lease: one leads, the other waits; when the leader dies without releasing,
 * the other takes over within leaseDuration + retryPeriod (plus one poll of
 * slack); a graceful stop releases the Lease so the takeover is immediate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { createNamespace, deleteNamespace, kubeConfig } from '../../test/support/kube.ts';
import { KubeClient } from './client.ts';
import { kubeLeaseStore, LeaderElector, type Lease } from './leader.ts';

const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
const log = createLogger({ level: 'warn' });
let ns = '';
let client: KubeClient;
const electors: LeaderElector[] = [];

beforeAll(async () => {
  ns = await createNamespace('leader');
  client = new KubeClient(kubeConfig());
});
afterAll(async () => {
  for (const e of electors) await e.stop();
  await deleteNamespace(ns);
});

function elector(lease: string, identity: string, releaseOnStop = true) {
  const events: string[] = [];
  const e = new LeaderElector({
    store: kubeLeaseStore(client, ns, lease, timings.renewDeadlineMs),
    identity,
    ...timings,
    releaseOnStop,
    log,
    onStartedLeading: () => events.push('started'),
    onStoppedLeading: (r) => events.push(`stopped: ${r}`),
  });
  electors.push(e);
  return { e, events };
}

const readLease = (name: string) => client.request<Lease>('GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`);

describe('LeaderElector on a Lease', () => {
  it('elects one leader; the other takes over after the leader dies without releasing', async () => {
    const a = elector('crash', 'a', false);
    const b = elector('crash', 'b');
    a.e.start();
    await expect.poll(() => a.e.isLeader()).toBe(true);
    b.e.start();
    await new Promise((r) => setTimeout(r, 2 * timings.leaseDurationMs));
    expect(b.e.isLeader()).toBe(false);
    expect((await readLease('crash')).spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 3, leaseTransitions: 0 });

    const died = Date.now();
    await a.e.stop(); // stops renewing; the Lease still names a
    expect((await readLease('crash')).spec?.holderIdentity).toBe('a');
    const budget = timings.leaseDurationMs + 2 * timings.retryPeriodMs + 1000;
    await expect.poll(() => b.e.isLeader(), { timeout: budget + 1000, interval: 100 }).toBe(true);
    expect(Date.now() - died).toBeLessThanOrEqual(budget);
    expect((await readLease('crash')).spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    expect(b.events).toEqual(['started']);
  });

  it('hands over at once when the leader releases on stop', async () => {
    const a = elector('release', 'a');
    const b = elector('release', 'b');
    a.e.start();
    await expect.poll(() => a.e.isLeader()).toBe(true);
    b.e.start();
    await new Promise((r) => setTimeout(r, 1000));
    const stopped = Date.now();
    await a.e.stop();
    expect(a.events).toEqual(['started', 'stopped: released']);
    await expect.poll(() => b.e.isLeader(), { timeout: 3000, interval: 50 }).toBe(true);
    expect(Date.now() - stopped).toBeLessThan(2 * timings.retryPeriodMs + 500);
  });
});
