import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { EdgeApplication, ManifestStatus } from '../../api/index.ts';
import type { Condition } from '../runtime/status.ts';
import { belongingToLabel, childName, type JsonObject } from './overriders.ts';
import {
  edgeApplicationLabel,
  finishStatus,
  isSubset,
  kindKey,
  lastAppliedTemplateAnnotation,
  ownerLabelValue,
  planEdgeApplication,
  renderedHashAnnotation,
  serviceTopologyAnnotation,
  unknownKindRequeueMs,
  type KindInfo,
  type PlanInput,
} from './plan.ts';

const now = new Date('2026-11-22T10:00:00Z');
const later = new Date('2026-11-22T10:05:00Z');
const uid = 'eapp-uid-1';

const kinds: ReadonlyMap<string, KindInfo> = new Map([
  [kindKey('apps/v1', 'Deployment'), { resource: 'deployments', namespaced: true }],
  [kindKey('v1', 'Service'), { resource: 'services', namespaced: true }],
  [kindKey('v1', 'ConfigMap'), { resource: 'configmaps', namespaced: true }],
  [kindKey('rbac.authorization.k8s.io/v1', 'ClusterRole'), { resource: 'clusterroles', namespaced: false }],
]);

const deploymentManifest = (name = 'web'): JsonObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, labels: { app: name } },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx:1.25' }] } },
  },
});
const serviceManifest: JsonObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } };
const configMapManifest: JsonObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-config', resourceVersion: '99', uid: 'x' }, data: { a: '1' } };

function app(spec: Partial<EdgeApplication['spec']> = {}, extra: Partial<EdgeApplication> = {}): EdgeApplication {
  return {
    apiVersion: 'apps.kubeedge.io/v1alpha1',
    kind: 'EdgeApplication',
    metadata: { name: 'shop', namespace: 'ns1', uid, generation: 4 },
    spec: {
      workloadTemplate: { manifests: [deploymentManifest(), serviceManifest, configMapManifest] as never },
      workloadScope: {
        targetNodeGroups: [
          { name: 'a', overriders: { replicas: 2, imageOverriders: [{ component: 'Tag', operator: 'replace', value: '1.26' }] } },
          { name: 'b', overriders: { imageOverriders: [{ component: 'Registry', operator: 'replace', value: 'mirror.b:5000' }] } },
        ],
      },
      ...spec,
    },
    ...extra,
  };
}

const input = (a: EdgeApplication, over: Partial<PlanInput> = {}): PlanInput => ({ app: a, nodeGroups: ['a', 'b', 'c'], children: [], kinds, now, ...over });
// Test-only views of rendered JSON in client-node's shapes.
type Rendered = k8s.V1Deployment & k8s.V1Service & k8s.V1ConfigMap & { metadata: k8s.V1ObjectMeta & { annotations: Record<string, string>; labels: Record<string, string> } };
const byName = (objs: JsonObject[], name: string) => objs.find((o) => (o.metadata as JsonObject).name === name) as unknown as Rendered;
const podSpec = (o: Rendered) => o.spec!.template!.spec!;
const cond = (p: { status: { conditions: Condition[] } }, type: string) => p.status.conditions.find((c) => c.type === type)!;
const replicasOf = (o: JsonObject) => (o as unknown as k8s.V1Deployment).spec!.replicas;

/** What the API server would hold after applying `obj`, with a uid and (for Deployments) a status. */
function stored(obj: JsonObject, status?: k8s.V1DeploymentStatus, generation = 1): k8s.KubernetesObject {
  const o = structuredClone(obj) as unknown as k8s.V1Deployment;
  o.metadata!.uid = `uid-${o.metadata!.name}`;
  o.metadata!.resourceVersion = '10';
  o.metadata!.generation = generation;
  if (o.kind === 'Deployment') o.status = status ?? { observedGeneration: generation, replicas: o.spec!.replicas, readyReplicas: 0 };
  return o;
}

describe('planEdgeApplication: rendering', () => {
  it('renders one Deployment per NodeGroup with its overriders, the Service once with the topology annotation, other kinds as-is', () => {
    const p = planEdgeApplication(input(app()));
    expect(p.apply.map((o) => `${o.kind}/${(o.metadata as JsonObject).name}`)).toEqual(['Deployment/web-a', 'Deployment/web-b', 'Service/web', 'ConfigMap/web-config']);
    const a = byName(p.apply, 'web-a');
    const b = byName(p.apply, 'web-b');
    expect(a.spec!.replicas).toBe(2);
    expect(b.spec!.replicas).toBe(1);
    expect(podSpec(a).containers[0]!.image).toBe('nginx:1.26');
    expect(podSpec(b).containers[0]!.image).toBe('mirror.b:5000/nginx:1.25');
    expect(podSpec(a).nodeSelector).toEqual({ [belongingToLabel]: 'a' });
    expect(podSpec(b).nodeSelector).toEqual({ [belongingToLabel]: 'b' });
    expect(a.spec!.selector).toEqual({ matchLabels: { app: 'web' } });

    const svc = byName(p.apply, 'web');
    expect(svc.metadata.annotations[serviceTopologyAnnotation]).toBe('range-nodegroup');
    expect(svc.spec).toEqual(serviceManifest.spec);
    const cm = byName(p.apply, 'web-config');
    expect(cm.data).toEqual({ a: '1' });
    expect(cm.metadata).not.toHaveProperty('resourceVersion');
    expect(cm.metadata).not.toHaveProperty('uid');
  });

  it('gives every child the owner label, the controller ownerReference, the template annotation and the namespace', () => {
    const p = planEdgeApplication(input(app()));
    for (const o of p.apply) {
      const md = (o as unknown as Rendered).metadata;
      expect(md.namespace).toBe('ns1');
      expect(md.labels[edgeApplicationLabel]).toBe('shop');
      expect(md.ownerReferences).toEqual([{ apiVersion: 'apps.kubeedge.io/v1alpha1', kind: 'EdgeApplication', name: 'shop', uid, controller: true, blockOwnerDeletion: true }]);
      expect(md.annotations[renderedHashAnnotation]).toMatch(/^[0-9a-f]{16}$/);
      expect(JSON.parse(md.annotations[lastAppliedTemplateAnnotation]!)).toHaveProperty('kind', o.kind);
    }
    // Both Deployment copies carry the same template: the manifest, before overriders.
    expect(byName(p.apply, 'web-a').metadata.annotations[lastAppliedTemplateAnnotation]).toBe(JSON.stringify(deploymentManifest()));
    expect(byName(p.apply, 'web-a').metadata.labels.app).toBe('web');
  });

  it('renders label-selector targets as <name>-ls-<hash> with required nodeAffinity', () => {
    const sel = { matchLabels: { region: 'eu' } };
    const p = planEdgeApplication(input(app({ workloadTemplate: { manifests: [deploymentManifest() as never] }, workloadScope: { targetNodeLabels: [{ labelSelector: sel }] } })));
    const name = childName('web', { labelSelector: sel });
    expect(name).toMatch(/^web-ls-[0-9a-f]{8}$/);
    const d = byName(p.apply, name);
    expect(podSpec(d).affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms)
      .toEqual([{ matchExpressions: [{ key: 'region', operator: 'In', values: ['eu'] }] }]);
    expect(podSpec(d)).not.toHaveProperty('nodeSelector');
  });

  it('renders no Deployment when there is no target, but still the other kinds', () => {
    const p = planEdgeApplication(input(app({ workloadScope: {} })));
    expect(p.apply.map((o) => o.kind)).toEqual(['Service', 'ConfigMap']);
  });

  it('shortens the owner label for names longer than a label value', () => {
    const long = 'x'.repeat(80);
    const v = ownerLabelValue(long);
    expect(v.length).toBeLessThanOrEqual(63);
    expect(v).toMatch(/^x+-[0-9a-f]{10}$/);
    expect(ownerLabelValue('shop')).toBe('shop');
  });
});

describe('planEdgeApplication: status', () => {
  it('reports observedGeneration and one workloadStatus per child, Processing until observed', () => {
    const p = planEdgeApplication(input(app()));
    expect(p.status.observedGeneration).toBe(4);
    expect(p.status.workloadStatus).toEqual<ManifestStatus[]>([
      { identifier: { ordinal: 0, group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments', namespace: 'ns1', name: 'web-a' }, conditions: 'Processing' },
      { identifier: { ordinal: 0, group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments', namespace: 'ns1', name: 'web-b' }, conditions: 'Processing' },
      { identifier: { ordinal: 1, version: 'v1', kind: 'Service', resource: 'services', namespace: 'ns1', name: 'web' }, conditions: 'Processing' },
      { identifier: { ordinal: 2, version: 'v1', kind: 'ConfigMap', resource: 'configmaps', namespace: 'ns1', name: 'web-config' }, conditions: 'Available' },
    ]);
    expect(cond(p, 'Available')).toMatchObject({ status: 'False', reason: 'WorkloadsProcessing', observedGeneration: 4, lastTransitionTime: '2026-11-22T10:00:00Z' });
    expect(cond(p, 'Available').message).toBe('3 of 4 workload(s) not yet available: Deployment web-a, Deployment web-b, Service web');
    expect(cond(p, 'Progressing')).toMatchObject({ status: 'True', reason: 'WorkloadsProcessing' });
    expect(cond(p, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
  });

  it('is Available when every Deployment has readyReplicas == replicas, and idempotent once the cache has caught up', () => {
    const first = planEdgeApplication(input(app()));
    const children = first.apply.map((o) => stored(o, o.kind === 'Deployment' ? { observedGeneration: 1, replicas: replicasOf(o), readyReplicas: replicasOf(o), updatedReplicas: replicasOf(o) } : undefined));
    const a = app({}, { status: first.status });
    const p = planEdgeApplication(input(a, { children, now: later }));
    expect(p.apply).toEqual([]);
    expect(p.delete).toEqual([]);
    expect(p.status.workloadStatus.map((w) => w.conditions)).toEqual(['Available', 'Available', 'Available', 'Available']);
    expect(cond(p, 'Available')).toMatchObject({ status: 'True', reason: 'WorkloadsAvailable', message: 'All 4 workload(s) available.', lastTransitionTime: '2026-11-22T10:05:00Z' });
    expect(cond(p, 'Progressing')).toMatchObject({ status: 'False' });
    // Degraded did not change status, so its transition time stays.
    expect(cond(p, 'Degraded').lastTransitionTime).toBe('2026-11-22T10:00:00Z');
    // A third pass over the same state yields the same status.
    expect(planEdgeApplication(input(app({}, { status: p.status }), { children, now: new Date('2026-11-22T11:00:00Z') })).status).toEqual(p.status);
  });

  it.each([
    [{ observedGeneration: 1, replicas: 2, readyReplicas: 1, updatedReplicas: 2 }, 1, 'Processing'],
    [{ observedGeneration: 1, replicas: 2, readyReplicas: 2, updatedReplicas: 2 }, 1, 'Available'],
    [{ observedGeneration: 1, replicas: 2, readyReplicas: 2, updatedReplicas: 2 }, 2, 'Processing'], // spec not yet observed
    [{ observedGeneration: 1, replicas: 3, readyReplicas: 2, updatedReplicas: 1 }, 1, 'Processing'], // rollout in progress
    [{ observedGeneration: 1 }, 1, 'Processing'],
  ])('Deployment with status %j (generation %d) is %s', (status, generation, want) => {
    const a = app({ workloadTemplate: { manifests: [deploymentManifest() as never] }, workloadScope: { targetNodeGroups: [{ name: 'a', overriders: { replicas: 2 } }] } });
    const first = planEdgeApplication(input(a));
    const p = planEdgeApplication(input(a, { children: [stored(first.apply[0]!, status, generation)] }));
    expect(p.apply).toEqual([]);
    expect(p.status.workloadStatus[0]!.conditions).toBe(want);
  });

  it('counts replicas 0 as available with no ready pods', () => {
    const a = app({ workloadTemplate: { manifests: [deploymentManifest() as never] }, workloadScope: { targetNodeGroups: [{ name: 'a', overriders: { replicas: 0 } }] } });
    const first = planEdgeApplication(input(a));
    const p = planEdgeApplication(input(a, { children: [stored(first.apply[0]!, { observedGeneration: 1 })] }));
    expect(p.status.workloadStatus[0]!.conditions).toBe('Available');
  });

  it('reports Available with no workloads when the template is empty', () => {
    const p = planEdgeApplication(input(app({ workloadTemplate: { manifests: [] } })));
    expect(p.apply).toEqual([]);
    expect(cond(p, 'Available')).toMatchObject({ status: 'True', reason: 'NoWorkloads' });
  });
});

describe('planEdgeApplication: changes', () => {
  it('re-applies only the target whose overriders changed', () => {
    const first = planEdgeApplication(input(app()));
    const children = first.apply.map((o) => stored(o));
    const changed = app();
    changed.spec.workloadScope.targetNodeGroups![1]!.overriders = { imageOverriders: [{ component: 'Tag', operator: 'replace', value: '2.0' }] };
    const p = planEdgeApplication(input(changed, { children }));
    expect(p.apply.map((o) => (o.metadata as JsonObject).name)).toEqual(['web-b']);
    expect(podSpec(byName(p.apply, 'web-b')).containers[0]!.image).toBe('nginx:2.0');
  });

  it('re-applies a child someone edited, and one whose overrider was removed', () => {
    const first = planEdgeApplication(input(app()));
    const children = first.apply.map((o) => stored(o)) as k8s.V1Deployment[];
    children[0]!.spec!.template.spec!.containers[0]!.image = 'evil:latest';
    expect(planEdgeApplication(input(app(), { children })).apply.map((o) => (o.metadata as JsonObject).name)).toEqual(['web-a']);

    // Dropping replicas from target a renders spec.replicas 1: a field value change, caught by the hash.
    const fresh = first.apply.map((o) => stored(o));
    const noReplicas = app();
    noReplicas.spec.workloadScope.targetNodeGroups![0]!.overriders = { imageOverriders: [{ component: 'Tag', operator: 'replace', value: '1.26' }] };
    expect(planEdgeApplication(input(noReplicas, { children: fresh })).apply.map((o) => (o.metadata as JsonObject).name)).toEqual(['web-a']);
  });

  it('isSubset: objects may have extra keys, arrays must match', () => {
    expect(isSubset({ a: 1, b: { c: [1, { d: 2 }] } }, { a: 1, z: 0, b: { c: [1, { d: 2, e: 3 }] } })).toBe(true);
    expect(isSubset({ a: [1] }, { a: [1, 2] })).toBe(false);
    expect(isSubset({ a: '1' }, { a: 1 })).toBe(false);
  });
});

describe('planEdgeApplication: garbage collection', () => {
  it('deletes the objects of a removed manifest (cached ones by uid, others from the status inventory)', () => {
    const first = planEdgeApplication(input(app()));
    const children = first.apply.filter((o) => o.kind !== 'ConfigMap').map((o) => stored(o));
    const a = app({ workloadTemplate: { manifests: [deploymentManifest() as never] } }, { status: first.status });
    const p = planEdgeApplication(input(a, { children }));
    expect(p.apply).toEqual([]);
    expect(p.delete).toEqual([
      { apiVersion: 'v1', kind: 'Service', namespace: 'ns1', name: 'web', uid: 'uid-web' },
      { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ns1', name: 'web-config' },
    ]);
    expect(p.status.workloadStatus.map((w) => w.identifier!.name)).toEqual(['web-a', 'web-b']);
  });

  it('deletes the Deployment of a removed target', () => {
    const first = planEdgeApplication(input(app()));
    const children = first.apply.map((o) => stored(o));
    const a = app({}, { status: first.status });
    a.spec.workloadScope.targetNodeGroups = [a.spec.workloadScope.targetNodeGroups![0]!];
    const p = planEdgeApplication(input(a, { children }));
    expect(p.delete).toEqual([{ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'ns1', name: 'web-b', uid: 'uid-web-b' }]);
  });

  it('never deletes what it does not own, nor watched objects the cache no longer has', () => {
    const first = planEdgeApplication(input(app()));
    const foreign = stored(first.apply[1]!);
    foreign.metadata!.ownerReferences = [{ ...foreign.metadata!.ownerReferences![0]!, uid: 'someone-else' }];
    const a = app({ workloadTemplate: { manifests: [] } }, { status: { workloadStatus: [
      { identifier: { ordinal: 0, group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments', namespace: 'ns1', name: 'gone' }, conditions: 'Available' },
    ] } });
    const p = planEdgeApplication(input(a, { children: [foreign] }));
    expect(p.delete).toEqual([]);
  });

  it('deletes children when the template becomes empty', () => {
    const first = planEdgeApplication(input(app()));
    const p = planEdgeApplication(input(app({ workloadTemplate: { manifests: [] } }, { status: first.status }), { children: first.apply.map((o) => stored(o)) }));
    expect(p.delete.map((r) => r.name).sort()).toEqual(['web', 'web-a', 'web-b', 'web-config']);
  });
});

describe('planEdgeApplication: invalid specs never throw, and skip only what they affect', () => {
  it('reports an invalid overrider with its full field path and skips only that target, keeping its Deployment', () => {
    const first = planEdgeApplication(input(app()));
    const children = first.apply.map((o) => stored(o));
    const a = app({}, { status: first.status });
    a.spec.workloadScope.targetNodeGroups![1]!.overriders = { imageOverriders: [{ predicate: { path: '/spec/containers/0/image' }, component: 'Tag', operator: 'replace', value: '2' }] };
    a.spec.workloadScope.targetNodeGroups![0]!.overriders = { replicas: 5 };
    const p = planEdgeApplication(input(a, { children }));
    expect(p.apply.map((o) => (o.metadata as JsonObject).name)).toEqual(['web-a']);
    expect(p.delete).toEqual([]);
    expect(p.status.workloadStatus.map((w) => w.identifier!.name)).toContain('web-b');
    const degraded = cond(p, 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(degraded.message).toMatch(/^spec\.workloadScope\.targetNodeGroups\[1\]\.overriders\.imageOverriders\[0\]\.predicate\.path: "\/spec\/containers\/0\/image" does not point at a container image/);
    expect(degraded.message).toMatch(/in Deployment "web", spec\.workloadTemplate\.manifests\[0\]; this target keeps its current Deployment/);
    expect(p.issues).toHaveLength(1);
  });

  it('reports an unknown container name', () => {
    const a = app();
    a.spec.workloadScope.targetNodeGroups![0]!.overriders = { envOverriders: [{ containerName: 'db', operator: 'add', value: [{ name: 'A', value: '1' }] }] };
    const p = planEdgeApplication(input(a));
    expect(cond(p, 'Degraded').message).toMatch(/^spec\.workloadScope\.targetNodeGroups\[0\]\.overriders\.envOverriders\[0\]\.containerName: no container named "db"/);
    expect(p.apply.map((o) => (o.metadata as JsonObject).name)).toEqual(['web-b', 'web', 'web-config']);
  });

  it('reports a NodeGroup that does not exist, and renders it once it does', () => {
    const a = app();
    a.spec.workloadScope.targetNodeGroups!.push({ name: 'missing' });
    const p = planEdgeApplication(input(a));
    expect(cond(p, 'Degraded').message).toBe('spec.workloadScope.targetNodeGroups[2].name: NodeGroup "missing" does not exist; create it or remove the target (its Deployments are kept until then)');
    expect(p.apply.map((o) => (o.metadata as JsonObject).name)).not.toContain('web-missing');
    const q = planEdgeApplication(input(a, { nodeGroups: ['a', 'b', 'missing'] }));
    expect(q.apply.map((o) => (o.metadata as JsonObject).name)).toContain('web-missing');
    expect(cond(q, 'Degraded').status).toBe('False');
  });

  it('reports an invalid label selector target', () => {
    const p = planEdgeApplication(input(app({ workloadScope: { targetNodeLabels: [{ labelSelector: { matchExpressions: [{ key: 'x', operator: 'In', values: [] }] } }] } })));
    expect(cond(p, 'Degraded').message).toMatch(/^spec\.workloadScope\.targetNodeLabels\[0\]\.labelSelector\.matchExpressions\[0\]\.values: must not be empty when operator is In/);
  });

  it('reports a manifest that is not an object and pauses garbage collection', () => {
    const first = planEdgeApplication(input(app()));
    const children = first.apply.map((o) => stored(o));
    const a = app({ workloadTemplate: { manifests: ['oops', deploymentManifest()] as never } }, { status: first.status });
    const p = planEdgeApplication(input(a, { children }));
    expect(p.delete).toEqual([]);
    expect(p.apply).toEqual([]);
    const msg = cond(p, 'Degraded').message;
    expect(msg).toMatch(/^spec\.workloadTemplate\.manifests\[0\]: must be a Kubernetes object/);
    expect(msg).toMatch(/spec\.workloadTemplate\.manifests: garbage collection is paused \(2 object\(s\) kept\)/);
  });

  it.each([
    [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: {} }, 'spec.workloadTemplate.manifests[0].metadata.name: is required'],
    [{ kind: 'ConfigMap', metadata: { name: 'x' } }, 'spec.workloadTemplate.manifests[0].apiVersion: is required'],
    [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'other' } }, 'spec.workloadTemplate.manifests[0].metadata.namespace: "other" differs'],
    [{ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'x' } }, 'spec.workloadTemplate.manifests[0].kind: ClusterRole is cluster-scoped'],
    [{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: {} }, 'spec.workloadTemplate.manifests[0].spec.template.spec.containers: is required'],
  ])('reports manifest %j', (m, msg) => {
    const p = planEdgeApplication(input(app({ workloadTemplate: { manifests: [m as never] } })));
    expect(cond(p, 'Degraded').message).toContain(msg);
    expect(p.apply).toEqual([]);
  });

  it('reports a kind the API server does not serve and looks again later', () => {
    const p = planEdgeApplication(input(app({ workloadTemplate: { manifests: [{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }, serviceManifest] as never } })));
    expect(p.requeueAfter).toBe(unknownKindRequeueMs);
    expect(cond(p, 'Degraded')).toMatchObject({ status: 'True', reason: 'KindNotServed' });
    expect(cond(p, 'Degraded').message).toContain('spec.workloadTemplate.manifests[0]: kind Widget in example.com/v1 is not served');
    expect(p.apply.map((o) => o.kind)).toEqual(['Service']);
  });

  it('reports two manifests that render the same object', () => {
    const p = planEdgeApplication(input(app({ workloadTemplate: { manifests: [serviceManifest, serviceManifest] as never } })));
    expect(cond(p, 'Degraded').message).toContain('spec.workloadTemplate.manifests[1]: renders Service "web", which an earlier manifest or target already renders');
    expect(p.apply).toHaveLength(1);
  });

  it('reports a duplicate NodeGroup target', () => {
    const p = planEdgeApplication(input(app({ workloadScope: { targetNodeGroups: [{ name: 'a' }, { name: 'a' }] } })));
    expect(cond(p, 'Degraded').message).toContain('spec.workloadScope.targetNodeGroups[1].name: NodeGroup "a" is already targeted by spec.workloadScope.targetNodeGroups[0]');
  });
});

describe('finishStatus', () => {
  it('marks failed applies Processing, keeps failed deletes in the inventory, and names them in Degraded', () => {
    const first = planEdgeApplication(input(app()));
    const children = first.apply.map((o) => stored(o));
    const a = app({ workloadTemplate: { manifests: [deploymentManifest()] as never } }, { status: first.status });
    const p = planEdgeApplication(input(a, { children }));
    const s = finishStatus(a, p, {
      apply: [{ ref: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'ns1', name: 'web-a' }, message: 'HTTP 422: invalid' }],
      delete: [{ ref: p.delete.find((r) => r.kind === 'Service')!, message: 'HTTP 500' }],
    }, now);
    expect(s.workloadStatus.find((w) => w.identifier!.name === 'web-a')!.conditions).toBe('Processing');
    expect(s.workloadStatus.find((w) => w.identifier!.name === 'web')).toEqual({ identifier: expect.objectContaining({ kind: 'Service', ordinal: 1 }), conditions: 'Processing' });
    const degraded = s.conditions.find((c) => c.type === 'Degraded')!;
    expect(degraded).toMatchObject({ status: 'True', reason: 'ApplyFailed' });
    expect(degraded.message).toBe('Deployment web-a: apply failed: HTTP 422: invalid; Service web: delete failed: HTTP 500');
    expect(finishStatus(a, p, { apply: [], delete: [] }, now)).toBe(p.status);
  });
});
