/**
 * NodeGroup and EdgeApplication controllers together, as `outpost cloud`
 * runs them, against the real control plane with the real scheduler: moving
 * a node from one group to another moves the pods — the first group's pod is
 * evicted from it, and the second group's Deployment places a pod on it.
 * A hostPort makes each node hold at most one pod per Deployment, so the
 * scheduler's choice is observable. No kubelet runs: the test finishes the
 * evicted pod's graceful deletion as a kubelet (or Outpost's edge agent) would.
 */
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { createNamespace, deleteNamespace, installCrds, kubeConfig, kubeconfigPath } from '../../test/support/kube.ts';
import { startCloud, defaultCloudConfig, type Cloud } from '../../cloud/cloud.ts';
import { KubeClient } from '../runtime/index.ts';

const run = randomBytes(3).toString('hex');
const [n1, n2] = [`mv-${run}-1`, `mv-${run}-2`];
const [ga, gb] = [`mv-${run}-a`, `mv-${run}-b`];
let ns = '';
let core: k8s.CoreV1Api;
let client: KubeClient;
let cloud: Cloud;

async function createNode(name: string): Promise<void> {
  await core.createNode({ body: { metadata: { name, labels: { 'node-role.kubernetes.io/edge': '', 'kubernetes.io/hostname': name } } } });
  const resources = { cpu: '4', memory: '8Gi', pods: '110' };
  const now = new Date().toISOString();
  await client.mergePatch({ apiVersion: 'v1', kind: 'Node', name }, {
    status: { capacity: resources, allocatable: resources, conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'fake edge node', lastHeartbeatTime: now, lastTransitionTime: now }] },
  }, { subresource: 'status' });
}

const group = (name: string, nodes: string[]) => ({ apiVersion: 'apps.kubeedge.io/v1alpha1', kind: 'NodeGroup', metadata: { name }, spec: { nodes } });

beforeAll(async () => {
  await installCrds();
  const kc = kubeConfig();
  core = kc.makeApiClient(k8s.CoreV1Api);
  client = new KubeClient(kc);
  ns = await createNamespace('movenode');
  await createNode(n1);
  await createNode(n2);
  cloud = await startCloud({ ...defaultCloudConfig, kubeconfig: kubeconfigPath(), leaderElect: false, healthPort: -1 }, { log: createLogger({ level: 'warn' }) });
});

afterAll(async () => {
  await cloud?.stop();
  for (const g of [ga, gb]) await client.request('DELETE', `/apis/apps.kubeedge.io/v1alpha1/nodegroups/${g}`).catch(() => undefined);
  for (const n of [n1, n2]) await core.deleteNode({ name: n }).catch(() => undefined);
  await deleteNamespace(ns);
});

/** Pods of a Deployment copy, with the node each is bound to and whether it is being deleted. */
async function pods(deployment: string): Promise<{ name: string; node?: string; terminating: boolean }[]> {
  const list = await core.listNamespacedPod({ namespace: ns });
  return list.items
    .filter((p) => p.metadata?.ownerReferences?.some((o) => o.kind === 'ReplicaSet' && o.name.startsWith(`${deployment}-`)))
    .map((p) => ({ name: p.metadata!.name!, ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}), terminating: !!p.metadata?.deletionTimestamp }));
}

describe('moving a node between NodeGroups', () => {
  it('evicts the old group\'s pod from it and lets the new group\'s Deployment use it', async () => {
    await client.create(group(ga, [n1]));
    await client.create(group(gb, [n2]));
    await client.create({
      apiVersion: 'apps.kubeedge.io/v1alpha1', kind: 'EdgeApplication', metadata: { name: 'web', namespace: ns },
      spec: {
        workloadTemplate: {
          manifests: [{
            apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
            spec: {
              replicas: 1, selector: { matchLabels: { app: 'web' } },
              template: {
                metadata: { labels: { app: 'web' } },
                spec: { tolerations: [{ operator: 'Exists' }], containers: [{ name: 'app', image: 'nginx:1.25', ports: [{ containerPort: 80, hostPort: 18080 }] }] },
              },
            },
          }],
        },
        workloadScope: { targetNodeGroups: [{ name: ga }, { name: gb, overriders: { replicas: 2 } }] },
      },
    });
    // a: one pod on n1; b: one pod on n2 and one Pending (the hostPort fits once per node)
    await expect.poll(async () => (await pods(`web-${ga}`)).map((p) => p.node), { timeout: 60_000 }).toEqual([n1]);
    await expect.poll(async () => (await pods(`web-${gb}`)).map((p) => p.node ?? 'pending').sort(), { timeout: 60_000 }).toEqual([n2, 'pending'].sort());

    // move n1 from a to b
    await client.mergePatch({ apiVersion: 'apps.kubeedge.io/v1alpha1', kind: 'NodeGroup', name: ga }, { spec: { nodes: [] } });
    await client.mergePatch({ apiVersion: 'apps.kubeedge.io/v1alpha1', kind: 'NodeGroup', name: gb }, { spec: { nodes: [n2, n1] } });
    // the NodeGroup controller evicts a's pod from n1 (graceful delete) ...
    await expect.poll(async () => (await pods(`web-${ga}`)).filter((p) => p.node === n1 && p.terminating).length, { timeout: 30_000 }).toBe(1);
    // ... which the node would finish; do it here, as there is no kubelet
    for (const p of await pods(`web-${ga}`)) if (p.terminating) await core.deleteNamespacedPod({ namespace: ns, name: p.name, gracePeriodSeconds: 0 });
    // b's pending pod lands on n1, and a's replacement has nowhere to go
    await expect.poll(async () => (await pods(`web-${gb}`)).map((p) => p.node).sort(), { timeout: 60_000 }).toEqual([n1, n2].sort());
    await expect.poll(async () => (await pods(`web-${ga}`)).filter((p) => !p.terminating).map((p) => p.node ?? 'pending'), { timeout: 30_000 }).toEqual(['pending']);
  });
});
