/**
 * `npm run cluster:up` / `npm run cluster:down` / `node hack/cluster.ts status`:
 * the local control plane (hack/local-cluster). `up` prints the KUBECONFIG path
 * on stdout (progress goes to stderr), so `export KUBECONFIG=$(npm run -s cluster:up)` works.
 */
import { down, isRunning, readState, up } from './local-cluster/control-plane.ts';
import { OutpostError } from '../lib/errors.ts';

const usage = 'usage: node hack/cluster.ts up|down|status';
async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (rest.length > 0 || !cmd) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  switch (cmd) {
    case 'up': {
      const s = await up();
      process.stdout.write(`${s.kubeconfig}\n`);
      return 0;
    }
    case 'down':
      await down();
      process.stderr.write('cluster: stopped and removed\n');
      return 0;
    case 'status': {
      const running = await isRunning();
      const s = readState();
      process.stdout.write(running && s ? `running at ${s.server}\nKUBECONFIG=${s.kubeconfig}\n` : 'not running\n');
      return running ? 0 : 1;
    }
    default:
      process.stderr.write(`unknown command "${cmd}"; ${usage}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`cluster: ${err instanceof OutpostError ? `[${err.code}] ` : ''}${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
