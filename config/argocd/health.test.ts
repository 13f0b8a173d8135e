/**
 * Runs the Argo CD health checks (config/argocd/<group>/<Kind>/health.lua)
 * on the sample statuses of each health_test.yaml, with a real Lua 5.1
 * interpreter: Argo CD runs these scripts on gopher-lua, a Lua 5.1. The
 * object goes in as the global `obj` (a Lua table literal made from the
 * YAML), exactly as Argo CD passes it. Also checks that the generated
 * scripts and argocd-cm patch match their sources.
 *
 * Needs `lua5.1` on PATH (Debian package lua5.1; .ci/run installs it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { argocdDir, argocdDrift, healthKinds } from '../../hack/generate-argocd.ts';

function lua(): string {
  for (const bin of ['lua5.1', 'luajit', 'lua']) {
    const r = spawnSync(bin, ['-v'], { encoding: 'utf8' });
    if (r.status === 0 && /Lua 5\.1|LuaJIT/.test(`${r.stdout}${r.stderr}`)) return bin;
  }
  throw new Error('no Lua 5.1 interpreter on PATH: install the Debian package lua5.1 (apt-get install lua5.1); Argo CD runs health checks on Lua 5.1 (gopher-lua)');
}

/** A Lua table constructor for a JSON value (nulls dropped, arrays 1-based). */
export function toLua(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'string') return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return toLua(v.toISOString());
  if (Array.isArray(v)) return `{${v.map(toLua).join(', ')}}`;
  return `{${Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== null && x !== undefined).map(([k, x]) => `[${toLua(k)}] = ${toLua(x)}`).join(', ')}}`;
}

/** Runs `script` with `obj` the way Argo CD does; returns the health table. */
function runHealth(bin: string, script: string, obj: unknown): { status: string; message: string } {
  const harness = `obj = ${toLua(obj)}\nlocal chunk = assert(loadstring(${toLua(script)}))\nlocal hs = chunk()\nio.write(tostring(hs.status), "\\t", tostring(hs.message))\n`;
  const out = execFileSync(bin, ['-'], { input: harness, encoding: 'utf8' });
  const [status, ...message] = out.split('\t');
  return { status: status!, message: message.join('\t') };
}

describe('Argo CD health checks', () => {
  it('generated files match config/argocd sources (node hack/generate-argocd.ts)', () => {
    expect(argocdDrift()).toEqual([]);
  });

  const kinds = healthKinds();
  it('covers Device, NodeGroup and EdgeApplication', () => {
    expect(kinds).toEqual(['apps.kubeedge.io/EdgeApplication', 'apps.kubeedge.io/NodeGroup', 'devices.kubeedge.io/Device']);
  });

  describe.each(kinds)('%s', (kind) => {
    const tests = (YAML.parse(readFileSync(join(argocdDir, kind, 'health_test.yaml'), 'utf8')) as { tests: { healthStatus: { status: string; message: string }; inputPath: string }[] }).tests;
    it.each(tests.map((t) => [t.inputPath, t] as const))('%s', (_name, t) => {
      const bin = lua();
      const obj = YAML.parse(readFileSync(join(argocdDir, kind, t.inputPath), 'utf8'));
      expect(runHealth(bin, readFileSync(join(argocdDir, kind, 'health.lua'), 'utf8'), obj)).toEqual(t.healthStatus);
    });
  });
});
