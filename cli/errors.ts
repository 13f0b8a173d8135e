import { OutpostError } from '../lib/errors.ts';

/** Error codes of the CLI (cli/README.md lists them). */
export type CliErrorCode = 'CLI_USAGE' | 'CLI_UNKNOWN_COMMAND' | 'CLI_NOT_AVAILABLE' | 'CLI_INSTALL_FAILED' | 'CLI_CONFIRM_REQUIRED' | 'CLI_NOT_INSTALLED';

export class CliError extends OutpostError<CliErrorCode> {}
