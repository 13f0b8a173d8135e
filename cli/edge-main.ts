/**
 * A lean entry point for the edge agent alone: `node cli/edge-main.ts
 * [edge] <flags>` behaves like `outpost edge <flags>` but loads only the edge
 * agent's modules, not the other commands (which pull in
 * @kubernetes/client-node, the controllers and the webhooks: ≈ 50 MB of RSS
 * an edge device does not need). `outpost edge` (bin/outpost.js) runs the
 * pre-stripped JavaScript build of it (hack/build-edge.ts), which also avoids
 * loading Node's TypeScript stripper (≈ 20 MB), with memory-saving V8 flags.
 * See docs/benchmarks.md "Agent memory".
 */
import { helpText, parse } from './command.ts';
import { edge } from './commands/edge.ts';
import { CliError } from './errors.ts';
import { OutpostError } from '../lib/errors.ts';

/** Runs the edge command with `argv` (a leading "edge" is optional); resolves with the exit code. */
export async function edgeMain(argv: string[]): Promise<number> {
  const args = argv[0] === 'edge' ? argv.slice(1) : argv;
  try {
    const { values, positionals, help } = parse(edge, args);
    if (help) {
      process.stdout.write(`${helpText(edge)}\n`);
      return 0;
    }
    return await edge.run(values, positionals);
  } catch (err) {
    const code = err instanceof OutpostError ? err.code : 'UNEXPECTED';
    process.stderr.write(`outpost [${code}]: ${err instanceof Error ? err.message : String(err)}\n`);
    return err instanceof CliError && err.code === 'CLI_USAGE' ? 2 : 1;
  }
}

if (import.meta.main) process.exitCode = await edgeMain(process.argv.slice(2));
