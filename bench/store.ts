// Edge store throughput: batched upserts, outbox put+ack, open (quick_check)
// and digest cost, for synchronous=FULL and NORMAL. Prints one JSON object.
//   node bench/store.ts [objects=10000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InventoryDigest } from '../edge/protocol/digest.ts';
import type { StoreOp } from '../edge/store/object-store.ts';
import { openEdgeStore } from '../edge/store/store.ts';

const N = Number(process.argv[2] ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-store-'));
const body = (i: number, rv: number) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, namespace: 'bench', resourceVersion: String(rv), uid: `uid-${i}` }, data: { v: 'x'.repeat(900) } });
const ms = (t0: number) => Math.round((performance.now() - t0) * 100) / 100;
const perSec = (n: number, t: number) => Math.round((n / t) * 1000);

const results: Record<string, unknown> = { objects: N, bodyBytes: body(0, 1).length, node: process.version };
try {
  for (const sync of ['FULL', 'NORMAL'] as const) {
    const path = join(dir, `${sync}.db`);
    let s = openEdgeStore(path, { synchronous: sync });
    const ops = (rv: number): StoreOp[] => Array.from({ length: N }, (_, i) => ({ op: 'upsert', key: `v1/ConfigMap/bench/cm-${i}`, rv: String(rv), body: body(i, rv) }));
    const insert = ops(1);
    let t0 = performance.now();
    s.objects.applyBatch(insert, { session: 'b', seq: 1 });
    const insertMs = ms(t0);
    const update = ops(2);
    t0 = performance.now();
    for (let i = 0; i < N; i += 100) s.objects.applyBatch(update.slice(i, i + 100), { session: 'b', seq: 2 + i });
    const batch100Ms = ms(t0);
    t0 = performance.now();
    s.objects.applyBatch(update, { session: 'b', seq: N + 10 }); // all no-ops
    const noopMs = ms(t0);
    const K = 2000;
    t0 = performance.now();
    for (let i = 0; i < K; i++) {
      const id = s.outbox.put(i % 5 === 0 ? 'event' : 'pod-status', `v1/Pod/bench/p${i % 50}`, { phase: 'Running', i })!;
      s.outbox.ack([id]);
    }
    const outboxMs = ms(t0);
    t0 = performance.now();
    for (let i = 0; i < K; i++) s.outbox.put('pod-status', `v1/Pod/bench/p${i}`, { phase: 'Running', i });
    s.db.transaction(() => s.outbox.ack(s.outbox.pending(K).map((e) => e.id)));
    const outboxBurstMs = ms(t0);
    s.close();
    t0 = performance.now();
    s = openEdgeStore(path, { synchronous: sync });
    const openMs = ms(t0);
    t0 = performance.now();
    const d1 = s.objects.digest();
    const fullDigestMs = ms(t0);
    s.close();
    s = openEdgeStore(path, { synchronous: sync, objects: { incrementalDigest: () => new InventoryDigest() } });
    t0 = performance.now();
    s.objects.digest();
    const incBuildMs = ms(t0);
    s.objects.applyUpsert('v1/ConfigMap/bench/cm-0', '99', body(0, 99));
    t0 = performance.now();
    s.objects.digest();
    const incAfterChangeMs = ms(t0);
    s.close();
    results[sync] = {
      insertOneBatch: { ms: insertMs, perSec: perSec(N, insertMs) },
      updateBatchesOf100: { ms: batch100Ms, perSec: perSec(N, batch100Ms) },
      noopReapply: { ms: noopMs, perSec: perSec(N, noopMs) },
      outboxPutThenAck: { n: K, ms: outboxMs, pairsPerSec: perSec(K, outboxMs) },
      outboxPutsThenOneAck: { n: K, ms: outboxBurstMs, perSec: perSec(K, outboxBurstMs) },
      reopenWithQuickCheckMs: openMs,
      digest: { sortedLinesFullMs: fullDigestMs, incrementalBuildMs: incBuildMs, incrementalAfterChangeMs: incAfterChangeMs, sample: d1.slice(0, 12) },
    };
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(results, null, 2) + '\n');
