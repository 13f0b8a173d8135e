import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../admission.ts';
import { staticLookups, type StaticObjects } from '../lookups.ts';
import { defaultPod } from './default.ts';
import { isEdgeBound, isMutableImage, validateEdgeWorkload } from './validate.ts';

const good: k8s.V1Container = { name: 'app', image: 'nginx:1.27', resources: { limits: { cpu: '500m', memory: '128Mi' } } };
const edgeSelector = { 'node-role.kubernetes.io/edge': '' };
const pod = (spec: Partial<k8s.V1PodSpec>, labels: Record<string, string> = {}): JsonObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', labels }, spec: { containers: [good], ...spec } });
const ns = (labels: Record<string, string> = {}) => ({ metadata: { name: 'ns', labels } });
const world: StaticObjects = { namespaces: [ns()], nodes: [{ metadata: { name: 'edge-1', labels: edgeSelector } }, { metadata: { name: 'cloud-1' } }] };
const check = (obj: JsonObject, objs: StaticObjects = world) => validateEdgeWorkload({ operation: 'CREATE', object: obj, namespace: 'ns', lookups: staticLookups(objs) });

describe('isEdgeBound', () => {
  const l = staticLookups(world);
  it.each([
    [{ nodeName: 'edge-1' }, true], [{ nodeName: 'cloud-1' }, false], [{ nodeName: 'ghost' }, false],
    [{ nodeSelector: edgeSelector }, true], [{ nodeSelector: { 'apps.kubeedge.io/belonging-to': 'east' } }, true], [{ nodeSelector: { zone: 'a' } }, false],
    [{ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'node-role.kubernetes.io/edge', operator: 'Exists' }] }] } } } }, true],
    [{ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'node-role.kubernetes.io/edge', operator: 'DoesNotExist' }] }] } } } }, false],
    [{}, false],
  ] as [Partial<k8s.V1PodSpec>, boolean][])('%j → %s', (spec, bound) => expect(isEdgeBound({ containers: [], ...spec }, l)).toBe(bound));
});

describe('isMutableImage', () => {
  it.each([['nginx', true], ['nginx:latest', true], ['reg:5000/nginx', true], ['reg:5000/nginx:latest', true], ['nginx:1.27', false], ['nginx@sha256:abc', false], ['reg:5000/a/b:v1', false]])(
    '%s → %s', (image, mutable) => expect(isMutableImage(image)).toBe(mutable));
});

describe('validateEdgeWorkload', () => {
  it('ignores pods that do not run on edge nodes', () => {
    expect(check(pod({ containers: [{ name: 'c', image: 'nginx', securityContext: { privileged: true } }] }))).toEqual({ allowed: true, warnings: [], violations: [] });
  });

  it('accepts a well-behaved edge pod without warnings', () => {
    expect(check(pod({ nodeSelector: edgeSelector }))).toEqual({ allowed: true, warnings: [], violations: [] });
  });

  it('warns about each bad practice, naming the field and the fix', () => {
    const r = check(pod({
      nodeName: 'edge-1',
      volumes: [{ name: 'data', hostPath: { path: '/var/lib/data' } }, { name: 'cfg', hostPath: { path: '/etc/app' } }, { name: 'tmp', emptyDir: {} }],
      initContainers: [{ name: 'init', image: 'busybox:1.36', imagePullPolicy: 'IfNotPresent', resources: { limits: { cpu: '1', memory: '1Gi' } } }],
      containers: [{
        name: 'app', image: 'nginx:latest', securityContext: { privileged: true }, resources: { limits: { cpu: '1' } },
        volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'cfg', mountPath: '/cfg', readOnly: true }, { name: 'tmp', mountPath: '/tmp' }],
      }],
    }));
    expect(r.allowed).toBe(true);
    expect(r.warnings).toEqual([
      'spec.containers[0].resources.limits: container "app" sets no memory limit; set limits.cpu and limits.memory so one workload cannot starve the edge node',
      'spec.containers[0].image: "nginx:latest" is pulled on every start (imagePullPolicy Always), which fails while the edge node is offline; pin a version like "nginx:<version>" and use imagePullPolicy IfNotPresent',
      'spec.containers[0].securityContext.privileged: container "app" is privileged; remove privileged and add only the capabilities it needs under securityContext.capabilities.add',
      'spec.containers[0].volumeMounts[0]: hostPath volume "data" (/var/lib/data) is mounted read-write; set readOnly: true, or use a local PersistentVolume for data the pod writes',
    ]);
    for (const w of r.warnings) expect(w.length).toBeLessThanOrEqual(256);
  });

  it('does not flag a mutable image pulled IfNotPresent, nor a pinned image pulled Always', () => {
    expect(check(pod({ nodeSelector: edgeSelector, containers: [{ ...good, image: 'nginx', imagePullPolicy: 'IfNotPresent' }] })).warnings).toEqual([]);
    expect(check(pod({ nodeSelector: edgeSelector, containers: [{ ...good, imagePullPolicy: 'Always' }] })).warnings).toEqual([]);
  });

  it('denies in a namespace labelled outpost.io/edge-policy=enforce, and is silent with =off', () => {
    const bad = pod({ nodeSelector: edgeSelector, containers: [{ name: 'app', image: 'nginx:1' }] });
    const denied = check(bad, { ...world, namespaces: [ns({ 'outpost.io/edge-policy': 'enforce' })] });
    expect(denied.allowed).toBe(false);
    expect(denied.message).toBe('spec.containers[0].resources.limits: container "app" sets no cpu and memory limit; set limits.cpu and limits.memory so one workload cannot starve the edge node (namespace label outpost.io/edge-policy=enforce)');
    expect(check(bad, { ...world, namespaces: [ns({ 'outpost.io/edge-policy': 'off' })] })).toEqual({ allowed: true, warnings: [], violations: [] });
  });

  it('checks the pod template of Deployments, StatefulSets and DaemonSets', () => {
    for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet']) {
      const r = check({ apiVersion: 'apps/v1', kind, metadata: { name: 'w', namespace: 'ns' }, spec: { template: { spec: { nodeSelector: edgeSelector, containers: [{ ...good, securityContext: { privileged: true } }] } } } });
      expect(r.warnings.map((w) => w.split(':')[0])).toEqual(['spec.template.spec.containers[0].securityContext.privileged']);
    }
  });

  it('only re-checks an update that changes the pod template', () => {
    const old: JsonObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'w' }, spec: { replicas: 1, template: { spec: { nodeSelector: edgeSelector, containers: [{ name: 'a', image: 'x' }] } } } };
    const scaled = { ...old, spec: { ...(old.spec as JsonObject), replicas: 3 } };
    expect(validateEdgeWorkload({ operation: 'UPDATE', object: scaled, oldObject: old, namespace: 'ns', lookups: staticLookups(world) }).warnings).toEqual([]);
    const changed = { ...old, spec: { replicas: 1, template: { spec: { nodeSelector: edgeSelector, containers: [{ name: 'a', image: 'y' }] } } } };
    expect(validateEdgeWorkload({ operation: 'UPDATE', object: changed, oldObject: old, namespace: 'ns', lookups: staticLookups(world) }).warnings).toHaveLength(2);
  });
});

describe('defaultPod', () => {
  const unreachable = { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' };
  const notReady = { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' };
  const autonomous = (tolerations?: k8s.V1Toleration[]): k8s.V1Pod => ({ metadata: { name: 'p', labels: { 'app-offline.kubeedge.io': 'autonomy' } }, spec: { containers: [good], ...(tolerations ? { tolerations } : {}) } });

  it('adds the offline tolerations without tolerationSeconds', () => {
    expect(defaultPod(autonomous()).spec?.tolerations).toEqual([unreachable, notReady]);
  });

  it('replaces existing unreachable/not-ready tolerations and keeps the others', () => {
    const other = { key: 'dedicated', operator: 'Equal', value: 'edge', effect: 'NoSchedule' };
    const input = autonomous([{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }, other]);
    const out = defaultPod(input);
    expect(out.spec?.tolerations).toEqual([other, unreachable, notReady]);
    expect(input.spec?.tolerations).toHaveLength(2); // works on a copy
  });

  it('is idempotent and leaves unlabelled pods alone', () => {
    const once = defaultPod(autonomous());
    expect(defaultPod(once)).toEqual(once);
    const plain: k8s.V1Pod = { metadata: { name: 'p', labels: { 'app-offline.kubeedge.io': 'no' } }, spec: { containers: [good] } };
    expect(defaultPod(plain)).toBe(plain);
  });
});
