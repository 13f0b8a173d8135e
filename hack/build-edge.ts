/**
 * Builds the edge agent as plain JavaScript into dist/edge-agent/: every
 * module reachable from cli/edge-main.ts, with its TypeScript types stripped
 * (node:module stripTypeScriptTypes, the same stripper Node runs at load
 * time) and its relative `.ts` imports renamed to `.js`. Running the agent
 * from there skips loading Node's TypeScript stripper at start-up (≈ 20 MB of
 * RSS on a device; see docs/benchmarks.md). Assets the agent reads at run
 * time (the CRI proto, package.json's version) are copied alongside.
 *
 *   node hack/build-edge.ts [--out dist/edge-agent]
 *   node dist/edge-agent/cli/edge-main.js edge --node-name … (same flags as `outpost edge`)
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const out = resolve(root, argv.includes('--out') ? argv[argv.indexOf('--out') + 1]! : join('dist', 'edge-agent'));
const entries = ['cli/edge-main.ts'];
const assets = ['edge/pods/cri/api.proto'];

// static `import … from './x.ts'`, `export … from './x.ts'`, side-effect `import './x.ts'` and dynamic `import('./x.ts')`
const specifier = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+?)\.ts\2/g;

/** Builds and returns the number of modules written. */
export function buildEdge(): number {
  rmSync(out, { recursive: true, force: true });
  const seen = new Set<string>();
  const queue = entries.map((e) => resolve(root, e));
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
    writeFileSync(dest, js);
  }
  for (const a of assets) {
    mkdirSync(dirname(join(out, a)), { recursive: true });
    copyFileSync(join(root, a), join(out, a));
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  writeFileSync(join(out, 'package.json'), JSON.stringify({ name: `${pkg.name}-edge-agent`, version: pkg.version, type: 'module', private: true }, null, 2));
  return seen.size;
}

if (import.meta.main) {
  const n = buildEdge();
  process.stdout.write(`${JSON.stringify({ out: relative(root, out), modules: n })}\n`);
}
