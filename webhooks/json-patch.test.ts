import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyPatch, diff } from './json-patch.ts';

describe('diff', () => {
  it('is empty for equal documents', () => expect(diff({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toEqual([]));

  it('adds, removes and replaces by key, and replaces changed arrays whole', () => {
    expect(diff({ a: 1, b: { c: [1], d: 'x' }, gone: true }, { a: 2, b: { c: [1, 2], d: 'x', e: null } })).toEqual([
      { op: 'remove', path: '/gone' },
      { op: 'replace', path: '/a', value: 2 },
      { op: 'replace', path: '/b/c', value: [1, 2] },
      { op: 'add', path: '/b/e', value: null },
    ]);
  });

  it('escapes ~ and / in keys (RFC 6901)', () => {
    expect(diff({ metadata: {} }, { metadata: { 'a/b~c': 1 } })).toEqual([{ op: 'add', path: '/metadata/a~1b~0c', value: 1 }]);
  });

  it('treats inherited property names as ordinary keys', () => {
    expect(diff({ constructor: 1 }, {})).toEqual([{ op: 'remove', path: '/constructor' }]);
    expect(diff({}, { toString: 'x' })).toEqual([{ op: 'add', path: '/toString', value: 'x' }]);
  });

  it('round-trips a key named __proto__', () => {
    const to = JSON.parse('{"__proto__":false}') as unknown;
    expect(applyPatch({}, diff({}, to))).toEqual(to);
  });

  it('adds spec.tolerations when the pod had none', () => {
    const pod = { spec: { containers: [{ name: 'a' }] } };
    expect(diff(pod, { spec: { ...pod.spec, tolerations: [{ key: 'k' }] } })).toEqual([{ op: 'add', path: '/spec/tolerations', value: [{ key: 'k' }] }]);
  });

  it('round-trips: applying diff(a, b) to a gives b', () => {
    const json = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
    fc.assert(fc.property(json, json, (a, b) => {
      expect(applyPatch(a, diff(a, b))).toEqual(b);
    }), { numRuns: 500 });
  });
});

describe('applyPatch', () => {
  it('throws for a path that does not exist', () => {
    expect(() => applyPatch({}, [{ op: 'replace', path: '/a/b', value: 1 }])).toThrow(TypeError);
    expect(() => applyPatch({}, [{ op: 'remove', path: '/a' }])).toThrow(TypeError);
  });
});
