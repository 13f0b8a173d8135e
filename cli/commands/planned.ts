import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';

/** Subcommands whose issues have not landed yet: listed honestly in --help, and a clear error when run. */
function planned(name: string, summary: string, issue: string): Command {
  return {
    name, summary, usage: `outpost ${name}`, options: {}, optionHelp: {}, planned: issue,
    async run() {
      throw new CliError('CLI_NOT_AVAILABLE', `"outpost ${name}" is not available in this version yet (${issue})`);
    },
  };
}

export const plannedCommands: Command[] = [
  planned('init', 'install Outpost into the current cluster', 'install and join issue'),
  planned('gettoken', 'print a join token for a new edge node', 'install and join issue'),
  planned('join', 'join this machine to a cluster as an edge node', 'install and join issue'),
  planned('reset', 'remove Outpost from this machine', 'install and join issue'),
  planned('doctor', 'check clocks, ports, certificates, store, broker and runtime', 'install and join issue'),
];
