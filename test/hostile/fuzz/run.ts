/**
 * Coverage-guided fuzzing with Jazzer.js (libFuzzer for Node): runs each
 * fuzz target in test/hostile/fuzz-targets for N seconds and fails on any
 * finding (a thrown error the target does not allow, a hang, an OOM).
 *
 *   npm run fuzz -- --target frame|mqtt|admission|all --seconds N [--timeout-ms 5000]
 *
 * Per target, under .outpost/fuzz/<target>/ (gitignored): corpus/ (libFuzzer's
 * growing corpus, seeded with the target's seed inputs on every run, so it
 * resumes where the last run stopped), crashes/ (the input of a finding,
 * `crash-<sha1>`, to add to the property tests), last-run.log. Prints one JSON
 * line per target ({target, seconds, runs, execPerSec, edges, features,
 * corpus, finding}) and exits 1 if any target had a finding.
 *
 * How it runs our TypeScript: Jazzer instruments ES modules in a Node loader
 * hook, but only format `module`; preload.ts registers
 * strip-types-hooks.ts first so `.ts` modules reach it as JavaScript. Jazzer's
 * CLI imports only `.js`/`.mjs` targets, so a one-line entry.mjs re-exports
 * the `.ts` target. The prebuilt native addon needs glibc 2.38/libstdc++ 13;
 * on an older system a patched copy is used (glibc-compat.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { lowerSymbolVersions } from './glibc-compat.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const targetsDir = join(root, 'test', 'hostile', 'fuzz-targets');

interface Target {
  file: string;
  /** Jazzer's --sync: the target returns no promise (much faster). */
  sync: boolean;
  seeds: () => Promise<Uint8Array[]>;
}
const TARGETS: Record<string, Target> = {
  frame: { file: 'protocol.fuzz.ts', sync: true, seeds: async () => (await import('../frames.ts')).sampleFrames(1, 300) },
  mqtt: { file: 'mqtt.fuzz.ts', sync: false, seeds: async () => (await import('../fuzz-targets/mqtt.fuzz.ts')).seeds() },
  admission: { file: 'admission.fuzz.ts', sync: false, seeds: async () => (await import('../fuzz-targets/admission.fuzz.ts')).seeds() },
};

const { values } = parseArgs({ options: { target: { type: 'string', default: 'all' }, seconds: { type: 'string', default: '60' }, 'timeout-ms': { type: 'string', default: '5000' } } });
const names = values.target === 'all' ? Object.keys(TARGETS) : values.target.split(',');
const seconds = Number(values.seconds);
const unknown = names.filter((n) => !(n in TARGETS));
if (unknown.length > 0 || !(seconds > 0)) {
  console.error(`usage: npm run fuzz -- --target ${Object.keys(TARGETS).join('|')}|all --seconds N (got target ${values.target}, seconds ${values.seconds})`);
  process.exit(2);
}

const jazzerCli = join(root, 'node_modules', '@jazzer.js', 'core', 'dist', 'cli.js');
if (!existsSync(jazzerCli)) {
  console.error('@jazzer.js/core is not installed: it is a devDependency, run `npm install`');
  process.exit(2);
}

/** The env that makes Jazzer's native addon loadable here: {} when the prebuilt loads, else a patched copy. */
function addonEnv(): Record<string, string> {
  const prebuilt = join(root, 'node_modules', '@jazzer.js', 'fuzzer', 'prebuilds', `fuzzer-${process.platform}-${process.arch}.node`);
  const loads = (file: string) => spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { encoding: 'utf8' });
  const first = loads(prebuilt);
  if (first.status === 0) return {};
  if (!/version `(GLIBC|GLIBCXX)_[\d.]+' not found/.test(first.stderr)) throw new Error(`Jazzer's native addon does not load: ${first.stderr.trim()}`);
  const copy = join(root, '.outpost', 'fuzz', 'addon', `fuzzer-${process.platform}-${process.arch}.node`);
  mkdirSync(join(copy, '..'), { recursive: true });
  const elf = readFileSync(prebuilt);
  const changes = lowerSymbolVersions(elf);
  writeFileSync(copy, elf);
  const second = loads(copy);
  if (second.status !== 0) throw new Error(`Jazzer's native addon needs a newer glibc/libstdc++ than this system has, also after patching (${changes.join(', ')}): ${second.stderr.trim()}`);
  process.stderr.write(`fuzz: using ${copy} (the prebuilt addon with ${changes.join(', ')})\n`);
  return { OUTPOST_FUZZ_ADDON: copy };
}

interface Summary { target: string; seconds: number; runs: number; execPerSec: number; edges: number; features: number; corpus: number; finding?: string }

async function fuzzTarget(name: string, t: Target, env: Record<string, string>): Promise<Summary> {
  const dir = join(root, '.outpost', 'fuzz', name);
  const corpus = join(dir, 'corpus');
  const crashes = join(dir, 'crashes');
  for (const d of [corpus, crashes]) mkdirSync(d, { recursive: true });
  for (const s of await t.seeds()) writeFileSync(join(corpus, `seed-${createHash('sha1').update(s).digest('hex')}`), s);
  const entry = join(dir, 'entry.mjs');
  writeFileSync(entry, `export { fuzz } from ${JSON.stringify(pathToFileURL(join(targetsDir, t.file)).href)};\n`);
  const args = [
    // a small V8 heap keeps RSS well under libFuzzer's limit (the admission target's heap otherwise
    // grows lazily to ~1.7 GB before V8 collects); a real leak still ends as an OOM finding
    '--max-old-space-size=1024', '--disable-warning=ExperimentalWarning', '--import', pathToFileURL(join(import.meta.dirname, 'preload.ts')).href,
    jazzerCli, entry, corpus, ...(t.sync ? ['--sync'] : []), `--timeout=${values['timeout-ms']}`,
    '--', `-max_total_time=${seconds}`, `-artifact_prefix=${crashes}/`, '-rss_limit_mb=2560', '-print_final_stats=1',
  ];
  const log = createWriteStream(join(dir, 'last-run.log'));
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const started = Date.now();
  for (const s of [child.stdout, child.stderr]) s.on('data', (b: Buffer) => { text += b.toString(); log.write(b); });
  const code = await new Promise<number | string>((resolve) => child.on('close', (c, sig) => resolve(c ?? sig ?? 1)));
  log.end();
  const last = (re: RegExp) => [...text.matchAll(new RegExp(re.source, `${re.flags.replace('g', '')}g`))].at(-1);
  const stats = last(/cov: (\d+) ft: (\d+) corp: (\d+)/);
  const done = last(/Done (\d+) runs in (\d+) second/);
  const runs = Number(done?.[1] ?? last(/stat::number_of_executed_units: (\d+)/)?.[1] ?? last(/^#(\d+)/m)?.[1] ?? 0);
  const elapsed = Number(done?.[2] ?? (Date.now() - started) / 1000);
  const summary: Summary = { target: name, seconds: Math.round(elapsed), runs, execPerSec: Math.round(runs / Math.max(1, elapsed)), edges: Number(stats?.[1] ?? 0), features: Number(stats?.[2] ?? 0), corpus: readdirSync(corpus).length };
  if (code !== 0) {
    const artifact = last(/Test unit written to (\S+)/)?.[1];
    const error = text.match(/==\d+== Uncaught Exception: Jazzer\.js: ([^\n]*)\n([^\n]*)/) ?? text.match(/(Error[^\n]*)/);
    summary.finding = `exit ${code}${artifact ? `, input ${artifact}` : ''}: ${(error?.slice(1).join(' ') ?? text.trim().split('\n').slice(-5).join(' ')).slice(0, 600)}`;
  }
  return summary;
}

const env = addonEnv();
let findings = 0;
for (const name of names) {
  const s = await fuzzTarget(name, TARGETS[name]!, env);
  if (s.finding) findings++;
  console.log(JSON.stringify(s));
}
process.exit(findings > 0 ? 1 : 0);
