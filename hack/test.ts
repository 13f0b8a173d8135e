/**
 * `npm test`: the whole suite, as CI runs it. Typecheck, lint, generated-file
 * drift, then vitest's unit, integration and e2e projects in one run (the
 * integration/e2e global setup starts the local control plane, building it on
 * first use). Ends with one machine-readable line: `N passed, N failed, N skipped`.
 *
 * Flags: --quick (unit tests only, no cluster), and anything after `--` goes to vitest.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const passthrough = argv.includes('--') ? argv.slice(argv.indexOf('--') + 1) : [];

function step(title: string, cmd: string, args: string[]): boolean {
  process.stderr.write(`\n== ${title}\n`);
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  process.stderr.write(`== ${title}: ${r.status === 0 ? 'ok' : `FAILED (exit ${r.status})`} in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
  return r.status === 0;
}

let checksFailed = 0;
if (!step('typecheck (tsc)', bin('tsc'), ['-p', 'tsconfig.json'])) checksFailed++;
if (!step('lint (eslint)', bin('eslint'), ['.'])) checksFailed++;
for (const gen of ['generate', 'generate-webhooks', 'generate-rbac', 'generate-argocd', 'generate-cri']) {
  if (!step(`generated files are up to date (hack/${gen}.ts)`, process.execPath, [`hack/${gen}.ts`, '--check'])) checksFailed++;
}

// unit + integration in one run; e2e afterwards on its own, because it installs cluster-wide
// things (admission webhooks, a node) that must not overlap the integration tests
const runs = quick ? [['unit']] : [['unit', 'integration'], ['e2e']];
let passed = 0;
let failed = checksFailed;
let skipped = 0;
for (const projects of runs) {
  const out = join(mkdtempSync(join(tmpdir(), 'outpost-test-')), 'vitest.json');
  step(`vitest (${projects.join(', ')})`, bin('vitest'), ['run', ...projects.flatMap((p) => ['--project', p]), '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...passthrough]);
  if (!existsSync(out)) {
    failed++;
    continue;
  }
  const r = JSON.parse(readFileSync(out, 'utf8')) as { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number; testResults: { status: string; assertionResults: unknown[] }[] };
  passed += r.numPassedTests;
  // a test file that failed to load has no assertions but still fails the run
  failed += r.numFailedTests + r.testResults.filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length;
  skipped += r.numPendingTests + r.numTodoTests;
}
process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
