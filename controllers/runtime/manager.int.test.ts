/**
 * The whole runtime against the real API server: a Manager with a shared
 * informer, one controller and leader election on a Lease reconciles a
 * ConfigMap, reports ready and metrics, and releases the Lease on stop.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { createNamespace, deleteNamespace, kubeConfig } from '../../test/support/kube.ts';
import { collectionPath } from './client.ts';
import type { Lease } from './leader.ts';
import { Manager } from './manager.ts';

let ns = '';
beforeAll(async () => {
  ns = await createNamespace('manager');
});
afterAll(async () => {
  await deleteNamespace(ns);
});

describe('Manager', () => {
  it('reconciles as leader, serves probes and metrics, and releases the Lease on stop', async () => {
    const kc = kubeConfig();
    const mgr = new Manager({
      kubeConfig: kc,
      log: createLogger({ level: 'warn' }),
      http: { port: 0, host: '127.0.0.1' },
      leaderElection: { namespace: ns, name: 'test-controllers', leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 },
      onLeadershipLost: (err) => {
        throw err;
      },
    });
    const seen = new Set<string>();
    const configMaps = mgr.informers.informerFor<k8s.V1ConfigMap>(collectionPath('v1', 'configmaps', ns));
    mgr
      .controller({
        name: 'configmap-test',
        reconcile: async (req) => {
          if (configMaps.get(req.name, req.namespace)) seen.add(req.name);
        },
      })
      .watches(configMaps);
    try {
      await mgr.start();
      const get = (path: string) => fetch(`http://127.0.0.1:${mgr.httpAddress()!.port}${path}`);
      expect((await get('/readyz')).status).toBe(200);
      await kc.makeApiClient(k8s.CoreV1Api).createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'hello' } } });
      await expect.poll(() => seen.has('hello'), { timeout: 10_000 }).toBe(true);
      expect(await (await get('/metrics')).text()).toMatch(/outpost_controller_reconcile_total\{controller="configmap-test",result="success"\} [1-9]/);
    } finally {
      await mgr.stop();
    }
    const lease = await mgr.client!.request<Lease>('GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/test-controllers`);
    expect(lease.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
  });
});
