#!/usr/bin/env node
// Launcher for the `outpost` CLI. Outpost runs on the Node.js 24 that the
// project pins (node_modules/.bin/node, from the npm `node` package); this file
// is plain JavaScript so that an older system Node (e.g. 20) can start it and
// hand over to the pinned runtime. Under Node >= 24 it runs the CLI in-process.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const major = Number(process.versions.node.split('.')[0]);
if (major >= 24 && process.argv[2] === 'edge') {
  // `outpost edge` loads only the edge agent's modules: the other commands pull in
  // @kubernetes/client-node and the controllers, ≈ 50 MB of RSS an edge device should not pay for
  const { edgeMain } = await import('../cli/edge-main.ts');
  process.exitCode = await edgeMain(process.argv.slice(3));
} else if (major >= 24) {
  const { main } = await import('../cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
} else {
  const pinned = join(root, 'node_modules', '.bin', 'node');
  if (!existsSync(pinned)) {
    process.stderr.write(`outpost: needs Node.js 24; this is ${process.version} and the pinned runtime is missing. Run "npm ci" in ${root} first.\n`);
    process.exit(1);
  }
  const r = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
