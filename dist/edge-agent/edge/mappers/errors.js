import { OutpostError } from '../../lib/errors.js';

/** Every code a {@link MapperError} can carry. Stable: listed in README.md files, never renamed or reused. */
export const MAPPER_ERROR_CODES = [
  'MAPPER_CONFIG_INVALID',
  'MAPPER_UNSUPPORTED',
  'MAPPER_CONNECT_FAILED',
  'MAPPER_CONNECTION_LOST',
  'MAPPER_TIMEOUT',
  'MAPPER_VALUE_INVALID',
  'MODBUS_TRUNCATED',
  'MODBUS_BAD_PROTOCOL_ID',
  'MODBUS_BAD_LENGTH',
  'MODBUS_UNKNOWN_FUNCTION',
  'MODBUS_BAD_RESPONSE',
  'MODBUS_INVALID_REQUEST',
  'MODBUS_EXCEPTION',
]         ;

                                                                  

/** Errors of the mappers and their protocol codecs. */
export class MapperError extends OutpostError                  {
  /** Modbus exception code (1 illegal function, 2 illegal data address, 3 illegal data value, 4 device failure, …) for MODBUS_EXCEPTION. */
           exceptionCode                    ;
  constructor(code                 , message        , options                                              ) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.exceptionCode = options?.exceptionCode;
  }
}

/**
 * Whether an error means the connection to the device is gone (reconnect
 * with backoff and report the device offline), as opposed to a problem with
 * one property (bad config, an exception answer, a value that cannot be
 * written), which leaves the connection up.
 */
export function isConnectionError(err         )          {
  if (!(err instanceof MapperError)) return true;
  return ['MAPPER_CONNECT_FAILED', 'MAPPER_CONNECTION_LOST', 'MAPPER_TIMEOUT', 'MODBUS_TRUNCATED', 'MODBUS_BAD_PROTOCOL_ID', 'MODBUS_BAD_LENGTH', 'MODBUS_BAD_RESPONSE'].includes(err.code);
}
