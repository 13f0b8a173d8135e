/**
 * Protobuf (proto3) encoding of CRI messages, driven by the descriptor that
 * hack/generate-cri.ts derives from api.proto (api-descriptor.ts). It does what
 * @grpc/proto-loader with `{ keepCase: true, longs: Number, enums: String,
 * defaults: true, oneofs: true }` did through protobufjs, for the field kinds
 * the CRI uses (scalars, enums, messages, repeated, map<string, string>; no
 * oneofs, groups or proto3 `optional`), without loading protobufjs and its
 * .proto parser at run time: ≈ 4.5 MB of the agent's RSS (docs/benchmarks.md
 * "Agent memory"). Semantics kept from protobufjs (fromObject/encode,
 * decode/toObject):
 *
 * - encode: a field is written when it is not null/undefined (repeated and map
 *   fields: when non-empty), default values included, in field-number order;
 *   repeated int32/int64 packed; enums by name or number (an unknown name is
 *   left unset); int64 from numbers (truncated) or decimal strings; bytes from
 *   a Uint8Array or a base64 string; a non-object for a message or map, or a
 *   non-array for a repeated field, throws a TypeError naming the field.
 * - decode: every field is present: defaults for the missing ones ("" , 0,
 *   false, the first enum name, an empty Buffer, null for a message, [] and
 *   {}); enums as names (a number unknown to the descriptor stays a number);
 *   64-bit integers as numbers (exact up to 2^53); bytes as Buffers; unknown
 *   fields skipped; packed and unpacked repeated numbers both accepted;
 *   truncated input throws a RangeError.
 *
 * grpc-js turns a throw from either side into an INTERNAL status on the call.
 */

/** Field kinds of the CRI's messages. `map` is map<string, string>. */
export type FieldKind = 'string' | 'bytes' | 'bool' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'double' | 'enum' | 'message' | 'map';

/** One field: name (as in the .proto), number, kind, repeated (1) or not (0), and the enum or message name for those kinds. */
export type Field = readonly [name: string, number: number, kind: FieldKind, repeated: 0 | 1, ref?: string];

/** What api-descriptor.ts holds: unary methods per service (request, response message), enums (name → number, declaration order), messages. */
export interface ProtoApi {
  readonly package: string;
  readonly services: Readonly<Record<string, Readonly<Record<string, readonly [request: string, response: string]>>>>;
  readonly enums: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly messages: Readonly<Record<string, readonly Field[]>>;
}

const TWO32 = 4294967296;

class Writer {
  buf = Buffer.allocUnsafe(256);
  pos = 0;

  #room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint32(v: number): void {
    this.#room(5);
    v >>>= 0;
    while (v > 127) {
      this.buf[this.pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  varint64(lo: number, hi: number): void {
    this.#room(10);
    while (hi) {
      this.buf[this.pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.varint32(lo);
  }

  /** A signed or unsigned integer as a 64-bit varint (negative: two's complement, 10 bytes, as protobufjs writes int32 and int64). */
  integer(v: number): void {
    const neg = v < 0;
    let a = Math.abs(v);
    if (!Number.isFinite(a)) a = 0;
    let lo = a >>> 0;
    let hi = Math.floor(a / TWO32) >>> 0;
    if (neg) {
      lo = (~lo + 1) >>> 0;
      hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
    }
    this.varint64(lo, hi);
  }

  tag(number: number, wire: number): void {
    this.varint32(((number << 3) | wire) >>> 0);
  }

  bytes(b: Uint8Array): void {
    this.varint32(b.length);
    this.#room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  double(v: number): void {
    this.#room(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

class Reader {
  readonly buf: Buffer;
  pos: number;
  /** High 32 bits of the last varint64(). */
  hi = 0;

  constructor(buf: Buffer, pos = 0) {
    this.buf = buf;
    this.pos = pos;
  }

  #byte(): number {
    if (this.pos >= this.buf.length) throw new RangeError(`protobuf: truncated message (index out of range: ${this.pos} + 1 > ${this.buf.length})`);
    return this.buf[this.pos++]!;
  }

  /** Low 32 bits of a varint (unsigned); the high ones in `hi`. */
  varint64(): number {
    let lo = 0;
    let hi = 0;
    let b: number;
    for (let shift = 0; shift < 28; shift += 7) {
      b = this.#byte();
      lo |= (b & 127) << shift;
      if (b < 128) {
        this.hi = 0;
        return lo >>> 0;
      }
    }
    b = this.#byte();
    lo |= (b & 127) << 28;
    hi = (b & 127) >> 4;
    if (b >= 128) {
      for (let shift = 3; shift < 32; shift += 7) {
        b = this.#byte();
        hi |= (b & 127) << shift;
        if (b < 128) break;
        if (shift === 31) throw new RangeError('protobuf: varint longer than 10 bytes');
      }
    }
    this.hi = hi >>> 0;
    return lo >>> 0;
  }

  length(): number {
    const n = this.varint64();
    if (this.hi || this.pos + n > this.buf.length) throw new RangeError(`protobuf: truncated message (index out of range: ${this.pos} + ${n} > ${this.buf.length})`);
    return n;
  }

  bytes(): Buffer {
    const n = this.length();
    this.pos += n;
    return this.buf.subarray(this.pos - n, this.pos);
  }

  double(): number {
    if (this.pos + 8 > this.buf.length) throw new RangeError(`protobuf: truncated message (index out of range: ${this.pos} + 8 > ${this.buf.length})`);
    this.pos += 8;
    return this.buf.readDoubleLE(this.pos - 8);
  }

  skip(wire: number, number: number): void {
    if (wire === 0) this.varint64();
    else if (wire === 1) this.#advance(8);
    else if (wire === 2) this.pos += this.length();
    else if (wire === 5) this.#advance(4);
    else if (wire === 3) {
      for (;;) {
        const t = this.varint64();
        if ((t & 7) === 4) {
          if (t >>> 3 !== number) throw new RangeError(`protobuf: group ${number} ends with ${t >>> 3}`);
          return;
        }
        this.skip(t & 7, t >>> 3);
      }
    } else throw new RangeError(`protobuf: invalid wire type ${wire} at offset ${this.pos}`);
  }

  #advance(n: number): void {
    if (this.pos + n > this.buf.length) throw new RangeError(`protobuf: truncated message (index out of range: ${this.pos} + ${n} > ${this.buf.length})`);
    this.pos += n;
  }
}

/** A 64-bit varint (lo, hi) as a number, as protobufjs LongBits.toNumber. */
function longToNumber(lo: number, hi: number, unsigned: boolean): number {
  if (!unsigned && hi >>> 31) {
    const l = (~lo + 1) >>> 0;
    let h = ~hi >>> 0;
    if (!l) h = (h + 1) >>> 0;
    return -(l + h * TWO32);
  }
  return lo + hi * TWO32;
}

const WIRE: Record<FieldKind, number> = { string: 2, bytes: 2, bool: 0, int32: 0, uint32: 0, int64: 0, uint64: 0, double: 1, enum: 0, message: 2, map: 2 };

/** Encodes and decodes the messages of one {@link ProtoApi}. Stateless apart from caches; safe to share. */
export class ProtoCodec {
  readonly api: ProtoApi;
  /** Fields by message, sorted by number (encode order). */
  readonly #sorted = new Map<string, readonly Field[]>();
  /** Fields by message and number (decode). */
  readonly #byNumber = new Map<string, Map<number, Field>>();
  /** Enum names by number. */
  readonly #enumNames = new Map<string, Map<number, string>>();

  constructor(api: ProtoApi) {
    this.api = api;
  }

  #fields(type: string): readonly Field[] {
    const f = this.api.messages[type];
    if (!f) throw new TypeError(`protobuf: no message ${this.api.package}.${type} in the descriptor`);
    return f;
  }

  /** Encodes `obj` as message `type` (a name in the descriptor, without the package). Throws TypeError on a field of the wrong shape. */
  encode(type: string, obj: object): Buffer {
    const w = new Writer();
    this.#encode(w, type, obj as Record<string, unknown>);
    return w.finish();
  }

  #encode(w: Writer, type: string, obj: Record<string, unknown>): void {
    let fields = this.#sorted.get(type);
    if (!fields) this.#sorted.set(type, (fields = [...this.#fields(type)].sort((a, b) => a[1] - b[1])));
    for (const field of fields) {
      const [name, number, kind, repeated, ref] = field;
      const v = obj[name];
      const where = `.${this.api.package}.${type}.${name}`;
      if (kind === 'map') {
        if (!v) continue;
        if (typeof v !== 'object') throw new TypeError(`${where}: object expected`);
        for (const k of Object.keys(v)) {
          const e = new Writer();
          e.tag(1, 2);
          e.bytes(Buffer.from(k, 'utf8'));
          e.tag(2, 2);
          e.bytes(Buffer.from(String((v as Record<string, unknown>)[k]), 'utf8'));
          w.tag(number, 2);
          w.bytes(e.finish());
        }
      } else if (repeated) {
        if (!v) continue;
        if (!Array.isArray(v)) throw new TypeError(`${where}: array expected`);
        if (v.length === 0) continue;
        if (WIRE[kind] === 2) {
          for (const item of v) this.#value(w, number, kind, ref, item, where);
        } else {
          // proto3 packs repeated scalar numbers
          const p = new Writer();
          for (const item of v) this.#scalar(p, kind, ref, item);
          w.tag(number, 2);
          w.bytes(p.finish());
        }
      } else if (v != null) {
        if (kind === 'enum' && this.#enumValue(ref!, v) === undefined) continue;
        this.#value(w, number, kind, ref, v, where);
      }
    }
  }

  #enumValue(ref: string, v: unknown): number | undefined {
    if (typeof v === 'number') return v;
    const values = this.api.enums[ref];
    if (!values) throw new TypeError(`protobuf: no enum ${this.api.package}.${ref} in the descriptor`);
    return typeof v === 'string' && Object.hasOwn(values, v) ? values[v] : undefined;
  }

  #value(w: Writer, number: number, kind: FieldKind, ref: string | undefined, v: unknown, where: string): void {
    if (kind === 'message') {
      if (typeof v !== 'object' || v === null) throw new TypeError(`${where}: object expected`);
      const sub = new Writer();
      this.#encode(sub, ref!, v as Record<string, unknown>);
      w.tag(number, 2);
      w.bytes(sub.finish());
    } else if (kind === 'string') {
      w.tag(number, 2);
      w.bytes(Buffer.from(String(v), 'utf8'));
    } else if (kind === 'bytes') {
      w.tag(number, 2);
      w.bytes(typeof v === 'string' ? Buffer.from(v, 'base64') : (v as Uint8Array));
    } else {
      w.tag(number, WIRE[kind]);
      this.#scalar(w, kind, ref, v);
    }
  }

  #scalar(w: Writer, kind: FieldKind, ref: string | undefined, v: unknown): void {
    switch (kind) {
      case 'bool': w.varint32(v ? 1 : 0); break;
      case 'int32': w.integer((v as number) | 0); break;
      case 'uint32': w.varint32((v as number) >>> 0); break;
      case 'int64': case 'uint64': w.integer(Math.trunc(Number(v)) || 0); break;
      case 'double': w.double(Number(v)); break;
      case 'enum': w.integer((this.#enumValue(ref!, v) ?? 0) | 0); break;
      default: throw new TypeError(`protobuf: ${kind} is not a scalar`);
    }
  }

  /** Decodes message `type` from `buf`, with every field present (see the file's header). Throws RangeError on truncated input. */
  decode(type: string, buf: Buffer): Record<string, unknown> {
    return this.#decode(new Reader(buf), type, buf.length);
  }

  #defaults(type: string): Record<string, unknown> {
    const fields = this.#fields(type);
    const o: Record<string, unknown> = {};
    // protobufjs toObject's key order: repeated fields, maps, then the rest
    for (const [name, , kind, repeated] of fields) if (repeated && kind !== 'map') o[name] = [];
    for (const [name, , kind] of fields) if (kind === 'map') o[name] = {};
    for (const [name, , kind, repeated, ref] of fields) {
      if (repeated || kind === 'map') continue;
      o[name] = kind === 'string' ? '' : kind === 'bool' ? false : kind === 'bytes' ? Buffer.alloc(0) : kind === 'message' ? null : kind === 'enum' ? this.#firstEnumName(ref!) : 0;
    }
    return o;
  }

  #firstEnumName(ref: string): string {
    const values = this.api.enums[ref];
    if (!values) throw new TypeError(`protobuf: no enum ${this.api.package}.${ref} in the descriptor`);
    return Object.keys(values)[0] ?? '';
  }

  #enumName(ref: string, n: number): string | number {
    let names = this.#enumNames.get(ref);
    if (!names) {
      names = new Map();
      for (const [k, v] of Object.entries(this.api.enums[ref] ?? {})) names.set(v, k);
      this.#enumNames.set(ref, names);
    }
    return names.get(n) ?? n;
  }

  #decode(r: Reader, type: string, end: number): Record<string, unknown> {
    let byNumber = this.#byNumber.get(type);
    if (!byNumber) this.#byNumber.set(type, (byNumber = new Map(this.#fields(type).map((f) => [f[1], f]))));
    const o = this.#defaults(type);
    while (r.pos < end) {
      const t = r.varint64();
      const number = t >>> 3;
      const wire = t & 7;
      const field = byNumber.get(number);
      if (!field || wire === 4) {
        if (wire === 4) throw new RangeError(`protobuf: unexpected end of group ${number} in ${type}`);
        r.skip(wire, number);
        continue;
      }
      const [name, , kind, repeated, ref] = field;
      if (kind === 'map') {
        const entryEnd = r.length() + r.pos;
        let k = '';
        let v = '';
        while (r.pos < entryEnd) {
          const et = r.varint64();
          if (et >>> 3 === 1) k = r.bytes().toString('utf8');
          else if (et >>> 3 === 2) v = r.bytes().toString('utf8');
          else r.skip(et & 7, et >>> 3);
        }
        (o[name] as Record<string, string>)[k] = v;
      } else if (repeated) {
        const list = o[name] as unknown[];
        if (wire === 2 && WIRE[kind] !== 2) {
          const packedEnd = r.length() + r.pos;
          while (r.pos < packedEnd) list.push(this.#read(r, kind, ref));
        } else list.push(this.#read(r, kind, ref));
      } else {
        o[name] = this.#read(r, kind, ref);
      }
    }
    if (r.pos > end) throw new RangeError(`protobuf: ${type} runs past its end`);
    return o;
  }

  #read(r: Reader, kind: FieldKind, ref: string | undefined): unknown {
    switch (kind) {
      case 'string': return r.bytes().toString('utf8');
      case 'bytes': return r.bytes();
      case 'bool': return r.varint64() !== 0 || r.hi !== 0;
      case 'int32': return r.varint64() | 0;
      case 'uint32': return r.varint64();
      case 'int64': return longToNumber(r.varint64(), r.hi, false);
      case 'uint64': return longToNumber(r.varint64(), r.hi, true);
      case 'double': return r.double();
      case 'enum': return this.#enumName(ref!, r.varint64() | 0);
      case 'message': {
        const n = r.length();
        return this.#decode(r, ref!, r.pos + n);
      }
      default: throw new TypeError(`protobuf: cannot read a ${kind}`);
    }
  }
}
