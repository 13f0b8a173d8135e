import { describe, expect, it } from 'vitest';
import type { NodeGroup } from '../../api/index.ts';
import { staticLookups, type StaticObjects } from '../lookups.ts';
import { labelKeyProblem, labelValueProblem, validateNodeGroup } from './validate.ts';

const group = (name: string, spec: NodeGroup['spec']): NodeGroup => ({ apiVersion: 'apps.kubeedge.io/v1alpha1', kind: 'NodeGroup', metadata: { name }, spec });
const node = (name: string, labels: Record<string, string> = {}) => ({ metadata: { name, labels } });
const world: StaticObjects = {
  nodeGroups: [group('east', { nodes: ['e1', 'e2'], matchLabels: { site: 'east' } })],
  nodes: [node('e1'), node('e2'), node('w1', { site: 'east' }), node('w2')],
};
const create = (g: NodeGroup, objs: StaticObjects = world) => validateNodeGroup({ operation: 'CREATE', object: g, namespace: '', lookups: staticLookups(objs) });

describe('validateNodeGroup', () => {
  it('allows disjoint groups without warnings', () => {
    expect(create(group('west', { nodes: ['w2'], matchLabels: { site: 'west' } }))).toEqual({ allowed: true, warnings: [], violations: [] });
  });

  it('denies a node another group lists by name', () => {
    const r = create(group('west', { nodes: ['w2', 'e2'] }));
    expect(r.message).toBe('spec.nodes[1]: node "e2" is already listed by NodeGroup "east"; remove it from one of the two groups (a node belongs to at most one NodeGroup)');
  });

  it('does not compare a group with itself on update', () => {
    const east = world.nodeGroups![0]!;
    const r = validateNodeGroup({ operation: 'UPDATE', object: group('east', { nodes: ['e1', 'e2', 'w2'] }), oldObject: east, namespace: '', lookups: staticLookups(world) });
    expect(r.allowed).toBe(true);
  });

  it('warns when a listed node is selected by another group’s labels', () => {
    const r = create(group('west', { nodes: ['w1'] }));
    expect(r.allowed).toBe(true);
    expect(r.warnings).toEqual(['spec.nodes[0]: node "w1" is also selected by the matchLabels of NodeGroup "east"; it stays in whichever group claimed it first']);
  });

  it('warns about overlapping label selectors, not about disjoint ones', () => {
    expect(create(group('b', { matchLabels: { tier: 'edge' } })).warnings).toEqual([
      'spec.matchLabels: a node labelled {"site":"east","tier":"edge"} would match NodeGroup "east" too and stay in whichever group claims it first; make the selectors differ in one label',
    ]);
    expect(create(group('c', { matchLabels: { site: 'west', tier: 'edge' } })).warnings).toEqual([]);
  });

  it('warns about listed nodes that do not exist and about a group that selects nothing', () => {
    expect(create(group('x', { nodes: ['later'] })).warnings).toEqual(['spec.nodes[0]: node "later" does not exist yet; it joins the group when it registers']);
    expect(create(group('x', {})).warnings).toEqual(['spec: the NodeGroup selects no node; list nodes in spec.nodes or set spec.matchLabels']);
  });

  it('denies invalid node names and labels', () => {
    const r = create(group('x', { nodes: ['Edge_1'], matchLabels: { 'bad key!': 'v', ok: 'bad value!' } }));
    expect(r.violations.map((v) => [v.code, v.field])).toEqual([
      ['NODEGROUP_NODE_NAME_INVALID', 'spec.nodes[0]'],
      ['NODEGROUP_LABEL_INVALID', 'spec.matchLabels'],
      ['NODEGROUP_LABEL_INVALID', 'spec.matchLabels.ok'],
    ]);
  });

  it('ignores groups being deleted and spec-less updates', () => {
    const deleting = group('east', { nodes: ['e1'] });
    deleting.metadata.deletionTimestamp = new Date();
    expect(create(group('west', { nodes: ['e1'] }), { nodeGroups: [deleting], nodes: world.nodes }).allowed).toBe(true);
    const g = group('west', { nodes: ['e1'] });
    expect(validateNodeGroup({ operation: 'UPDATE', object: { ...g, metadata: { name: 'west', labels: { a: 'b' } } }, oldObject: g, namespace: '', lookups: staticLookups(world) }).allowed).toBe(true);
  });
});

describe('label syntax', () => {
  it.each(['a', 'node-role.kubernetes.io/edge', 'example.com/x_y.z', 'A1'])('key %s is valid', (k) => expect(labelKeyProblem(k)).toBeUndefined());
  it.each(['', '-a', 'a/', 'Bad_Prefix/x', 'x'.repeat(64)])('key %j is invalid', (k) => expect(labelKeyProblem(k)).toBeDefined());
  it.each(['', 'v', 'v-1.2_3'])('value %j is valid', (v) => expect(labelValueProblem(v)).toBeUndefined());
  it.each(['-v', 'a b', 'x'.repeat(64)])('value %j is invalid', (v) => expect(labelValueProblem(v)).toBeDefined());
});
