/**
 * Builds the edge agent as plain JavaScript into dist/edge-agent/: every
 * module reachable from cli/edge-main.ts, with its TypeScript types stripped
 * (node:module stripTypeScriptTypes, the same stripper Node runs at load
 * time) and its relative `.ts` imports renamed to `.js`. Running the agent
 * from there skips loading Node's TypeScript stripper at start-up (≈ 20 MB of
 * RSS on a device; see docs/benchmarks.md). It has no assets: the CRI proto
 * is compiled into edge/pods/cri/api-descriptor.ts (hack/generate-cri.ts).
 * The builder itself is hack/build-js.ts (which also builds the whole CLI).
 *
 * `outpost edge` runs this build (bin/outpost.js builds it when it is missing
 * or stale). Next to it, build-stamp.json lists every file the build came
 * from (sources, assets, package.json, the builder) with size, mtime and
 * SHA-256, so the launcher can tell fresh from stale with one stat per file.
 * The build goes to a temporary directory and is renamed into place: an agent
 * starting from (or lazily importing out of) the previous build never sees a
 * half-written one. A build outside the repository gets a node_modules
 * symlink to the repository's, for the agent's package imports.
 *
 *   node hack/build-edge.ts [--out dist/edge-agent]
 *   node dist/edge-agent/cli/edge-main.js edge --node-name … (same flags as `outpost edge`)
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { buildJs, root } from './build-js.ts';

const argv = process.argv.slice(2);
const out = resolve(root, argv.includes('--out') ? argv[argv.indexOf('--out') + 1]! : join('dist', 'edge-agent'));

/** The file next to the build that lists its sources; bin/outpost.js (edgeBuildFresh) reads it. */
export const STAMP = 'build-stamp.json';

/** One file a build came from, as build-stamp.json records it (paths relative to the repository). */
export interface StampedSource { path: string; size: number; mtimeMs: number; sha256: string }

// `import { a, b as c } from 'node:x'`, `import * as x from 'node:x'`, `import x from 'node:x'` (one statement, types already stripped)
const builtinImport = /^import\s+(?:\*\s+as\s+(\w+)|(\w+)|\{([^}]*)\})\s+from\s+'(node:[\w/]+)';/gm;

/**
 * Makes the build smaller in memory, file by file (each step measured in docs/benchmarks.md):
 * - imports of Node built-ins become process.getBuiltinModule(): the ESM facade of a built-in
 *   reads every export to bind the named ones, which runs the module's lazy getters; for node:http
 *   that loads undici, http2 and worker_threads (`http.WebSocket` and friends), for node:fs
 *   fs/promises and readline (≈ 5 MB RSS). Same objects; the imports were all at the top.
 * - the code is reprinted without comments (stripTypeScriptTypes 'transform' mode, i.e. swc,
 *   which leaves JavaScript as it is otherwise): V8 keeps every module's source text on the heap,
 *   as UTF-16 when it has a single non-Latin-1 character, and half of ours were comments
 *   (≈ 0.5 MB RSS). Stack traces then point at the build's lines, not the .ts sources'.
 */
function compact(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.js')) continue;
    const file = join(e.parentPath, e.name);
    const js = readFileSync(file, 'utf8').replace(builtinImport, (_m, ns: string | undefined, def: string | undefined, named: string | undefined, mod: string) => {
      const binding = ns ?? def ?? `{ ${named!.split(',').map((n) => n.trim()).filter(Boolean).map((n) => n.replace(/\s+as\s+/, ': ')).join(', ')} }`;
      return `const ${binding} = process.getBuiltinModule('${mod}');`;
    });
    writeFileSync(file, stripTypeScriptTypes(js, { mode: 'transform' }), { mode: 0o644 });
  }
}

/** The repository files a build in `dir` came from: each module's .ts (or .js) source, the assets, package.json and the builder. */
function sourcesOf(dir: string, rel = ''): string[] {
  const found: string[] = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const p = join(rel, e.name);
    if (e.isDirectory()) found.push(...sourcesOf(dir, p));
    else if (p === 'package.json' || p === STAMP || e.isSymbolicLink()) continue;
    else if (p.endsWith('.js') && existsSync(join(root, p.replace(/\.js$/, '.ts')))) found.push(p.replace(/\.js$/, '.ts'));
    else found.push(p);
  }
  return found;
}

/**
 * Builds the edge agent into `dir` (default dist/edge-agent, or --out) and returns the number of
 * modules written. Idempotent; safe to run while an agent runs from `dir` and concurrently with
 * another build of the same sources (the last rename wins; both are complete). Throws when a
 * source cannot be read or imports a missing file.
 */
export function buildEdge(dir = out): number {
  const tmp = `${dir}.tmp-${process.pid}`;
  let modules = 0;
  let sources: StampedSource[] = [];
  // a source written while the build read it may be in the build in either version: build again
  for (let attempt = 0; attempt < 3; attempt++) {
    const t0 = Date.now();
    modules = buildJs({ out: tmp, entries: ['cli/edge-main.ts'], assets: [], name: 'outpost-edge-agent' });
    compact(tmp);
    const files = [...sourcesOf(tmp), 'package.json', relative(root, import.meta.filename), 'hack/build-js.ts'];
    sources = files.sort().map((path) => {
      const st = statSync(join(root, path));
      return { path, size: st.size, mtimeMs: st.mtimeMs, sha256: createHash('sha256').update(readFileSync(join(root, path))).digest('hex') };
    });
    // file mtimes come from the kernel's coarse clock, a few ms behind Date.now()
    if (sources.every((s) => s.mtimeMs < t0 - 50)) break;
    sources = [];
  }
  const rel = relative(root, dir);
  if (rel.startsWith('..') || isAbsolute(rel)) symlinkSync(join(root, 'node_modules'), join(tmp, 'node_modules'), 'dir');
  // no stamp (sources kept changing): the build works, the launcher will just build again
  if (sources.length) writeFileSync(join(tmp, STAMP), `${JSON.stringify({ version: 1, entry: 'cli/edge-main.js', node: process.version, sources }, null, 1)}\n`);
  mkdirSync(dirname(dir), { recursive: true });
  const old = `${dir}.old-${process.pid}`;
  try {
    renameSync(dir, old);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    renameSync(tmp, dir);
  } catch (err) {
    // another build was renamed into place between our two renames: keep it
    if (!['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    rmSync(tmp, { recursive: true, force: true });
  }
  rmSync(old, { recursive: true, force: true });
  return modules;
}

if (import.meta.main) {
  const n = buildEdge();
  process.stdout.write(`${JSON.stringify({ out: relative(root, out), modules: n })}\n`);
}
