// Property tests: valid messages round-trip byte-identically, and no input
// whatsoever makes encode, decode or FrameReader throw anything but
// ProtocolError (no TypeError, RangeError or stack overflow).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Json, Msg } from './index.ts';
import { FrameReader, MESSAGE_TYPES, ProtocolError, REPORT_KINDS, decode, encode, encodeObjectBody } from './index.ts';

const RUNS = 10_000;

// --- arbitraries for valid messages ------------------------------------------
const label = fc.stringMatching(/^[a-z0-9](?:[-a-z0-9]{0,8}[a-z0-9])?$/);
const key = fc
  .record({
    group: fc.option(fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => l.join('.')), { nil: '' }),
    version: fc.constantFrom('v1', 'v1beta1', 'v2alpha3'),
    kind: fc.stringMatching(/^[A-Z][A-Za-z0-9]{0,12}$/),
    namespace: fc.option(label, { nil: '' }),
    name: fc.stringMatching(/^[\x21-\x24\x26-\x2e\x30-\x7e]{1,20}$/).filter((n) => n !== '.' && n !== '..'),
  })
  .map((k) => `${k.group === '' ? '' : `${k.group}/`}${k.version}/${k.kind}/${k.namespace}/${k.name}`);
const rv = fc.stringMatching(/^[\x21-\x7e]{1,12}$/);
const seq = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const count = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const id = fc.stringMatching(/^[A-Za-z0-9._:-]{1,20}$/);
const cap = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
const caps = fc.uniqueArray(cap, { maxLength: 5 });
const inventory = fc.dictionary(key, rv, { maxKeys: 8 });
const anyText = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength });
// Normalised through JSON once, so -0 and friends take their wire form.
const payload = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 4 })).map((o) => JSON.parse(JSON.stringify(o)) as { [k: string]: Json });
const header = fc.tuple(fc.stringMatching(/^[a-z0-9-]{1,12}$/), fc.stringMatching(/^[\x20-\x7e]{0,20}$/));
const bytes = fc.uint8Array({ maxLength: 64 });
const objectBody = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })).map((o) => encodeObjectBody(o));

const message: fc.Arbitrary<Msg> = fc.oneof(
  fc.record(
    { type: fc.constant('hello' as const), versions: fc.uniqueArray(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: 4 }), caps, agent: fc.stringMatching(/^[\x20-\x7e]{1,30}$/), window: fc.integer({ min: 1, max: 65535 }), digest: fc.stringMatching(/^[0-9a-f]{64}$/), inventory },
    { requiredKeys: ['type', 'versions', 'caps', 'agent', 'window', 'digest'] },
  ),
  fc.record({ type: fc.constant('welcome' as const), version: fc.integer({ min: 1, max: 255 }), session: id, caps, heartbeatMs: fc.integer({ min: 100, max: 3_600_000 }), resume: fc.constantFrom('delta' as const, 'full' as const), wantInventory: fc.boolean(), window: fc.integer({ min: 1, max: 65535 }) }),
  fc.record({ type: fc.constant('inventory' as const), chunk: fc.integer({ min: 0, max: 0xffff_ffff }), last: fc.boolean(), items: inventory }),
  fc.record({ type: fc.constant('upsert' as const), seq, key, rv, body: objectBody }),
  fc.record({ type: fc.constant('delete' as const), seq, key, rv, reason: fc.constantFrom('deleted' as const, 'unassigned' as const) }, { requiredKeys: ['type', 'seq', 'key', 'reason'] }),
  fc.record({ type: fc.constant('sync-done' as const), seq: count }),
  fc.record({ type: fc.constant('ack' as const), seq: count }),
  fc.record({ type: fc.constant('report' as const), id, kind: fc.constantFrom(...REPORT_KINDS), key, payload }),
  fc
    .record({ type: fc.constant('report-ack' as const), ids: fc.array(id, { maxLength: 4 }), rejected: fc.array(fc.record({ id, code: fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,15}$/), message: anyText(50) }), { maxLength: 3 }) })
    .filter((m) => m.ids.length + m.rejected.length > 0),
  fc.record({ type: fc.constant('ping' as const), ts: count }),
  fc.record({ type: fc.constant('pong' as const), ts: count }),
  fc.record({ type: fc.constant('error' as const), code: fc.stringMatching(/^[A-Z][A-Z0-9_]{0,20}$/), message: anyText(100), fatal: fc.boolean() }),
  fc.record({ type: fc.constant('request' as const), id: fc.integer({ min: 1, max: 0xffff_ffff }), method: fc.constantFrom('GET', 'POST', 'PUT'), path: fc.stringMatching(/^\/[\x21-\x7e]{0,30}$/), headers: fc.array(header, { maxLength: 4 }), end: fc.boolean(), body: bytes }),
  fc.record(
    { type: fc.constant('response' as const), id: fc.integer({ min: 1, max: 0xffff_ffff }), status: fc.integer({ min: 100, max: 599 }), headers: fc.array(header, { maxLength: 4 }), end: fc.boolean(), body: bytes },
    { requiredKeys: ['type', 'id', 'end', 'body'] },
  ),
);

function onlyProtocolErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
  }
}

describe('round trip', () => {
  it('decode(encode(m)) equals m and re-encodes byte-identically, for every type', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(message, (m) => {
        seen.add(m.type);
        const frame = encode(m);
        const back = decode(frame);
        expect(back).toEqual(m);
        expect(Buffer.from(encode(back)).equals(frame)).toBe(true);
      }),
      { numRuns: RUNS },
    );
    expect([...seen].sort()).toEqual([...MESSAGE_TYPES].sort());
  });
});

describe('hostile input never escapes as anything but ProtocolError', () => {
  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => onlyProtocolErrors(() => decode(b))), { numRuns: RUNS });
  });

  it('a valid prefix around random heads and bodies', () => {
    const head = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.json().map((s) => new TextEncoder().encode(s)),
      fc
        .record({ type: fc.constantFrom(...MESSAGE_TYPES, 'x', '__proto__', 'constructor') }, { requiredKeys: [] })
        .chain((base) => fc.dictionary(fc.constantFrom('seq', 'key', 'rv', 'id', 'ts', 'ids', 'rejected', 'items', 'payload', 'headers', 'versions', 'caps', 'inventory', 'status', 'end'), fc.jsonValue({ maxDepth: 3 })).map((rest) => ({ ...rest, ...base })))
        .map((o) => new TextEncoder().encode(JSON.stringify(o))),
    );
    fc.assert(
      fc.property(head, fc.uint8Array({ maxLength: 50 }), (h, body) => {
        const frame = new Uint8Array(12 + h.length + body.length);
        frame.set([0x4f, 0x50, 1, 0]);
        new DataView(frame.buffer).setUint32(4, h.length);
        new DataView(frame.buffer).setUint32(8, body.length);
        frame.set(h, 12);
        frame.set(body, 12 + h.length);
        onlyProtocolErrors(() => decode(frame));
      }),
      { numRuns: RUNS },
    );
  });

  it('mutations of valid frames; whatever decode accepts, encode accepts too', () => {
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(), extra: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
      fc.record({ op: fc.constant('length' as const), which: fc.constantFrom(4, 8), value: fc.nat({ max: 0xffff_ffff }) }),
    );
    fc.assert(
      fc.property(message, fc.array(mutation, { minLength: 1, maxLength: 4 }), (m, muts) => {
        let f = Uint8Array.from(encode(m));
        for (const mu of muts) {
          const at = f.length === 0 ? 0 : ('at' in mu ? mu.at : 0) % f.length;
          if (mu.op === 'flip' && f.length > 0) f[at]! ^= 1 << mu.bit;
          else if (mu.op === 'set' && f.length > 0) f[at] = mu.value;
          else if (mu.op === 'cut') f = f.subarray(0, at);
          else if (mu.op === 'insert') f = Uint8Array.from([...f.subarray(0, at), ...mu.extra, ...f.subarray(at)]);
          else if (mu.op === 'length' && f.length >= 12) new DataView(f.buffer, f.byteOffset).setUint32(mu.which, mu.value);
        }
        let decoded: Msg | undefined;
        onlyProtocolErrors(() => (decoded = decode(f)));
        if (decoded !== undefined) expect(decode(encode(decoded))).toEqual(decoded);
      }),
      { numRuns: RUNS },
    );
  });

  it('anything passed to encode', () => {
    const loose = fc.oneof(fc.anything(), fc.record({ type: fc.constantFrom(...MESSAGE_TYPES) }).chain((b) => fc.object().map((o) => ({ ...o, ...b }))));
    fc.assert(fc.property(loose, (x) => onlyProtocolErrors(() => encode(x as Msg))), { numRuns: RUNS });
  });

  it('random chunks pushed into a FrameReader, with bounded buffering', () => {
    const chunks = fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), message.map((m) => encode(m))), { maxLength: 10 });
    fc.assert(
      fc.property(chunks, fc.boolean(), (cs, magicFirst) => {
        const reader = new FrameReader({ maxFrameBytes: 4096 });
        if (magicFirst) cs.unshift(new Uint8Array([0x4f, 0x50, 1, 0]));
        onlyProtocolErrors(() => {
          for (const c of cs) {
            for (const frame of reader.push(c)) onlyProtocolErrors(() => decode(frame, { limits: { maxFrameBytes: 4096 } }));
            expect(reader.buffered).toBeLessThanOrEqual(4096);
          }
          reader.end();
        });
      }),
      { numRuns: RUNS },
    );
  });
});
