#!/usr/bin/env node
// Launcher for the `outpost` CLI. Outpost runs on the Node.js 24 that the
// project pins (node_modules/.bin/node, from the npm `node` package); this file
// is plain JavaScript so that an older system Node (e.g. 20) can start it and
// hand over to the pinned runtime. Under Node >= 24 it runs the CLI in-process,
// except `outpost edge` (launchEdge below).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const major = Number(process.versions.node.split('.')[0]);

/**
 * Node/V8 flags for the edge agent's process. Each was measured on its own, with 10 pods, in
 * docs/benchmarks.md ("Agent memory"); together they take the agent from ≈ 75 to ≈ 58 MB RSS:
 * --max-semi-space-size=1 (a 1 MB young generation; the agent allocates little), --jitless (no
 * optimizing compilers, no executable code pages: the agent is I/O-bound), --no-node-snapshot
 * (Node bootstraps from its JavaScript instead of deserializing the start-up snapshot: fewer
 * pages of the binary resident, ≈ 40 ms more CPU at start), --optimize-for-size and
 * --single-threaded-gc (no GC helper threads; the heap is ≈ 10 MB). --jitless also turns
 * WebAssembly off: nothing on the edge path uses it (node:sqlite and @matrixai/quic are native,
 * the global fetch is not used), but Node's TypeScript stripper does, so the flag is dropped when
 * the agent runs from the .ts sources. OUTPOST_EDGE_NODE_FLAGS replaces the list ("" = none).
 */
const EDGE_NODE_FLAGS = ['--max-semi-space-size=1', '--jitless', '--no-node-snapshot', '--optimize-for-size', '--single-threaded-gc'];

/** Where the edge agent's build may live: dist/edge-agent, else a per-checkout cache directory (read-only checkouts). */
function edgeBuildDirs() {
  if (process.env.OUTPOST_EDGE_BUILD_DIR) return [process.env.OUTPOST_EDGE_BUILD_DIR];
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return [join(root, 'dist', 'edge-agent'), join(cache, 'outpost', `edge-agent-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`)];
}

/**
 * Whether the build in `dir` came from the sources as they are now (hack/build-edge.ts writes
 * build-stamp.json). One stat per source (≈ 90 files); only a file whose mtime alone differs (a
 * checkout that rewrote it unchanged) is read and hashed. A missing or unreadable stamp means stale.
 */
function edgeBuildFresh(dir) {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(join(dir, 'build-stamp.json'), 'utf8'));
  } catch {
    return false;
  }
  if (stamp?.version !== 1 || !Array.isArray(stamp.sources) || !existsSync(join(dir, 'cli', 'edge-main.js'))) return false;
  return stamp.sources.every((s) => {
    try {
      const st = statSync(join(root, s.path));
      if (st.size !== s.size) return false;
      return st.mtimeMs === s.mtimeMs || createHash('sha256').update(readFileSync(join(root, s.path))).digest('hex') === s.sha256;
    } catch {
      return false;
    }
  });
}

/**
 * What `outpost edge` runs: this tree's cli/edge-main.js when the tree is already JavaScript (a
 * hack/build-js.ts build); else a fresh build of the agent, built here when missing or stale;
 * else, when building fails, the TypeScript sources, with a one-line notice.
 * OUTPOST_EDGE_SOURCES=1 asks for the sources.
 */
function edgeEntry() {
  const sources = { entry: join(root, 'cli', 'edge-main.ts'), ts: true };
  if (!existsSync(sources.entry)) return { entry: join(root, 'cli', 'edge-main.js'), ts: false };
  if (process.env.OUTPOST_EDGE_SOURCES === '1') return sources;
  const dirs = edgeBuildDirs();
  const fresh = dirs.find(edgeBuildFresh);
  if (fresh) return { entry: join(fresh, 'cli', 'edge-main.js'), ts: false };
  const failures = [];
  for (const dir of dirs) {
    const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', join(root, 'hack', 'build-edge.ts'), '--out', dir], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status === 0 && edgeBuildFresh(dir)) return { entry: join(dir, 'cli', 'edge-main.js'), ts: false };
    failures.push(`${dir}: ${r.error?.message ?? (r.stderr.trim().split('\n').find((l) => /Error/.test(l)) || `exit ${r.status}`)}`);
  }
  writeSync(2, `outpost: could not build the edge agent (${failures.join('; ')}); running it from the TypeScript sources (≈ 30 MB more memory); "npm run build:edge" shows why\n`);
  return sources;
}

/**
 * `outpost edge`: replaces this process (same pid, so signals, `kill` and supervisors reach the
 * agent) with `node <edge flags> <entry> edge <args>`, which loads only the edge agent's modules:
 * the other commands pull in @kubernetes/client-node and the controllers (≈ 50 MB of RSS), the
 * TypeScript stripper costs ≈ 30 MB. Without process.execve (Windows) the entry runs in this
 * process, without the flags.
 */
async function launchEdge(args) {
  const { entry, ts } = edgeEntry();
  const flags = (process.env.OUTPOST_EDGE_NODE_FLAGS ?? EDGE_NODE_FLAGS.join(' ')).split(/\s+/).filter((f) => f && !(ts && f === '--jitless'));
  if (typeof process.execve === 'function') process.execve(process.execPath, [process.execPath, ...flags, ...process.execArgv, entry, 'edge', ...args], process.env);
  // the literal path lets hack/build-js.ts follow it (and rename it to .js in a built tree)
  const { edgeMain } = entry === join(root, 'cli', 'edge-main.ts') || entry === join(root, 'cli', 'edge-main.js') ? await import('../cli/edge-main.ts') : await import(pathToFileURL(entry).href);
  return await edgeMain(['edge', ...args]);
}

if (major >= 24 && process.argv[2] === 'edge') {
  process.exitCode = await launchEdge(process.argv.slice(3));
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
