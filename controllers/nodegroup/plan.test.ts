import { describe, expect, it } from 'vitest';
import { belongingToLabel, planNodeGroup, podsToEvict, selects, zoneLabel, type ObservedGroup, type ObservedNode } from './plan.ts';

const now = new Date('2026-11-22T10:00:00Z');
const node = (name: string, labels: Record<string, string> = {}, ready: ObservedNode['ready'] = 'True'): ObservedNode => ({ name, labels, ready });

describe('selects', () => {
  it('selects by name and by matchLabels; empty matchLabels selects nothing', () => {
    const g: ObservedGroup = { name: 'g', nodes: ['a'], matchLabels: { site: 'x' } };
    expect(selects(g, node('a'))).toBe(true);
    expect(selects(g, node('b', { site: 'x' }))).toBe(true);
    expect(selects(g, node('c', { site: 'y' }))).toBe(false);
    expect(selects({ name: 'g', matchLabels: {} }, node('d', { site: 'x' }))).toBe(false);
  });
});

describe('planNodeGroup', () => {
  it('labels new members and reports them', () => {
    const p = planNodeGroup({ group: { name: 'g', generation: 3, nodes: ['a'], matchLabels: { site: 'x' } }, otherGroups: [],
      nodes: [node('a'), node('b', { site: 'x' }, 'False'), node('c')], now });
    expect(p.labelPatches).toEqual([
      { node: 'a', set: { [belongingToLabel]: 'g' }, remove: [], expectBelongingTo: undefined },
      { node: 'b', set: { [belongingToLabel]: 'g' }, remove: [], expectBelongingTo: undefined },
    ]);
    expect(p.status.observedGeneration).toBe(3);
    expect(p.status.nodeStatuses).toEqual([
      { nodeName: 'a', readyStatus: 'Ready', selectionStatus: 'Succeeded' },
      { nodeName: 'b', readyStatus: 'NotReady', selectionStatus: 'Succeeded' },
    ]);
    expect(p.status.conditions[0]).toMatchObject({ type: 'Ready', status: 'False', reason: 'MembersNotReady', observedGeneration: 3 });
  });

  it('is idempotent: nothing to patch once labels are in place', () => {
    const p = planNodeGroup({ group: { name: 'g', nodes: ['a'] }, otherGroups: [], nodes: [node('a', { [belongingToLabel]: 'g' })], now });
    expect(p.labelPatches).toEqual([]);
    expect(p.status.conditions[0]).toMatchObject({ status: 'True', reason: 'AllMembersReady' });
  });

  it('reports a node already claimed by another group that still selects it', () => {
    const p = planNodeGroup({ group: { name: 'g', nodes: ['a'] }, otherGroups: [{ name: 'h', nodes: ['a'] }],
      nodes: [node('a', { [belongingToLabel]: 'h' })], now });
    expect(p.labelPatches).toEqual([]);
    expect(p.status.nodeStatuses[0]).toEqual({ nodeName: 'a', readyStatus: 'Ready', selectionStatus: 'Failed',
      selectionStatusReason: 'node a has already belonged to NodeGroup h' });
    expect(p.status.conditions[0]).toMatchObject({ status: 'False', reason: 'SelectionFailed' });
  });

  it('takes over a stale label from a group that no longer selects the node', () => {
    const p = planNodeGroup({ group: { name: 'g', nodes: ['a'] }, otherGroups: [{ name: 'h', nodes: [] }],
      nodes: [node('a', { [belongingToLabel]: 'h' })], now });
    expect(p.labelPatches).toEqual([{ node: 'a', set: { [belongingToLabel]: 'g' }, remove: [], expectBelongingTo: 'h' }]);
  });

  it('reports listed nodes that do not exist', () => {
    const p = planNodeGroup({ group: { name: 'g', nodes: ['ghost'] }, otherGroups: [], nodes: [], now });
    expect(p.status.nodeStatuses).toEqual([{ nodeName: 'ghost', readyStatus: 'Unknown', selectionStatus: 'Failed', selectionStatusReason: 'node does not exist' }]);
  });

  it('removes labels from leaving nodes and evicts only pods pinned to the group', () => {
    const p = planNodeGroup({ group: { name: 'g', nodes: [] }, otherGroups: [],
      nodes: [node('a', { [belongingToLabel]: 'g', [zoneLabel]: 'g' })], now });
    expect(p.labelPatches).toEqual([{ node: 'a', set: {}, remove: [belongingToLabel, zoneLabel], expectBelongingTo: 'g' }]);
    expect(p.leavingNodes).toEqual(['a']);
    expect(podsToEvict('g', 'a', [
      { namespace: 'ns', name: 'pinned', nodeName: 'a', nodeSelector: { [belongingToLabel]: 'g' } },
      { namespace: 'ns', name: 'free', nodeName: 'a' },
      { namespace: 'ns', name: 'elsewhere', nodeName: 'b', nodeSelector: { [belongingToLabel]: 'g' } },
    ])).toEqual([{ namespace: 'ns', name: 'pinned' }]);
  });

  it('sets the zone label when topology is enabled', () => {
    const p = planNodeGroup({ group: { name: 'g', nodes: ['a'], topologyEnabled: true }, otherGroups: [], nodes: [node('a')], now });
    expect(p.labelPatches[0]?.set).toEqual({ [belongingToLabel]: 'g', [zoneLabel]: 'g' });
  });

  it('when deleting, releases every node and claims none', () => {
    const p = planNodeGroup({ group: { name: 'g', nodes: ['a'] }, otherGroups: [], nodes: [node('a', { [belongingToLabel]: 'g' })], now, deleting: true });
    expect(p.labelPatches).toEqual([{ node: 'a', set: {}, remove: [belongingToLabel], expectBelongingTo: 'g' }]);
  });
});
