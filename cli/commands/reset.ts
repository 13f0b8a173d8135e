import { existsSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { defaultRoot, processAlive, readPidFile, readRootConfig, rootFiles } from '../../edge/identity/index.ts';
import { loadKubeConfig } from '../../cloud/cloud.ts';
import { uninstallCluster } from '../install/cluster.ts';
import { defaultStateDir, localFiles, readCloudPid } from '../install/local.ts';

/** Sends SIGTERM and waits up to `ms` for the process to exit. */
async function stopProcess(pid: number, what: string, say: (l: string) => void, ms = 15_000): Promise<void> {
  if (pid === process.pid || !processAlive(pid)) return;
  say(`stopping ${what} (pid ${pid})`);
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + ms;
  while (processAlive(pid)) {
    if (Date.now() > deadline) throw new CliError('CLI_INSTALL_FAILED', `${what} (pid ${pid}) did not stop within ${ms / 1000}s; stop it (kill ${pid}) and run reset again`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Removes only the entries Outpost creates, then the directory if it is empty: never someone else's files. */
function removeKnown(dir: string, names: string[], say: (l: string) => void): void {
  for (const n of readdirSync(dir)) {
    if (names.includes(n) || n.startsWith('.join-') || n.endsWith('.tmp') || /\.tmp-\d+$/.test(n)) {
      rmSync(join(dir, n), { recursive: true, force: true });
      say(`removed ${join(dir, n)}`);
    }
  }
  if (readdirSync(dir).length === 0) rmdirSync(dir);
  else say(`kept ${dir}: it holds files Outpost did not create (${readdirSync(dir).slice(0, 5).join(', ')})`);
}

/** `outpost reset`: removes one side cleanly. */
export const reset: Command = {
  name: 'reset',
  summary: 'remove Outpost from this machine: the edge node (--edge) or the cloud side (--cloud)',
  usage: 'outpost reset --edge [--root DIR] --force | outpost reset --cloud [--state-dir DIR | --kubeconfig PATH] [--delete-crds] --force',
  options: {
    edge: { type: 'boolean' },
    cloud: { type: 'boolean' },
    root: { type: 'string' },
    'state-dir': { type: 'string' },
    kubeconfig: { type: 'string' },
    'delete-crds': { type: 'boolean' },
    force: { type: 'boolean' },
  },
  optionHelp: {
    edge: 'stop the agent and delete its root directory (identity, certificates and local store)',
    cloud: 'remove what "outpost init" installed (cluster), or stop and delete the local cloud (--state-dir)',
    root: `edge root directory (default ${defaultRoot})`,
    'state-dir': 'the local cloud\'s state directory (from "outpost init --local")',
    kubeconfig: 'cluster to remove Outpost from (default: KUBECONFIG, ~/.kube/config)',
    'delete-crds': 'also delete the CRDs, and with them every Device, DeviceModel, NodeGroup and EdgeApplication',
    force: 'confirm: without it, reset only says what it would remove',
  },
  async run(v) {
    const say = (l: string) => process.stderr.write(`outpost reset: ${l}\n`);
    if (!!v.edge === !!v.cloud) throw new CliError('CLI_USAGE', 'say which side: --edge or --cloud');
    if (v.edge) {
      for (const f of ['state-dir', 'kubeconfig', 'delete-crds'] as const) if (v[f] !== undefined) throw new CliError('CLI_USAGE', `--${f} is for --cloud`);
      const root = resolve(String(v.root ?? defaultRoot));
      if (!existsSync(root)) {
        say(`${root} does not exist; nothing to do`);
        return 0;
      }
      const cfg = readRootConfig(root);
      const plan = `${cfg ? `edge node "${cfg.nodeName}" (cloud ${cfg.cloud.address})` : 'leftovers of an edge root'}: stop the agent, delete ${root} (config, certificates, local store)`;
      if (!v.force) throw new CliError('CLI_CONFIRM_REQUIRED', `would remove ${plan}; pass --force to do it. The Node object in the cluster stays: delete it there (kubectl delete node ${cfg?.nodeName ?? '<name>'}) if the node is gone for good`);
      const pid = readPidFile(root);
      if (pid) await stopProcess(pid, 'the edge agent', say);
      removeKnown(root, [rootFiles.config, rootFiles.pkiDir, rootFiles.dataDir, rootFiles.token, rootFiles.pid], say);
      say(`done; join again with: outpost join --root ${root} --cloud <address> --token <token>${cfg ? ` --node-name ${cfg.nodeName}` : ''}`);
      return 0;
    }
    if (v.root !== undefined) throw new CliError('CLI_USAGE', '--root is for --edge');
    if (v['state-dir'] !== undefined || (!v.kubeconfig && existsSync(join(defaultStateDir(), localFiles.config)))) {
      if (v['delete-crds']) throw new CliError('CLI_USAGE', '--delete-crds is for a cluster install; a local cloud installed only the CRDs: delete them with kubectl if you want');
      const dir = resolve(String(v['state-dir'] ?? defaultStateDir()));
      if (!existsSync(dir)) {
        say(`${dir} does not exist; nothing to do`);
        return 0;
      }
      if (!v.force) throw new CliError('CLI_CONFIRM_REQUIRED', `would stop the local cloud and delete ${dir} (its CA: every joined node must join again); pass --force to do it`);
      const pid = readCloudPid(dir);
      if (pid) await stopProcess(pid, 'the local cloud', say);
      removeKnown(dir, [localFiles.config, localFiles.pki, localFiles.tokens, localFiles.pid], say);
      return 0;
    }
    const kc = loadKubeConfig(v.kubeconfig as string | undefined);
    if (!v.force) throw new CliError('CLI_CONFIRM_REQUIRED', `would remove Outpost from ${kc.getCurrentCluster()?.server}: the cloud Deployment, Services, RBAC, webhook configurations and the outpost-system namespace (the hub CA and join tokens with it: every node must join again)${v['delete-crds'] ? ', and the CRDs with every Device, DeviceModel, NodeGroup and EdgeApplication' : '; CRDs and their objects stay (--delete-crds removes them)'}; pass --force to do it`);
    const removed = await uninstallCluster(kc, { deleteCrds: v['delete-crds'] === true, progress: say });
    say(`done (${removed.length} objects deleted; the namespace finishes terminating in the background)`);
    return 0;
  },
};
