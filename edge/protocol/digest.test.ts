import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InventoryDigest, MAX_KEY_LENGTH, ProtocolError, formatKey, inventoryDigest, parseKey } from './index.ts';

const inv = { 'v1/ConfigMap/default/app-config': '1042', 'devices.kubeedge.io/v1beta1/Device/plant/pump-1': '2077' };

describe('inventoryDigest', () => {
  it('is 64 zeros for the empty inventory', () => {
    expect(inventoryDigest({})).toBe('0'.repeat(64));
  });

  it('matches the golden value (a change here is a wire-format change)', () => {
    // XOR of sha256("v1/ConfigMap/default/app-config\t1042") and
    // sha256("devices.kubeedge.io/v1beta1/Device/plant/pump-1\t2077").
    expect(inventoryDigest(inv)).toBe('e6021a5bbb80f3256e9c065b86e3329b7b1eec063ad98020074f39642c894172');
  });

  it('is independent of order and equal for Maps and records', () => {
    const reversed = Object.fromEntries(Object.entries(inv).reverse());
    expect(inventoryDigest(reversed)).toBe(inventoryDigest(inv));
    expect(inventoryDigest(new Map(Object.entries(inv)))).toBe(inventoryDigest(inv));
  });

  it('changes when an rv changes', () => {
    expect(inventoryDigest({ ...inv, 'v1/ConfigMap/default/app-config': '1043' })).not.toBe(inventoryDigest(inv));
  });

  it('updates incrementally to the same value as a full recomputation', () => {
    const entry = fc.tuple(fc.constantFrom('v1/ConfigMap/ns/a', 'v1/Secret/ns/b', 'apps/v1/Deployment/ns/c', 'v1/Node//n'), fc.stringMatching(/^[0-9]{1,6}$/));
    fc.assert(
      fc.property(fc.array(fc.tuple(entry, fc.boolean()), { maxLength: 40 }), (ops) => {
        const state = new Map<string, string>();
        const running = new InventoryDigest();
        for (const [[key, rv], remove] of ops) {
          const next = remove ? undefined : rv;
          running.update(key, state.get(key), next);
          if (next === undefined) state.delete(key);
          else state.set(key, next);
        }
        expect(running.hex()).toBe(inventoryDigest(state));
      }),
      { numRuns: 500 },
    );
  });

  it('rejects entries that would make "key\\trv" ambiguous', () => {
    expect(() => inventoryDigest({ 'v1/ConfigMap/ns/a': '1\t2' })).toThrow(ProtocolError);
    expect(() => inventoryDigest({ 'not a key': '1' })).toThrow(ProtocolError);
  });
});

describe('object keys', () => {
  it('parses the core and grouped forms, and cluster-scoped objects', () => {
    expect(parseKey('v1/ConfigMap/default/app')).toEqual({ group: '', version: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'app' });
    expect(parseKey('devices.kubeedge.io/v1beta1/Device/plant/pump-1')).toEqual({ group: 'devices.kubeedge.io', version: 'v1beta1', kind: 'Device', namespace: 'plant', name: 'pump-1' });
    expect(parseKey('v1/Node//edge-1')).toEqual({ group: '', version: 'v1', kind: 'Node', namespace: '', name: 'edge-1' });
    expect(parseKey('rbac.authorization.k8s.io/v1/ClusterRole//system:node')).toMatchObject({ name: 'system:node' });
  });

  it('round-trips formatKey ∘ parseKey', () => {
    for (const key of ['v1/ConfigMap/default/app', 'apps/v1/Deployment/kube-system/coredns', 'v1/Namespace//default']) {
      expect(formatKey(parseKey(key))).toBe(key);
    }
  });

  it.each([
    '',
    'v1/ConfigMap/default',
    'a.io/v1/X/ns/n/extra',
    'V1/ConfigMap/default/a',
    'apps/Deployment/default/a',
    'v1/configMap/default/a',
    'v1/ConfigMap/default_ns/a',
    'v1/ConfigMap/default/.',
    'v1/ConfigMap/default/a b',
    'v1/ConfigMap/default/a\tb',
    'Apps/v1/Deployment/ns/a',
    `v1/ConfigMap/default/${'a'.repeat(254)}`,
    `v1/ConfigMap/${'a'.repeat(64)}/a`,
  ])('rejects %j', (key) => {
    expect(() => parseKey(key)).toThrow(ProtocolError);
  });

  it('bounds key length', () => {
    const longest = `${'a'.repeat(253)}/${'v'.repeat(63)}/K${'k'.repeat(62)}/${'n'.repeat(63)}/${'x'.repeat(253)}`;
    expect(longest.length).toBe(MAX_KEY_LENGTH);
    expect(parseKey(longest).kind).toHaveLength(63);
  });
});
