/**
 * The NodeGroup controller against the real control plane: membership by
 * name and labels, labels on nodes, conflicts and missing nodes reported,
 * eviction of pinned pods when a node leaves; it keeps working across a
 * kube-apiserver restart; and with two `outpost cloud` replicas, killing the
 * leader (SIGKILL) hands leadership over within the lease duration.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { restart } from '../../hack/local-cluster/control-plane.ts';
import { createNamespace, deleteNamespace, installCrds, kubeConfig, kubeconfigPath } from '../../test/support/kube.ts';
import { startCloud, defaultCloudConfig, type Cloud } from '../../cloud/cloud.ts';
import { KubeClient, type Lease } from '../runtime/index.ts';
import { belongingToLabel } from './plan.ts';

const run = Math.random().toString(36).slice(2, 7);
const nodeName = (n: string) => `ng-${run}-${n}`;
let ns = '';
let core: k8s.CoreV1Api;
let client: KubeClient;
let cloudA: Cloud | undefined;

const group = (name: string, spec: object) => ({ apiVersion: 'apps.kubeedge.io/v1alpha1', kind: 'NodeGroup', metadata: { name: `${name}-${run}` }, spec });
const getGroup = (name: string) => client.get<{ status?: { memberCount?: number; nodeStatuses?: { nodeName: string; selectionStatus: string; selectionStatusReason?: string }[]; conditions?: { type: string; status: string; reason: string }[] } }>({ apiVersion: 'apps.kubeedge.io/v1alpha1', kind: 'NodeGroup', name: `${name}-${run}` });
const nodeLabel = async (n: string) => (await core.readNode({ name: nodeName(n) })).metadata?.labels?.[belongingToLabel];

beforeAll(async () => {
  await installCrds();
  const kc = kubeConfig();
  core = kc.makeApiClient(k8s.CoreV1Api);
  client = new KubeClient(kc);
  ns = await createNamespace('nodegroup');
  for (const [n, labels] of [['a', {}], ['b', { site: `x-${run}` }], ['c', {}]] as const) {
    await core.createNode({ body: { metadata: { name: nodeName(n), labels: { 'node-role.kubernetes.io/edge': '', ...labels } } } });
  }
  cloudA = await startCloud({ ...defaultCloudConfig, kubeconfig: kubeconfigPath(), leaderElect: false, healthPort: -1 }, { log: createLogger({ level: 'warn' }) });
});

afterAll(async () => {
  await cloudA?.stop();
  for (const n of ['a', 'b', 'c']) await core.deleteNode({ name: nodeName(n) }).catch(() => undefined);
  for (const g of ['g1', 'g2']) await client.request('DELETE', `/apis/apps.kubeedge.io/v1alpha1/nodegroups/${g}-${run}`).catch(() => undefined);
  await deleteNamespace(ns);
});

describe('NodeGroup controller', () => {
  it('labels members selected by name and by labels and reports them in status', async () => {
    await client.create(group('g1', { nodes: [nodeName('a'), nodeName('ghost')], matchLabels: { site: `x-${run}` } }));
    await expect.poll(() => nodeLabel('a'), { timeout: 15_000 }).toBe(`g1-${run}`);
    await expect.poll(() => nodeLabel('b'), { timeout: 15_000 }).toBe(`g1-${run}`);
    expect(await nodeLabel('c')).toBeUndefined();
    await expect.poll(async () => (await getGroup('g1'))?.status?.memberCount, { timeout: 15_000 }).toBe(2);
    const st = (await getGroup('g1'))!.status!;
    expect(st.nodeStatuses).toContainEqual(expect.objectContaining({ nodeName: nodeName('ghost'), selectionStatus: 'Failed', selectionStatusReason: 'node does not exist' }));
    expect(st.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'False', reason: 'SelectionFailed' }));
  });

  it('reports a node another group already owns instead of taking it', async () => {
    await client.create(group('g2', { nodes: [nodeName('a'), nodeName('c')] }));
    await expect.poll(async () => (await getGroup('g2'))?.status?.nodeStatuses?.find((s) => s.nodeName === nodeName('a'))?.selectionStatusReason, { timeout: 15_000 })
      .toBe(`node ${nodeName('a')} has already belonged to NodeGroup g1-${run}`);
    await expect.poll(() => nodeLabel('c'), { timeout: 15_000 }).toBe(`g2-${run}`);
    expect(await nodeLabel('a')).toBe(`g1-${run}`);
  });

  it('unlabels a node that leaves and evicts only the pods pinned to the group', async () => {
    const pod = (name: string, pinned: boolean) => ({
      metadata: { name, namespace: ns },
      spec: { nodeName: nodeName('a'), ...(pinned ? { nodeSelector: { [belongingToLabel]: `g1-${run}` } } : {}), containers: [{ name: 'c', image: 'busybox:1.36' }] },
    });
    await core.createNamespacedPod({ namespace: ns, body: pod('pinned', true) });
    await core.createNamespacedPod({ namespace: ns, body: pod('free', false) });
    await client.mergePatch({ apiVersion: 'apps.kubeedge.io/v1alpha1', kind: 'NodeGroup', name: `g1-${run}` }, { spec: { nodes: [] } });
    // node a left g1, so g2 (which lists it) now gets it
    await expect.poll(() => nodeLabel('a'), { timeout: 15_000 }).toBe(`g2-${run}`);
    // eviction is a graceful delete: with no kubelet on these Node objects the pod stays Terminating
    const terminating = async () => (await core.listNamespacedPod({ namespace: ns })).items.filter((p) => p.metadata?.deletionTimestamp).map((p) => p.metadata?.name);
    await expect.poll(terminating, { timeout: 15_000 }).toEqual(['pinned']);
  });

  it('keeps reconciling across a kube-apiserver restart', async () => {
    await restart('kube-apiserver', { downtimeMs: 2000 });
    await core.patchNode({ name: nodeName('c'), body: { metadata: { labels: { site: `x-${run}` } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    // c is in g2 (by name) and matches g1's labels: g2 owns it, g1 must report the conflict
    await expect.poll(async () => (await getGroup('g1'))?.status?.nodeStatuses?.find((s) => s.nodeName === nodeName('c'))?.selectionStatus, { timeout: 60_000 }).toBe('Failed');
  });
});

describe('leader election across outpost cloud replicas', () => {
  it('hands over when the leader is killed', async () => {
    const leaseName = `outpost-cloud-${run}`;
    const children: ChildProcess[] = [];
    const startReplica = (id: string) => {
      const child = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'outpost.js'), 'cloud', '--kubeconfig', kubeconfigPath(),
        '--health-port', '0', '--hub-port', '-1', '--identity', id, '--lease-duration-ms', '4000', '--leader-election-namespace', ns], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OUTPOST_LOG_LEVEL: 'warn' } });
      children.push(child);
      return child;
    };
    const holder = async () => {
      const lease = await client.get<Lease>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: ns, name: 'outpost-cloud' });
      return lease?.spec?.holderIdentity;
    };
    void leaseName;
    try {
      const a = startReplica(`a-${run}`);
      await expect.poll(holder, { timeout: 30_000 }).toBe(`a-${run}`);
      startReplica(`b-${run}`);
      await new Promise((r) => setTimeout(r, 1500));
      expect(await holder()).toBe(`a-${run}`);
      const killedAt = Date.now();
      a.kill('SIGKILL');
      await expect.poll(holder, { timeout: 20_000, interval: 200 }).toBe(`b-${run}`);
      // within lease duration (4 s) + retry period, plus start-up slack
      expect(Date.now() - killedAt).toBeLessThan(12_000);
    } finally {
      for (const c of children) c.kill('SIGKILL');
    }
  });
});
