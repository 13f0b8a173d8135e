// One interface and one schema per message. The interfaces are the contract
// (documented per field); each schema is type-checked against its interface
// (`obj<T>(shape: Shape<T>)`), so the two cannot drift. Field order in a
// schema is the canonical order on the wire.
import { keyProblem } from './key.ts';
import type { Field, Json } from './schema.ts';
import { bool, fail, int, jsonObject, list, map, obj, oneOf, opt, pair, str } from './schema.ts';

/** Largest integer JSON carries exactly (2^53-1). */
const MAX_INT = Number.MAX_SAFE_INTEGER;
/** Largest u32: stream ids. */
const MAX_U32 = 0xffff_ffff;

/** Every message type, in README order. A closed set: anything else is PROTO_UNKNOWN_TYPE. */
export const MESSAGE_TYPES = [
  'hello',
  'welcome',
  'inventory',
  'upsert',
  'delete',
  'sync-done',
  'ack',
  'report',
  'report-ack',
  'ping',
  'pong',
  'error',
  'request',
  'response',
] as const;

/** A message type. */
export type MsgType = (typeof MESSAGE_TYPES)[number];

/** Report kinds the cloud knows how to write. A new kind is added behind a capability, not a version. */
export const REPORT_KINDS = ['node-register', 'node-status', 'lease', 'pod-status', 'event', 'device-twin', 'device-state'] as const;

/** What a `report` is about. */
export type ReportKind = (typeof REPORT_KINDS)[number];

/** Key → resourceVersion, the edge's view of what it has applied. */
export type Inventory = Record<string, string>;

/** `[name, value]`; names are lower-case HTTP tokens, repeats allowed and kept in order. */
export type HeaderPair = [name: string, value: string];

/** Edge → cloud, first frame of a session. Node identity comes from the client certificate, never from here. */
export interface Hello {
  type: 'hello';
  /** Protocol versions the edge speaks, e.g. `[1]`. */
  versions: number[];
  /** Optional features the edge supports (lower-case, e.g. `"tunnel"`). Unknown ones are ignored. */
  caps: string[];
  /** Agent build, e.g. `"outpost-edge/0.1.0"`. */
  agent: string;
  /** Receive window: most unacknowledged `upsert`/`delete` frames the cloud may have in flight. */
  window: number;
  /** {@link inventoryDigest} of the edge store. */
  digest: string;
  /** The full inventory, when small enough to send up front (saves a round trip). */
  inventory?: Inventory;
}

/** Cloud → edge, answer to `hello`. */
export interface Welcome {
  type: 'welcome';
  /** The version both sides use from now on. */
  version: number;
  /** Session id, for logs on both sides. */
  session: string;
  /** Optional features the cloud supports and will use. */
  caps: string[];
  /** The edge sends `ping` at this interval; the cloud closes the session after 3 missed. */
  heartbeatMs: number;
  /** `delta`: only changes against the edge inventory follow. `full`: everything follows; prune the rest at `sync-done`. */
  resume: 'delta' | 'full';
  /** Send `inventory` frames before the cloud computes the delta (digest mismatch, no inventory in hello). */
  wantInventory: boolean;
  /** Most unacknowledged `report` frames the edge may have in flight. */
  window: number;
}

/** Edge → cloud: the full inventory, possibly split across several frames. */
export interface InventoryChunk {
  type: 'inventory';
  /** 0, 1, 2, … within this session. */
  chunk: number;
  /** True on the final chunk. */
  last: boolean;
  items: Inventory;
}

/** Cloud → edge: store this object version. Idempotent: re-applying the same key and rv is a no-op. */
export interface Upsert {
  type: 'upsert';
  /** Per-session sequence number, 1, 2, 3, … shared with `delete`. */
  seq: number;
  key: string;
  /** `metadata.resourceVersion` of the object in `body`. */
  rv: string;
  /** The object as UTF-8 JSON, exactly as the cloud encoded it once for every session. */
  body: Uint8Array;
}

/** Cloud → edge: remove this object. Idempotent. */
export interface Delete {
  type: 'delete';
  seq: number;
  key: string;
  /** Last resourceVersion the cloud saw, when known. */
  rv?: string;
  /** `deleted`: gone from the API server. `unassigned`: still exists, no longer for this node. */
  reason: 'deleted' | 'unassigned';
}

/** Cloud → edge: resume is complete up to `seq`; after applying it the edge may prune keys the resume did not confirm. */
export interface SyncDone {
  type: 'sync-done';
  seq: number;
}

/** Edge → cloud, cumulative: every `upsert`/`delete` with seq <= `seq` is applied durably. */
export interface Ack {
  type: 'ack';
  seq: number;
}

/** Edge → cloud: one upstream change, kept in the edge outbox until acknowledged. */
export interface Report {
  type: 'report';
  /** Durable, unique per edge (e.g. the outbox row id); resending the same id is safe. */
  id: string;
  kind: ReportKind;
  /** Object the report is about, e.g. `v1/Node//edge-1`. */
  key: string;
  payload: { [key: string]: Json };
}

/** A report the cloud refuses for good; the edge drops it from its outbox. */
export interface Rejection {
  id: string;
  /** Stable code, e.g. `Forbidden`, `Invalid` (API server reason) or an Outpost code. */
  code: string;
  message: string;
}

/** Cloud → edge: reports written to the API server (`ids`) or refused for good (`rejected`). */
export interface ReportAck {
  type: 'report-ack';
  ids: string[];
  rejected: Rejection[];
}

/** Either side: liveness probe. */
export interface Ping {
  type: 'ping';
  /** Sender clock, ms since the epoch. */
  ts: number;
}

/** Answer to `ping`, echoing its `ts`. */
export interface Pong {
  type: 'pong';
  ts: number;
}

/** Either side: something went wrong. `fatal`: the sender closes the session after this frame. */
export interface ErrorMsg {
  type: 'error';
  /** Stable code, e.g. a PROTO_* code. */
  code: string;
  message: string;
  fatal: boolean;
}

/** Opens a tunnelled HTTP-style stream (kubectl logs/exec); `body` is the first request chunk. */
export interface TunnelRequest {
  type: 'request';
  /** Stream id, unique among open streams of the session. */
  id: number;
  method: string;
  /** Path and query, e.g. `/containerLogs/ns/pod/c?follow=true`. */
  path: string;
  headers: HeaderPair[];
  /** True when the request body is complete. */
  end: boolean;
  body: Uint8Array;
}

/** One chunk of the answer to `request` `id`; the first chunk carries `status` and `headers`. */
export interface TunnelResponse {
  type: 'response';
  id: number;
  status?: number;
  headers?: HeaderPair[];
  /** True on the last chunk: the stream is closed. */
  end: boolean;
  body: Uint8Array;
}

/** Any message. Narrow on `type` with an exhaustive switch. */
export type Msg = Hello | Welcome | InventoryChunk | Upsert | Delete | SyncDone | Ack | Report | ReportAck | Ping | Pong | ErrorMsg | TunnelRequest | TunnelResponse;

/** The message with the given type. */
export type MsgOf<T extends MsgType> = Extract<Msg, { type: T }>;

/** Who may send a message: `up` = edge → cloud, `down` = cloud → edge, `both`. */
export type Direction = 'up' | 'down' | 'both';

/** What follows the JSON header of a frame: nothing, a JSON object (upsert) or opaque bytes. */
export type BodyKind = 'none' | 'object' | 'bytes';

// Field vocabulary.
const key: Field<string> = {
  optional: false,
  check: (v, path) => {
    const problem = keyProblem(v);
    return problem === undefined ? (v as string) : fail(path, problem, v);
  },
};
// Opaque in Kubernetes, decimal in etcd; printable ASCII so the digest's tab
// separator stays unambiguous.
const rv = str(64, /^[\x21-\x7e]+$/, 'a resourceVersion (1..64 printable ASCII characters)');
const seq = int(1, MAX_INT);
const cumulative = int(0, MAX_INT);
const cap = str(32, /^[a-z][a-z0-9-]*$/, 'a capability (lower-case letters, digits, "-"; at most 32)');
const caps = list(cap, 0, 64, true);
const version = int(1, 255);
const windowSize = int(1, 65535);
const inventory = map(key, rv, 10_000_000);
const id = str(64, /^[A-Za-z0-9._:-]+$/, 'an id (1..64 of A-Z a-z 0-9 . _ : -)');
const code = str(64, /^[A-Za-z][A-Za-z0-9_]*$/, 'a code (a letter, then letters, digits, "_"; at most 64)');
const message = str(4096, undefined, 'a message of at most 4096 characters');
const streamId = int(1, MAX_U32);
const headers = list(
  pair(
    str(256, /^[a-z0-9!#$%&'*+.^_`|~-]+$/, 'a lower-case HTTP header name'),
    str(8192, /^[\t\x20-\x7e\x80-\uffff]*$/, 'a header value without control characters (at most 8192)'),
  ),
  0,
  256,
);

/** Per type: the JSON header schema (body excluded), what follows it, and who may send it. */
export const SPECS: { readonly [T in MsgType]: { schema: Field<Omit<MsgOf<T>, 'body'>>; body: BodyKind; dir: Direction } } = {
  hello: {
    dir: 'up',
    body: 'none',
    schema: obj<Hello>({
      type: oneOf(['hello']),
      versions: list(version, 1, 16, true),
      caps,
      agent: str(128, /^[\x20-\x7e]+$/, 'an agent version (1..128 printable ASCII characters)'),
      window: windowSize,
      digest: str(64, /^[0-9a-f]{64}$/, 'a digest (64 lower-case hex digits)'),
      inventory: opt(inventory),
    }),
  },
  welcome: {
    dir: 'down',
    body: 'none',
    schema: obj<Welcome>({
      type: oneOf(['welcome']),
      version,
      session: id,
      caps,
      heartbeatMs: int(100, 3_600_000),
      resume: oneOf(['delta', 'full']),
      wantInventory: bool(),
      window: windowSize,
    }),
  },
  inventory: {
    dir: 'up',
    body: 'none',
    schema: obj<InventoryChunk>({ type: oneOf(['inventory']), chunk: int(0, MAX_U32), last: bool(), items: inventory }),
  },
  upsert: {
    dir: 'down',
    body: 'object',
    schema: obj<Omit<Upsert, 'body'>>({ type: oneOf(['upsert']), seq, key, rv }),
  },
  delete: {
    dir: 'down',
    body: 'none',
    schema: obj<Delete>({ type: oneOf(['delete']), seq, key, rv: opt(rv), reason: oneOf(['deleted', 'unassigned']) }),
  },
  'sync-done': { dir: 'down', body: 'none', schema: obj<SyncDone>({ type: oneOf(['sync-done']), seq: cumulative }) },
  ack: { dir: 'up', body: 'none', schema: obj<Ack>({ type: oneOf(['ack']), seq: cumulative }) },
  report: {
    dir: 'up',
    body: 'none',
    schema: obj<Report>({ type: oneOf(['report']), id, kind: oneOf(REPORT_KINDS), key, payload: jsonObject(2) }),
  },
  'report-ack': {
    dir: 'down',
    body: 'none',
    schema: nonEmptyReportAck(
      obj<ReportAck>({
        type: oneOf(['report-ack']),
        ids: list(id, 0, 65536),
        rejected: list(obj<Rejection>({ id, code, message }), 0, 65536),
      }),
    ),
  },
  ping: { dir: 'both', body: 'none', schema: obj<Ping>({ type: oneOf(['ping']), ts: int(0, MAX_INT) }) },
  pong: { dir: 'both', body: 'none', schema: obj<Pong>({ type: oneOf(['pong']), ts: int(0, MAX_INT) }) },
  error: { dir: 'both', body: 'none', schema: obj<ErrorMsg>({ type: oneOf(['error']), code, message, fatal: bool() }) },
  request: {
    dir: 'both',
    body: 'bytes',
    schema: obj<Omit<TunnelRequest, 'body'>>({
      type: oneOf(['request']),
      id: streamId,
      method: str(16, /^[A-Z]+$/, 'an HTTP method (upper-case, at most 16)'),
      path: str(8192, /^\/[\x21-\x7e]*$/, 'a path starting with "/" (printable ASCII, no spaces, at most 8192)'),
      headers,
      end: bool(),
    }),
  },
  response: {
    dir: 'both',
    body: 'bytes',
    schema: obj<Omit<TunnelResponse, 'body'>>({ type: oneOf(['response']), id: streamId, status: opt(int(100, 599)), headers: opt(headers), end: bool() }),
  },
};

// An empty report-ack says nothing; refusing it catches a sender bug early.
function nonEmptyReportAck(f: Field<ReportAck>): Field<ReportAck> {
  return {
    optional: false,
    check: (v, path, ctx) => {
      const out = f.check(v, path, ctx);
      if (out.ids.length + out.rejected.length === 0) fail(`${path}.ids`, 'at least one id in ids or rejected', out.ids);
      return out;
    },
  };
}
