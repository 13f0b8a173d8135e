import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';

/** Subcommands whose issues have not landed yet: listed honestly in --help, and a clear error when run. */
export function planned(name: string, summary: string, issue: string): Command {
  return {
    name, summary, usage: `outpost ${name}`, options: {}, optionHelp: {}, planned: issue,
    async run() {
      throw new CliError('CLI_NOT_AVAILABLE', `"outpost ${name}" is not available in this version yet (${issue})`);
    },
  };
}

export const plannedCommands: Command[] = [];
