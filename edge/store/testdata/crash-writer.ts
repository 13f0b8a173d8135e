// Child process for the kill -9 test (crash.test.ts): writes to the edge store
// in a loop and prints one line per COMMITTED write, after the commit
// returns. The parent SIGKILLs it at a random moment and checks that every
// printed write is in the reopened file. stdout is a pipe, which Node writes
// synchronously on Linux, so a printed line was never ahead of its commit.
//
//   node crash-writer.ts <db-path> <round>
import { openEdgeStore } from '../store.ts';

const [path, roundArg] = process.argv.slice(2);
if (!path || !roundArg) throw new Error('usage: crash-writer.ts <db-path> <round>');
const round = Number(roundArg);
const out = (line: string) => process.stdout.write(line + '\n');
setTimeout(() => process.exit(3), 30_000).unref(); // never outlive a broken parent

const store = openEdgeStore(path);
const session = `round-${round}`;
const seq0 = store.objects.cursor()?.seq ?? 0;
out('ready');
const filler = 'x'.repeat(800);
for (let i = 1; i < 1_000_000; i++) {
  const seq = seq0 + i;
  // A batch of 20 objects, all at rv = seq, plus the cursor: one transaction.
  const ops = Array.from({ length: 20 }, (_, j) => {
    const name = `cm-${(i * 7 + j) % 200}`;
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'crash' }, data: { seq: String(seq), filler } });
    return { op: 'upsert' as const, key: `v1/ConfigMap/crash/${name}`, rv: String(seq), body };
  });
  store.objects.applyBatch(ops, { session, seq });
  out(`batch ${seq} ${ops.map((o) => o.key.split('/').pop()).join(',')}`);
  const kind = i % 4 === 0 ? 'event' : 'pod-status';
  const key = `v1/Pod/crash/p${i % 13}`;
  const id = store.outbox.put(kind, key, { round, i, filler });
  out(`put ${id} ${kind} ${key} ${round}:${i}`);
  if (i % 3 === 0 && id !== undefined) {
    const victim = id - 5;
    if (victim > 0 && store.outbox.ack([victim]) > 0) out(`ack ${victim}`);
  }
}
