import { describe, expect, it } from 'vitest';
import { ObjectBodies } from './object-bodies.ts';

const cm = (name: string, rv: string, data = 'x'.repeat(1000)) => ({
  apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv, managedFields: [{ manager: 'm' }] }, data: { data },
});

describe('ObjectBodies', () => {
  it('encodes each version once and shares the bytes', () => {
    const b = new ObjectBodies();
    const first = b.get('v1/ConfigMap/ns/a', cm('a', '1'));
    expect(b.get('v1/ConfigMap/ns/a', cm('a', '1'))).toBe(first);
    expect(b.encodes).toBe(1);
    expect(new TextDecoder().decode(first)).not.toContain('managedFields');
  });

  it('holds only the newest version of an object, however often it changes', () => {
    const b = new ObjectBodies();
    let newest = b.get('v1/ConfigMap/ns/a', cm('a', '1'));
    for (let rv = 2; rv <= 1000; rv++) newest = b.get('v1/ConfigMap/ns/a', cm('a', String(rv)));
    expect(b.encodes).toBe(1000);
    // one ~1 KB body, not 1000 of them (stale versions were kept until the byte budget was full)
    expect(b.bytes).toBe(newest.byteLength);
    expect(b.get('v1/ConfigMap/ns/a', cm('a', '1000'))).toBe(newest);
    expect(b.encodes).toBe(1000);
  });

  it('stays within its byte budget across many objects', () => {
    const b = new ObjectBodies(64 * 1024);
    for (let i = 0; i < 500; i++) b.get(`v1/ConfigMap/ns/c${i}`, cm(`c${i}`, '1'));
    expect(b.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(b.bytes).toBeGreaterThan(32 * 1024);
  });
});
