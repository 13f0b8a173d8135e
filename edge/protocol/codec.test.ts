import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Msg } from './index.ts';
import { DEFAULT_LIMITS, MESSAGE_TYPES, ProtocolError, decode, direction, encode, encodeObjectBody, encodeUpsert, resolveLimits, validate } from './index.ts';

interface Vectors {
  valid: { name: string; hex: string; value: unknown }[];
  invalid: { name: string; hex: string; code: string }[];
}
const vectors = JSON.parse(readFileSync(new URL('./fixtures/vectors.json', import.meta.url), 'utf8')) as Vectors;

const fromHex = (hex: string) => new Uint8Array(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));
const enc = new TextEncoder();
// Fixture byte fields are {"$utf8": text} or {"$hex": bytes}.
function revive(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(revive);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.$utf8 === 'string') return enc.encode(o.$utf8);
    if (typeof o.$hex === 'string') return fromHex(o.$hex);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, revive(x)]));
  }
  return v;
}
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProtocolError) return err.code;
    throw err;
  }
  return 'no error';
}

describe('golden vectors', () => {
  it('cover every message type', () => {
    const types = new Set(vectors.valid.map((v) => (v.value as { type: string }).type));
    expect([...types].sort()).toEqual([...MESSAGE_TYPES].sort());
  });

  for (const v of vectors.valid) {
    it(`round-trips: ${v.name}`, () => {
      const bytes = fromHex(v.hex);
      const value = revive(v.value) as Msg;
      expect(decode(bytes)).toEqual(value);
      expect(Buffer.from(encode(value)).toString('hex')).toBe(v.hex.replace(/\s+/g, ''));
      expect(Buffer.from(encode(decode(bytes))).equals(bytes)).toBe(true);
    });
  }

  for (const v of vectors.invalid) {
    it(`rejects with ${v.code}: ${v.name}`, () => {
      expect(codeOf(() => decode(fromHex(v.hex)))).toBe(v.code);
    });
  }
});

describe('frame layout', () => {
  it('is magic, version, flags, head length, body length, head, body (built by hand)', () => {
    const head = enc.encode('{"type":"upsert","seq":5,"key":"v1/ConfigMap/ns/a","rv":"7"}');
    const body = enc.encode('{"kind":"ConfigMap"}');
    const frame = new Uint8Array([0x4f, 0x50, 1, 0, 0, 0, 0, head.length, 0, 0, 0, body.length, ...head, ...body]);
    const msg = decode(frame);
    expect(msg).toEqual({ type: 'upsert', seq: 5, key: 'v1/ConfigMap/ns/a', rv: '7', body });
    expect(encode(msg)).toEqual(frame);
  });

  it('returns bodies as views into the frame, without copying', () => {
    const frame = encode({ type: 'response', id: 1, end: true, body: new Uint8Array([1, 2, 3]) });
    const msg = decode(frame);
    if (msg.type !== 'response') throw new Error('expected a response');
    expect(msg.body.buffer).toBe(frame.buffer);
  });

  it('decodes a frame that sits at an offset inside a larger buffer', () => {
    const frame = encode({ type: 'ack', seq: 9 });
    const big = new Uint8Array(frame.length + 10);
    big.set(frame, 7);
    expect(decode(big.subarray(7, 7 + frame.length))).toEqual({ type: 'ack', seq: 9 });
  });

  it('accepts non-canonical but valid JSON heads (whitespace, field order)', () => {
    const head = enc.encode(' { "seq" : 3 , "type" : "ack" } ');
    const frame = new Uint8Array([0x4f, 0x50, 1, 0, 0, 0, 0, head.length, 0, 0, 0, 0, ...head]);
    expect(decode(frame)).toEqual({ type: 'ack', seq: 3 });
    expect(encode(decode(frame))).toEqual(encode({ type: 'ack', seq: 3 }));
  });
});

describe('limits', () => {
  it('rejects frames over limits.maxFrameBytes on both encode and decode', () => {
    const frame = encode({ type: 'error', code: 'X', message: 'm'.repeat(100), fatal: false });
    expect(codeOf(() => decode(frame, { limits: { maxFrameBytes: frame.length - 1 } }))).toBe('PROTO_FRAME_TOO_LARGE');
    expect(decode(frame, { limits: { maxFrameBytes: frame.length } }).type).toBe('error');
    const big = new Uint8Array(DEFAULT_LIMITS.maxFrameBytes);
    expect(codeOf(() => encode({ type: 'response', id: 1, end: true, body: big }))).toBe('PROTO_FRAME_TOO_LARGE');
  });

  it('applies limits.maxDepth to report payloads the same way on encode and decode', () => {
    let payload: Record<string, unknown> = {};
    for (let i = 0; i < 8; i++) payload = { a: payload }; // payload depth 9, inside the head: 10
    const msg = { type: 'report', id: '1', kind: 'event', key: 'v1/Event/ns/e', payload } as Msg;
    const frame = encode(msg, { limits: { maxDepth: 10 } });
    expect(codeOf(() => encode(msg, { limits: { maxDepth: 9 } }))).toBe('PROTO_TOO_DEEP');
    expect(codeOf(() => decode(frame, { limits: { maxDepth: 9 } }))).toBe('PROTO_TOO_DEEP');
    expect(decode(frame, { limits: { maxDepth: 10 } })).toEqual(msg);
  });

  it('rejects nonsense limits with PROTO_INVALID_LIMITS', () => {
    for (const limits of [{ maxFrameBytes: 0 }, { maxFrameBytes: 2 ** 33 }, { maxFrameBytes: 1.5e3 + 0.5 }, { maxDepth: 0 }, { maxDepth: Number.NaN }]) {
      expect(codeOf(() => resolveLimits(limits))).toBe('PROTO_INVALID_LIMITS');
    }
    expect(resolveLimits()).toBe(DEFAULT_LIMITS);
  });
});

describe('direction', () => {
  it('rejects a cloud → edge type arriving upstream, and the reverse', () => {
    const upsert = encodeUpsert(1, 'v1/ConfigMap/ns/a', '1', encodeObjectBody({}));
    const ack = encode({ type: 'ack', seq: 1 });
    expect(codeOf(() => decode(upsert, { direction: 'up' }))).toBe('PROTO_WRONG_DIRECTION');
    expect(codeOf(() => decode(ack, { direction: 'down' }))).toBe('PROTO_WRONG_DIRECTION');
    expect(decode(ack, { direction: 'up' }).type).toBe('ack');
    expect(decode(encode({ type: 'ping', ts: 1 }), { direction: 'down' }).type).toBe('ping');
    expect(direction('report')).toBe('up');
  });
});

describe('encode validates like decode', () => {
  const body = encodeObjectBody({ a: 1 });
  it.each([
    ['not an object', 'ping', 'PROTO_INVALID_FIELD'],
    ['unknown type', { type: 'subscribe' }, 'PROTO_UNKNOWN_TYPE'],
    ['prototype key as type', { type: 'toString' }, 'PROTO_UNKNOWN_TYPE'],
    ['missing field', { type: 'ack' }, 'PROTO_INVALID_FIELD'],
    ['extra field', { type: 'ack', seq: 1, node: 'edge-1' }, 'PROTO_INVALID_FIELD'],
    ['NaN', { type: 'ping', ts: Number.NaN }, 'PROTO_INVALID_FIELD'],
    ['body on a body-less type', { type: 'ack', seq: 1, body }, 'PROTO_INVALID_FIELD'],
    ['body not bytes', { type: 'upsert', seq: 1, key: 'v1/ConfigMap/ns/a', rv: '1', body: '{}' }, 'PROTO_INVALID_FIELD'],
    ['body bytes not an object', { type: 'upsert', seq: 1, key: 'v1/ConfigMap/ns/a', rv: '1', body: enc.encode('[1]') }, 'PROTO_INVALID_FIELD'],
    ['payload with undefined', { type: 'report', id: '1', kind: 'lease', key: 'v1/Node//n', payload: { a: undefined } }, 'PROTO_INVALID_FIELD'],
    ['payload with Infinity', { type: 'report', id: '1', kind: 'lease', key: 'v1/Node//n', payload: { a: Infinity } }, 'PROTO_INVALID_FIELD'],
    ['payload with a Date', { type: 'report', id: '1', kind: 'lease', key: 'v1/Node//n', payload: { a: new Date(0) } }, 'PROTO_INVALID_FIELD'],
    ['payload with a bigint', { type: 'report', id: '1', kind: 'lease', key: 'v1/Node//n', payload: { a: 1n } }, 'PROTO_INVALID_FIELD'],
  ])('%s', (_name, msg, code) => {
    expect(codeOf(() => encode(msg as unknown as Msg))).toBe(code);
  });

  it('rejects a cyclic payload with PROTO_TOO_DEEP instead of overflowing the stack', () => {
    const payload: Record<string, unknown> = {};
    payload.self = payload;
    expect(codeOf(() => encode({ type: 'report', id: '1', kind: 'event', key: 'v1/Event/ns/e', payload } as unknown as Msg))).toBe('PROTO_TOO_DEEP');
  });

  it('names the field and what was wrong', () => {
    const err = (() => {
      try {
        encode({ type: 'delete', seq: 1, key: 'v1/ConfigMap/Default/a', reason: 'deleted' });
      } catch (e) {
        return e as ProtocolError;
      }
      throw new Error('no error');
    })();
    expect(err.field).toBe('delete.key');
    expect(err.message).toMatch(/^delete\.key: expected a key whose namespace is a DNS label/);
    expect(err.message).toContain('"v1/ConfigMap/Default/a"');
  });

  it('treats an optional field set to undefined as absent, and returns a canonical copy', () => {
    const msg = { reason: 'deleted', rv: undefined, key: 'v1/ConfigMap/ns/a', seq: 1, type: 'delete' } as const;
    expect(Object.keys(validate(msg))).toEqual(['type', 'seq', 'key', 'reason']);
    expect(encode(msg)).toEqual(encode({ type: 'delete', seq: 1, key: 'v1/ConfigMap/ns/a', reason: 'deleted' }));
  });
});

describe('shared object bodies', () => {
  afterEach(() => vi.restoreAllMocks());

  it('serialises an object once and reuses the bytes verbatim for every session', () => {
    const object = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'ns', resourceVersion: '7' }, data: { big: 'x'.repeat(10_000) } };
    const body = encodeObjectBody(object);
    const stringify = vi.spyOn(JSON, 'stringify');
    const parse = vi.spyOn(JSON, 'parse');
    const frames = Array.from({ length: 1000 }, (_, session) => encodeUpsert(session + 1, 'v1/ConfigMap/ns/a', '7', body));
    // Only the ~70-byte heads were serialised; the object was neither
    // stringified again nor re-parsed for validation.
    expect(stringify).toHaveBeenCalledTimes(1000);
    for (const [value] of stringify.mock.calls) expect(value).not.toHaveProperty('data');
    expect(parse).not.toHaveBeenCalled();
    for (const frame of frames) expect(frame.subarray(frame.length - body.length)).toEqual(body);
    vi.restoreAllMocks();
    expect(decode(frames[999]!)).toEqual({ type: 'upsert', seq: 1000, key: 'v1/ConfigMap/ns/a', rv: '7', body });
  });

  it('validates bytes it did not produce itself', () => {
    const parse = vi.spyOn(JSON, 'parse');
    encodeUpsert(1, 'v1/ConfigMap/ns/a', '7', enc.encode('{"kind":"ConfigMap"}'));
    expect(parse).toHaveBeenCalledTimes(1);
    expect(codeOf(() => encodeUpsert(1, 'v1/ConfigMap/ns/a', '7', enc.encode('{"kind":')))).toBe('PROTO_BAD_JSON');
  });

  it('refuses objects that are not plain JSON', () => {
    expect(codeOf(() => encodeObjectBody([] as unknown as object))).toBe('PROTO_INVALID_FIELD');
    expect(codeOf(() => encodeObjectBody({ metadata: { creationTimestamp: new Date(0) } }))).toBe('PROTO_INVALID_FIELD');
  });
});
