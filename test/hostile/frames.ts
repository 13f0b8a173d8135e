/**
 * Hostile frames for the hub fuzz tests: valid edge→cloud messages of every
 * type, cloud→edge messages sent the wrong way, random bytes, and mutations
 * of valid frames (bit flips, truncation, garbage tails, forged length
 * fields, forged version/flags bytes, replaced JSON heads). Deterministic
 * for a seed (fast-check's sampler), so a failing input can be replayed.
 */
import fc from 'fast-check';
import { decode, encode, encodeObjectBody, ProtocolError, REPORT_KINDS, type Msg } from '../../edge/protocol/index.ts';
import { Prng } from '../../hack/chaos/prng.ts';

const label = fc.stringMatching(/^[a-z0-9](?:[-a-z0-9]{0,6}[a-z0-9])?$/);
const key = fc.record({ kind: fc.constantFrom('Pod', 'ConfigMap', 'Secret', 'Node', 'Lease', 'Event'), ns: fc.option(label, { nil: '' }), name: label })
  .map((k) => `v1/${k.kind}/${k.ns}/${k.name}`);
const rv = fc.stringMatching(/^[0-9]{1,8}$/);
const id = fc.stringMatching(/^[0-9]{1,6}$/);
const payload = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 })).map((o) => JSON.parse(JSON.stringify(o)) as Record<string, never>);

/** Valid messages an edge may send (direction `up`). */
export const upMessage: fc.Arbitrary<Msg> = fc.oneof(
  fc.record({ type: fc.constant('hello' as const), versions: fc.uniqueArray(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), caps: fc.constant([] as string[]), agent: fc.constant('fuzz/1'), window: fc.integer({ min: 1, max: 65535 }), digest: fc.stringMatching(/^[0-9a-f]{64}$/), inventory: fc.dictionary(key, rv, { maxKeys: 5 }) }, { requiredKeys: ['type', 'versions', 'caps', 'agent', 'window', 'digest'] }),
  fc.record({ type: fc.constant('inventory' as const), chunk: fc.integer({ min: 0, max: 5 }), last: fc.boolean(), items: fc.dictionary(key, rv, { maxKeys: 5 }) }),
  fc.record({ type: fc.constant('ack' as const), seq: fc.integer({ min: 0, max: 100 }) }),
  fc.record({ type: fc.constant('report' as const), id, kind: fc.constantFrom(...REPORT_KINDS), key, payload }),
  fc.record({ type: fc.constant('ping' as const), ts: fc.nat() }),
  fc.record({ type: fc.constant('pong' as const), ts: fc.nat() }),
  fc.record({ type: fc.constant('error' as const), code: fc.constantFrom('EDGE_X', 'PROTO_BAD_JSON'), message: fc.string({ maxLength: 20 }), fatal: fc.boolean() }),
  fc.record({ type: fc.constant('request' as const), id: fc.integer({ min: 1, max: 1000 }), method: fc.constantFrom('GET', 'POST'), path: fc.constantFrom('/logs', '/exec', '/api/v1/namespaces/x/secrets'), headers: fc.constant([] as [string, string][]), end: fc.boolean(), body: fc.uint8Array({ maxLength: 16 }) }),
  fc.record({ type: fc.constant('response' as const), id: fc.integer({ min: 1, max: 1000 }), end: fc.boolean(), body: fc.uint8Array({ maxLength: 16 }) }),
);

/** Valid messages only the cloud may send: the hub must refuse them (PROTO_WRONG_DIRECTION). */
export const downMessage: fc.Arbitrary<Msg> = fc.oneof(
  fc.record({ type: fc.constant('welcome' as const), version: fc.constant(1), session: id, caps: fc.constant([] as string[]), heartbeatMs: fc.constant(1000), resume: fc.constant('delta' as const), wantInventory: fc.boolean(), window: fc.constant(10) }),
  fc.record({ type: fc.constant('upsert' as const), seq: fc.integer({ min: 1, max: 9 }), key, rv, body: fc.constant(encodeObjectBody({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } })) }),
  fc.record({ type: fc.constant('delete' as const), seq: fc.integer({ min: 1, max: 9 }), key, reason: fc.constantFrom('deleted' as const, 'unassigned' as const) }),
  fc.record({ type: fc.constant('sync-done' as const), seq: fc.nat(9) }),
  fc.record({ type: fc.constant('report-ack' as const), ids: fc.array(id, { minLength: 1, maxLength: 3 }), rejected: fc.constant([] as { id: string; code: string; message: string }[]) }),
);

type Mutation = (f: Uint8Array, r: Prng) => Uint8Array;

const mutations: Mutation[] = [
  (f, r) => { // flip 1-8 bits
    const g = f.slice();
    for (let i = r.int(1, 8); i > 0; i--) g[r.int(0, g.length - 1)]! ^= 1 << r.int(0, 7);
    return g;
  },
  (f, r) => f.slice(0, r.int(0, Math.max(0, f.length - 1))), // truncate
  (f, r) => { // garbage tail
    const g = new Uint8Array(f.length + r.int(1, 32));
    g.set(f);
    for (let i = f.length; i < g.length; i++) g[i] = r.int(0, 255);
    return g;
  },
  (f, r) => { // forge the head or body length
    const g = f.slice();
    if (g.length >= 12) new DataView(g.buffer).setUint32(r.chance(0.5) ? 4 : 8, r.chance(0.5) ? r.int(0, 0x7fffffff) : r.int(0, 64) + 0xffffff00);
    return g;
  },
  (f, r) => { // forge version or flags
    const g = f.slice();
    if (g.length >= 4) g[r.chance(0.5) ? 2 : 3] = r.int(0, 255);
    return g;
  },
  (f, r) => { // replace the head with other JSON (valid prefix, lengths fixed up)
    const heads = ['{}', '[]', 'null', '{"type":"hello"}', '{"type":"report","id":"1"}', '{"type":"x"}', `{"type":"ack","seq":${r.int(-5, 5)}}`, '{"type":"ping","ts":1e400}', '"\\ud800"', '{"type":"ack","seq":1,"seq":2}', `{"a":${'['.repeat(200)}${']'.repeat(200)}}`];
    const head = new TextEncoder().encode(heads[r.int(0, heads.length - 1)]!);
    const g = new Uint8Array(12 + head.length);
    g.set(f.subarray(0, 4));
    new DataView(g.buffer).setUint32(4, head.length);
    g.set(head, 12);
    return g;
  },
];

/** A hostile frame: random bytes, a wrong-direction message, or a mutated valid one. */
export const hostileFrame: fc.Arbitrary<Uint8Array> = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 200 }), weight: 2 },
  { arbitrary: downMessage.map((m) => encode(m)), weight: 1 },
  { arbitrary: fc.tuple(upMessage, fc.integer({ min: 0, max: mutations.length - 1 }), fc.integer()).map(([m, k, seed]) => mutations[k]!(encode(m), new Prng(seed))), weight: 6 },
  { arbitrary: upMessage.map((m) => encode(m)), weight: 2 },
);

/** How the hub must answer one frame: the protocol error decode raises, or undefined when the frame is valid. */
export function expectedError(frame: Uint8Array): string | undefined {
  try {
    decode(frame, { direction: 'up' });
    return undefined;
  } catch (err) {
    if (err instanceof ProtocolError) return err.code;
    throw err;
  }
}

/** `n` hostile frames for `seed`. */
export function sampleFrames(seed: number, n: number): Uint8Array[] {
  return fc.sample(hostileFrame, { seed, numRuns: n });
}
