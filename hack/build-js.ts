/**
 * Builds Outpost as plain JavaScript: every module reachable from the
 * entries, with its TypeScript types stripped (node:module
 * stripTypeScriptTypes, the same stripper Node runs at load time) and its
 * relative `.ts` imports renamed to `.js`, under `out` with the repository's
 * layout. Running from there skips loading Node's TypeScript stripper at
 * start-up (≈ 20 MB of RSS; docs/benchmarks.md), and it is the only way to
 * run Outpost from node_modules-style installs, where Node refuses to strip
 * types. Assets read at run time are copied alongside, and a package.json
 * with the version and `"type": "module"`.
 *
 * Two builds: hack/build-edge.ts (the edge agent only, dist/edge-agent/) and
 * the whole CLI (this file's CLI, dist/outpost/; what the cloud image runs):
 *
 *   node hack/build-js.ts [--out dist/outpost]
 *   node dist/outpost/bin/outpost.js cloud …   (same commands and flags as `outpost`)
 *
 * Dependencies are not copied: Node resolves them from the nearest
 * node_modules above `out` (the repository's, or the image's /app/node_modules).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

export const root = resolve(import.meta.dirname, '..');

export interface BuildJsOptions {
  /** Output directory (emptied first). */
  out: string;
  /** Entry modules, relative to the repository (`.ts`, or `.js` like bin/outpost.js). */
  entries: string[];
  /** Files or directories (relative) copied as they are; `*.ts` files inside directories are skipped. */
  assets: string[];
  /** `name` of the written package.json. */
  name: string;
}

// static `import … from './x.ts'`, `export … from './x.ts'`, side-effect `import './x.ts'` and dynamic `import('./x.ts')`
const specifier = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+?)\.ts\2/g;

function copyAsset(src: string, dest: string): void {
  if (statSync(src).isDirectory()) {
    for (const e of readdirSync(src)) if (!e.endsWith('.ts')) copyAsset(join(src, e), join(dest, e));
    return;
  }
  mkdirSync(dirname(dest), { recursive: true });
  copyFileSync(src, dest);
}

/** Builds into `o.out` (replacing what was there) and returns the number of modules written; throws when an import points at a missing file. */
export function buildJs(o: BuildJsOptions): number {
  const out = resolve(root, o.out);
  rmSync(out, { recursive: true, force: true });
  const seen = new Set<string>();
  const queue = o.entries.map((e) => resolve(root, e));
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const js = stripTypeScriptTypes(readFileSync(file, 'utf8'), { mode: 'strip' }).replace(specifier, (_m, pre: string, q: string, spec: string) => {
      const target = resolve(dirname(file), `${spec}.ts`);
      if (!existsSync(target)) throw new Error(`${relative(root, file)} imports ${spec}.ts, which does not exist`);
      queue.push(target);
      return `${pre}${q}${spec}.js${q}`;
    });
    const dest = join(out, relative(root, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, js, { mode: 0o644 });
  }
  for (const a of o.assets) copyAsset(join(root, a), join(out, a));
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  writeFileSync(join(out, 'package.json'), `${JSON.stringify({ name: o.name, version: pkg.version, type: 'module', private: true }, null, 2)}\n`);
  return seen.size;
}

/**
 * The whole `outpost` CLI (cloud, edge, init, join, …) from bin/outpost.js,
 * with the assets its commands read: the manifests `outpost init` installs
 * (config/).
 */
export function buildOutpost(out = join('dist', 'outpost')): { out: string; modules: number } {
  const modules = buildJs({ out, entries: ['bin/outpost.js'], assets: ['config'], name: 'outpost' });
  return { out: resolve(root, out), modules };
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const r = buildOutpost(argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : undefined);
  process.stdout.write(`${JSON.stringify({ out: relative(root, r.out), modules: r.modules })}\n`);
}
