// `outpost edge --runtime / --cri-endpoint / --node-ip` (edge/config.ts workloadConfig).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, issueCertificate } from '../../lib/pki.ts';
import { buildEdgeConfig, defaultCriEndpoint, type EdgeConfigInput } from '../config.ts';

let dir = '';
let base: EdgeConfigInput;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'outpost-cfg-'));
  const ca = await createCa({ commonName: 'ca', validityDays: 1 });
  const n = await issueCertificate({ ca, commonName: 'system:node:n1', usage: 'client', validityDays: 1 });
  for (const [f, v] of [['ca.crt', ca.certPem], ['n1.crt', n.certPem], ['n1.key', n.keyPem!]] as const) writeFileSync(join(dir, f), v);
  base = { nodeName: 'n1', dataDir: join(dir, 'data'), hub: '127.0.0.1:10000', caFile: join(dir, 'ca.crt'), certFile: join(dir, 'n1.crt'), keyFile: join(dir, 'n1.key') };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const msg = (i: Partial<EdgeConfigInput>) => {
  try {
    buildEdgeConfig({ ...base, ...i });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

describe('edge config: node and pods', () => {
  it('defaults to the process runtime, the system containerd socket and an automatic node IP', () => {
    const c = buildEdgeConfig(base);
    expect(c.pods).toEqual({ runtime: 'process', criEndpoint: defaultCriEndpoint });
    expect(c.node).toEqual({});
    expect(Object.isFrozen(c.pods)).toBe(true);
  });

  it('takes --runtime cri, --cri-endpoint and --node-ip', () => {
    const c = buildEdgeConfig({ ...base, runtime: 'cri', criEndpoint: '/tmp/c.sock', nodeIP: '10.0.0.7' });
    expect(c.pods).toEqual({ runtime: 'cri', criEndpoint: '/tmp/c.sock' });
    expect(c.node).toEqual({ ip: '10.0.0.7' });
  });

  it('says what is wrong with each flag', () => {
    expect(msg({ runtime: 'docker' })).toBe('--runtime: must be process (containers as host processes) or cri (containerd), got "docker"');
    expect(msg({ criEndpoint: 'tcp://1.2.3.4:5' })).toBe(`--cri-endpoint: "tcp://1.2.3.4:5" must be a unix socket, e.g. ${defaultCriEndpoint}`);
    expect(msg({ nodeIP: 'edge-1' })).toBe('--node-ip: "edge-1" is not an IP address');
  });
});
