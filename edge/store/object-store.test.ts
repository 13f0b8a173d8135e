import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InventoryDigest, inventoryDigest } from '../protocol/digest.ts';
import { StoreError } from './database.ts';
import type { ChangeEvent, IncrementalDigest, StoreOp } from './object-store.ts';
import { sortedLinesDigest } from './object-store.ts';
import { openEdgeStore } from './store.ts';
import { tempDbPaths } from './testdata/tmp.ts';

const newPath = tempDbPaths();

const cm = (name: string, rv: string, ns = 'default', extra = '') =>
  `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${name}","namespace":"${ns}","uid":"u-${name}","resourceVersion":"${rv}"}${extra}}`;
const cmKey = (name: string, ns = 'default') => `v1/ConfigMap/${ns}/${name}`;
const up = (name: string, rv: string): StoreOp => ({ op: 'upsert', key: cmKey(name), rv, body: cm(name, rv) });

describe('ObjectStore apply', () => {
  it('upsert and delete are idempotent and report whether they changed anything', () => {
    const s = openEdgeStore(newPath());
    const o = s.objects;
    expect(o.applyUpsert(cmKey('a'), '1', cm('a', '1'))).toEqual({ key: cmKey('a'), changed: true });
    expect(o.applyUpsert(cmKey('a'), '1', cm('a', '1'))).toEqual({ key: cmKey('a'), changed: false });
    expect(o.applyUpsert(cmKey('a'), '2', cm('a', '2'))).toEqual({ key: cmKey('a'), changed: true });
    expect(o.getRaw(cmKey('a'))).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'a', uid: 'u-a', resourceVersion: '2' });
    expect(o.applyDelete(cmKey('a'))).toEqual({ key: cmKey('a'), changed: true });
    expect(o.applyDelete(cmKey('a'))).toEqual({ key: cmKey('a'), changed: false });
    expect(o.get(cmKey('a'))).toBeUndefined();
    s.close();
  });

  it('stores the body bytes verbatim (no re-serialisation) and parses them on read', () => {
    const s = openEdgeStore(newPath());
    const body = new TextEncoder().encode(`{ "metadata" : {"namespace":"ns","name":"p"},\n "kind":"Pod", "apiVersion":"v1", "spec": {"z":1,"a":"ü"} }`);
    s.objects.applyUpsert('v1/Pod/ns/p', '7', body);
    expect(Buffer.from(s.objects.getRaw('v1/Pod/ns/p')!.body).equals(Buffer.from(body))).toBe(true);
    expect(s.objects.get('v1/Pod/ns/p')).toEqual({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'ns', name: 'p' }, spec: { z: 1, a: 'ü' } });
    s.close();
  });

  it('handles grouped and cluster-scoped keys, and lists by apiVersion/kind/namespace', () => {
    const s = openEdgeStore(newPath());
    const o = s.objects;
    o.applyUpsert(cmKey('a', 'x'), '1', cm('a', '1', 'x'));
    o.applyUpsert(cmKey('b', 'y'), '1', cm('b', '1', 'y'));
    o.applyUpsert('devices.kubeedge.io/v1beta1/Device/x/pump', '3', JSON.stringify({ apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device', metadata: { name: 'pump', namespace: 'x' } }));
    o.applyUpsert('v1/Node//edge-1', '9', JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'edge-1' } }));
    const names = (l: Array<{ metadata: { name: string } }>) => l.map((x) => x.metadata.name);
    expect(names(o.list())).toEqual(['pump', 'a', 'b', 'edge-1']);
    expect(names(o.list({ kind: 'ConfigMap' }))).toEqual(['a', 'b']);
    expect(names(o.list({ namespace: 'x' }))).toEqual(['pump', 'a']);
    expect(names(o.list({ apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device', namespace: 'x' }))).toEqual(['pump']);
    expect(names(o.list({ namespace: '' }))).toEqual(['edge-1']);
    expect(o.count()).toBe(4);
    s.close();
  });

  it('rejects bodies that are not the object named by the key, writing nothing', () => {
    const s = openEdgeStore(newPath());
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(StoreError);
        return (e as StoreError).code;
      }
    };
    expect(code(() => s.objects.applyUpsert(cmKey('a'), '1', '{not json'))).toBe('STORE_INVALID_OBJECT');
    expect(code(() => s.objects.applyUpsert(cmKey('a'), '1', '[1]'))).toBe('STORE_INVALID_OBJECT');
    expect(code(() => s.objects.applyUpsert(cmKey('a'), '1', new Uint8Array([0xff, 0xfe])))).toBe('STORE_INVALID_OBJECT');
    expect(code(() => s.objects.applyUpsert(cmKey('a'), '1', cm('b', '1')))).toBe('STORE_INVALID_OBJECT');
    expect(code(() => s.objects.applyUpsert(cmKey('a'), '', cm('a', '1')))).toBe('STORE_INVALID_ARGUMENT');
    expect(code(() => s.objects.applyBatch([], { session: 's', seq: -1 }))).toBe('STORE_INVALID_ARGUMENT');
    expect(s.objects.count()).toBe(0);
    s.close();
  });
});

describe('ObjectStore.applyBatch', () => {
  it('applies ops and records the cursor in one transaction; it survives a reopen', () => {
    const path = newPath();
    let s = openEdgeStore(path);
    expect(s.objects.cursor()).toBeUndefined();
    const r = s.objects.applyBatch([up('a', '1'), up('b', '1'), up('a', '1'), { op: 'delete', key: cmKey('zzz') }], { session: 's1', seq: 4 });
    expect(r.map((x) => x.changed)).toEqual([true, true, false, false]);
    s.close();
    s = openEdgeStore(path);
    expect(s.objects.cursor()).toEqual({ session: 's1', seq: 4 });
    expect([...s.objects.inventory()]).toEqual([
      [cmKey('a'), '1'],
      [cmKey('b'), '1'],
    ]);
    s.close();
  });

  it('a crash mid-batch (a throw) applies nothing, leaves the cursor and digest unchanged and notifies nobody', () => {
    const s = openEdgeStore(newPath());
    const o = s.objects;
    o.applyBatch([up('a', '1')], { session: 's1', seq: 1 });
    const digest = o.digest();
    const events: ChangeEvent[] = [];
    o.onChange((e) => events.push(e));
    function* crashing(): Generator<StoreOp> {
      yield up('a', '2');
      yield up('b', '1');
      yield { op: 'delete', key: cmKey('a') };
      throw new Error('power cut');
    }
    expect(() => o.applyBatch(crashing(), { session: 's1', seq: 4 })).toThrow('power cut');
    // An invalid op in the middle is the same: the whole batch is refused.
    expect(() => o.applyBatch([up('c', '1'), { op: 'upsert', key: cmKey('d'), rv: '1', body: 'nope' }, up('e', '1')], { session: 's1', seq: 7 })).toThrow(StoreError);
    expect(o.cursor()).toEqual({ session: 's1', seq: 1 });
    expect([...o.inventory()]).toEqual([[cmKey('a'), '1']]);
    expect(o.digest()).toBe(digest);
    expect(events).toEqual([]);
    expect(s.db.sql.isTransaction).toBe(false);
    s.close();
  });

  it('applyBatch and pruneExcept in one db.transaction make a full resume atomic', () => {
    const s = openEdgeStore(newPath());
    const o = s.objects;
    o.applyBatch([up('a', '1'), up('b', '1'), up('c', '1')], { session: 's1', seq: 3 });
    expect(() =>
      s.db.transaction(() => {
        o.applyBatch([up('a', '2')], { session: 's2', seq: 1 });
        o.pruneExcept([cmKey('a')]);
        throw new Error('crash before commit');
      }),
    ).toThrow();
    expect(o.inventory().size).toBe(3);
    expect(o.cursor()).toEqual({ session: 's1', seq: 3 });
    const removed = s.db.transaction(() => {
      o.applyBatch([up('a', '2')], { session: 's2', seq: 1 });
      return o.pruneExcept([cmKey('a')]);
    });
    expect(removed).toEqual([cmKey('b'), cmKey('c')]);
    expect([...o.inventory()]).toEqual([[cmKey('a'), '2']]);
    expect(o.pruneExcept([cmKey('a')])).toEqual([]);
    expect(o.pruneExcept([])).toEqual([cmKey('a')]);
    s.close();
  });
});

describe('ObjectStore inventory and digest', () => {
  it('default digest: sha256 over sorted "key\\trv\\n" lines, empty inventory included', () => {
    const lines = (s: string) => createHash('sha256').update(s).digest('hex');
    expect(sortedLinesDigest([])).toBe(lines(''));
    expect(sortedLinesDigest([['b', '2'], ['a', '1']])).toBe(lines('a\t1\nb\t2\n'));
  });

  it('is order-independent and stable across reopen; changes with any rv and comes back when reverted', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/), fc.stringMatching(/^[1-9][0-9]{0,5}$/)), { selector: (t) => t[0], maxLength: 12 }), (entries) => {
        const p1 = newPath();
        const p2 = newPath();
        const s1 = openEdgeStore(p1);
        const s2 = openEdgeStore(p2);
        s1.objects.applyBatch(entries.map(([n, rv]) => up(n, rv)), { session: 's', seq: 1 });
        s2.objects.applyBatch([...entries].reverse().map(([n, rv]) => up(n, rv)), { session: 's', seq: 1 });
        const d = s1.objects.digest();
        expect(s2.objects.digest()).toBe(d);
        expect(d).toBe(sortedLinesDigest(entries.map(([n, rv]) => [cmKey(n), rv])));
        if (entries.length > 0) {
          const [n, rv] = entries[0]!;
          s1.objects.applyUpsert(cmKey(n), rv + '0', cm(n, rv + '0'));
          expect(s1.objects.digest()).not.toBe(d);
          s1.objects.applyUpsert(cmKey(n), rv, cm(n, rv));
          expect(s1.objects.digest()).toBe(d);
        }
        s1.close();
        s2.close();
        const again = openEdgeStore(p1);
        expect(again.objects.digest()).toBe(d);
        again.close();
      }),
      { numRuns: 25 },
    );
  });

  it('an injected incremental digest stays equal to a full recompute through applies, rollbacks and prunes', () => {
    // A tiny XOR digest written here, so the test does not depend on its exact algorithm.
    const xorOf = (k: string, rv: string) => createHash('sha256').update(`${k}\t${rv}`).digest();
    const incremental = (): IncrementalDigest => {
      const acc = Buffer.alloc(32);
      const fold = (k: string, rv: string) => xorOf(k, rv).forEach((b, i) => (acc[i]! ^= b));
      return {
        update: (k, o, n) => (o !== undefined && fold(k, o), n !== undefined && fold(k, n)),
        hex: () => acc.toString('hex'),
      };
    };
    const full = (entries: Iterable<[string, string]>) => {
      const d = incremental();
      for (const [k, rv] of entries) d.update(k, undefined, rv);
      return d.hex();
    };
    const s = openEdgeStore(newPath(), { objects: { incrementalDigest: incremental } });
    const o = s.objects;
    expect(o.digest()).toBe(full([]));
    o.applyBatch([up('a', '1'), up('b', '1'), up('c', '1')], { session: 's', seq: 1 });
    expect(o.digest()).toBe(full(o.inventory()));
    o.applyUpsert(cmKey('a'), '2', cm('a', '2'));
    o.applyDelete(cmKey('b'));
    expect(() => o.applyBatch([up('c', '5'), up('x', '1'), { op: 'upsert', key: cmKey('bad'), rv: '1', body: '{' }], { session: 's', seq: 2 })).toThrow();
    expect(o.digest()).toBe(full(o.inventory()));
    s.db.transaction(() => {
      o.applyUpsert(cmKey('d'), '1', cm('d', '1'));
      expect(o.digest()).toBe(full(o.inventory())); // inside: includes the uncommitted change
    });
    o.pruneExcept([cmKey('d')]);
    expect(o.digest()).toBe(full([[cmKey('d'), '1']]));
    s.close();
  });

  it('plugs in edge/protocol InventoryDigest (incremental) and inventoryDigest (full) with the same result', () => {
    const a = openEdgeStore(newPath(), { objects: { incrementalDigest: () => new InventoryDigest() } });
    const b = openEdgeStore(newPath(), { objects: { digest: (e) => inventoryDigest(new Map(e)) } });
    for (const s of [a, b]) {
      s.objects.applyBatch([up('a', '1'), up('b', '1')], { session: 's', seq: 2 });
      s.objects.applyDelete(cmKey('b'));
    }
    expect(a.objects.digest()).toBe(inventoryDigest({ [cmKey('a')]: '1' }));
    expect(b.objects.digest()).toBe(a.objects.digest());
    a.close();
    b.close();
  });
});

describe('ObjectStore.onChange and meta', () => {
  it('notifies committed changes only, in order, and isolates a throwing listener', () => {
    const s = openEdgeStore(newPath());
    const o = s.objects;
    const seen: string[] = [];
    o.onChange(() => {
      throw new Error('listener bug');
    });
    const off = o.onChange((e) => seen.push(`${e.type} ${e.key} ${e.rv}${e.type === 'upsert' ? ` ${e.obj.metadata.name}` : ''}`));
    o.applyUpsert(cmKey('a'), '1', cm('a', '1'));
    o.applyUpsert(cmKey('a'), '1', cm('a', '1')); // no-op: no event
    o.applyBatch([up('b', '1'), { op: 'delete', key: cmKey('a') }], { session: 's', seq: 2 });
    o.pruneExcept([]);
    off();
    o.applyUpsert(cmKey('c'), '1', cm('c', '1'));
    expect(seen).toEqual([`upsert ${cmKey('a')} 1 a`, `upsert ${cmKey('b')} 1 b`, `delete ${cmKey('a')} 1`, `delete ${cmKey('b')} 1`]);
    s.close();
  });

  it('meta keeps string values across restarts', () => {
    const path = newPath();
    let s = openEdgeStore(path);
    s.objects.meta.set('node.name', 'edge-1');
    s.objects.meta.set('session.last', 'abc');
    s.objects.meta.set('session.last', 'def');
    s.objects.meta.delete('node.name');
    s.close();
    s = openEdgeStore(path);
    expect(s.objects.meta.get('session.last')).toBe('def');
    expect(s.objects.meta.get('node.name')).toBeUndefined();
    s.close();
  });
});
