/**
 * `outpost`: one CLI for both sides. Dispatches to cli/commands/*; every
 * command parses its flags strictly and bad input exits 2 with a message that
 * says what was wrong and shows the usage.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { helpText, parse, type Command } from './command.ts';
import { CliError } from './errors.ts';
import { OutpostError } from '../lib/errors.ts';
import { quickstart } from './commands/quickstart.ts';
import { plannedCommands } from './commands/planned.ts';
import { cloud } from './commands/cloud.ts';
import { edge } from './commands/edge.ts';
import { init } from './commands/init.ts';
import { gettoken } from './commands/gettoken.ts';
import { join as joinCommand } from './commands/join.ts';
import { reset } from './commands/reset.ts';
import { doctor } from './commands/doctor.ts';

const version = (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

const versionCommand: Command = {
  name: 'version', summary: 'print the Outpost version', usage: 'outpost version', options: {}, optionHelp: {},
  async run() {
    process.stdout.write(`outpost ${version} (node ${process.version})\n`);
    return 0;
  },
};

export const commands: Command[] = [quickstart, init, gettoken, joinCommand, cloud, edge, doctor, reset, versionCommand, ...plannedCommands];

function topHelp(): string {
  const ready = commands.filter((c) => !c.planned);
  const later = commands.filter((c) => c.planned);
  return [
    'outpost: Kubernetes-native edge computing (KubeEdge-compatible APIs)', '',
    'usage: outpost <command> [flags]', '', 'commands:',
    ...ready.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`), '',
    ...(later.length ? ['not available yet (listed so you know they are coming):', ...later.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`), ''] : []),
    'Run "outpost <command> --help" for its flags.',
  ].join('\n');
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${topHelp()}\n`);
    return name ? 0 : 2;
  }
  if (name === '--version') return versionCommand.run({}, []);
  const cmd = commands.find((c) => c.name === name);
  try {
    if (!cmd) throw new CliError('CLI_UNKNOWN_COMMAND', `unknown command "${name}"; run "outpost --help" for the list`);
    const { values, positionals, help } = parse(cmd, rest);
    if (help) {
      process.stdout.write(`${helpText(cmd)}\n`);
      return 0;
    }
    return await cmd.run(values, positionals);
  } catch (err) {
    const code = err instanceof OutpostError ? err.code : 'UNEXPECTED';
    process.stderr.write(`outpost [${code}]: ${err instanceof Error ? err.message : String(err)}\n`);
    return err instanceof CliError && (err.code === 'CLI_USAGE' || err.code === 'CLI_UNKNOWN_COMMAND') ? 2 : 1;
  }
}
