import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { applyAll, readManifests, waitEstablished } from '../apply-manifests.ts';
import { down, up } from '../../hack/local-cluster/control-plane.ts';
import { createCa, issueCertificate } from '../../lib/pki.ts';

const root = join(import.meta.dirname, '..', '..');
const launcher = join(root, 'bin', 'outpost.js');

interface QuickstartState {
  kubeconfig: string;
  localCluster: boolean;
  pids: Record<string, number>;
  hubPort: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts `outpost <args>` detached, logging to `log`; returns its pid. */
function daemon(args: string[], log: string): number {
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, [launcher, ...args], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  if (!child.pid) throw new CliError('CLI_USAGE', `could not start outpost ${args[0]}; see ${log}`);
  return child.pid;
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, log?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  const tail = log && existsSync(log) ? `\n${readFileSync(log, 'utf8').split('\n').slice(-15).join('\n')}` : '';
  throw new Error(`${what} did not happen within ${timeoutMs / 1000}s${log ? `; see ${log}` : ''}${tail}`);
}

const portOpen = (port: number) => new Promise<boolean>((res) => {
  const s = connect(port, '127.0.0.1', () => {
    s.destroy();
    res(true);
  });
  s.on('error', () => res(false));
});

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return await new Promise((res) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => res(p));
    });
  });
}

/**
 * `outpost quickstart`: the README's main job. Brings up the local control
 * plane (or uses --kubeconfig), installs the CRDs, starts the cloud side
 * (controllers, CloudHub, admission webhooks) and one edge node as local
 * processes, applies the samples, and prints what to try. `--down` undoes it.
 */
export const quickstart: Command = {
  name: 'quickstart',
  summary: 'local cluster + cloud + one edge node + samples, on embedded defaults (--down removes it)',
  usage: 'outpost quickstart [--kubeconfig PATH] [--dir DIR] [--down]',
  options: { down: { type: 'boolean' }, kubeconfig: { type: 'string' }, dir: { type: 'string' } },
  optionHelp: {
    down: 'stop everything quickstart started and remove its state',
    kubeconfig: 'use this cluster instead of starting the local control plane',
    dir: 'where quickstart keeps its state, certificates and logs (default .outpost/quickstart)',
  },
  async run(values) {
    const say = (l: string) => process.stderr.write(`${l}\n`);
    const dir = String(values.dir ?? join(root, '.outpost', 'quickstart'));
    const statePath = join(dir, 'state.json');
    if (values.down) {
      const st = existsSync(statePath) ? (JSON.parse(readFileSync(statePath, 'utf8')) as QuickstartState) : undefined;
      for (const [name, pid] of Object.entries(st?.pids ?? {})) {
        if (alive(pid)) process.kill(pid, 'SIGTERM');
        say(`quickstart: stopped ${name}`);
      }
      if (!st || st.localCluster) await down();
      rmSync(dir, { recursive: true, force: true });
      say('quickstart: removed');
      return 0;
    }
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const logs = (n: string) => join(dir, 'logs', `${n}.log`);
    if (existsSync(statePath)) {
      const st = JSON.parse(readFileSync(statePath, 'utf8')) as QuickstartState;
      if (Object.values(st.pids).every(alive)) {
        say('quickstart: already running');
        process.stdout.write(`export KUBECONFIG=${st.kubeconfig}\n`);
        return 0;
      }
      for (const pid of Object.values(st.pids)) if (alive(pid)) process.kill(pid, 'SIGTERM');
    }

    say('quickstart: [1/5] Kubernetes control plane');
    let kubeconfig = values.kubeconfig ? String(values.kubeconfig) : '';
    if (!kubeconfig) {
      say('  (the first run builds etcd and Kubernetes from source: about 5-25 min on 2 cores; later runs take seconds)');
      kubeconfig = (await up({ progress: (l) => say(`  ${l}`) })).kubeconfig;
    }
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);

    say('quickstart: [2/5] CRDs');
    const crds = readManifests(join(root, 'config', 'crd', 'bases'));
    await applyAll(kc, crds);
    await waitEstablished(kc, crds.map((c) => c.metadata!.name!));

    say('quickstart: [3/5] certificates (hub CA, hub serving certificate, node certificate for edge-1)');
    const pki = join(dir, 'pki');
    mkdirSync(pki, { recursive: true });
    const file = (n: string) => join(pki, n);
    if (!existsSync(file('edge-1.crt'))) {
      const ca = await createCa({ commonName: 'outpost-quickstart-ca', validityDays: 365 });
      const hub = await issueCertificate({ ca, commonName: 'outpost-cloudhub', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'], usage: 'server', validityDays: 365 });
      const node = await issueCertificate({ ca, commonName: 'system:node:edge-1', organization: ['system:nodes'], usage: 'client', validityDays: 365 });
      for (const [n, body] of [['ca.crt', ca.certPem], ['hub.crt', hub.certPem], ['hub.key', hub.keyPem!], ['edge-1.crt', node.certPem], ['edge-1.key', node.keyPem!]] as const) {
        writeFileSync(file(n), body, { mode: 0o600 });
      }
    }

    say('quickstart: [4/5] cloud side (controllers, CloudHub, admission webhooks)');
    const hubPort = await freePort();
    const webhookPort = await freePort();
    const pids: Record<string, number> = {};
    pids.cloud = daemon(['cloud', '--kubeconfig', kubeconfig, '--leader-elect', 'false', '--health-port', '-1',
      '--hub-host', '127.0.0.1', '--hub-port', String(hubPort), '--hub-ca-file', file('ca.crt'), '--hub-cert-file', file('hub.crt'), '--hub-key-file', file('hub.key'),
      '--webhook-port', String(webhookPort), '--webhook-cert-dir', join(dir, 'webhook-certs')], logs('cloud'));
    writeFileSync(statePath, JSON.stringify({ kubeconfig, localCluster: !values.kubeconfig, pids, hubPort } satisfies QuickstartState, null, 2));
    await waitFor('CloudHub listening', 120_000, () => portOpen(hubPort), logs('cloud'));

    say('quickstart: [5/5] edge node edge-1');
    pids.edge = daemon(['edge', '--node-name', 'edge-1', '--hub', `127.0.0.1:${hubPort}`, '--hub-protocol', 'websocket',
      '--data-dir', join(dir, 'edge-1'), '--ca-file', file('ca.crt'), '--cert-file', file('edge-1.crt'), '--key-file', file('edge-1.key')], logs('edge-1'));
    writeFileSync(statePath, JSON.stringify({ kubeconfig, localCluster: !values.kubeconfig, pids, hubPort } satisfies QuickstartState, null, 2));
    await waitFor('edge-1 connected to CloudHub', 60_000, async () => readFileSync(logs('edge-1'), 'utf8').includes('Connected to the cloud'), logs('edge-1'));
    await applyAll(kc, readManifests(join(root, 'config', 'samples')), 'default');

    process.stdout.write([
      '',
      'Outpost quickstart is up: a local control plane, the cloud side and edge node edge-1.',
      `  export KUBECONFIG=${kubeconfig}`,
      '  kubectl get nodes',
      '  kubectl get devicemodels,devices,nodegroups,edgeapplications -A',
      '  kubectl explain devices.spec.properties --api-version=devices.kubeedge.io/v1beta1',
      `Logs: ${join(dir, 'logs')}`,
      'Remove it with: npm run quickstart -- --down',
      '',
    ].join('\n'));
    return 0;
  },
};
