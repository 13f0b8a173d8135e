/**
 * Reports about one object reach the API server in the order they arrived,
 * and an older value never overwrites a newer one (found by the chaos suite,
 * docs/reliability.md bug 4): the API server below is a map that applies a
 * write when its (controllable) request completes.
 */
import { describe, expect, it } from 'vitest';
import { decode, encode, type Msg, type Report } from '../../edge/protocol/index.ts';
import { memoryLinkPair } from '../../edge/transport/memory.ts';
import { createLogger } from '../../lib/log.ts';
import { MemorySources } from '../../test/hostile/memory-sources.ts';
import { CloudHub } from './hub.ts';
import type { ReportOutcome } from './session.ts';

const log = createLogger({ level: 'error' });
const hello: Msg = { type: 'hello', versions: [1], caps: [], agent: 't', window: 8, digest: '0'.repeat(64), inventory: {} };
const lease = (id: string, renewTime: string): Msg => ({ type: 'report', id, kind: 'lease', key: 'coordination.k8s.io/v1/Lease/kube-node-lease/n1', payload: { renewTime } });

/** A fake API server: each write completes when the test says so (or at once), and completes in that order. */
function slowApi() {
  const api = new Map<string, unknown>();
  const held: { report: Report; done: (o: ReportOutcome) => void }[] = [];
  let hold = (_r: Report) => false;
  let fail = (_r: Report) => false;
  return {
    api, held,
    holdWhen(f: (r: Report) => boolean) { hold = f; },
    failOnceWhen(f: (r: Report) => boolean) { fail = f; },
    handler: {
      handle(_node: string, r: Report): Promise<ReportOutcome> {
        if (fail(r)) {
          fail = () => false;
          return Promise.resolve({ ok: false, permanent: false, code: 'Timeout', message: 'simulated' });
        }
        return new Promise((resolve) => {
          const done = (o: ReportOutcome) => {
            api.set(r.key, r.payload); // the write lands when the request completes
            resolve(o);
          };
          if (hold(r)) held.push({ report: r, done });
          else done({ ok: true });
        });
      },
    },
  };
}

async function connect(hub: CloudHub) {
  const pair = memoryLinkPair({ commonNames: { b: 'system:node:n1' } });
  const got: Msg[] = [];
  pair.b.onFrame((f) => got.push(decode(f, { direction: 'down' })));
  hub.attach(pair.a);
  await pair.b.send(encode(hello));
  const acked = () => got.flatMap((m) => (m.type === 'report-ack' ? m.ids : []));
  return { pair, acked };
}

describe('report write order', () => {
  it('a value resent after a reconnect and the newer one after it: the newer one wins, whatever order the requests finish in', async () => {
    const s = slowApi();
    const hub = new CloudHub({ sources: new MemorySources(), reports: s.handler, log });
    // session 1: the old value's write hangs (slow API server); the link drops before its ack
    s.holdWhen((r) => r.id === '1');
    const one = await connect(hub);
    await one.pair.b.send(encode(lease('1', 'T1')));
    await expect.poll(() => s.held.length).toBe(1);
    one.pair.sever();
    // session 2: the edge resends the old value, then queues the newer one
    s.holdWhen(() => false);
    const two = await connect(hub);
    await two.pair.b.send(encode(lease('1', 'T1')));
    await two.pair.b.send(encode(lease('2', 'T2')));
    await new Promise((r) => setTimeout(r, 20));
    // now the hung request of session 1 completes, last
    s.held[0]!.done({ ok: true });
    await expect.poll(() => two.acked().sort()).toEqual(['1', '2']);
    expect(s.api.get('coordination.k8s.io/v1/Lease/kube-node-lease/n1')).toEqual({ renewTime: 'T2' });
  });

  it('a transient failure retried after a newer value was written does not overwrite it', async () => {
    const s = slowApi();
    const hub = new CloudHub({ sources: new MemorySources(), reports: s.handler, log, session: { reportRetryMs: 30 } });
    s.failOnceWhen((r) => r.id === '1');
    const c = await connect(hub);
    await c.pair.b.send(encode(lease('1', 'T1')));
    await c.pair.b.send(encode(lease('2', 'T2')));
    await expect.poll(() => c.acked().sort()).toEqual(['1', '2']);
    await new Promise((r) => setTimeout(r, 60));
    expect(s.api.get('coordination.k8s.io/v1/Lease/kube-node-lease/n1')).toEqual({ renewTime: 'T2' });
  });

  it('events (which do not coalesce) are still written in parallel', async () => {
    const s = slowApi();
    const hub = new CloudHub({ sources: new MemorySources(), reports: s.handler, log });
    s.holdWhen((r) => r.id === '1');
    const c = await connect(hub);
    const ev = (id: string): Msg => ({ type: 'report', id, kind: 'event', key: `v1/Event/default/e${id}`, payload: { involvedObject: { kind: 'Node', name: 'n1' } } });
    await c.pair.b.send(encode(ev('1')));
    await c.pair.b.send(encode(ev('2')));
    await expect.poll(() => c.acked()).toEqual(['2']);
    s.held[0]!.done({ ok: true });
    await expect.poll(() => c.acked().sort()).toEqual(['1', '2']);
  });
});
