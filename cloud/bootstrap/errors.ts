import { OutpostError } from '../../lib/errors.ts';

/** Error codes of cloud/bootstrap (README.md lists them with what to do). */
export type BootstrapServerErrorCode =
  | 'BOOTSTRAP_PKI_INVALID'
  | 'BOOTSTRAP_TOKEN_TTL_INVALID'
  | 'BOOTSTRAP_STORE_FAILED';

export class BootstrapServerError extends OutpostError<BootstrapServerErrorCode> {}
