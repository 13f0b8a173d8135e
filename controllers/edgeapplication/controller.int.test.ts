/**
 * The EdgeApplication controller against the real control plane
 * (kube-apiserver, kube-controller-manager, kube-scheduler; no kubelet). Fake
 * edge nodes are Node objects with labels, capacity and a Ready condition;
 * membership (`apps.kubeedge.io/belonging-to`) is set here directly, as the
 * NodeGroup controller would. The manager runs in this process.
 *
 * Proves: one Deployment per NodeGroup with that group's overriders; the
 * scheduler binds each copy's pods only to its group's nodes (pods stay
 * Pending but bound: `spec.nodeName`); a label-selector target; changing one
 * group's overriders rewrites only that group's Deployment; removing
 * manifests and targets deletes their objects; invalid overriders and
 * missing NodeGroups surface in the Degraded condition with the field path,
 * and a NodeGroup appearing later is picked up; the status follows.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeApplicationGVK, NodeGroupGVK, type EdgeApplication, type TargetNodeGroup } from '../../api/index.ts';
import { createLogger } from '../../lib/log.ts';
import { createNamespace, deleteNamespace, kubeConfig, kubectlOk } from '../../test/support/kube.ts';
import { KubeClient, Manager } from '../runtime/index.ts';
import { addEdgeApplicationController } from './controller.ts';
import { belongingToLabel, childName } from './overriders.ts';
import { edgeApplicationLabel, fieldManager, serviceTopologyAnnotation } from './plan.ts';

const crdDir = join(import.meta.dirname, '..', '..', 'config', 'crd', 'bases');
const run = randomBytes(3).toString('hex');
const groupA = `ea-${run}-a`;
const groupB = `ea-${run}-b`;
const groupLate = `ea-${run}-late`;
const siteLabel = 'outpost.io/test-site';
const nodes = { [`ea-${run}-a1`]: groupA, [`ea-${run}-a2`]: groupA, [`ea-${run}-b1`]: groupB, [`ea-${run}-c1`]: '' };
const nodeC = `ea-${run}-c1`;

let ns = '';
let kc: k8s.KubeConfig;
let client: KubeClient;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
let mgr: Manager;

const eappRef = (name: string) => ({ apiVersion: EdgeApplicationGVK.apiVersion, kind: EdgeApplicationGVK.kind, namespace: ns, name });
const getApp = (name: string) => client.get<EdgeApplication>(eappRef(name));
const getDeployment = (name: string) => client.get<k8s.V1Deployment>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name });
const condition = (a: EdgeApplication | undefined, type: string) => a?.status?.conditions?.find((c) => c.type === type);

async function createNodeGroup(name: string, members: string[]): Promise<void> {
  await client.create({ apiVersion: NodeGroupGVK.apiVersion, kind: NodeGroupGVK.kind, metadata: { name }, spec: { nodes: members } } as k8s.KubernetesObject);
}

/** A Node the scheduler will bind pods to: capacity for pods, Ready, edge role; no kubelet behind it. */
async function createNode(name: string, group: string): Promise<void> {
  const labels: Record<string, string> = { 'node-role.kubernetes.io/edge': '', 'kubernetes.io/hostname': name };
  if (group) labels[belongingToLabel] = group;
  else labels[siteLabel] = `${run}-c`;
  await core.createNode({ body: { metadata: { name, labels } } });
  const resources = { cpu: '4', memory: '8Gi', pods: '110' };
  const now = new Date().toISOString();
  await client.mergePatch({ apiVersion: 'v1', kind: 'Node', name }, {
    status: { capacity: resources, allocatable: resources, conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'fake edge node', lastHeartbeatTime: now, lastTransitionTime: now }] },
  }, { subresource: 'status' });
}

function deploymentManifest(): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          // No kubelet heartbeats: the node lifecycle controller will taint these nodes
          // unreachable; tolerate everything so scheduling is decided by placement only.
          tolerations: [{ operator: 'Exists' }],
          containers: [{ name: 'app', image: 'nginx:1.25', env: [{ name: 'MODE', value: 'prod' }] }],
        },
      },
    },
  };
}
const serviceManifest = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } };
const configMapManifest = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-config' }, data: { greeting: 'hello' } };

const targetA: TargetNodeGroup = { name: groupA, overriders: { replicas: 2, imageOverriders: [{ component: 'Tag', operator: 'replace', value: '1.26' }] } };
const targetB = (tag = '1.25'): TargetNodeGroup => ({
  name: groupB,
  overriders: {
    imageOverriders: [
      { predicate: { path: '/spec/template/spec/containers/0/image' }, component: 'Registry', operator: 'replace', value: 'mirror.example.com:5000' },
      { predicate: { path: '/spec/template/spec/containers/0/image' }, component: 'Tag', operator: 'replace', value: tag },
    ],
    envOverriders: [{ containerName: 'app', operator: 'add', value: [{ name: 'SITE', value: 'b' }] }],
  },
});

/** Names of the nodes the pods of Deployment `name` are bound to (waits until all `replicas` pods are bound). */
async function boundNodes(deploymentName: string, replicas: number): Promise<string[]> {
  let bound: string[] = [];
  await expect.poll(async () => {
    const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })).items
      .filter((p) => !p.metadata?.deletionTimestamp && p.metadata?.ownerReferences?.some((r) => r.kind === 'ReplicaSet' && r.name.startsWith(`${deploymentName}-`)) && !!p.metadata.name);
    bound = pods.map((p) => p.spec?.nodeName ?? '');
    return bound.length === replicas && bound.every(Boolean);
  }, { timeout: 60_000, interval: 500 }).toBe(true);
  return bound.sort();
}

beforeAll(async () => {
  await kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', crdDir]);
  await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', '-f', crdDir]);
  kc = kubeConfig();
  client = new KubeClient(kc);
  core = kc.makeApiClient(k8s.CoreV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
  ns = await createNamespace('eapp');
  for (const [name, group] of Object.entries(nodes)) await createNode(name, group);
  await createNodeGroup(groupA, Object.keys(nodes).filter((n) => nodes[n] === groupA));
  await createNodeGroup(groupB, Object.keys(nodes).filter((n) => nodes[n] === groupB));

  mgr = new Manager({ kubeConfig: kc, http: false, log: createLogger({ level: process.env.OUTPOST_LOG_LEVEL === 'debug' ? 'debug' : 'warn' }) });
  addEdgeApplicationController(mgr, { namespace: ns });
  await mgr.start();
});

afterAll(async () => {
  await mgr?.stop();
  await deleteNamespace(ns);
  for (const name of Object.keys(nodes)) await core.deleteNode({ name }).catch(() => undefined);
  for (const g of [groupA, groupB, groupLate]) {
    await client.request('DELETE', `/apis/${NodeGroupGVK.apiVersion}/${NodeGroupGVK.plural}/${g}`).catch(() => undefined);
  }
});

describe('EdgeApplication controller', () => {
  const name = 'shop';
  const webA = childName('web', { nodeGroup: groupA });
  const webB = childName('web', { nodeGroup: groupB });

  it('deploys one Deployment per NodeGroup with its overriders, pinned to that group\'s nodes', async () => {
    await client.create({
      apiVersion: EdgeApplicationGVK.apiVersion,
      kind: EdgeApplicationGVK.kind,
      metadata: { name, namespace: ns },
      spec: {
        workloadTemplate: { manifests: [deploymentManifest(), serviceManifest, configMapManifest] },
        workloadScope: { targetNodeGroups: [targetA, targetB()] },
      },
    } as k8s.KubernetesObject);

    await expect.poll(async () => (await getDeployment(webB)) !== undefined && (await getDeployment(webA)) !== undefined, { timeout: 20_000 }).toBe(true);
    const a = (await getDeployment(webA))!;
    const b = (await getDeployment(webB))!;
    const app = (await getApp(name))!;
    expect(a.spec!.replicas).toBe(2);
    expect(b.spec!.replicas).toBe(1);
    expect(a.spec!.template.spec!.containers[0]!.image).toBe('nginx:1.26');
    expect(b.spec!.template.spec!.containers[0]!.image).toBe('mirror.example.com:5000/nginx:1.25');
    expect(a.spec!.template.spec!.containers[0]!.env).toEqual([{ name: 'MODE', value: 'prod' }]);
    expect(b.spec!.template.spec!.containers[0]!.env).toEqual([{ name: 'MODE', value: 'prod' }, { name: 'SITE', value: 'b' }]);
    expect(a.spec!.template.spec!.nodeSelector).toEqual({ [belongingToLabel]: groupA });
    expect(b.spec!.template.spec!.nodeSelector).toEqual({ [belongingToLabel]: groupB });
    for (const d of [a, b]) {
      expect(d.metadata!.labels).toMatchObject({ app: 'web', [edgeApplicationLabel]: name });
      expect(d.metadata!.ownerReferences).toEqual([expect.objectContaining({ kind: 'EdgeApplication', name, uid: app.metadata.uid, controller: true })]);
      expect(d.metadata!.managedFields!.some((f) => f.manager === fieldManager && f.operation === 'Apply')).toBe(true);
    }

    const svc = await core.readNamespacedService({ namespace: ns, name: 'web' });
    expect(svc.metadata!.annotations![serviceTopologyAnnotation]).toBe('range-nodegroup');
    const cm = await core.readNamespacedConfigMap({ namespace: ns, name: 'web-config' });
    expect(cm.data).toEqual({ greeting: 'hello' });

    // The real scheduler binds each copy's pods only to its group's nodes.
    const onA = await boundNodes(webA, 2);
    const onB = await boundNodes(webB, 1);
    expect(onA.every((n) => nodes[n] === groupA)).toBe(true);
    expect(onB).toEqual([`ea-${run}-b1`]);

    // Status: every object listed; no kubelet, so the Deployments never become ready.
    await expect.poll(async () => {
      const s = await getApp(name);
      return s?.status?.observedGeneration === s?.metadata.generation && s?.status?.workloadStatus?.length === 4 ? s : undefined;
    }, { timeout: 20_000 }).toBeDefined();
    const status = (await getApp(name))!.status!;
    expect(status.workloadStatus!.map((w) => `${w.identifier!.kind}/${w.identifier!.name}=${w.conditions}`)).toEqual([
      `Deployment/${webA}=Processing`, `Deployment/${webB}=Processing`, 'Service/web=Available', 'ConfigMap/web-config=Available',
    ]);
    expect(condition((await getApp(name))!, 'Available')).toMatchObject({ status: 'False', reason: 'WorkloadsProcessing' });
    expect(condition((await getApp(name))!, 'Progressing')).toMatchObject({ status: 'True' });
    expect(condition((await getApp(name))!, 'Degraded')).toMatchObject({ status: 'False' });
  });

  it('changing one group\'s overriders changes only that group\'s Deployment', async () => {
    const before = (await getDeployment(webA))!;
    const applyEntry = (d: k8s.V1Deployment) => d.metadata!.managedFields!.find((f) => f.manager === fieldManager && f.operation === 'Apply');
    await client.mergePatch(eappRef(name), { spec: { workloadScope: { targetNodeGroups: [targetA, targetB('1.27')] } } });
    await expect.poll(async () => (await getDeployment(webB))?.spec?.template.spec?.containers[0]?.image, { timeout: 20_000 }).toBe('mirror.example.com:5000/nginx:1.27');
    const gen = (await getApp(name))!.metadata.generation;
    await expect.poll(async () => (await getApp(name))?.status?.observedGeneration, { timeout: 20_000 }).toBe(gen);
    const after = (await getDeployment(webA))!;
    expect(after.metadata!.generation).toBe(before.metadata!.generation);
    expect(applyEntry(after)).toEqual(applyEntry(before));
  });

  it('pins a label-selector target with nodeAffinity and the scheduler honours it', async () => {
    const sel = { matchLabels: { [siteLabel]: `${run}-c` } };
    const webC = childName('web', { labelSelector: sel });
    await client.mergePatch(eappRef(name), { spec: { workloadScope: { targetNodeLabels: [{ labelSelector: sel, overriders: { replicas: 1 } }] } } });
    await expect.poll(async () => (await getDeployment(webC)) !== undefined, { timeout: 20_000 }).toBe(true);
    expect(webC).toMatch(/^web-ls-[0-9a-f]{8}$/);
    const d = (await getDeployment(webC))!;
    expect(d.spec!.template.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms)
      .toEqual([{ matchExpressions: [{ key: siteLabel, operator: 'In', values: [`${run}-c`] }] }]);
    expect(await boundNodes(webC, 1)).toEqual([nodeC]);
    await client.mergePatch(eappRef(name), { spec: { workloadScope: { targetNodeLabels: null } } });
    await expect.poll(async () => getDeployment(webC), { timeout: 20_000 }).toBeUndefined();
  });

  it('reports an invalid overrider in Degraded with the field path and keeps that group\'s Deployment', async () => {
    const before = (await getDeployment(webB))!;
    const broken: TargetNodeGroup = { name: groupB, overriders: { envOverriders: [{ containerName: 'nope', operator: 'add', value: [{ name: 'X', value: '1' }] }] } };
    await client.mergePatch(eappRef(name), { spec: { workloadScope: { targetNodeGroups: [targetA, broken] } } });
    await expect.poll(async () => condition(await getApp(name), 'Degraded')?.status, { timeout: 20_000 }).toBe('True');
    const degraded = condition((await getApp(name))!, 'Degraded')!;
    expect(degraded.reason).toBe('InvalidSpec');
    expect(degraded.message).toMatch(/^spec\.workloadScope\.targetNodeGroups\[1\]\.overriders\.envOverriders\[0\]\.containerName: no container named "nope"/);
    const kept = (await getDeployment(webB))!;
    expect(kept.metadata!.uid).toBe(before.metadata!.uid);
    expect(kept.metadata!.generation).toBe(before.metadata!.generation);

    // Fixing it clears Degraded.
    await client.mergePatch(eappRef(name), { spec: { workloadScope: { targetNodeGroups: [targetA, targetB('1.27')] } } });
    await expect.poll(async () => condition(await getApp(name), 'Degraded')?.status, { timeout: 20_000 }).toBe('False');
  });

  it('reports a NodeGroup that does not exist, and deploys to it once it is created', async () => {
    const webLate = childName('web', { nodeGroup: groupLate });
    await client.mergePatch(eappRef(name), { spec: { workloadScope: { targetNodeGroups: [targetA, targetB('1.27'), { name: groupLate }] } } });
    await expect.poll(async () => condition(await getApp(name), 'Degraded')?.message, { timeout: 20_000 })
      .toBe(`spec.workloadScope.targetNodeGroups[2].name: NodeGroup "${groupLate}" does not exist; create it or remove the target (its Deployments are kept until then)`);
    expect(await getDeployment(webLate)).toBeUndefined();
    await createNodeGroup(groupLate, []);
    await expect.poll(async () => (await getDeployment(webLate)) !== undefined, { timeout: 20_000 }).toBe(true);
    await expect.poll(async () => condition(await getApp(name), 'Degraded')?.status, { timeout: 20_000 }).toBe('False');

    // Removing the target deletes its Deployment.
    await client.mergePatch(eappRef(name), { spec: { workloadScope: { targetNodeGroups: [targetA, targetB('1.27')] } } });
    await expect.poll(async () => getDeployment(webLate), { timeout: 20_000 }).toBeUndefined();
  });

  it('removing manifests deletes their objects and drops them from status', async () => {
    await client.mergePatch(eappRef(name), { spec: { workloadTemplate: { manifests: [deploymentManifest()] } } });
    await expect.poll(async () => (await core.listNamespacedConfigMap({ namespace: ns, fieldSelector: 'metadata.name=web-config' })).items.length, { timeout: 20_000 }).toBe(0);
    await expect.poll(async () => (await core.listNamespacedService({ namespace: ns, fieldSelector: 'metadata.name=web' })).items.length, { timeout: 20_000 }).toBe(0);
    await expect.poll(async () => (await getApp(name))?.status?.workloadStatus?.map((w) => w.identifier!.name), { timeout: 20_000 }).toEqual([webA, webB]);
    expect(await getDeployment(webA)).toBeDefined();
  });

  // kube-controller-manager's garbage collector starts watching a new CRD's objects only at its next
  // discovery resync (30 s), so on a fresh cluster this can take a while.
  it('leaves the children to the garbage collector when the EdgeApplication is deleted', { timeout: 120_000 }, async () => {
    await client.request('DELETE', `/apis/${EdgeApplicationGVK.apiVersion}/namespaces/${ns}/${EdgeApplicationGVK.plural}/${name}`);
    await expect.poll(async () => (await apps.listNamespacedDeployment({ namespace: ns, labelSelector: `${edgeApplicationLabel}=${name}` })).items.length, { timeout: 100_000, interval: 1000 }).toBe(0);
  });
});
