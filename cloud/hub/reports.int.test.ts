/**
 * KubeReportHandler against the real API server: two bugs the chaos and
 * hostile-input suites found (docs/reliability.md, bugs 1 and 3).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../controllers/runtime/index.ts';
import { createLogger } from '../../lib/log.ts';
import { createNamespace, deleteNamespace, kubeConfig } from '../../test/support/kube.ts';
import type { Report } from '../../edge/protocol/index.ts';
import { KubeReportHandler } from './reports.ts';

const log = createLogger({ level: 'error' });
let client: KubeClient;
let ns = '';
const run = Math.random().toString(36).slice(2, 7);
const node = `reports-${run}`;

beforeAll(async () => {
  client = new KubeClient(kubeConfig());
  ns = await createNamespace('reports');
});

afterAll(async () => {
  await client.request('DELETE', '/api/v1/namespaces/default/events', { query: { fieldSelector: `involvedObject.name=${node}` } }).catch(() => undefined);
  await deleteNamespace(ns);
});

const handler = () => new KubeReportHandler(client, { get: () => undefined }, log);

describe('event reports', () => {
  it('a resent event (its ack was lost) is acknowledged, not retried forever', async () => {
    const name = `${node}.resend`;
    const report: Report = {
      type: 'report', id: '7', kind: 'event', key: `v1/Event/default/${name}`,
      payload: { metadata: { name, namespace: 'default' }, involvedObject: { apiVersion: 'v1', kind: 'Node', name: node }, reason: 'Test', message: 'once', type: 'Normal' },
    };
    const h = handler();
    expect(await h.handle(node, report)).toEqual({ ok: true });
    // the same report again, as after a reconnect whose report-ack never arrived
    expect(await h.handle(node, report)).toEqual({ ok: true });
  });

  it('cannot create anything but an Event, whatever apiVersion/kind the payload claims', async () => {
    const attempts: Record<string, unknown>[] = [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: `stolen-${run}`, namespace: ns }, stringData: { a: 'b' } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `planted-${run}`, namespace: ns }, data: { a: 'b' } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `escalate-${run}` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'Group', name: 'system:nodes', apiGroup: 'rbac.authorization.k8s.io' }] },
    ];
    const h = handler();
    for (const [i, extra] of attempts.entries()) {
      const payload = { involvedObject: { apiVersion: 'v1', kind: 'Node', name: node }, reason: 'Hostile', message: 'x', ...extra };
      await h.handle(node, { type: 'report', id: String(i), kind: 'event', key: `v1/Event/default/x${i}`, payload: payload as never });
    }
    expect(await client.get({ apiVersion: 'v1', kind: 'Secret', namespace: ns, name: `stolen-${run}` })).toBeUndefined();
    expect(await client.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: `planted-${run}` })).toBeUndefined();
    const crb = await client.get({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', name: `escalate-${run}` });
    if (crb) await client.request('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/escalate-${run}`);
    expect(crb).toBeUndefined();
  });
});
