import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inventoryDigest } from '../../edge/protocol/index.ts';
import { NodeSync } from './node-sync.ts';

const k = (n: string) => `v1/ConfigMap/ns/${n}`;

function world(entries: Record<string, string>) {
  const m = new Map(Object.entries(entries).map(([n, rv]) => [k(n), rv]));
  return { map: m, desired: (key: string) => (m.has(key) ? { rv: m.get(key)! } : undefined) };
}

describe('NodeSync', () => {
  it('sends only what differs from the edge inventory, plus tombstones', () => {
    const s = new NodeSync();
    const w = world({ a: '1', b: '2', c: '3' });
    s.resume(w.map.keys(), new Map([[k('a'), '1'], [k('b'), '1'], [k('gone'), '7']]));
    const ops = s.next(w.desired, 100);
    expect(ops).toEqual([
      { op: 'upsert', seq: 1, key: k('b'), rv: '2' },
      { op: 'upsert', seq: 2, key: k('c'), rv: '3' },
      // claimed by the edge, never sent by this hub: `unassigned`, whether or not it exists
      { op: 'delete', seq: 3, key: k('gone'), rv: '7', reason: 'unassigned' },
    ]);
    expect(s.ack(3)).toBe(true);
    expect(Object.fromEntries(s.acked())).toEqual({ [k('a')]: '1', [k('b')]: '2', [k('c')]: '3' });
    expect(s.digest).toBe(inventoryDigest(w.map));
  });

  it('no existence oracle: a tombstone says `deleted` only for an object this hub delivered', () => {
    const s = new NodeSync();
    const w = world({ mine: '1' });
    // the edge claims two keys it was never given: one exists (routed elsewhere), one does not
    s.resume(w.map.keys(), new Map([[k('exists-elsewhere'), '5'], [k('never-existed'), '5']]));
    const isDeleted = (key: string) => key !== k('exists-elsewhere');
    const first = s.next(w.desired, 10, isDeleted);
    expect(first.filter((o) => o.op === 'delete').map((o) => o.op === 'delete' && o.reason)).toEqual(['unassigned', 'unassigned']);
    for (const o of first) s.ack(o.seq);
    // an object it was given and that is then deleted: `deleted`
    w.map.delete(k('mine'));
    s.markDirty(k('mine'));
    expect(s.next(w.desired, 10, () => true)).toEqual([{ op: 'delete', seq: 4, key: k('mine'), rv: '1', reason: 'deleted' }]);
  });

  it('a reconnect with a matching digest and no changes sends nothing', () => {
    const s = new NodeSync();
    const w = world({ a: '1' });
    s.resume(w.map.keys(), new Map());
    s.next(w.desired, 10);
    s.ack(1);
    s.resume(w.map.keys()); // digest matched: no inventory
    expect(s.next(w.desired, 10)).toEqual([]);
  });

  it('never exceeds the window and continues after acks', () => {
    const s = new NodeSync();
    const w = world(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`o${i}`, '1'])));
    s.resume(w.map.keys(), new Map());
    expect(s.next(w.desired, 4)).toHaveLength(4);
    expect(s.next(w.desired, 4)).toHaveLength(0);
    s.ack(2);
    expect(s.next(w.desired, 4).map((o) => o.seq)).toEqual([5, 6]);
  });

  it('coalesces: many changes to one key while in flight send only the newest', () => {
    const s = new NodeSync();
    const w = world({ a: '1' });
    s.resume(w.map.keys(), new Map());
    s.next(w.desired, 10);
    for (const rv of ['2', '3', '4']) {
      w.map.set(k('a'), rv);
      s.markDirty(k('a'));
    }
    expect(s.next(w.desired, 10)).toEqual([{ op: 'upsert', seq: 2, key: k('a'), rv: '4' }]);
  });

  it('ignores acks for seqs never sent', () => {
    const s = new NodeSync();
    s.resume([], new Map());
    expect(s.ack(5)).toBe(false);
  });

  it('converges to the desired state under any interleaving of changes, partial acks and reconnects', () => {
    const cmd = fc.oneof(
      fc.record({ t: fc.constant('set' as const), n: fc.integer({ min: 0, max: 5 }), rv: fc.integer({ min: 1, max: 9 }) }),
      fc.record({ t: fc.constant('del' as const), n: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ t: fc.constant('pump' as const), window: fc.integer({ min: 1, max: 4 }), ackSome: fc.boolean() }),
      fc.record({ t: fc.constant('reconnect' as const) }),
    );
    fc.assert(fc.property(fc.array(cmd, { maxLength: 60 }), (cmds) => {
      const s = new NodeSync();
      const truth = new Map<string, string>();
      const edge = new Map<string, string>(); // what the edge applied
      const desired = (key: string) => (truth.has(key) ? { rv: truth.get(key)! } : undefined);
      let unacked: { seq: number }[] = [];
      s.resume([], edge);
      const apply = (ops: ReturnType<NodeSync['next']>) => {
        for (const o of ops) {
          if (o.op === 'upsert') edge.set(o.key, o.rv);
          else edge.delete(o.key);
          unacked.push({ seq: o.seq });
        }
      };
      for (const c of cmds) {
        if (c.t === 'set') {
          truth.set(k(`o${c.n}`), String(c.rv));
          s.markDirty(k(`o${c.n}`));
        } else if (c.t === 'del') {
          truth.delete(k(`o${c.n}`));
          s.markDirty(k(`o${c.n}`));
        } else if (c.t === 'pump') {
          apply(s.next(desired, c.window));
          if (c.ackSome && unacked.length) {
            s.ack(unacked[Math.floor(unacked.length / 2)]!.seq);
            unacked = unacked.slice(Math.floor(unacked.length / 2) + 1);
          }
        } else {
          // the edge reports its real inventory unless the digest matches
          unacked = [];
          s.resume(truth.keys(), inventoryDigest(edge) === s.digest ? undefined : new Map(edge));
        }
      }
      // drain
      for (let i = 0; i < 100; i++) {
        const ops = s.next(desired, 3);
        apply(ops);
        s.ack(s.lastSeq); // the edge applied everything sent so far
        if (s.pendingCount === 0 && s.inflightCount === 0) break;
      }
      expect(Object.fromEntries(edge)).toEqual(Object.fromEntries(truth));
      expect(s.digest).toBe(inventoryDigest(truth));
    }), { numRuns: 2000 });
  });
});
