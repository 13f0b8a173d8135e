import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameReader, ProtocolError, decode, encode, encodeObjectBody, encodeUpsert } from './index.ts';

const frames = [
  encode({ type: 'ping', ts: 1 }),
  encodeUpsert(1, 'v1/ConfigMap/ns/a', '5', encodeObjectBody({ data: { x: 'y'.repeat(300) } })),
  encode({ type: 'ack', seq: 1 }),
  encode({ type: 'response', id: 3, status: 200, headers: [], end: true, body: new Uint8Array(70_000).fill(7) }),
];
const stream = Buffer.concat(frames);

function prefix(headLength: number, bodyLength: number): Uint8Array {
  const p = new Uint8Array(12);
  p.set([0x4f, 0x50, 1, 0]);
  new DataView(p.buffer).setUint32(4, headLength);
  new DataView(p.buffer).setUint32(8, bodyLength);
  return p;
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

describe('FrameReader', () => {
  it('splits a stream into the same frames however it is chunked', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 30 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), stream.length];
        const reader = new FrameReader();
        const out: Uint8Array[] = [];
        for (let i = 1; i < points.length; i++) out.push(...reader.push(stream.subarray(points[i - 1], points[i])));
        reader.end();
        expect(out.map((f) => Buffer.from(f).toString('hex'))).toEqual(frames.map((f) => Buffer.from(f).toString('hex')));
        expect(reader.buffered).toBe(0);
      }),
      { numRuns: 2000 },
    );
  });

  it('handles one byte at a time', () => {
    const reader = new FrameReader();
    const out: Uint8Array[] = [];
    for (const b of stream) out.push(...reader.push(new Uint8Array([b])));
    expect(out.map((f) => decode(f).type)).toEqual(['ping', 'upsert', 'ack', 'response']);
  });

  it('returns frames that do not alias the pushed chunk', () => {
    const chunk = new Uint8Array(frames[0]!);
    const [frame] = new FrameReader().push(chunk);
    chunk.fill(0);
    expect(decode(frame!)).toEqual({ type: 'ping', ts: 1 });
  });

  it('rejects a header announcing 4 GiB as soon as the prefix is complete, buffering nothing', () => {
    const reader = new FrameReader();
    const p = prefix(0xffff_ffff, 0xffff_ffff);
    for (let i = 0; i < 11; i++) expect(reader.push(p.subarray(i, i + 1))).toEqual([]);
    expect(codeOf(() => reader.push(p.subarray(11)))).toBe('PROTO_FRAME_TOO_LARGE');
    expect(reader.buffered).toBe(0);
  });

  it('rejects a bad magic or version on the first bytes, before the prefix is complete', () => {
    expect(codeOf(() => new FrameReader().push(new Uint8Array([0x7b])))).toBe('PROTO_BAD_MAGIC');
    expect(codeOf(() => new FrameReader().push(new Uint8Array([0x4f, 0x50, 9])))).toBe('PROTO_UNSUPPORTED_VERSION');
  });

  it('grows with the bytes that arrive, not the length announced', () => {
    const before = process.memoryUsage().arrayBuffers;
    const readers = Array.from({ length: 64 }, () => {
      const r = new FrameReader();
      r.push(prefix(16, 16 * 1024 * 1024 - 40));
      r.push(new Uint8Array(1000));
      return r;
    });
    // 64 × 16 MiB would be 1 GiB if the announced length were allocated up front.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
    expect(readers.every((r) => r.buffered === 1012)).toBe(true);
  });

  it('enforces a configured limit', () => {
    const reader = new FrameReader({ maxFrameBytes: 1024 });
    expect(codeOf(() => reader.push(frames[3]!.subarray(0, 12)))).toBe('PROTO_FRAME_TOO_LARGE');
  });

  it('stays failed after an error', () => {
    const reader = new FrameReader();
    expect(codeOf(() => reader.push(new Uint8Array([0])))).toBe('PROTO_BAD_MAGIC');
    expect(codeOf(() => reader.push(frames[0]!))).toBe('PROTO_BAD_MAGIC');
    expect(codeOf(() => reader.end())).toBe('PROTO_BAD_MAGIC');
  });

  it('reports a stream that ends inside a frame', () => {
    const reader = new FrameReader();
    reader.push(frames[1]!.subarray(0, 20));
    expect(codeOf(() => reader.end())).toBe('PROTO_TRUNCATED');
    const partialPrefix = new FrameReader();
    partialPrefix.push(frames[0]!.subarray(0, 5));
    expect(codeOf(() => partialPrefix.end())).toBe('PROTO_TRUNCATED');
  });

  it('splits frames even when their heads are not valid JSON (decode rejects them later)', () => {
    const junk = Buffer.concat([prefix(3, 0), Buffer.from('abc')]);
    const [frame] = new FrameReader().push(junk);
    expect(codeOf(() => decode(frame!))).toBe('PROTO_BAD_JSON');
  });
});
