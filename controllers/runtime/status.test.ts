import { describe, expect, it } from 'vitest';
import { findCondition, isConditionTrue, removeCondition, setCondition, type Condition } from './status.ts';

const t1 = new Date('2025-03-01T10:00:00.123Z');
const t2 = new Date('2025-03-01T11:00:00Z');

describe('setCondition', () => {
  it('adds a new condition stamped with now (second precision) and observedGeneration', () => {
    expect(setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Pending', message: 'waiting for node' }, t1, 3)).toEqual([
      { type: 'Ready', status: 'False', reason: 'Pending', message: 'waiting for node', lastTransitionTime: '2025-03-01T10:00:00Z', observedGeneration: 3 },
    ]);
  });

  it('keeps lastTransitionTime when the status is unchanged, but updates reason, message and generation', () => {
    const before = setCondition([], { type: 'Ready', status: 'False', reason: 'Pending', message: 'a' }, t1, 1);
    const after = setCondition(before, { type: 'Ready', status: 'False', reason: 'NodeOffline', message: 'b' }, t2, 2);
    expect(after[0]).toEqual({ type: 'Ready', status: 'False', reason: 'NodeOffline', message: 'b', lastTransitionTime: '2025-03-01T10:00:00Z', observedGeneration: 2 });
  });

  it('moves lastTransitionTime when the status changes', () => {
    const before = setCondition([], { type: 'Ready', status: 'False', reason: 'Pending', message: '' }, t1);
    expect(setCondition(before, { type: 'Ready', status: 'True', reason: 'Synced', message: '' }, t2)[0]!.lastTransitionTime).toBe('2025-03-01T11:00:00Z');
  });

  it('leaves other conditions and their order alone, and does not mutate its input', () => {
    const input: Condition[] = [
      { type: 'Available', status: 'True', reason: 'A', message: '', lastTransitionTime: 'x' },
      { type: 'Degraded', status: 'False', reason: 'D', message: '', lastTransitionTime: 'y' },
    ];
    const copy = structuredClone(input);
    const out = setCondition(input, { type: 'Available', status: 'False', reason: 'Down', message: '' }, t2);
    expect(input).toEqual(copy);
    expect(out.map((c) => c.type)).toEqual(['Available', 'Degraded']);
    expect(out[1]).toBe(input[1]);
    expect(setCondition(input, { type: 'Progressing', status: 'True', reason: 'P', message: '' }, t2).map((c) => c.type)).toEqual(['Available', 'Degraded', 'Progressing']);
  });
});

describe('condition queries', () => {
  const cs = setCondition(setCondition([], { type: 'Ready', status: 'True', reason: 'R', message: '' }, t1), { type: 'Degraded', status: 'Unknown', reason: 'U', message: '' }, t1);
  it('isConditionTrue is true only for status "True"', () => {
    expect(isConditionTrue(cs, 'Ready')).toBe(true);
    expect(isConditionTrue(cs, 'Degraded')).toBe(false);
    expect(isConditionTrue(cs, 'Missing')).toBe(false);
    expect(isConditionTrue(undefined, 'Ready')).toBe(false);
  });
  it('findCondition and removeCondition', () => {
    expect(findCondition(cs, 'Degraded')?.reason).toBe('U');
    expect(removeCondition(cs, 'Ready').map((c) => c.type)).toEqual(['Degraded']);
  });
});
