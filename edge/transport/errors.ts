import { OutpostError } from '../../lib/errors.ts';

/**
 * Every code a {@link TransportError} can carry. Stable: listed in README.md,
 * never renamed and never reused.
 */
export const TRANSPORT_ERROR_CODES = [
  'TRANSPORT_INVALID_ARGUMENT',
  'TRANSPORT_QUIC_UNAVAILABLE',
  'TRANSPORT_CONNECT_TIMEOUT',
  'TRANSPORT_CONNECT_FAILED',
  'TRANSPORT_TLS_FAILED',
  'TRANSPORT_MESSAGE_TOO_LARGE',
  'TRANSPORT_PROTOCOL_VIOLATION',
  'TRANSPORT_CLOSED',
  'TRANSPORT_PEER_DEAD',
  'TRANSPORT_SEND_STALLED',
] as const;

/** A stable transport error code; see README.md for what each one means. */
export type TransportErrorCode = (typeof TRANSPORT_ERROR_CODES)[number];

/** The only error edge/transport throws, rejects with or reports in a close. */
export class TransportError extends OutpostError<TransportErrorCode> {}

/** Whether an error is a TransportError with one of `codes` (any code when none are given). */
export function isTransportError(err: unknown, ...codes: TransportErrorCode[]): err is TransportError {
  return err instanceof TransportError && (codes.length === 0 || codes.includes(err.code));
}
