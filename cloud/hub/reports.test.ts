// authorizeReport is pure: who may write what, from the caches alone.
import { describe, expect, it } from 'vitest';
import type { Report } from '../../edge/protocol/index.ts';
import { authorizeReport } from './reports.ts';

const cache = new Map<string, { spec: { nodeName: string } }>([['v1/Pod/ns/mine', { spec: { nodeName: 'a' } }], ['v1/Pod/ns/theirs', { spec: { nodeName: 'b' } }]]);
const lookups = { get: (k: string) => cache.get(k) };
const event = (involvedObject: Record<string, string>): Report => ({ type: 'report', id: '1', kind: 'event', key: 'v1/Event/ns/e', payload: { involvedObject } });

describe('authorizeReport: events', () => {
  it('allows events about the node itself and its own pods', () => {
    expect(authorizeReport('a', event({ kind: 'Node', name: 'a' }), lookups)).toBeUndefined();
    expect(authorizeReport('a', event({ kind: 'Pod', namespace: 'ns', name: 'mine' }), lookups)).toBeUndefined();
  });

  it('forbids events about another node or its pods', () => {
    expect(authorizeReport('a', event({ kind: 'Node', name: 'b' }), lookups)?.code).toBe('Forbidden');
    expect(authorizeReport('a', event({ kind: 'Pod', namespace: 'ns', name: 'theirs' }), lookups)?.code).toBe('Forbidden');
    expect(authorizeReport('a', event({ kind: 'Secret', namespace: 'ns', name: 'x' }), lookups)?.code).toBe('Forbidden');
  });

  it('refuses events about a pod that is already gone as NotFound, not as a security refusal (found by the chaos suite)', () => {
    expect(authorizeReport('a', event({ kind: 'Pod', namespace: 'ns', name: 'deleted' }), lookups)?.code).toBe('NotFound');
  });
});

describe('nodeSettableLabels', () => {
  it('drops labels a node must not set on itself (NodeRestriction-style)', async () => {
    const { nodeSettableLabels } = await import('./reports.ts');
    expect(nodeSettableLabels({
      'kubernetes.io/hostname': 'n1', site: 'x',
      'node-restriction.kubernetes.io/tier': 'secure', 'node-role.kubernetes.io/control-plane': '', 'apps.kubeedge.io/belonging-to': 'other',
    })).toEqual({ 'kubernetes.io/hostname': 'n1', site: 'x' });
  });
});
