import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Lookups } from './env.ts';
import type { Pod, Volume } from './types.ts';
import { containerMounts, prepareVolumes, renderVolume, stubToken, writeAtomic } from './volumes.ts';

const facts = { hostIP: '10.0.0.7', podIP: '10.0.0.7', allocatable: { cpu: '2', memory: '4Gi' } };
const cms: Record<string, Record<string, string>> = { cfg: { 'a.conf': 'A', b: 'B' }, 'kube-root-ca.crt': { 'ca.crt': 'CA' } };
const lookups: Lookups = {
  configMap: (_ns, n) => (cms[n] ? { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: n }, data: cms[n] } : undefined),
  secret: (_ns, n) => (n === 's' ? { apiVersion: 'v1', kind: 'Secret', metadata: { name: n }, data: { key: Buffer.from([0, 1, 2]).toString('base64') } } : undefined),
};
const pod = (volumes: Volume[]): Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', uid: 'u', labels: { b: '2', a: '1' } }, spec: { containers: [{ name: 'c' }], volumes } });
const files = (v: Volume) => {
  const r = renderVolume(pod([v]), v, lookups, facts);
  return r.type === 'files' ? Object.fromEntries([...r.files].map(([k, f]) => [k, [f.data.toString('latin1'), f.mode.toString(8)]])) : r;
};
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'outpost-vol-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('renderVolume', () => {
  it('configMap: all keys, or the listed items with paths and modes', () => {
    expect(files({ name: 'v', configMap: { name: 'cfg' } })).toEqual({ 'a.conf': ['A', '644'], b: ['B', '644'] });
    expect(files({ name: 'v', configMap: { name: 'cfg', defaultMode: 0o600, items: [{ key: 'b', path: 'sub/b.txt', mode: 0o400 }, { key: 'a.conf', path: 'a' }] } })).toEqual({ 'sub/b.txt': ['B', '400'], a: ['A', '600'] });
  });

  it('secret: decoded bytes; missing ones fail unless optional', () => {
    expect(files({ name: 'v', secret: { secretName: 's' } })).toEqual({ key: ['\x00\x01\x02', '644'] });
    expect(() => files({ name: 'v', secret: { secretName: 'x' } })).toThrow('volume "v": secret "x" not found');
    expect(files({ name: 'v', secret: { secretName: 'x', optional: true } })).toEqual({});
    expect(() => files({ name: 'v', configMap: { name: 'cfg', items: [{ key: 'zz', path: 'z' }] } })).toThrow('has no key "zz"');
  });

  it('downwardAPI and projected (the kube-api-access volume, with a placeholder token)', () => {
    expect(files({ name: 'v', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'ns', fieldRef: { fieldPath: 'metadata.namespace' } }] } }))
      .toEqual({ labels: ['a="1"\nb="2"', '644'], ns: ['ns', '644'] });
    expect(files({
      name: 'kube-api-access-x', projected: { defaultMode: 0o644, sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
      ] },
    })).toEqual({ token: [stubToken, '644'], 'ca.crt': ['CA', '644'], namespace: ['ns', '644'] });
  });

  it('emptyDir, hostPath, and a clear error for unsupported types or unsafe paths', () => {
    expect(files({ name: 'v', emptyDir: {} })).toEqual({ type: 'emptyDir' });
    expect(files({ name: 'v', hostPath: { path: '/srv', type: 'Directory' } })).toEqual({ type: 'hostPath', path: '/srv', hostType: 'Directory' });
    expect(() => files({ name: 'v', persistentVolumeClaim: { claimName: 'x' } })).toThrow('volume type persistentVolumeClaim is not supported at the edge');
    expect(() => files({ name: 'v', configMap: { name: 'cfg', items: [{ key: 'b', path: '../escape' }] } })).toThrow('must be relative and must not contain ".."');
  });
});

describe('writeAtomic', () => {
  it('switches ..data atomically, links top-level names through it, and is a no-op when unchanged', () => {
    const d = tmp();
    const f = (s: string) => new Map([['conf/app', { data: Buffer.from(s), mode: 0o640 }], ['top', { data: Buffer.from('t'), mode: 0o644 }]]);
    expect(writeAtomic(d, f('v1'))).toBe(true);
    expect(readFileSync(join(d, 'conf', 'app'), 'utf8')).toBe('v1');
    expect(readlinkSync(join(d, 'conf'))).toBe(join('..data', 'conf'));
    expect(statSync(join(d, 'conf', 'app')).mode & 0o777).toBe(0o640);
    const first = readlinkSync(join(d, '..data'));
    expect(writeAtomic(d, f('v1'))).toBe(false);
    expect(writeAtomic(d, f('v2'))).toBe(true);
    expect(readFileSync(join(d, 'conf', 'app'), 'utf8')).toBe('v2');
    expect(readlinkSync(join(d, '..data'))).not.toBe(first);
    expect(existsSync(join(d, first))).toBe(false); // the old version is gone
    writeAtomic(d, new Map([['only', { data: Buffer.from('o'), mode: 0o644 }]]));
    expect(readdirSync(d).sort()).toEqual(['..data', readlinkSync(join(d, '..data')), 'only'].sort());
  });
});

describe('prepareVolumes and containerMounts', () => {
  it('materialises volumes under the pod directory and resolves mounts with subPath', () => {
    const podDir = tmp();
    const hostDir = tmp();
    const p = pod([{ name: 'cfg', configMap: { name: 'cfg' } }, { name: 'scratch', emptyDir: {} }, { name: 'host', hostPath: { path: join(hostDir, 'made'), type: 'DirectoryOrCreate' } }]);
    const vols = prepareVolumes(p, podDir, lookups, facts);
    expect(vols.get('cfg')).toBe(join(podDir, 'volumes', 'cfg'));
    expect(readFileSync(join(podDir, 'volumes', 'cfg', 'b'), 'utf8')).toBe('B');
    expect(statSync(join(podDir, 'volumes', 'scratch')).mode & 0o777).toBe(0o777);
    expect(lstatSync(join(hostDir, 'made')).isDirectory()).toBe(true);
    expect(containerMounts({ name: 'c', volumeMounts: [{ name: 'cfg', mountPath: '/etc/cfg', readOnly: true }, { name: 'scratch', mountPath: '/data', subPath: 'x/y' }] }, vols)).toEqual([
      { containerPath: '/etc/cfg', hostPath: join(podDir, 'volumes', 'cfg'), readOnly: true },
      { containerPath: '/data', hostPath: join(podDir, 'volumes', 'scratch', 'x', 'y'), readOnly: false },
    ]);
    expect(() => containerMounts({ name: 'c', volumeMounts: [{ name: 'nope', mountPath: '/x' }] }, vols)).toThrow('which the pod does not define');
    expect(() => prepareVolumes(pod([{ name: 'h', hostPath: { path: join(hostDir, 'missing'), type: 'File' } }]), podDir, lookups, facts)).toThrow('hostPath type check failed');
  });
});
