/**
 * Test fixture for CloudHub/EdgeHub integration tests: a throw-away PKI
 * (CA, hub serving certificate for 127.0.0.1, node client certificates), and
 * helpers to run `outpost cloud` / `outpost edge` in-process or as child
 * processes (for kill -9).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueCertificate } from '../../lib/pki.ts';
import type { EdgeConfig } from '../../edge/config.ts';

const root = join(import.meta.dirname, '..', '..');

export interface TestPki {
  dir: string;
  ca: { certPem: string; keyPem: string };
  hub: { cert: string; key: string };
  caFile: string;
  hubCertFile: string;
  hubKeyFile: string;
  /** Issues (and writes) a node client certificate with CN system:node:<name>. */
  node(name: string, cn?: string): Promise<{ cert: string; key: string; certFile: string; keyFile: string }>;
}

export async function makePki(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-pki-'));
  const ca = await createCa({ commonName: 'outpost-test-ca', validityDays: 2 });
  const hub = await issueCertificate({ ca, commonName: 'outpost-cloudhub', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'], usage: 'server', validityDays: 2 });
  const write = (name: string, body: string) => {
    const p = join(dir, name);
    writeFileSync(p, body, { mode: 0o600 });
    return p;
  };
  return {
    dir, ca, hub: { cert: hub.certPem, key: hub.keyPem! },
    caFile: write('ca.crt', ca.certPem), hubCertFile: write('hub.crt', hub.certPem), hubKeyFile: write('hub.key', hub.keyPem!),
    async node(name, cn = `system:node:${name}`) {
      const c = await issueCertificate({ ca, commonName: cn, organization: ['system:nodes'], usage: 'client', validityDays: 2 });
      return { cert: c.certPem, key: c.keyPem!, certFile: write(`${name}.crt`, c.certPem), keyFile: write(`${name}.key`, c.keyPem!) };
    },
  };
}

/** An EdgeConfig for an in-process agent. */
export async function edgeConfig(pki: TestPki, nodeName: string, port: number, protocol: 'websocket' | 'quic', dataDir?: string): Promise<EdgeConfig> {
  const n = await pki.node(nodeName);
  const dir = dataDir ?? join(pki.dir, `data-${nodeName}`);
  mkdirSync(dir, { recursive: true });
  return { nodeName, dataDir: dir, hub: { host: '127.0.0.1', port, protocol }, tls: { ca: pki.ca.certPem, cert: n.cert, key: n.key } };
}

/** Runs `outpost <args>` as a child process with the pinned Node; stderr is kept for diagnostics. */
export function spawnOutpost(args: string[], env: Record<string, string> = {}): ChildProcess & { logs: () => string } {
  const child = spawn(process.execPath, [join(root, 'bin', 'outpost.js'), ...args], {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OUTPOST_LOG_LEVEL: 'info', ...env },
  }) as ChildProcess & { logs: () => string };
  let logs = '';
  child.stderr!.on('data', (d: Buffer) => {
    logs += d.toString();
    if (logs.length > 1 << 20) logs = logs.slice(-(1 << 19));
  });
  child.logs = () => logs;
  return child;
}

/** Resolves when the child has exited. */
export function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}
