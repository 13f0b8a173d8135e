import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { addFinalizerPatch, finalizerAction, removeFinalizerPatch, type FinalizerAction } from './finalizer.ts';

const F = 'outpost.io/edge-cleanup';
const obj = (finalizers: string[] | undefined, deleting: boolean): KubernetesObject => ({
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'Device',
  metadata: { name: 'd', namespace: 'ns', ...(finalizers ? { finalizers } : {}), ...(deleting ? { deletionTimestamp: new Date('2025-01-01T00:00:00Z') } : {}) },
});

describe('finalizerAction', () => {
  const table: [string[] | undefined, boolean, FinalizerAction][] = [
    [undefined, false, 'add'],
    [['other'], false, 'add'],
    [[F], false, 'apply'],
    [['other', F], false, 'apply'],
    [[F], true, 'cleanup'],
    [['other', F], true, 'cleanup'],
    [undefined, true, 'done'],
    [['other'], true, 'done'],
  ];
  it.each(table)('finalizers %j, deleting %s → %s', (finalizers, deleting, action) => {
    expect(finalizerAction(obj(finalizers, deleting), F)).toBe(action);
  });
});

describe('addFinalizerPatch', () => {
  it('creates the list, guarded by a test that it is still absent', () => {
    expect(addFinalizerPatch(obj(undefined, false), F)).toEqual([
      { op: 'test', path: '/metadata/finalizers', value: null },
      { op: 'add', path: '/metadata/finalizers', value: [F] },
    ]);
  });
  it('appends, guarded by a test of the whole list as observed', () => {
    expect(addFinalizerPatch(obj(['a', 'b'], false), F)).toEqual([
      { op: 'test', path: '/metadata/finalizers', value: ['a', 'b'] },
      { op: 'add', path: '/metadata/finalizers/-', value: F },
    ]);
  });
});

describe('removeFinalizerPatch', () => {
  it('removes by index, guarded by a test that the index still holds our name', () => {
    expect(removeFinalizerPatch(obj(['a', F, 'b'], true), F)).toEqual([
      { op: 'test', path: '/metadata/finalizers/1', value: F },
      { op: 'remove', path: '/metadata/finalizers/1' },
    ]);
  });
  it('is empty when the finalizer is absent', () => {
    expect(removeFinalizerPatch(obj(['a'], true), F)).toEqual([]);
    expect(removeFinalizerPatch(obj(undefined, true), F)).toEqual([]);
  });
});
