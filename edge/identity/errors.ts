import { OutpostError } from '../../lib/errors.ts';

/** Error codes of edge/identity (README.md says what to do about each). */
export type IdentityErrorCode =
  | 'IDENTITY_UNREACHABLE'
  | 'IDENTITY_CA_PIN_MISMATCH'
  | 'IDENTITY_SAN_MISMATCH'
  | 'IDENTITY_TLS_FAILED'
  | 'IDENTITY_REFUSED'
  | 'IDENTITY_BAD_RESPONSE'
  | 'IDENTITY_ROOT_CONFLICT'
  | 'IDENTITY_ROOT_NOT_EMPTY'
  | 'IDENTITY_ROOT_INVALID'
  | 'IDENTITY_NOT_JOINED'
  | 'IDENTITY_INVALID_ARGUMENT';

export class IdentityError extends OutpostError<IdentityErrorCode> {
  /** For IDENTITY_REFUSED: the server's BOOTSTRAP_* code. */
  readonly serverCode: string | undefined;
  constructor(code: IdentityErrorCode, message: string, options?: { cause?: unknown; serverCode?: string }) {
    super(code, message, options);
    this.serverCode = options?.serverCode;
  }
}
