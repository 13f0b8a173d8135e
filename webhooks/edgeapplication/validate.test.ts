import { describe, expect, it } from 'vitest';
import type { EdgeApplication, Overriders } from '../../api/index.ts';
import { staticLookups, type StaticObjects } from '../lookups.ts';
import { validateEdgeApplication } from './validate.ts';

const deployment = (name = 'web', containers = [{ name: 'app', image: 'nginx:1.27', resources: { limits: { cpu: '1', memory: '1Gi' } } }], extra: Record<string, unknown> = {}) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
  spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers, ...extra } } },
});
const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } };
const world: StaticObjects = { nodeGroups: [{ apiVersion: 'apps.kubeedge.io/v1alpha1', kind: 'NodeGroup', metadata: { name: 'east' }, spec: {} }], namespaces: [{ metadata: { name: 'ns' } }] };

function app(manifests: unknown[], overriders?: Overriders, groups = ['east']): EdgeApplication {
  return {
    apiVersion: 'apps.kubeedge.io/v1alpha1', kind: 'EdgeApplication', metadata: { name: 'a', namespace: 'ns' },
    spec: { workloadTemplate: { manifests: manifests as never }, workloadScope: { targetNodeGroups: groups.map((name) => ({ name, ...(overriders ? { overriders } : {}) })) } },
  };
}
const create = (a: EdgeApplication, objs: StaticObjects = world) => validateEdgeApplication({ operation: 'CREATE', object: a, namespace: 'ns', lookups: staticLookups(objs) });

describe('validateEdgeApplication', () => {
  it('allows a valid application without warnings', () => {
    const r = create(app([deployment(), service], {
      replicas: 2,
      envOverriders: [{ containerName: 'app', operator: 'add', value: [{ name: 'X', value: '1' }] }],
      imageOverriders: [{ predicate: { path: '/spec/template/spec/containers/0/image' }, component: 'Tag', operator: 'replace', value: '1.27-alpine' }],
    }));
    expect(r).toEqual({ allowed: true, warnings: [], violations: [] });
  });

  it('denies manifests without a name, in another namespace, or twice', () => {
    const r = create(app([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'x-' } }, { ...service, metadata: { name: 'web', namespace: 'other' } }, service]));
    expect(r.violations.map((v) => [v.code, v.field])).toEqual([
      ['EDGEAPP_MANIFEST_INVALID', 'spec.workloadTemplate.manifests[0].metadata.name'],
      ['EDGEAPP_MANIFEST_NAMESPACE', 'spec.workloadTemplate.manifests[1].metadata.namespace'],
      ['EDGEAPP_MANIFEST_DUPLICATE', 'spec.workloadTemplate.manifests[2].metadata.name'],
    ]);
    expect(create(app([{ apiVersion: 'v1', kind: 'ConfigMap' }])).message).toContain('metadata.name: is required; give every manifest a fixed name');
  });

  it('denies a Deployment without containers', () => {
    const r = create(app([{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: {} }]));
    expect(r.message).toBe('spec.workloadTemplate.manifests[0].spec.template.spec.containers: Deployment "d" has no containers; add at least one under spec.template.spec.containers');
  });

  it.each([
    ['envOverriders', { envOverriders: [{ containerName: 'ap', operator: 'add', value: [{ name: 'X' }] }] }],
    ['commandOverriders', { commandOverriders: [{ containerName: 'ap', operator: 'add', value: ['x'] }] }],
    ['argsOverriders', { argsOverriders: [{ containerName: 'ap', operator: 'remove', value: ['x'] }] }],
    ['resourcesOverriders', { resourcesOverriders: [{ containerName: 'ap', value: { limits: { cpu: '1' } } }] }],
  ] as [string, Overriders][])('denies %s naming a container that does not exist', (kind, o) => {
    expect(create(app([deployment()], o)).message).toBe(
      `spec.workloadScope.targetNodeGroups[0].overriders.${kind}[0].containerName: Deployment "web" has no container "ap" (it has "app"); use one of those names`);
  });

  it('requires the container in every Deployment, init containers included', () => {
    const withInit = deployment('b', [{ name: 'app', image: 'x:1', resources: { limits: { cpu: '1', memory: '1' } } }], { initContainers: [{ name: 'init', image: 'busybox:1' }] });
    const o: Overriders = { envOverriders: [{ containerName: 'init', operator: 'add', value: [{ name: 'X' }] }] };
    expect(create(app([withInit], o)).allowed).toBe(true);
    expect(create(app([withInit, deployment()], o)).message).toContain('Deployment "web" has no container "init"');
  });

  it('checks overriders of label targets too', () => {
    const a = app([deployment()], undefined, []);
    a.spec.workloadScope.targetNodeLabels = [{ labelSelector: { matchLabels: { x: 'y' } }, overriders: { argsOverriders: [{ containerName: 'nope', operator: 'add', value: ['a'] }] } }];
    expect(create(a).violations.map((v) => v.field)).toEqual(['spec.workloadScope.targetNodeLabels[0].overriders.argsOverriders[0].containerName']);
  });

  it.each([
    ['/spec/template/spec/containers/0/name', 'EDGEAPP_IMAGE_PATH_INVALID', '"/spec/template/spec/containers/0/name" does not point at a container image; use a JSON pointer like /spec/template/spec/containers/0/image'],
    ['/spec/template/spec/containers/1/image', 'EDGEAPP_IMAGE_PATH_MISSING', '"/spec/template/spec/containers/1/image" points past the containers of Deployment "web" (it has 1); use an index below 1'],
    ['/spec/template/spec/initContainers/0/image', 'EDGEAPP_IMAGE_PATH_MISSING', 'points past the initContainers of Deployment "web" (it has 0)'],
    ['spec/template/spec/containers/0/image', 'EDGEAPP_IMAGE_PATH_INVALID', 'does not point at a container image'],
  ])('denies image predicate %s', (path, code, fragment) => {
    const r = create(app([deployment()], { imageOverriders: [{ predicate: { path }, component: 'Tag', operator: 'replace', value: '1' }] }));
    expect(r.violations.map((v) => v.code)).toEqual([code]);
    expect(r.message).toContain(fragment);
  });

  it.each([
    ['Tag', 'bad tag', false], ['Tag', '1.27', true], ['Tag', 'sha256:' + 'a'.repeat(64), true],
    ['Registry', 'reg istry', false], ['Registry', 'registry.example.com:5000', true],
    ['Repository', 'Upper/Case', false], ['Repository', 'library/nginx', true],
  ] as const)('checks a replaced %s %j', (component, value, ok) => {
    const r = create(app([deployment()], { imageOverriders: [{ component, operator: 'replace', value }] }));
    expect(r.allowed).toBe(ok);
    if (!ok) expect(r.message).toContain(`"${value}" is not a valid image ${component.toLowerCase()}; use a value like`);
  });

  it('warns about missing NodeGroups, idle overriders and missing targets', () => {
    expect(create(app([service], { replicas: 2 }, ['east', 'west'])).warnings).toEqual([
      'spec.workloadScope.targetNodeGroups[0].overriders: only apps/v1 Deployments are overridden and the manifests have none; remove the overriders or add the Deployment',
      'spec.workloadScope.targetNodeGroups[1].overriders: only apps/v1 Deployments are overridden and the manifests have none; remove the overriders or add the Deployment',
      'spec.workloadScope.targetNodeGroups[1].name: NodeGroup "west" does not exist yet; nothing is deployed for it until it is created',
    ]);
    expect(create(app([service], undefined, [])).warnings).toEqual(['spec.workloadScope: no targetNodeGroups or targetNodeLabels, so nothing is deployed; add a target']);
  });

  it('warns about edge best practices in Deployment templates, unless the overriders fix them', () => {
    const bare = deployment('web', [{ name: 'app', image: 'nginx', resources: {} }] as never);
    expect(create(app([bare])).warnings).toEqual([
      'spec.workloadTemplate.manifests[0].spec.template.spec.containers[0].resources.limits: container "app" sets no cpu and memory limit; set limits.cpu and limits.memory so one workload cannot starve the edge node',
      'spec.workloadTemplate.manifests[0].spec.template.spec.containers[0].image: "nginx" is pulled on every start (imagePullPolicy Always), which fails while the edge node is offline; pin a version like "nginx:<version>" and use imagePullPolicy IfNotPresent',
    ]);
    const limited = create(app([bare], { resourcesOverriders: [{ containerName: 'app', value: { limits: { cpu: '1', memory: '1Gi' } } }] }));
    expect(limited.warnings.map((w) => w.split(':')[0])).toEqual(['spec.workloadTemplate.manifests[0].spec.template.spec.containers[0].image']);
  });

  it('denies best-practice findings in an enforcing namespace', () => {
    const r = create(app([deployment('web', [{ name: 'app', image: 'nginx:1', securityContext: { privileged: true }, resources: { limits: { cpu: '1', memory: '1' } } }] as never)]),
      { ...world, namespaces: [{ metadata: { name: 'ns', labels: { 'outpost.io/edge-policy': 'enforce' } } }] });
    expect(r.violations.map((v) => v.code)).toEqual(['EDGE_PRIVILEGED']);
    expect(r.message).toContain('(namespace label outpost.io/edge-policy=enforce)');
  });

  it('never blocks an unchanged update', () => {
    const a = app([{ apiVersion: 'v1', kind: 'ConfigMap' }]);
    expect(validateEdgeApplication({ operation: 'UPDATE', object: { ...a, metadata: { ...a.metadata, labels: { x: 'y' } } }, oldObject: a, namespace: 'ns', lookups: staticLookups(world) }).allowed).toBe(true);
  });
});
