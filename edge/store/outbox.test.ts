import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StoreError } from './database.ts';
import { openEdgeStore } from './store.ts';
import { tempDbPaths } from './testdata/tmp.ts';

const newPath = tempDbPaths();
const pod = (n: string) => `v1/Pod/default/${n}`;

describe('Outbox', () => {
  it('coalesces by (kind, key): a new value replaces the pending one with a new, larger id', () => {
    const s = openEdgeStore(newPath());
    const ob = s.outbox;
    const a1 = ob.put('pod-status', pod('a'), { phase: 'Pending' })!;
    const b1 = ob.put('pod-status', pod('b'), { phase: 'Running' })!;
    const n1 = ob.put('node-status', pod('a'), { ready: true })!; // same key, other kind: separate
    const a2 = ob.put('pod-status', pod('a'), { phase: 'Running' })!;
    expect(a2).toBeGreaterThan(n1);
    expect(ob.pending(10).map((e) => [e.id, e.kind, e.key, e.payload])).toEqual([
      [b1, 'pod-status', pod('b'), { phase: 'Running' }],
      [n1, 'node-status', pod('a'), { ready: true }],
      [a2, 'pod-status', pod('a'), { phase: 'Running' }],
    ]);
    // An ack for the superseded id deletes nothing: the newer value is still sent.
    expect(ob.ack([a1])).toBe(0);
    expect(ob.size()).toBe(3);
    expect(ob.ack([String(a2), b1, b1, 'garbage', 999_999])).toBe(2);
    expect(ob.pending(10).map((e) => e.id)).toEqual([n1]);
    expect(a1).toBeLessThan(b1);
    s.close();
  });

  it('never coalesces events: each put is its own entry', () => {
    const s = openEdgeStore(newPath());
    const ids = [1, 2, 3].map((i) => s.outbox.put('event', pod('a'), { reason: 'BackOff', i })!);
    expect(s.outbox.pending(10).map((e) => e.id)).toEqual(ids);
    s.close();
  });

  it('pending pages in id order with limit and afterId', () => {
    const s = openEdgeStore(newPath());
    const ids = Array.from({ length: 7 }, (_, i) => s.outbox.put('pod-status', pod(`p${i}`), { i })!);
    expect(s.outbox.pending(3).map((e) => e.id)).toEqual(ids.slice(0, 3));
    expect(s.outbox.pending(3, ids[2]).map((e) => e.id)).toEqual(ids.slice(3, 6));
    expect(s.outbox.pending(100, ids[6]).map((e) => e.id)).toEqual([]);
    expect(() => s.outbox.pending(0)).toThrow(StoreError);
    s.close();
  });

  it('keeps pendingSince of the first unacked value, so oldestAgeMs measures staleness, not the last put', () => {
    let t = 1_000;
    const s = openEdgeStore(newPath(), { now: () => t });
    expect(s.outbox.oldestAgeMs(5_000)).toBe(0);
    s.outbox.put('node-status', 'v1/Node//n', { n: 1 });
    t = 11_000;
    const id = s.outbox.put('node-status', 'v1/Node//n', { n: 2 })!;
    expect(s.outbox.pending(1)[0]).toMatchObject({ createdAt: 11_000, pendingSince: 1_000 });
    expect(s.outbox.oldestAgeMs(21_000)).toBe(20_000);
    s.outbox.ack([id]);
    t = 30_000;
    s.outbox.put('node-status', 'v1/Node//n', { n: 3 });
    expect(s.outbox.oldestAgeMs(31_000)).toBe(1_000);
    s.close();
  });

  it('reports survive a restart, ids are never reused, and acks after the reopen work', () => {
    const path = newPath();
    let s = openEdgeStore(path);
    const a = s.outbox.put('pod-status', pod('a'), { v: 1 })!;
    const e = s.outbox.put('event', pod('a'), { reason: 'Started' })!;
    const last = s.outbox.put('lease', 'coordination.k8s.io/v1/Lease/kube-node-lease/n', { renew: 1 })!;
    s.outbox.ack([last]); // the highest id is gone: plain rowids could hand it out again
    s.close();
    s = openEdgeStore(path);
    expect(s.outbox.pending(10).map((x) => [x.id, x.payload])).toEqual([
      [a, { v: 1 }],
      [e, { reason: 'Started' }],
    ]);
    expect(s.outbox.put('lease', 'coordination.k8s.io/v1/Lease/kube-node-lease/n', { renew: 2 })!).toBeGreaterThan(last);
    expect(s.outbox.ack([a, e])).toBe(2);
    expect(s.outbox.size()).toBe(1);
    s.close();
  });

  it('when full, drops the oldest events (counted), drops a new event that cannot fit, and always keeps status kinds', () => {
    const s = openEdgeStore(newPath(), { outbox: { maxRows: 4 } });
    const ob = s.outbox;
    const e1 = ob.put('event', 'k', { e: 1 })!;
    const e2 = ob.put('event', 'k', { e: 2 })!;
    ob.put('pod-status', pod('a'), { v: 1 });
    ob.put('pod-status', pod('b'), { v: 1 });
    const e5 = ob.put('event', 'k', { e: 5 })!; // evicts e1
    expect(ob.dropped()).toBe(1);
    expect(ob.pending(10).map((x) => x.id)).not.toContain(e1);
    ob.put('pod-status', pod('c'), { v: 1 }); // evicts e2
    ob.put('pod-status', pod('d'), { v: 1 }); // evicts e5
    expect(ob.pending(10).map((x) => x.id)).not.toContain(e2);
    expect(ob.put('event', 'k', { e: 8 })).toBeUndefined(); // no event left to evict: the new one is dropped
    expect(ob.put('pod-status', pod('e'), { v: 1 })).toBeTypeOf('number'); // kept, over the soft bound
    ob.put('pod-status', pod('a'), { v: 2 }); // coalescing never grows the row count
    expect(ob.size()).toBe(5);
    expect(ob.pending(10).map((x) => x.kind)).toEqual(Array(5).fill('pod-status'));
    expect(ob.dropped()).toBe(4);
    expect(ob.pending(10).map((x) => x.id)).not.toContain(e5);
    s.close();
  });

  it('bounds bytes the same way, and refuses one payload over maxPayloadBytes', () => {
    const s = openEdgeStore(newPath(), { outbox: { maxBytes: 250, maxPayloadBytes: 200 } });
    const ob = s.outbox;
    ob.put('event', 'k', { m: 'x'.repeat(100) });
    ob.put('event', 'k', { m: 'y'.repeat(100) });
    ob.put('event', 'k', { m: 'z'.repeat(100) });
    expect(ob.size()).toBe(2);
    expect(ob.bytes()).toBeLessThanOrEqual(250);
    expect(ob.pending(5).map((x) => (x.payload as { m: string }).m[0])).toEqual(['y', 'z']);
    expect(() => ob.put('pod-status', pod('a'), { m: 'x'.repeat(300) })).toThrow(/over the 200-byte limit/);
    expect(() => ob.put('pod-status', '', {})).toThrow(StoreError);
    expect(() => ob.put('pod-status', pod('a'), undefined)).toThrow(StoreError);
    expect(() => ob.put('pod-status', pod('a'), { n: 1n })).toThrow(StoreError);
    s.close();
  });
});

describe('Outbox property', () => {
  type Op = { t: 'put'; kind: string; key: string; v: number } | { t: 'ack'; picks: number[]; stray: number } | { t: 'reopen' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ t: fc.constant('put' as const), kind: fc.constantFrom('pod-status', 'node-status', 'event'), key: fc.constantFrom('a', 'b', 'c'), v: fc.integer() }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('ack' as const), picks: fc.array(fc.nat(), { maxLength: 4 }), stray: fc.integer({ min: 1, max: 200 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('reopen' as const) }) },
  );

  it('any sequence of put/ack/reopen leaves exactly the newest unacked value per key (and every unacked event)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const path = newPath();
        let s = openEdgeStore(path, { synchronous: 'NORMAL' });
        const model = new Map<string, { id: number; kind: string; key: string; v: number }>(); // `${kind}/${key}` or `event#id`
        const issued: number[] = [];
        for (const o of ops) {
          if (o.t === 'put') {
            const id = s.outbox.put(o.kind, o.key, { v: o.v })!;
            expect(id).toBeGreaterThan(issued.at(-1) ?? 0);
            issued.push(id);
            model.set(o.kind === 'event' ? `event#${id}` : `${o.kind}/${o.key}`, { id, kind: o.kind, key: o.key, v: o.v });
          } else if (o.t === 'ack') {
            const ids = [...o.picks.map((p) => issued[p % Math.max(1, issued.length)] ?? 0), o.stray];
            s.outbox.ack(ids);
            for (const [k, e] of model) if (ids.includes(e.id)) model.delete(k);
          } else {
            s.close();
            s = openEdgeStore(path, { synchronous: 'NORMAL' });
          }
        }
        const expected = [...model.values()].sort((a, b) => a.id - b.id).map((e) => [e.id, e.kind, e.key, { v: e.v }]);
        expect(s.outbox.pending(1000).map((e) => [e.id, e.kind, e.key, e.payload])).toEqual(expected);
        expect(s.outbox.size()).toBe(expected.length);
        s.close();
      }),
      { numRuns: 60 },
    );
  });
});
