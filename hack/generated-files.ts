/**
 * The write-or-check step shared by the manifest generators
 * (generate-webhooks, generate-rbac, generate-argocd, generate-cri): given the files a
 * generator would write, report which differ on disk, and either write them or
 * (with --check) fail listing them.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';

export interface GeneratedFile {
  /** Absolute, or relative to `root`. */
  path: string;
  content: string;
}

/** Paths whose content on disk differs from `files` (missing counts). Pure apart from reading. */
export function driftOf(files: GeneratedFile[], root: string): string[] {
  const abs = (p: string) => (isAbsolute(p) ? p : join(root, p));
  return files.filter((f) => !existsSync(abs(f.path)) || readFileSync(abs(f.path), 'utf8') !== f.content).map((f) => f.path);
}

/** CLI main of a generator: `--check` → exit 1 with the stale paths; else write what differs. */
export function writeOrCheck(name: string, files: GeneratedFile[], root: string, argv: string[]): number {
  const drift = driftOf(files, root);
  if (argv.includes('--check')) {
    if (drift.length === 0) return 0;
    process.stderr.write(`${name}: out of date, run \`node hack/${name}.ts\`:\n${drift.map((p) => `  ${p}\n`).join('')}`);
    return 1;
  }
  for (const f of files) {
    if (!drift.includes(f.path)) continue;
    const p = isAbsolute(f.path) ? f.path : join(root, f.path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.content);
    process.stdout.write(`wrote ${f.path}\n`);
  }
  return 0;
}
