import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { applyAll, readManifests, waitEstablished } from '../apply-manifests.ts';
import { down, up } from '../../hack/local-cluster/control-plane.ts';
import { prepareLocalCloud } from '../install/local.ts';
import { mintJoinToken } from '../install/token.ts';
import { processAlive } from '../../lib/process.ts';
import { freePort } from '../../lib/ports.ts';

const root0 = join(import.meta.dirname, '..', '..');
const launcher = join(root0, 'bin', 'outpost.js');

interface QuickstartState {
  kubeconfig: string;
  localCluster: boolean;
  pids: Record<string, number>;
  hubPort: number;
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

/**
 * `outpost quickstart`: the README's main job. Brings up the local control
 * plane (or uses --kubeconfig), installs the CRDs, starts the cloud side
 * (controllers, CloudHub, admission webhooks) and one edge node as local
 * processes, applies the samples, and prints what to try. `--down` undoes it.
 */
export const quickstart: Command = {
  name: 'quickstart',
  summary: 'local cluster + cloud + a joined edge node + a simulated device and an app (--down removes it)',
  usage: 'outpost quickstart [--kubeconfig PATH] [--dir DIR] [--down]',
  options: { down: { type: 'boolean' }, kubeconfig: { type: 'string' }, dir: { type: 'string' } },
  optionHelp: {
    down: 'stop everything quickstart started and remove its state',
    kubeconfig: 'use this cluster instead of starting the local control plane',
    dir: 'where quickstart keeps its state, certificates and logs (default .outpost/quickstart)',
  },
  async run(values) {
    const say = (l: string) => process.stderr.write(`${l}\n`);
    const dir = String(values.dir ?? join(root0, '.outpost', 'quickstart'));
    const statePath = join(dir, 'state.json');
    if (values.down) {
      const st = existsSync(statePath) ? (JSON.parse(readFileSync(statePath, 'utf8')) as QuickstartState) : undefined;
      for (const [name, pid] of Object.entries(st?.pids ?? {})) {
        if (processAlive(pid)) process.kill(pid, 'SIGTERM');
        say(`quickstart: stopped ${name}`);
      }
      if (st && !st.localCluster) {
        // a cluster we did not create stays; remove what quickstart put into it, the admission
        // webhook configurations first: with nobody serving them they would refuse every Device write
        const kc = new k8s.KubeConfig();
        kc.loadFromFile(st.kubeconfig);
        const adm = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
        await adm.deleteValidatingWebhookConfiguration({ name: 'outpost-validating' }).catch(() => undefined);
        await adm.deleteMutatingWebhookConfiguration({ name: 'outpost-mutating' }).catch(() => undefined);
        const objects = readManifests(join(root0, 'config', 'quickstart')).reverse();
        const api = k8s.KubernetesObjectApi.makeApiClient(kc);
        for (const o of objects) await api.delete({ ...o, metadata: { ...o.metadata, namespace: o.metadata?.namespace ?? (o.kind === 'NodeGroup' ? undefined : 'default') } } as k8s.KubernetesObject).catch(() => undefined);
        await kc.makeApiClient(k8s.CoreV1Api).deleteNode({ name: 'edge-1' }).catch(() => undefined);
        say('quickstart: removed its objects from the cluster');
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
      if (Object.values(st.pids).every(processAlive)) {
        say('quickstart: already running');
        process.stdout.write(`export KUBECONFIG=${st.kubeconfig}\n`);
        return 0;
      }
      for (const pid of Object.values(st.pids)) if (processAlive(pid)) process.kill(pid, 'SIGTERM');
    }

    say('quickstart: [1/6] Kubernetes control plane');
    let kubeconfig = values.kubeconfig ? String(values.kubeconfig) : '';
    if (!kubeconfig) {
      say('  (the first run builds etcd and Kubernetes from source: about 5-25 min on 2 cores; later runs take seconds)');
      kubeconfig = (await up({ progress: (l) => say(`  ${l}`) })).kubeconfig;
    }
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);

    say('quickstart: [2/6] CRDs');
    const crds = readManifests(join(root0, 'config', 'crd', 'bases'));
    await applyAll(kc, crds);
    await waitEstablished(kc, crds.map((c) => c.metadata!.name!));

    say('quickstart: [3/6] local cloud: hub PKI and config ("outpost init --local")');
    const stateDir = join(dir, 'cloud');
    const [hubPort, bootstrapPort, webhookPort] = [await freePort(), await freePort(), await freePort()];
    await prepareLocalCloud({ stateDir, advertise: ['127.0.0.1'], hubHost: '127.0.0.1', hubPort, bootstrapPort, healthPort: 0, kubeconfig });

    say('quickstart: [4/6] cloud side: controllers, CloudHub, bootstrap endpoint, admission webhooks ("outpost cloud")');
    const pids: Record<string, number> = {};
    const save = () => writeFileSync(statePath, JSON.stringify({ kubeconfig, localCluster: !values.kubeconfig, pids, hubPort } satisfies QuickstartState, null, 2));
    // Everything on loopback: the API server reaches edge-1's kubelet endpoint on 127.0.0.1.
    pids.cloud = daemon(['cloud', '--state-dir', stateDir, '--webhook-port', String(webhookPort), '--webhook-cert-dir', join(dir, 'webhook-certs'),
      '--kubelet-advertise-address', '127.0.0.1', '--kubelet-host', '127.0.0.1'], logs('cloud'));
    save();
    await waitFor('the cloud\'s bootstrap endpoint', 120_000, () => portOpen(bootstrapPort), logs('cloud'));

    say('quickstart: [5/6] edge node edge-1: token, join, agent ("outpost gettoken", "outpost join", "outpost edge")');
    const { token } = await mintJoinToken({ stateDir, ttlMs: 3_600_000, description: 'quickstart' });
    const root = join(dir, 'edge-1');
    if (!existsSync(join(root, 'config.yaml'))) {
      const r = spawnSync(process.execPath, [launcher, 'join', '--cloud', `127.0.0.1:${bootstrapPort}`, '--token', token, '--node-name', 'edge-1',
        '--root', root, '--hub-protocol', 'websocket', '--no-start'], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`outpost join failed (${r.status}): ${r.stderr}`);
    }
    pids.edge = daemon(['edge', '--root', root, '--mqtt-port', '0', '--node-ip', '127.0.0.1'], logs('edge-1'));
    save();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await waitFor('node edge-1 Ready', 90_000, async () =>
      (await core.readNode({ name: 'edge-1' })).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false, logs('edge-1'));

    say('quickstart: [6/6] demo: NodeGroup, a simulated thermometer and an app on edge-1 (config/quickstart)');
    await applyAll(kc, readManifests(join(root0, 'config', 'quickstart')), 'default');
    await waitFor('the demo app running on edge-1', 90_000, async () =>
      (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=hello-edge' })).items.some((p) => p.spec?.nodeName === 'edge-1' && p.status?.phase === 'Running'), logs('edge-1'));

    process.stdout.write([
      '',
      'Outpost quickstart is up: a local control plane, the cloud side, edge node edge-1, a simulated device and an app.',
      `  export KUBECONFIG=${kubeconfig}`,
      '  kubectl get nodes -o wide',
      '  kubectl get nodegroups,devices,devicemodels',
      '  kubectl get device demo-thermometer-1 -o jsonpath=\'{.status.twins}\'',
      '  kubectl logs deploy/hello-edge -f',
      '  kubectl exec deploy/hello-edge -- sh -c \'echo hello from $(hostname)\'',
      `  kubectl patch device demo-thermometer-1 --type=json -p '[{"op":"replace","path":"/spec/properties/1/desired/value","value":"25"}]'`,
      `Add another edge node: npm run outpost -- gettoken --state-dir ${stateDir}, then outpost join on that machine.`,
      `Logs: ${join(dir, 'logs')}`,
      'Remove it with: npm run quickstart -- --down',
      '',
    ].join('\n'));
    return 0;
  },
};
