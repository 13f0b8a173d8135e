// edge/protocol: the only module that builds or parses cloud↔edge frames.
// See README.md for the frame layout, every message and the error codes.
export { ProtocolError, PROTOCOL_ERROR_CODES } from './errors.ts';
export type { ProtocolErrorCode } from './errors.ts';
export {
  DEFAULT_LIMITS,
  MAGIC,
  PREFIX_BYTES,
  PROTOCOL_VERSION,
  SUPPORTED_VERSIONS,
  decode,
  direction,
  encode,
  encodeObjectBody,
  encodeUpsert,
  resolveLimits,
  validate,
} from './codec.ts';
export type { DecodeOptions, EncodeOptions, Limits, ObjectBody } from './codec.ts';
export { FrameReader } from './frame-reader.ts';
export { MESSAGE_TYPES, REPORT_KINDS } from './messages.ts';
export type {
  Ack,
  Delete,
  Direction,
  ErrorMsg,
  HeaderPair,
  Hello,
  Inventory,
  InventoryChunk,
  Msg,
  MsgOf,
  MsgType,
  Ping,
  Pong,
  Rejection,
  Report,
  ReportAck,
  ReportKind,
  SyncDone,
  TunnelRequest,
  TunnelResponse,
  Upsert,
  Welcome,
} from './messages.ts';
export { InventoryDigest, inventoryDigest } from './digest.ts';
export { MAX_KEY_LENGTH, formatKey, parseKey } from './key.ts';
export type { ObjectRef } from './key.ts';
export type { Json } from './schema.ts';
