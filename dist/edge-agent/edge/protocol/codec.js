// Frame layout, version 1 (all integers big-endian):
//
//   offset  size  field
//   0       2     magic "OP" (0x4f 0x50)
//   2       1     version (1)
//   3       1     flags (reserved, 0)
//   4       4     H = length of the JSON head
//   8       4     B = length of the body
//   12      H     head: UTF-8 JSON object {"type": …, …fields}
//   12+H    B     body: upsert → the object's UTF-8 JSON; request/response → bytes; others → empty
//
// Bytes 0..2 are frozen across versions so any build can tell "not ours" from
// "newer than me". The body sits outside the JSON so the cloud can encode an
// object version once (encodeObjectBody) and copy the same bytes into every
// session's upsert frame (encodeUpsert) without re-serialising it.
import { ProtocolError } from './errors.js';
                                                             
import { MESSAGE_TYPES, SPECS } from './messages.js';
                                       
import { describe, fail, isPlainObject, jsonObject } from './schema.js';

/** The two magic bytes every frame starts with ("OP"). */
export const MAGIC = Object.freeze([0x4f, 0x50]         );
/** The version this build encodes. */
export const PROTOCOL_VERSION = 1;
/** Versions this build decodes. A breaking change adds a version here, handled side by side. */
export const SUPPORTED_VERSIONS                    = Object.freeze([1]);
/** Size of the fixed prefix (magic, version, flags, two lengths). */
export const PREFIX_BYTES = 12;

/** Resource bounds for encoding and decoding. */
                         
                                                                                                       
                        
                                                                                 
                   
 

/** 16 MiB frames, JSON nested at most 100 deep. */
export const DEFAULT_LIMITS                   = Object.freeze({ maxFrameBytes: 16 * 1024 * 1024, maxDepth: 100 });

/**
 * Fills in defaults and checks `limits`. Throws PROTO_INVALID_LIMITS for
 * values outside maxFrameBytes 64..2^32 and maxDepth 8..1000.
 */
export function resolveLimits(limits                  )         {
  if (limits === undefined) return DEFAULT_LIMITS;
  const out = { ...DEFAULT_LIMITS, ...limits };
  if (!Number.isInteger(out.maxFrameBytes) || out.maxFrameBytes < 64 || out.maxFrameBytes > 2 ** 32) {
    throw new ProtocolError('PROTO_INVALID_LIMITS', `limits.maxFrameBytes must be an integer in [64, 2^32], got ${describe(out.maxFrameBytes)}`);
  }
  if (!Number.isInteger(out.maxDepth) || out.maxDepth < 8 || out.maxDepth > 1000) {
    throw new ProtocolError('PROTO_INVALID_LIMITS', `limits.maxDepth must be an integer in [8, 1000], got ${describe(out.maxDepth)}`);
  }
  return Object.freeze(out);
}

/**
 * Checks the first `bytes.length` (possibly fewer than 12) bytes of a frame
 * and returns the full frame length once the prefix is complete, or undefined
 * while it is not. Rejects a bad magic or version as soon as those bytes are
 * present, and an oversized frame before a byte of its payload is buffered.
 */
export function readPrefix(bytes            , limits        )                     {
  const n = bytes.length;
  if ((n > 0 && bytes[0] !== MAGIC[0]) || (n > 1 && bytes[1] !== MAGIC[1])) {
    throw new ProtocolError('PROTO_BAD_MAGIC', `not an Outpost frame: expected magic 4f50 ("OP"), got ${hex(bytes.subarray(0, 2))}; is the peer speaking another protocol?`);
  }
  if (n > 2 && !SUPPORTED_VERSIONS.includes(bytes[2] )) {
    throw new ProtocolError('PROTO_UNSUPPORTED_VERSION', `frame version ${bytes[2]} is not supported (this build speaks ${SUPPORTED_VERSIONS.join(', ')}); upgrade the older side`);
  }
  if (n > 3 && bytes[3] !== 0) {
    throw new ProtocolError('PROTO_BAD_FLAGS', `flags byte is 0x${hex(bytes.subarray(3, 4))}; version 1 defines no flags, so it must be 0`);
  }
  if (n < PREFIX_BYTES) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, PREFIX_BYTES);
  const total = PREFIX_BYTES + view.getUint32(4) + view.getUint32(8);
  if (total > limits.maxFrameBytes) {
    throw new ProtocolError('PROTO_FRAME_TOO_LARGE', `frame of ${total} bytes exceeds the limit of ${limits.maxFrameBytes}; split the data (inventory chunks, stream chunks) or raise limits.maxFrameBytes on both sides`);
  }
  return total;
}

/** Options for {@link decode}. */
                                
                           
                                                                                                                         
                            
 

/**
 * Parses exactly one frame. Validates everything: prefix, sizes, UTF-8, JSON,
 * nesting, every field's type and range, and the body. Pure; throws only
 * ProtocolError. The returned `body` is a view into `bytes` (no copy): do not
 * reuse `bytes` while the message is alive.
 */
export function decode(bytes            , options                )      {
  if (!(bytes instanceof Uint8Array)) {
    throw new ProtocolError('PROTO_BAD_MAGIC', `not an Outpost frame: expected bytes, got ${describe(bytes)} (WebSocket text messages are not frames)`);
  }
  const limits = resolveLimits(options?.limits);
  const total = readPrefix(bytes, limits);
  if (total === undefined || bytes.length < total) {
    throw new ProtocolError('PROTO_TRUNCATED', `frame truncated: have ${bytes.length} bytes, the prefix announces ${total ?? `at least ${PREFIX_BYTES}`}`);
  }
  if (bytes.length > total) {
    throw new ProtocolError('PROTO_TRAILING_BYTES', `${bytes.length - total} bytes after the end of a ${total}-byte frame; send one frame per message, or split streams with FrameReader`);
  }
  const headEnd = PREFIX_BYTES + new DataView(bytes.buffer, bytes.byteOffset, PREFIX_BYTES).getUint32(4);
  const head = parseJson(bytes.subarray(PREFIX_BYTES, headEnd), 'head', limits);
  if (!isPlainObject(head)) fail('head', 'a JSON object', head);
  const type = head.type;
  if (typeof type !== 'string') fail('head.type', 'a message type', type);
  const spec = specOf(type);
  if (options?.direction !== undefined && spec.dir !== 'both' && spec.dir !== options.direction) {
    throw new ProtocolError('PROTO_WRONG_DIRECTION', `"${type}" travels ${spec.dir === 'up' ? 'edge → cloud' : 'cloud → edge'} only, but arrived going ${options.direction}`);
  }
  const msg = spec.schema.check(head, type, { maxDepth: limits.maxDepth })                           ;
  const body = bytes.subarray(headEnd);
  if (spec.body === 'none') {
    if (body.length > 0) fail(`${type}.body`, 'no body', body);
    return msg                  ;
  }
  if (spec.body === 'object') parseJsonObject(body, `${type}.body`, limits);
  msg.body = body;
  return msg                  ;
}

/** Options for {@link encode} and friends. */
                                
                           
 

/**
 * Validates `msg` like {@link decode} would and encodes it as one canonical
 * frame (fields in schema order), so `encode(decode(f))` equals `f` for any
 * canonical frame. Pure; throws only ProtocolError.
 */
export function encode(msg     , options                )             {
  const limits = resolveLimits(options?.limits);
  const { head, body } = split(msg, limits);
  return assemble(JSON.stringify(head), body, limits);
}

/**
 * Validates `msg` and returns a canonical copy (bodies are shared, not
 * copied). Use it to check a message early; `encode` does it anyway. Throws
 * only ProtocolError.
 */
export function validate               (msg   , options                )    {
  const limits = resolveLimits(options?.limits);
  const { head, body } = split(msg, limits);
  return (body === undefined ? head : { ...head, body })                ;
}

/** Object bytes produced by {@link encodeObjectBody}: UTF-8 JSON, validated once. Do not mutate. */
                                                                      

// Bodies this module encoded itself; encode/encodeUpsert skip re-validating them.
const trusted = new WeakSet            ();

/**
 * Serialises a Kubernetes object ONCE, for every session that needs this
 * version. Requires plain JSON (no class instances, Dates, undefined or
 * cycles) nested at most `limits.maxDepth`. Pure; throws only ProtocolError.
 */
export function encodeObjectBody(object        , options                )             {
  const limits = resolveLimits(options?.limits);
  const checked = jsonObject(1).check(object, 'object', { maxDepth: limits.maxDepth });
  const bytes = encoder.encode(JSON.stringify(checked));
  trusted.add(bytes);
  return bytes              ;
}

/**
 * Builds an upsert frame around already-encoded object bytes: only the small
 * head is serialised, the body is copied verbatim. Bytes from
 * {@link encodeObjectBody} are not parsed again; other bytes are validated.
 * Pure; throws only ProtocolError.
 */
export function encodeUpsert(seq        , key        , rv        , body            , options                )             {
  return encode({ type: 'upsert', seq, key, rv, body }, options);
}

// --- internals -------------------------------------------------------------

const encoder = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function specOf(type        )                          {
  if (!Object.hasOwn(SPECS, type)) {
    throw new ProtocolError('PROTO_UNKNOWN_TYPE', `unknown message type ${describe(type)}; this build knows ${MESSAGE_TYPES.join(', ')}. A newer peer must only send types the other side advertised`, { field: 'head.type' });
  }
  return SPECS[type           ];
}

// Validates a message for encoding and splits it into canonical head and body.
function split(msg         , limits        )                                                                  {
  if (!isPlainObject(msg)) fail('message', 'a message object', msg);
  const type = msg.type;
  if (typeof type !== 'string') fail('message.type', 'a message type', type);
  const spec = specOf(type);
  const ctx      = { maxDepth: limits.maxDepth };
  if (spec.body === 'none') return { head: spec.schema.check(msg, type, ctx)                           , body: undefined };
  const { body, ...rest } = msg;
  if (!(body instanceof Uint8Array)) fail(`${type}.body`, 'a Uint8Array', body);
  const head = spec.schema.check(rest, type, ctx)                           ;
  if (spec.body === 'object' && !trusted.has(body)) parseJsonObject(body, `${type}.body`, limits);
  return { head, body };
}

function assemble(head        , body                        , limits        )             {
  const headBytes = encoder.encode(head);
  const bodyLength = body?.length ?? 0;
  const total = PREFIX_BYTES + headBytes.length + bodyLength;
  if (total > limits.maxFrameBytes) {
    throw new ProtocolError('PROTO_FRAME_TOO_LARGE', `frame of ${total} bytes exceeds the limit of ${limits.maxFrameBytes}; split the data (inventory chunks, stream chunks) or raise limits.maxFrameBytes on both sides`);
  }
  const frame = new Uint8Array(total);
  frame.set(MAGIC, 0);
  frame[2] = PROTOCOL_VERSION;
  const view = new DataView(frame.buffer);
  view.setUint32(4, headBytes.length);
  view.setUint32(8, bodyLength);
  frame.set(headBytes, PREFIX_BYTES);
  if (body !== undefined) frame.set(body, PREFIX_BYTES + headBytes.length);
  return frame;
}

// UTF-8 → JSON, nesting checked on the raw bytes first so a hostile
// "[[[[…" never reaches JSON.parse.
function parseJson(bytes            , what        , limits        )          {
  if (nestingExceeds(bytes, limits.maxDepth)) {
    throw new ProtocolError('PROTO_TOO_DEEP', `${what}: JSON nested deeper than ${limits.maxDepth} levels`, { field: what });
  }
  let text        ;
  try {
    text = utf8.decode(bytes);
  } catch (cause) {
    throw new ProtocolError('PROTO_BAD_JSON', `${what}: not valid UTF-8`, { field: what, cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ProtocolError('PROTO_BAD_JSON', `${what}: not valid JSON (${(cause         ).message})`, { field: what, cause });
  }
}

function parseJsonObject(bytes            , what        , limits        )       {
  const value = parseJson(bytes, what, limits);
  if (!isPlainObject(value)) fail(what, 'a JSON object', value);
}

// Counts [ and { outside strings. Multi-byte UTF-8 sequences never contain
// ASCII bytes, so scanning bytes is exact.
function nestingExceeds(bytes            , max        )          {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ;
    if (inString) {
      if (b === 0x5c) i++; // backslash: skip the escaped byte
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x7b || b === 0x5b) {
      if (++depth > max) return true;
    } else if (b === 0x7d || b === 0x5d) depth--;
  }
  return false;
}

function hex(bytes            )         {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Who may send a message of this type: `up` (edge → cloud), `down` or `both`. */
export function direction(type         )            {
  return SPECS[type].dir;
}
