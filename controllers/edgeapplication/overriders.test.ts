import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { ImageOverrider } from '../../api/index.ts';
import { SpecError } from './errors.ts';
import {
  applyCommandArgsOverriders,
  applyEnvOverriders,
  applyImageOverriders,
  applyPlacement,
  applyReplicas,
  applyResourcesOverriders,
  belongingToLabel,
  canonicalLabelSelector,
  childName,
  labelSelectorHash,
  overrideDeployment,
  overrideImage,
  type JsonObject,
} from './overriders.ts';

const sha = 'sha256:' + 'b'.repeat(64);

function deployment(): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          initContainers: [{ name: 'init', image: 'busybox:1.36', command: ['sh', '-c', 'true'] }],
          containers: [
            { name: 'app', image: 'registry.example.com:5000/team/web:1.0', command: ['/web'], args: ['--port=80', '--verbose'], env: [{ name: 'MODE', value: 'prod' }, { name: 'TZ', value: 'UTC' }] },
            { name: 'sidecar', image: 'nginx:1.25' },
          ],
        },
      },
    },
  };
}

// Test-only views of the rendered JSON in client-node's shapes.
const dep = (d: JsonObject) => d as unknown as k8s.V1Deployment;
const podSpec = (d: JsonObject) => dep(d).spec!.template.spec!;
const containers = (d: JsonObject) => podSpec(d).containers as (k8s.V1Container & Record<string, unknown>)[];
const initContainers = (d: JsonObject) => podSpec(d).initContainers!;
const required = (d: JsonObject) => podSpec(d).affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!;

/** Runs fn and returns the SpecError it throws. */
function specError(fn: () => unknown): SpecError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SpecError) return err;
    throw err;
  }
  throw new Error('expected a SpecError');
}

describe('overrideImage', () => {
  const o = (component: ImageOverrider['component'], operator: ImageOverrider['operator'], value?: string): ImageOverrider => ({ component, operator, ...(value !== undefined ? { value } : {}) });

  it.each<[string, ImageOverrider, string]>([
    // Registry
    ['registry.k8s.io/pause:3.9', o('Registry', 'add', '.cn'), 'registry.k8s.io.cn/pause:3.9'],
    ['nginx:1.25', o('Registry', 'add', 'mirror.example.com'), 'mirror.example.com/nginx:1.25'],
    ['localhost:5000/app:1', o('Registry', 'replace', 'reg.example.com:443'), 'reg.example.com:443/app:1'],
    ['nginx', o('Registry', 'replace', 'localhost:5000'), 'localhost:5000/nginx'],
    [`reg.io/app@${sha}`, o('Registry', 'replace', 'other.io'), `other.io/app@${sha}`],
    ['localhost:5000/app:1', o('Registry', 'remove'), 'app:1'],
    ['reg.io:8443/team/app:1', o('Registry', 'remove'), 'team/app:1'],
    ['nginx:1.25', o('Registry', 'remove'), 'nginx:1.25'],
    // Repository
    ['reg.io/team/app:1', o('Repository', 'add', '-debug'), 'reg.io/team/app-debug:1'],
    ['localhost:5000/app:1', o('Repository', 'replace', 'mirror/app'), 'localhost:5000/mirror/app:1'],
    [`app@${sha}`, o('Repository', 'replace', 'other'), `other@${sha}`],
    // Tag (tag, or digest when there is no tag)
    ['nginx:1.25', o('Tag', 'add', '-alpine'), 'nginx:1.25-alpine'],
    ['nginx', o('Tag', 'add', 'v2'), 'nginx:v2'],
    ['localhost:5000/app:1', o('Tag', 'replace', '1.26'), 'localhost:5000/app:1.26'],
    ['localhost:5000/app', o('Tag', 'replace', '2'), 'localhost:5000/app:2'],
    ['app:1', o('Tag', 'replace', sha), `app@${sha}`],
    [`app@${sha}`, o('Tag', 'replace', '2'), 'app:2'],
    [`app:1@${sha}`, o('Tag', 'replace', '3'), 'app:3'],
    ['reg.io:5000/app:1', o('Tag', 'remove'), 'reg.io:5000/app'],
    [`app:1@${sha}`, o('Tag', 'remove'), 'app'],
  ])('%s with %j gives %s', (image, overrider, want) => {
    expect(overrideImage(image, overrider)).toBe(want);
  });

  it.each<[string, ImageOverrider, string, RegExp]>([
    ['nginx', o('Registry', 'replace', 'bad/registry'), 'imageOverriders[0].value', /registry "bad\/registry"/],
    ['nginx', o('Repository', 'replace', 'Upper'), 'imageOverriders[0].value', /repository "Upper"/],
    ['nginx', o('Repository', 'remove'), 'imageOverriders[0].operator', /without a name/],
    ['nginx:1', o('Tag', 'replace', 'bad tag!'), 'imageOverriders[0].value', /tag or digest "bad tag!"/],
    ['nginx', o('Tag', 'add', '-alpine'), 'imageOverriders[0].value', /tag or digest "-alpine"/],
    ['nginx', o('Tag', 'replace'), 'imageOverriders[0].value', /is required when operator is replace/],
    ['nginx', o('Registry', 'add', ''), 'imageOverriders[0].value', /is required when operator is add/],
    ['nginx', { component: 'Digest' as never, operator: 'replace', value: 'x' }, 'imageOverriders[0].component', /not a component/],
    ['nginx', { component: 'Tag', operator: 'set' as never, value: 'x' }, 'imageOverriders[0].operator', /not an operator/],
    ['Not/Valid:', o('Tag', 'replace', '1'), 'imageOverriders[0]', /cannot override image "Not\/Valid:"/],
  ])('%s with %j fails at %s', (image, overrider, field, msg) => {
    const err = specError(() => overrideImage(image, overrider));
    expect(err.code).toBe('EDGEAPP_INVALID_OVERRIDER');
    expect(err.field).toBe(field);
    expect(err.message).toMatch(msg);
  });
});

describe('applyImageOverriders', () => {
  it('changes only the image the predicate points at', () => {
    const d = applyImageOverriders(deployment(), [{ predicate: { path: '/spec/template/spec/containers/1/image' }, component: 'Tag', operator: 'replace', value: '1.27' }]);
    expect(containers(d).map((c) => c.image)).toEqual(['registry.example.com:5000/team/web:1.0', 'nginx:1.27']);
  });

  it('can point at an init container', () => {
    const d = applyImageOverriders(deployment(), [{ predicate: { path: '/spec/template/spec/initContainers/0/image' }, component: 'Registry', operator: 'replace', value: 'mirror.io' }]);
    expect(initContainers(d)[0]!.image).toBe('mirror.io/busybox:1.36');
    expect(containers(d)[1]!.image).toBe('nginx:1.25');
  });

  it('without a predicate changes every container image (not init containers)', () => {
    const d = applyImageOverriders(deployment(), [{ component: 'Registry', operator: 'replace', value: 'edge.local:5000' }]);
    expect(containers(d).map((c) => c.image)).toEqual(['edge.local:5000/team/web:1.0', 'edge.local:5000/nginx:1.25']);
    expect(initContainers(d)[0]!.image).toBe('busybox:1.36');
  });

  it('applies several overriders in list order, each on the previous result', () => {
    const d = applyImageOverriders(deployment(), [
      { predicate: { path: '/spec/template/spec/containers/0/image' }, component: 'Registry', operator: 'remove' },
      { predicate: { path: '/spec/template/spec/containers/0/image' }, component: 'Registry', operator: 'add', value: 'mirror.io' },
      { predicate: { path: '/spec/template/spec/containers/0/image' }, component: 'Tag', operator: 'add', value: '-edge' },
    ]);
    expect(containers(d)[0]!.image).toBe('mirror.io/team/web:1.0-edge');
  });

  it('does not modify its input', () => {
    const input = deployment();
    applyImageOverriders(input, [{ component: 'Tag', operator: 'replace', value: 'x' }]);
    expect(input).toEqual(deployment());
  });

  it.each([
    ['/spec/containers/0/image', /does not point at a container image; use a JSON pointer like \/spec\/template\/spec\/containers\/0\/image/],
    ['/spec/template/spec/containers/0/name', /does not point at a container image/],
    ['/spec/template/spec/containers/01/image', /does not point at a container image/],
    ['spec.template.spec.containers[0].image', /does not point at a container image/],
    ['/spec/template/spec/containers/2/image', /points past the end of containers \(the Deployment has 2\)/],
  ])('rejects predicate.path %s', (path, msg) => {
    const err = specError(() => applyImageOverriders(deployment(), [
      { component: 'Tag', operator: 'replace', value: 'ok' },
      { predicate: { path }, component: 'Tag', operator: 'replace', value: '2' },
    ]));
    expect(err.field).toBe('imageOverriders[1].predicate.path');
    expect(err.message).toMatch(msg);
  });
});

describe('applyReplicas', () => {
  it('sets spec.replicas, including 0', () => {
    expect(dep(applyReplicas(deployment(), 3)).spec!.replicas).toBe(3);
    expect(dep(applyReplicas(deployment(), 0)).spec!.replicas).toBe(0);
    expect(dep(applyReplicas(deployment(), undefined)).spec!.replicas).toBe(1);
  });

  it.each([-1, 1.5, '2'])('rejects %j', (v) => {
    const err = specError(() => applyReplicas(deployment(), v));
    expect(err.field).toBe('replicas');
    expect(err.message).toMatch(/non-negative integer/);
  });
});

describe('applyCommandArgsOverriders', () => {
  it('add appends to the command', () => {
    const d = applyCommandArgsOverriders(deployment(), 'command', [{ containerName: 'app', operator: 'add', value: ['--edge'] }]);
    expect(containers(d)[0]!.command).toEqual(['/web', '--edge']);
  });

  it('add creates the args of a container that had none', () => {
    const d = applyCommandArgsOverriders(deployment(), 'args', [{ containerName: 'sidecar', operator: 'add', value: ['-g', 'daemon off;'] }]);
    expect(containers(d)[1]!.args).toEqual(['-g', 'daemon off;']);
  });

  it('remove drops every matching item, and the field when nothing is left', () => {
    let d = applyCommandArgsOverriders(deployment(), 'args', [{ containerName: 'app', operator: 'remove', value: ['--verbose', '--absent'] }]);
    expect(containers(d)[0]!.args).toEqual(['--port=80']);
    d = applyCommandArgsOverriders(d, 'args', [{ containerName: 'app', operator: 'remove', value: ['--port=80'] }]);
    expect(containers(d)[0]).not.toHaveProperty('args');
  });

  it('works on init containers by name', () => {
    const d = applyCommandArgsOverriders(deployment(), 'command', [{ containerName: 'init', operator: 'remove', value: ['true'] }]);
    expect(initContainers(d)[0]!.command).toEqual(['sh', '-c']);
  });

  it('rejects an unknown container, naming the containers that exist', () => {
    const err = specError(() => applyCommandArgsOverriders(deployment(), 'command', [{ containerName: 'ap', operator: 'add', value: ['x'] }]));
    expect(err.field).toBe('commandOverriders[0].containerName');
    expect(err.message).toBe('no container named "ap" in the Deployment (containers: app, sidecar, init)');
  });

  it('rejects replace and an empty add', () => {
    expect(specError(() => applyCommandArgsOverriders(deployment(), 'args', [{ containerName: 'app', operator: 'replace' as never, value: ['x'] }])).field).toBe('argsOverriders[0].operator');
    expect(specError(() => applyCommandArgsOverriders(deployment(), 'args', [{ containerName: 'app', operator: 'add', value: [] }])).field).toBe('argsOverriders[0].value');
  });
});

describe('applyEnvOverriders', () => {
  it('add appends new variables, keeping valueFrom as written', () => {
    const d = applyEnvOverriders(deployment(), [{ containerName: 'app', operator: 'add', value: [{ name: 'SITE', value: 'a' }, { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }] }]);
    expect(containers(d)[0]!.env).toEqual([
      { name: 'MODE', value: 'prod' }, { name: 'TZ', value: 'UTC' }, { name: 'SITE', value: 'a' }, { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    ]);
  });

  it('add creates the env of a container that had none', () => {
    const d = applyEnvOverriders(deployment(), [{ containerName: 'sidecar', operator: 'add', value: [{ name: 'X', value: '1' }] }]);
    expect(containers(d)[1]!.env).toEqual([{ name: 'X', value: '1' }]);
  });

  it('replace swaps variables by name, in place', () => {
    const d = applyEnvOverriders(deployment(), [{ containerName: 'app', operator: 'replace', value: [{ name: 'MODE', value: 'edge' }] }]);
    expect(containers(d)[0]!.env).toEqual([{ name: 'MODE', value: 'edge' }, { name: 'TZ', value: 'UTC' }]);
  });

  it('remove drops variables by name; absent names are fine; empty env is removed', () => {
    let d = applyEnvOverriders(deployment(), [{ containerName: 'app', operator: 'remove', value: [{ name: 'MODE' }, { name: 'ABSENT' }] }]);
    expect(containers(d)[0]!.env).toEqual([{ name: 'TZ', value: 'UTC' }]);
    d = applyEnvOverriders(d, [{ containerName: 'app', operator: 'remove', value: [{ name: 'TZ' }] }]);
    expect(containers(d)[0]).not.toHaveProperty('env');
  });

  it('rejects adding an existing name and replacing a missing one', () => {
    const add = specError(() => applyEnvOverriders(deployment(), [{ containerName: 'app', operator: 'add', value: [{ name: 'TZ', value: 'x' }] }]));
    expect(add.field).toBe('envOverriders[0].value[0].name');
    expect(add.message).toMatch(/already has env TZ; use operator replace/);
    const rep = specError(() => applyEnvOverriders(deployment(), [{ containerName: 'app', operator: 'replace', value: [{ name: 'MODE', value: 'a' }, { name: 'NOPE', value: 'b' }] }]));
    expect(rep.field).toBe('envOverriders[0].value[1].name');
    expect(rep.message).toMatch(/has no env NOPE to replace; use operator add/);
  });

  it('rejects an unknown container', () => {
    expect(specError(() => applyEnvOverriders(deployment(), [{ containerName: 'x', operator: 'remove', value: [] }])).field).toBe('envOverriders[0].containerName');
  });
});

describe('applyResourcesOverriders', () => {
  it('replaces the container resources', () => {
    const input = deployment();
    containers(input)[1]!.resources = { requests: { cpu: '1' }, limits: { memory: '1Gi' } };
    const d = applyResourcesOverriders(input, [{ containerName: 'sidecar', value: { limits: { cpu: '500m' } } }]);
    expect(containers(d)[1]!.resources).toEqual({ limits: { cpu: '500m' } });
    expect(containers(d)[0]).not.toHaveProperty('resources');
  });

  it('rejects an unknown container and a missing value', () => {
    expect(specError(() => applyResourcesOverriders(deployment(), [{ containerName: 'nope', value: {} }])).field).toBe('resourcesOverriders[0].containerName');
    expect(specError(() => applyResourcesOverriders(deployment(), [{ containerName: 'app' }])).field).toBe('resourcesOverriders[0].value');
  });
});

describe('applyPlacement', () => {
  it('pins a NodeGroup with the belonging-to nodeSelector, keeping existing selectors', () => {
    const input = deployment();
    podSpec(input).nodeSelector = { 'kubernetes.io/arch': 'arm64', [belongingToLabel]: 'stale' };
    const d = applyPlacement(input, { nodeGroup: 'factory-a' });
    expect(podSpec(d).nodeSelector).toEqual({ 'kubernetes.io/arch': 'arm64', [belongingToLabel]: 'factory-a' });
  });

  it('pins a label selection with required nodeAffinity', () => {
    const d = applyPlacement(deployment(), { labelSelector: { matchLabels: { zone: 'b', site: 'x' }, matchExpressions: [{ key: 'gpu', operator: 'Exists' }, { key: 'tier', operator: 'NotIn', values: ['test'] }] } });
    expect(required(d)).toEqual({
      nodeSelectorTerms: [{ matchExpressions: [
        { key: 'site', operator: 'In', values: ['x'] },
        { key: 'zone', operator: 'In', values: ['b'] },
        { key: 'gpu', operator: 'Exists' },
        { key: 'tier', operator: 'NotIn', values: ['test'] },
      ] }],
    });
  });

  it('ANDs the selection into every existing nodeSelectorTerm (terms are ORed)', () => {
    const input = deployment();
    podSpec(input).affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [
      { matchExpressions: [{ key: 'arch', operator: 'In', values: ['arm64'] }] },
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] },
    ] } } };
    const d = applyPlacement(input, { labelSelector: { matchLabels: { site: 'x' } } });
    expect(required(d).nodeSelectorTerms).toEqual([
      { matchExpressions: [{ key: 'arch', operator: 'In', values: ['arm64'] }, { key: 'site', operator: 'In', values: ['x'] }] },
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }], matchExpressions: [{ key: 'site', operator: 'In', values: ['x'] }] },
    ]);
  });

  it.each([
    [{}, 'labelSelector', /must have matchLabels or matchExpressions/],
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }, 'labelSelector.matchExpressions[0].values', /must not be empty when operator is In/],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, 'labelSelector.matchExpressions[0].values', /must be empty when operator is Exists/],
    [{ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }, 'labelSelector.matchExpressions[0].operator', /not a label selector operator/],
  ])('rejects selector %j', (sel, field, msg) => {
    const err = specError(() => applyPlacement(deployment(), { labelSelector: sel as never }));
    expect(err.code).toBe('EDGEAPP_INVALID_TARGET');
    expect(err.field).toBe(field);
    expect(err.message).toMatch(msg);
  });
});

describe('naming', () => {
  it('names NodeGroup copies <name>-<nodegroup>', () => {
    expect(childName('web', { nodeGroup: 'factory-a' })).toBe('web-factory-a');
  });

  it('names label-selector copies <name>-ls-<first 4 bytes of sha256 of the sorted requirements>', () => {
    const expected = createHash('sha256').update('site=x,zone=b').digest('hex').slice(0, 8);
    expect(canonicalLabelSelector({ matchLabels: { zone: 'b', site: 'x' } })).toBe('site=x,zone=b');
    expect(labelSelectorHash({ matchLabels: { zone: 'b', site: 'x' } })).toBe(expected);
    expect(childName('web', { labelSelector: { matchLabels: { zone: 'b', site: 'x' } } })).toBe(`web-ls-${expected}`);
  });

  it('is deterministic: key order and value order do not matter', () => {
    const a = labelSelectorHash({ matchLabels: { a: '1', b: '2' }, matchExpressions: [{ key: 'c', operator: 'In', values: ['x', 'y'] }, { key: 'd', operator: 'Exists' }] });
    const b = labelSelectorHash({ matchExpressions: [{ key: 'd', operator: 'Exists' }, { key: 'c', operator: 'In', values: ['y', 'x'] }], matchLabels: { b: '2', a: '1' } });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{8}$/);
    expect(labelSelectorHash({ matchLabels: { a: '1' } })).not.toBe(labelSelectorHash({ matchLabels: { a: '2' } }));
  });
});

describe('overrideDeployment', () => {
  it('applies Name, Replicas, Image, NodeSelector, Command, Args, Env, Resources', () => {
    const d = overrideDeployment(deployment(), { nodeGroup: 'b' }, {
      replicas: 3,
      imageOverriders: [{ predicate: { path: '/spec/template/spec/containers/0/image' }, component: 'Tag', operator: 'replace', value: '2.0' }],
      commandOverriders: [{ containerName: 'app', operator: 'add', value: ['--edge'] }],
      argsOverriders: [{ containerName: 'app', operator: 'remove', value: ['--verbose'] }],
      envOverriders: [{ containerName: 'app', operator: 'replace', value: [{ name: 'MODE', value: 'edge' }] }],
      resourcesOverriders: [{ containerName: 'app', value: { requests: { cpu: '100m' } } }],
    });
    expect(dep(d).metadata!.name).toBe('web-b');
    expect(dep(d).spec!.replicas).toBe(3);
    expect(podSpec(d).nodeSelector).toEqual({ [belongingToLabel]: 'b' });
    expect(containers(d)[0]).toEqual({
      name: 'app', image: 'registry.example.com:5000/team/web:2.0', command: ['/web', '--edge'], args: ['--port=80'],
      env: [{ name: 'MODE', value: 'edge' }, { name: 'TZ', value: 'UTC' }], resources: { requests: { cpu: '100m' } },
    });
    expect(containers(d)[1]).toEqual({ name: 'sidecar', image: 'nginx:1.25' });
  });

  it('without overriders only renames and pins', () => {
    const d = overrideDeployment(deployment(), { nodeGroup: 'a' }, undefined);
    const want = deployment();
    dep(want).metadata!.name = 'web-a';
    podSpec(want).nodeSelector = { [belongingToLabel]: 'a' };
    expect(d).toEqual(want);
  });

  it('reports overrider fields relative to the target', () => {
    const err = specError(() => overrideDeployment(deployment(), { nodeGroup: 'a' }, { envOverriders: [{ containerName: 'nope', operator: 'add', value: [{ name: 'A' }] }] }));
    expect(err.field).toBe('overriders.envOverriders[0].containerName');
    expect(err.under('spec.workloadScope.targetNodeGroups[1]').field).toBe('spec.workloadScope.targetNodeGroups[1].overriders.envOverriders[0].containerName');
    expect(specError(() => overrideDeployment(deployment(), { nodeGroup: 'a' }, { replicas: -2 })).field).toBe('overriders.replicas');
  });
});
