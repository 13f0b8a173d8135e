// bin/outpost.js `edge`: runs the pre-stripped build of the agent when it is fresh, builds it
// when it is missing or stale, and falls back to the TypeScript sources when it cannot build.
// Each case runs the real launcher with OUTPOST_EDGE_BUILD_DIR pointing at a scratch directory
// (the repository's dist/ is left alone). To see what ran, a probe line is appended to the
// built entry: it prints its pid and node flags, and disappears when the launcher rebuilds.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const launcher = join(import.meta.dirname, 'outpost.js');
const scratch = mkdtempSync(join(tmpdir(), 'outpost-edge-launch-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Stamp { version: number; sources: { path: string; size: number; mtimeMs: number; sha256: string }[] }

function edgeHelp(buildDir: string, env: Record<string, string> = {}) {
  const { OUTPOST_EDGE_NODE_FLAGS: _f, OUTPOST_EDGE_SOURCES: _s, ...base } = process.env;
  const r = spawnSync(process.execPath, [launcher, 'edge', '--help'], { encoding: 'utf8', env: { ...base, OUTPOST_EDGE_BUILD_DIR: buildDir, ...env } });
  const probe = /^probe (\{.*\})$/m.exec(r.stderr)?.[1];
  return { pid: r.pid, status: r.status, stdout: r.stdout, stderr: r.stderr, probe: probe ? (JSON.parse(probe) as { pid: number; execArgv: string[] }) : undefined };
}

const addProbe = (dir: string) => appendFileSync(join(dir, 'cli', 'edge-main.js'), '\nprocess.stderr.write(`probe ${JSON.stringify({ pid: process.pid, execArgv: process.execArgv })}\\n`);\n');
const readStamp = (dir: string) => JSON.parse(readFileSync(join(dir, 'build-stamp.json'), 'utf8')) as Stamp;
const writeStamp = (dir: string, s: Stamp) => writeFileSync(join(dir, 'build-stamp.json'), JSON.stringify(s));

describe('outpost edge launcher', { timeout: 60_000 }, () => {
  const dir = join(scratch, 'edge-agent');

  it('builds the agent when there is no build, and runs it with the edge V8 flags', () => {
    const r = edgeHelp(dir);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('usage: outpost edge');
    expect(existsSync(join(dir, 'cli', 'edge-main.js'))).toBe(true);
    expect(readStamp(dir).sources.map((s) => s.path)).toEqual(expect.arrayContaining(['cli/edge-main.ts', 'edge/agent.ts', 'package.json', 'hack/build-edge.ts']));
    // outside the repository the build links its node_modules
    expect(existsSync(join(dir, 'node_modules', 'ws'))).toBe(true);
  });

  it('runs a fresh build as it is, in place of the launcher', () => {
    addProbe(dir);
    const r = edgeHelp(dir);
    expect(r.status).toBe(0);
    expect(r.probe?.execArgv).toEqual(expect.arrayContaining(['--jitless', '--max-semi-space-size=1']));
    // the same process (execve): signals and kill reach the agent
    expect(r.probe?.pid).toBe(r.pid);
  });

  it('still counts a build fresh when a source only got a new mtime', () => {
    const s = readStamp(dir);
    s.sources[0]!.mtimeMs -= 1000;
    writeStamp(dir, s);
    expect(edgeHelp(dir).probe).toBeDefined();
  });

  it('takes the node flags from OUTPOST_EDGE_NODE_FLAGS', () => {
    expect(edgeHelp(dir, { OUTPOST_EDGE_NODE_FLAGS: '--max-semi-space-size=2' }).probe?.execArgv).toEqual(['--max-semi-space-size=2']);
    expect(edgeHelp(dir, { OUTPOST_EDGE_NODE_FLAGS: '' }).probe?.execArgv).toEqual([]);
  });

  it('rebuilds a stale build (a source changed since)', () => {
    const s = readStamp(dir);
    const agent = s.sources.find((x) => x.path === 'edge/agent.ts')!;
    agent.sha256 = '0'.repeat(64);
    agent.mtimeMs -= 1000;
    writeStamp(dir, s);
    const r = edgeHelp(dir);
    expect(r.status).toBe(0);
    expect(r.probe).toBeUndefined();
    expect(readStamp(dir).sources.find((x) => x.path === 'edge/agent.ts')!.sha256).not.toBe('0'.repeat(64));
  });

  it('rebuilds when the stamp is missing', () => {
    addProbe(dir);
    rmSync(join(dir, 'build-stamp.json'));
    const r = edgeHelp(dir);
    expect(r.status).toBe(0);
    expect(r.probe).toBeUndefined();
    expect(existsSync(join(dir, 'build-stamp.json'))).toBe(true);
  });

  it('falls back to the TypeScript sources, with one notice, when it cannot build', () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, '');
    const r = edgeHelp(join(file, 'edge-agent'));
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('usage: outpost edge');
    expect(r.stderr.split('\n').filter((l) => l.includes('could not build the edge agent'))).toHaveLength(1);
    expect(r.stderr).toContain('running it from the TypeScript sources');
  });
});
