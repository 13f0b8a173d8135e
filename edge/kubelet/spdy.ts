/**
 * SPDY/3.1 framing, as the API server speaks it to a kubelet for exec,
 * attach and port-forward (k8s.io/apimachinery/pkg/util/httpstream/spdy on
 * github.com/moby/spdystream). The pure part (`encodeFrame`, `FrameParser`,
 * header blocks) has no I/O; {@link SpdyConnection} runs the server side of
 * one upgraded connection over any Duplex.
 *
 * Header blocks (SPDY/3 §2.6.10) are zlib with the SPDY/3 dictionary, one
 * compression context per direction for the whole connection. We write ours
 * as zlib *stored* blocks (valid deflate, no compression: headers here are a
 * few dozen bytes and rare), so encoding is synchronous and needs no zlib
 * state. We read the peer's by inflating everything received so far (each
 * block ends with a sync flush, so every prefix inflates completely) and
 * keeping the new output: O(n²) in header bytes, bounded by
 * {@link MAX_HEADER_BYTES_PER_CONNECTION} — a remote-command connection opens
 * at most 5 streams, a port-forward two per forwarded connection.
 *
 * Flow control: spdystream neither enforces nor sends WINDOW_UPDATE, so we
 * accept and ignore it, and rely on TCP (and the hub tunnel's credits).
 */
import { Duplex } from 'node:stream';
import { inflateSync, constants as zc } from 'node:zlib';

export const SPDY_VERSION = 3;
export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;
/** Bound on the peer's compressed header bytes kept per connection. */
export const MAX_HEADER_BYTES_PER_CONNECTION = 1 << 20;
/** Largest frame payload we accept (the 24-bit length allows 16 MiB). */
export const MAX_FRAME_PAYLOAD = 1 << 24;

export const CONTROL = { SYN_STREAM: 1, SYN_REPLY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, HEADERS: 8, WINDOW_UPDATE: 9 } as const;
export const RST = { PROTOCOL_ERROR: 1, INVALID_STREAM: 2, REFUSED_STREAM: 3, CANCEL: 5, INTERNAL_ERROR: 6 } as const;

/** SPDY/3 header names are lower-case; values may hold several NUL-separated entries. */
export type SpdyHeaders = Record<string, string[]>;

export type SpdyFrame =
  | { type: 'data'; streamId: number; flags: number; data: Buffer }
  | { type: 'syn_stream'; streamId: number; assocId: number; priority: number; flags: number; headers: SpdyHeaders }
  | { type: 'syn_reply'; streamId: number; flags: number; headers: SpdyHeaders }
  | { type: 'headers'; streamId: number; flags: number; headers: SpdyHeaders }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings'; flags: number; entries: { flags: number; id: number; value: number }[] }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'window_update'; streamId: number; delta: number }
  | { type: 'unknown'; controlType: number };

/** A malformed frame or header block; the connection cannot continue. */
export class SpdyError extends Error {
  readonly code: 'SPDY_PROTOCOL_ERROR' | 'SPDY_UNSUPPORTED_VERSION' | 'SPDY_HEADERS_TOO_LARGE';
  constructor(code: SpdyError['code'], message: string) {
    super(message);
    this.name = 'SpdyError';
    this.code = code;
  }
}

// The SPDY/3 header dictionary (SPDY/3 draft §2.6.10.1): length-prefixed words, then a raw tail.
const dictWords = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language',
  'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'etag',
  'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
  'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive', 'origin',
];
const dictTail = '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden' +
  '404 Not Found500 Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec' +
  ' 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,' +
  'application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';
export const SPDY3_DICTIONARY: Buffer = Buffer.concat([
  ...dictWords.map((w) => {
    const b = Buffer.alloc(4 + w.length);
    b.writeUInt32BE(w.length, 0);
    b.write(w, 4, 'latin1');
    return b;
  }),
  Buffer.from(dictTail, 'latin1'),
]);

/** Adler-32 (RFC 1950), for the zlib header's DICTID. */
export function adler32(buf: Buffer): number {
  let a = 1;
  let b = 0;
  for (const x of buf) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** Serialises a header block's name/value pairs (before compression). */
export function serializeHeaders(h: SpdyHeaders): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.alloc(4);
  const entries = Object.entries(h);
  n.writeUInt32BE(entries.length, 0);
  parts.push(n);
  for (const [k, vs] of entries) {
    const name = Buffer.from(k.toLowerCase(), 'utf8');
    const value = Buffer.from(vs.join('\0'), 'utf8');
    const l1 = Buffer.alloc(4);
    l1.writeUInt32BE(name.length, 0);
    const l2 = Buffer.alloc(4);
    l2.writeUInt32BE(value.length, 0);
    parts.push(l1, name, l2, value);
  }
  return Buffer.concat(parts);
}

/** Parses a decompressed header block. */
export function parseHeaders(b: Buffer): SpdyHeaders {
  const out: SpdyHeaders = {};
  if (b.length < 4) throw new SpdyError('SPDY_PROTOCOL_ERROR', 'header block shorter than its pair count');
  const n = b.readUInt32BE(0);
  let o = 4;
  const take = (): Buffer => {
    if (o + 4 > b.length) throw new SpdyError('SPDY_PROTOCOL_ERROR', 'header block truncated');
    const len = b.readUInt32BE(o);
    o += 4;
    if (o + len > b.length) throw new SpdyError('SPDY_PROTOCOL_ERROR', 'header block truncated');
    const s = b.subarray(o, o + len);
    o += len;
    return s;
  };
  for (let i = 0; i < n; i++) {
    const k = take().toString('utf8').toLowerCase();
    const v = take().toString('utf8');
    (out[k] ??= []).push(...v.split('\0'));
  }
  return out;
}

/**
 * Our side's header compression context: zlib stored blocks, so each call
 * returns bytes a standard inflater (with the SPDY/3 dictionary) reads as a
 * continuation of the same stream.
 */
export class HeaderCompressor {
  #started = false;

  compress(h: SpdyHeaders): Buffer {
    const raw = serializeHeaders(h);
    const parts: Buffer[] = [];
    if (!this.#started) {
      this.#started = true;
      // CMF 0x78 (deflate, 32K window), FLG with FDICT; FCHECK makes (CMF*256+FLG) % 31 == 0
      const cmf = 0x78;
      let flg = 0x20;
      flg |= 31 - ((cmf * 256 + flg) % 31);
      const dictId = Buffer.alloc(4);
      dictId.writeUInt32BE(adler32(SPDY3_DICTIONARY), 0);
      parts.push(Buffer.from([cmf, flg]), dictId);
    }
    for (let o = 0; o < raw.length || o === 0; o += 65535) {
      const chunk = raw.subarray(o, Math.min(raw.length, o + 65535));
      const hdr = Buffer.alloc(5);
      hdr[0] = 0x00; // BFINAL=0, BTYPE=00 (stored)
      hdr.writeUInt16LE(chunk.length, 1);
      hdr.writeUInt16LE(~chunk.length & 0xffff, 3);
      parts.push(hdr, chunk);
      if (raw.length === 0) break;
    }
    // An empty stored block after the data, exactly what a zlib sync flush ends with: Go's
    // flate reader hands out a stored block's bytes only once it has read the next block
    // header, and spdystream requires each frame's header block to be consumed entirely.
    parts.push(Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]));
    return Buffer.concat(parts);
  }
}

/** The peer's header compression context (see the module comment for why inflate-the-prefix). */
export class HeaderDecompressor {
  #in: Buffer[] = [];
  #inBytes = 0;
  #outBytes = 0;

  decompress(block: Buffer): SpdyHeaders {
    this.#inBytes += block.length;
    if (this.#inBytes > MAX_HEADER_BYTES_PER_CONNECTION) throw new SpdyError('SPDY_HEADERS_TOO_LARGE', `more than ${MAX_HEADER_BYTES_PER_CONNECTION} bytes of compressed headers on one connection`);
    this.#in.push(block);
    let out: Buffer;
    try {
      out = inflateSync(Buffer.concat(this.#in), { dictionary: SPDY3_DICTIONARY, finishFlush: zc.Z_SYNC_FLUSH });
    } catch (err) {
      throw new SpdyError('SPDY_PROTOCOL_ERROR', `header block does not inflate: ${(err as Error).message}`);
    }
    const fresh = out.subarray(this.#outBytes);
    this.#outBytes = out.length;
    return parseHeaders(fresh);
  }
}

function control(type: number, flags: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(((flags & 0xff) << 24 | payload.length) >>> 0, 4);
  return Buffer.concat([h, payload]);
}

/** Encodes one frame; header blocks go through `comp` (one per connection and direction). */
export function encodeFrame(f: SpdyFrame, comp: HeaderCompressor): Buffer {
  const u32 = (...v: number[]) => {
    const b = Buffer.alloc(4 * v.length);
    v.forEach((x, i) => b.writeUInt32BE(x >>> 0, 4 * i));
    return b;
  };
  switch (f.type) {
    case 'data': {
      const h = Buffer.alloc(8);
      h.writeUInt32BE(f.streamId & 0x7fffffff, 0);
      h.writeUInt32BE(((f.flags & 0xff) << 24 | f.data.length) >>> 0, 4);
      return Buffer.concat([h, f.data]);
    }
    case 'syn_stream': {
      const pri = Buffer.from([(f.priority & 7) << 5, 0]);
      return control(CONTROL.SYN_STREAM, f.flags, Buffer.concat([u32(f.streamId & 0x7fffffff, f.assocId & 0x7fffffff), pri, comp.compress(f.headers)]));
    }
    case 'syn_reply':
      return control(CONTROL.SYN_REPLY, f.flags, Buffer.concat([u32(f.streamId & 0x7fffffff), comp.compress(f.headers)]));
    case 'headers':
      return control(CONTROL.HEADERS, f.flags, Buffer.concat([u32(f.streamId & 0x7fffffff), comp.compress(f.headers)]));
    case 'rst_stream':
      return control(CONTROL.RST_STREAM, 0, u32(f.streamId & 0x7fffffff, f.status));
    case 'settings':
      return control(CONTROL.SETTINGS, f.flags, Buffer.concat([u32(f.entries.length), ...f.entries.map((e) => u32(((e.flags & 0xff) << 24 | (e.id & 0xffffff)) >>> 0, e.value))]));
    case 'ping':
      return control(CONTROL.PING, 0, u32(f.id));
    case 'goaway':
      return control(CONTROL.GOAWAY, 0, u32(f.lastGoodStreamId & 0x7fffffff, f.status));
    case 'window_update':
      return control(CONTROL.WINDOW_UPDATE, 0, u32(f.streamId & 0x7fffffff, f.delta & 0x7fffffff));
    case 'unknown':
      throw new SpdyError('SPDY_PROTOCOL_ERROR', `cannot encode unknown control frame ${f.controlType}`);
  }
}

/** Splits a byte stream into frames; header blocks go through `decomp`. Throws SpdyError. */
export class FrameParser {
  #buf: Buffer = Buffer.alloc(0);
  readonly #decomp: HeaderDecompressor;

  constructor(decomp = new HeaderDecompressor()) {
    this.#decomp = decomp;
  }

  push(chunk: Buffer): SpdyFrame[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const out: SpdyFrame[] = [];
    while (this.#buf.length >= 8) {
      const len = this.#buf.readUInt32BE(4) & 0xffffff;
      if (len > MAX_FRAME_PAYLOAD) throw new SpdyError('SPDY_PROTOCOL_ERROR', `frame of ${len} bytes`);
      if (this.#buf.length < 8 + len) break;
      const frame = this.#buf.subarray(0, 8 + len);
      this.#buf = this.#buf.subarray(8 + len);
      out.push(this.#parse(frame));
    }
    return out;
  }

  #parse(b: Buffer): SpdyFrame {
    const flags = b[4]!;
    const p = b.subarray(8);
    if ((b[0]! & 0x80) === 0) return { type: 'data', streamId: b.readUInt32BE(0) & 0x7fffffff, flags, data: Buffer.from(p) };
    const version = b.readUInt16BE(0) & 0x7fff;
    if (version !== SPDY_VERSION) throw new SpdyError('SPDY_UNSUPPORTED_VERSION', `SPDY version ${version}; only 3 is spoken`);
    const type = b.readUInt16BE(2);
    const need = (n: number) => {
      if (p.length < n) throw new SpdyError('SPDY_PROTOCOL_ERROR', `control frame ${type} of ${p.length} bytes is shorter than ${n}`);
    };
    const id = (o: number) => p.readUInt32BE(o) & 0x7fffffff;
    switch (type) {
      case CONTROL.SYN_STREAM:
        need(10);
        return { type: 'syn_stream', streamId: id(0), assocId: id(4), priority: p[8]! >> 5, flags, headers: this.#decomp.decompress(p.subarray(10)) };
      case CONTROL.SYN_REPLY:
        need(4);
        return { type: 'syn_reply', streamId: id(0), flags, headers: this.#decomp.decompress(p.subarray(4)) };
      case CONTROL.HEADERS:
        need(4);
        return { type: 'headers', streamId: id(0), flags, headers: this.#decomp.decompress(p.subarray(4)) };
      case CONTROL.RST_STREAM:
        need(8);
        return { type: 'rst_stream', streamId: id(0), status: p.readUInt32BE(4) };
      case CONTROL.SETTINGS: {
        need(4);
        const n = p.readUInt32BE(0);
        need(4 + 8 * n);
        const entries = [];
        for (let i = 0; i < n; i++) entries.push({ flags: p[4 + 8 * i]!, id: p.readUInt32BE(4 + 8 * i) & 0xffffff, value: p.readUInt32BE(8 + 8 * i) });
        return { type: 'settings', flags, entries };
      }
      case CONTROL.PING:
        need(4);
        return { type: 'ping', id: p.readUInt32BE(0) };
      case CONTROL.GOAWAY:
        need(8);
        return { type: 'goaway', lastGoodStreamId: id(0), status: p.readUInt32BE(4) };
      case CONTROL.WINDOW_UPDATE:
        need(8);
        return { type: 'window_update', streamId: id(0), delta: p.readUInt32BE(4) & 0x7fffffff };
      default:
        return { type: 'unknown', controlType: type };
    }
  }
}

/** One stream the peer opened: readable = its DATA, writable = our DATA (end() sends FIN). */
export class SpdyStream extends Duplex {
  readonly id: number;
  readonly headers: SpdyHeaders;
  readonly #conn: SpdyConnection;
  remoteClosed = false;

  constructor(conn: SpdyConnection, id: number, headers: SpdyHeaders) {
    super({ allowHalfOpen: true });
    this.#conn = conn;
    this.id = id;
    this.headers = headers;
  }

  header(name: string): string | undefined {
    return this.headers[name]?.[0];
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#conn.writeData(this.id, chunk, false, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#conn.writeData(this.id, Buffer.alloc(0), true, cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#conn.forget(this.id, err !== null);
    cb(err);
  }
}

/**
 * Server side of one SPDY/3.1 connection: answers every SYN_STREAM with a
 * SYN_REPLY (as spdystream's server does), echoes PINGs, and hands each new
 * stream to `onStream`. `close()` sends GOAWAY and ends the socket.
 */
export class SpdyConnection {
  readonly #socket: Duplex;
  readonly #comp = new HeaderCompressor();
  readonly #parser = new FrameParser();
  readonly #streams = new Map<number, SpdyStream>();
  #lastStreamId = 0;
  #closed = false;
  onStream: (s: SpdyStream) => void = () => undefined;
  readonly #closeCbs: (() => void)[] = [];

  constructor(socket: Duplex) {
    this.#socket = socket;
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('end', () => this.#teardown());
    socket.on('close', () => this.#teardown());
    socket.on('error', () => this.#teardown());
  }

  get closed(): boolean {
    return this.#closed;
  }

  onClose(cb: () => void): void {
    if (this.#closed) queueMicrotask(cb);
    else this.#closeCbs.push(cb);
  }

  #send(f: SpdyFrame, cb?: (err?: Error | null) => void): void {
    if (this.#closed) {
      cb?.();
      return;
    }
    this.#socket.write(encodeFrame(f, this.#comp), cb ? (err) => cb(err ?? null) : undefined);
  }

  writeData(id: number, data: Buffer, fin: boolean, cb: (err?: Error | null) => void): void {
    if (this.#closed) return cb();
    // keep DATA frames modest so one stream cannot hog the socket
    for (let o = 0; o < data.length; o += 32 * 1024) {
      const last = o + 32 * 1024 >= data.length;
      this.#send({ type: 'data', streamId: id, flags: fin && last ? FLAG_FIN : 0, data: data.subarray(o, o + 32 * 1024) }, last ? cb : undefined);
    }
    if (data.length === 0) this.#send({ type: 'data', streamId: id, flags: fin ? FLAG_FIN : 0, data }, cb);
  }

  forget(id: number, reset: boolean): void {
    if (!this.#streams.delete(id)) return;
    if (reset) this.#send({ type: 'rst_stream', streamId: id, status: RST.CANCEL });
  }

  #onData(d: Buffer): void {
    if (this.#closed) return;
    let frames: SpdyFrame[];
    try {
      frames = this.#parser.push(d);
    } catch {
      this.#send({ type: 'goaway', lastGoodStreamId: this.#lastStreamId, status: 1 });
      this.close();
      return;
    }
    for (const f of frames) this.#onFrame(f);
  }

  #onFrame(f: SpdyFrame): void {
    switch (f.type) {
      case 'syn_stream': {
        if (this.#streams.has(f.streamId)) return this.#send({ type: 'rst_stream', streamId: f.streamId, status: RST.PROTOCOL_ERROR });
        this.#lastStreamId = Math.max(this.#lastStreamId, f.streamId);
        const s = new SpdyStream(this, f.streamId, f.headers);
        this.#streams.set(f.streamId, s);
        this.#send({ type: 'syn_reply', streamId: f.streamId, flags: 0, headers: {} });
        if (f.flags & FLAG_FIN) {
          s.remoteClosed = true;
          s.push(null);
        }
        this.onStream(s);
        return;
      }
      case 'data': {
        const s = this.#streams.get(f.streamId);
        if (!s) return;
        if (f.data.length) s.push(f.data);
        if (f.flags & FLAG_FIN && !s.remoteClosed) {
          s.remoteClosed = true;
          s.push(null);
        }
        return;
      }
      case 'rst_stream': {
        const s = this.#streams.get(f.streamId);
        this.#streams.delete(f.streamId);
        s?.destroy();
        return;
      }
      case 'ping':
        return this.#send({ type: 'ping', id: f.id });
      case 'goaway':
        return this.close();
      default:
        return; // SETTINGS, WINDOW_UPDATE, HEADERS, unknown: nothing to do
    }
  }

  /** Sends GOAWAY, ends the socket and destroys every stream. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#send({ type: 'goaway', lastGoodStreamId: this.#lastStreamId, status: 0 });
    this.#socket.end();
    this.#teardown();
  }

  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#streams.values()) s.destroy();
    this.#streams.clear();
    for (const cb of this.#closeCbs.splice(0)) cb();
    setTimeout(() => this.#socket.destroy(), 2000).unref();
  }
}
