import { OutpostError } from '../lib/errors.js';

/** Error codes of the CLI (cli/README.md lists them). */
                                                                                                                                                           

export class CliError extends OutpostError               {}
