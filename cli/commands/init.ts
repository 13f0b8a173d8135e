import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { loadKubeConfig, startCloud } from '../../cloud/cloud.ts';
import { advertiseFlag } from '../install/cloud-flags.ts';
import { installCluster, renderKustomization, configDir, WEBHOOKS_SERVED_BY_CLOUD } from '../install/cluster.ts';
import { defaultStateDir, localCloudConfig, prepareLocalCloud, removeCloudPid, writeCloudPid } from '../install/local.ts';
import { applyAll, waitEstablished } from '../apply-manifests.ts';
import { join } from 'node:path';

function int(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliError('CLI_USAGE', `--${name} must be a port number, got "${String(v)}"`);
  return n;
}

/** `outpost init`: installs the cloud side into the current cluster, or (--local) runs it here. */
export const init: Command = {
  name: 'init',
  summary: 'install Outpost into the current cluster (or --local: run the cloud side here)',
  usage: 'outpost init --advertise-address ADDR [--advertise-address ADDR]... [--kubeconfig PATH] [--image IMG] | outpost init --local [--state-dir DIR] [--no-start]',
  options: {
    'advertise-address': { type: 'string', multiple: true },
    kubeconfig: { type: 'string' },
    local: { type: 'boolean' },
    'state-dir': { type: 'string' },
    'no-start': { type: 'boolean' },
    image: { type: 'string' },
    'skip-webhooks': { type: 'boolean' },
    webhooks: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    'advertise-hub-port': { type: 'string' },
    'hub-port': { type: 'string' },
    'bootstrap-port': { type: 'string' },
    'health-port': { type: 'string' },
  },
  optionHelp: {
    'advertise-address': 'IP or DNS name edges dial (repeatable, or comma-separated); each becomes a SAN of the hub certificate',
    kubeconfig: 'cluster to install into (default: KUBECONFIG, ~/.kube/config)',
    local: 'run the cloud side as a local process for development (PKI and tokens in --state-dir) instead of installing it',
    'state-dir': `local mode: where PKI, tokens and cloud.yaml live (default ${defaultStateDir()})`,
    'no-start': 'local mode: prepare only, print how to start it',
    image: 'container image of the cloud Deployment (cluster mode)',
    'skip-webhooks': 'do not install the admission webhook configurations',
    webhooks: 'install the admission webhook configurations (the default)',
    'dry-run': 'cluster mode: validate everything with a server-side dry run; change nothing',
    'advertise-hub-port': 'cluster mode: hub port edges are told (e.g. a NodePort)',
    'hub-port': 'local mode: CloudHub port, TCP and UDP (default 10000)',
    'bootstrap-port': 'local mode: bootstrap endpoint port (default 10002)',
    'health-port': 'local mode: probes and metrics port (default 8081; 0 = any free port)',
  },
  async run(v) {
    const say = (l: string) => process.stderr.write(`${l}\n`);
    const advertise = advertiseFlag(v['advertise-address']);
    if (v.local) {
      if (v.image || v['dry-run'] || v['advertise-hub-port']) throw new CliError('CLI_USAGE', '--image, --dry-run and --advertise-hub-port are for cluster mode; drop them with --local');
      const stateDir = String(v['state-dir'] ?? defaultStateDir());
      const { settings, pki } = await prepareLocalCloud({
        stateDir, ...(advertise.length ? { advertise } : {}), ...(v.kubeconfig ? { kubeconfig: String(v.kubeconfig) } : {}),
        ...(v['hub-port'] !== undefined ? { hubPort: int('hub-port', v['hub-port'], 10000) } : {}),
        ...(v['bootstrap-port'] !== undefined ? { bootstrapPort: int('bootstrap-port', v['bootstrap-port'], 10002) } : {}),
        ...(v['health-port'] !== undefined ? { healthPort: int('health-port', v['health-port'], 8081) } : {}),
      });
      say(`outpost init: local cloud in ${stateDir}: CA ${pki.caPin} (${pki.created.ca ? 'created' : 'kept'}), hub certificate for ${[...new Set([...settings.advertiseAddresses, 'localhost', '127.0.0.1'])].join(', ')}${pki.created.serving ? ' (issued)' : ''}`);
      const kc = loadKubeConfig(settings.kubeconfig);
      const crds = renderKustomization(join(configDir, 'crd'));
      say(`outpost init: installing ${crds.length} CRDs into ${kc.getCurrentCluster()?.server ?? 'the current cluster'}`);
      await applyAll(kc, crds);
      await waitEstablished(kc, crds.map((c) => c.metadata!.name!));
      const next = `next: outpost gettoken --state-dir ${stateDir}   (then on the edge: outpost join --cloud ${settings.advertiseAddresses[0] ?? '127.0.0.1'}:${settings.bootstrapPort} --token <token>)`;
      if (v['no-start']) {
        say(`start it with: outpost cloud --state-dir ${stateDir}\n${next}`);
        return 0;
      }
      const cloud = await startCloud(await localCloudConfig(stateDir));
      writeCloudPid(stateDir);
      say(`outpost init: cloud running (hub ${JSON.stringify(cloud.hubAddresses)}, bootstrap :${cloud.bootstrap?.address.port}); Ctrl-C stops it\n${next}`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await cloud.stop();
      removeCloudPid(stateDir);
      return 0;
    }
    for (const f of ['state-dir', 'no-start', 'hub-port', 'bootstrap-port', 'health-port'] as const) {
      if (v[f] !== undefined) throw new CliError('CLI_USAGE', `--${f} is for --local; in cluster mode the ports are in config/manager`);
    }
    if (v['skip-webhooks'] && v.webhooks) throw new CliError('CLI_USAGE', 'pass --webhooks or --skip-webhooks, not both');
    if (advertise.length === 0) say('outpost init: no --advertise-address: edges outside the cluster cannot reach the hub until you add the address they dial (run init again with it)');
    const hubPort = v['advertise-hub-port'] === undefined ? undefined : int('advertise-hub-port', v['advertise-hub-port'], 0);
    const webhooks = v['skip-webhooks'] ? false : v.webhooks ? true : WEBHOOKS_SERVED_BY_CLOUD;
    const kc = loadKubeConfig(v.kubeconfig as string | undefined);
    const r = await installCluster(kc, {
      advertise, webhooks, dryRun: v['dry-run'] === true, progress: (l) => say(`outpost init: ${l}`),
      ...(v.image ? { image: String(v.image) } : {}), ...(hubPort ? { advertiseHubPort: hubPort } : {}),
    });
    if (v['dry-run']) {
      say(`outpost init: dry run passed for ${r.objects.length} objects; nothing was changed`);
      return 0;
    }
    say(`outpost init: installed (CA ${r.pki!.caPin}, ${r.pki!.created.ca ? 'created' : 'kept'}). Next: outpost gettoken, then on the edge: outpost join --cloud <address>:10002 --token <token>`);
    return 0;
  },
};
