import { PassThrough } from 'node:stream';
import { createDeflate, createInflate, constants as zc } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  adler32, encodeFrame, FLAG_FIN, FrameParser, HeaderCompressor, HeaderDecompressor, MAX_HEADER_BYTES_PER_CONNECTION,
  parseHeaders, serializeHeaders, SPDY3_DICTIONARY, SpdyConnection, SpdyError, type SpdyFrame, type SpdyHeaders, type SpdyStream,
} from './spdy.ts';

/** What Go's compress/zlib writer does: one deflate stream with the dictionary, a sync flush per header block. */
function goLikeCompressor() {
  const d = createDeflate({ dictionary: SPDY3_DICTIONARY });
  return (h: Record<string, string[]>) => new Promise<Buffer>((resolve) => {
    const out: Buffer[] = [];
    const onData = (b: Buffer) => out.push(b);
    d.on('data', onData);
    d.write(serializeHeaders(h));
    d.flush(zc.Z_SYNC_FLUSH, () => {
      d.off('data', onData);
      resolve(Buffer.concat(out));
    });
  });
}

describe('SPDY/3 header dictionary', () => {
  it('is the 1423-byte SPDY/3 dictionary (its Adler-32 is the DICTID peers expect)', () => {
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    expect(SPDY3_DICTIONARY.subarray(0, 11)).toEqual(Buffer.from([0, 0, 0, 7, ...Buffer.from('options')]));
    expect(SPDY3_DICTIONARY.subarray(-6).toString()).toBe('enq=0.');
    expect(adler32(SPDY3_DICTIONARY)).toBe(0xe3c6a7c2);
  });
});

describe('header blocks', () => {
  it('serialise and parse, NUL-separated values split', () => {
    const h = { streamtype: ['data'], port: ['8080'], multi: ['a', 'b'] };
    expect(parseHeaders(serializeHeaders(h))).toEqual(h);
  });

  it('reads a Go-style compressed stream across several blocks (shared context)', async () => {
    const comp = goLikeCompressor();
    const dec = new HeaderDecompressor();
    const a = { streamtype: ['error'] };
    const b = { streamtype: ['stdout'] };
    expect(dec.decompress(await comp(a))).toEqual(a);
    // the second block back-references the first: decodable only with the shared context
    expect(dec.decompress(await comp(b))).toEqual(b);
    expect(dec.decompress(await comp(a))).toEqual(a);
  });

  it('writes blocks a standard streaming inflater reads as one stream, each complete at its boundary', async () => {
    const comp = new HeaderCompressor();
    const inf = createInflate({ dictionary: SPDY3_DICTIONARY });
    const got: Buffer[] = [];
    inf.on('data', (b: Buffer) => got.push(b));
    const blocks: SpdyHeaders[] = [{ a: ['1'] }, {}, { streamtype: ['stdin'], long: ['x'.repeat(70_000)] }];
    for (const h of blocks) {
      const bytes = comp.compress(h);
      // every block ends with an empty stored block (00 00 00 ff ff), like a sync flush
      expect([...bytes.subarray(-5)]).toEqual([0, 0, 0, 0xff, 0xff]);
      await new Promise<void>((r) => inf.write(bytes, () => r()));
      await new Promise<void>((r) => inf.flush(zc.Z_SYNC_FLUSH, () => r()));
      await new Promise((r) => setImmediate(r));
      expect(parseHeaders(Buffer.concat(got.splice(0)))).toEqual(h);
    }
  });

  it('refuses garbage and unbounded header bytes', () => {
    expect(() => new HeaderDecompressor().decompress(Buffer.from('not zlib'))).toThrow(SpdyError);
    const dec = new HeaderDecompressor();
    expect(() => dec.decompress(Buffer.alloc(MAX_HEADER_BYTES_PER_CONNECTION + 1))).toThrow(/more than/);
  });
});

describe('frames', () => {
  const frames: SpdyFrame[] = [
    { type: 'syn_stream', streamId: 1, assocId: 0, priority: 0, flags: 0, headers: { streamtype: ['error'] } },
    { type: 'syn_reply', streamId: 1, flags: 0, headers: {} },
    { type: 'headers', streamId: 3, flags: 0, headers: { x: ['y'] } },
    { type: 'data', streamId: 3, flags: FLAG_FIN, data: Buffer.from('hello') },
    { type: 'rst_stream', streamId: 5, status: 5 },
    { type: 'settings', flags: 0, entries: [{ flags: 0, id: 7, value: 65536 }] },
    { type: 'ping', id: 42 },
    { type: 'goaway', lastGoodStreamId: 7, status: 0 },
    { type: 'window_update', streamId: 3, delta: 1000 },
  ];

  it('round-trip through encodeFrame and FrameParser, also byte by byte', () => {
    const comp = new HeaderCompressor();
    const wire = Buffer.concat(frames.map((f) => encodeFrame(f, comp)));
    expect(new FrameParser().push(wire)).toEqual(frames);
    const p = new FrameParser();
    const out: SpdyFrame[] = [];
    for (const b of wire) out.push(...p.push(Buffer.from([b])));
    expect(out).toEqual(frames);
  });

  it('control frames have the SPDY/3 layout', () => {
    const f = encodeFrame({ type: 'ping', id: 1 }, new HeaderCompressor());
    expect([...f]).toEqual([0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1]);
  });

  it('rejects another SPDY version and truncated control frames', () => {
    expect(() => new FrameParser().push(Buffer.from([0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1]))).toThrow(/version 2/);
    expect(() => new FrameParser().push(Buffer.from([0x80, 0x03, 0x00, 0x07, 0, 0, 0, 2, 0, 0]))).toThrow(SpdyError);
  });
});

describe('SpdyConnection (server side)', () => {
  it('replies to SYN_STREAM and PING, delivers DATA and FIN, sends ours', async () => {
    const toServer = new PassThrough();
    const fromServer = new PassThrough();
    const socket = new (await import('node:stream')).Duplex({
      read() {},
      write(c, _e, cb) {
        fromServer.write(c);
        cb();
      },
    });
    toServer.on('data', (d) => socket.push(d));
    const conn = new SpdyConnection(socket);
    const streams: SpdyStream[] = [];
    conn.onStream = (s) => streams.push(s);
    const comp = new HeaderCompressor();
    const parser = new FrameParser();
    const seen: SpdyFrame[] = [];
    fromServer.on('data', (d: Buffer) => seen.push(...parser.push(d)));
    toServer.write(encodeFrame({ type: 'syn_stream', streamId: 1, assocId: 0, priority: 0, flags: 0, headers: { streamtype: ['stdin'] } }, comp));
    toServer.write(encodeFrame({ type: 'data', streamId: 1, flags: FLAG_FIN, data: Buffer.from('in') }, comp));
    toServer.write(encodeFrame({ type: 'ping', id: 9 }, comp));
    await new Promise((r) => setTimeout(r, 10));
    expect(streams.map((s) => s.header('streamtype'))).toEqual(['stdin']);
    const body: Buffer[] = [];
    streams[0]!.on('data', (d: Buffer) => body.push(d));
    await new Promise((r) => streams[0]!.once('end', r));
    expect(Buffer.concat(body).toString()).toBe('in');
    streams[0]!.end('out');
    await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual([
      { type: 'syn_reply', streamId: 1, flags: 0, headers: {} },
      { type: 'ping', id: 9 },
      { type: 'data', streamId: 1, flags: 0, data: Buffer.from('out') },
      { type: 'data', streamId: 1, flags: FLAG_FIN, data: Buffer.alloc(0) },
    ]);
    conn.close();
    await new Promise((r) => setTimeout(r, 10));
    expect(seen.at(-1)).toEqual({ type: 'goaway', lastGoodStreamId: 1, status: 0 });
  });
});
