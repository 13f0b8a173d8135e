import { OutpostError } from '../../lib/errors.js';

/**
 * Every code a {@link ProtocolError} can carry. Stable: codes are listed in
 * README.md, never renamed and never reused.
 */
export const PROTOCOL_ERROR_CODES = [
  'PROTO_TRUNCATED',
  'PROTO_BAD_MAGIC',
  'PROTO_UNSUPPORTED_VERSION',
  'PROTO_BAD_FLAGS',
  'PROTO_FRAME_TOO_LARGE',
  'PROTO_TRAILING_BYTES',
  'PROTO_BAD_JSON',
  'PROTO_TOO_DEEP',
  'PROTO_UNKNOWN_TYPE',
  'PROTO_WRONG_DIRECTION',
  'PROTO_INVALID_FIELD',
  'PROTO_INVALID_LIMITS',
]         ;

/** A stable protocol error code; see README.md for what each one means. */
                                                                      

/**
 * The only error `edge/protocol` throws for bad frames, bad messages or bad
 * limits. A session that sees one while decoding should send an `error`
 * frame with the same code and close: the byte stream cannot be trusted
 * after it.
 */
export class ProtocolError extends OutpostError                    {
  /** Dotted path of the offending field (`upsert.seq`), when there is one. */
           field                    ;
  constructor(code                   , message        , options                                      ) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.field = options?.field;
  }
}
