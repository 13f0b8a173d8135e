import { readFileSync } from 'node:fs';
import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { defaultCloudConfig, startCloud, type CloudConfig } from '../../cloud/cloud.ts';
import { cloudIdentityFromFlags, identityOptionHelp, identityOptions } from '../install/cloud-flags.ts';
import { localCloudConfig, removeCloudPid, writeCloudPid } from '../install/local.ts';
import { defaultAdvertiseAddress, parsePortRange } from '../../cloud/kubelet/endpoints.ts';
import { KubeletError } from '../../cloud/kubelet/errors.ts';

function serviceRef(v: string): { namespace: string; name: string } {
  const m = /^([a-z0-9-]{1,63})\/([a-z0-9-]{1,63})$/.exec(v);
  if (!m) throw new CliError('CLI_USAGE', `--webhook-service must be namespace/name, got "${v}"`);
  return { namespace: m[1]!, name: m[2]! };
}

function intFlag(name: string, v: unknown, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new CliError('CLI_USAGE', `--${name} must be an integer from ${min} to ${max}, got "${String(v)}"`);
  return n;
}

/** `outpost cloud`: runs the cloud side until SIGINT/SIGTERM. */
export const cloud: Command = {
  name: 'cloud',
  summary: 'run the cloud side: controllers, CloudHub, bootstrap endpoint, webhooks, kubelet endpoints for edge nodes',
  usage: 'outpost cloud [--kubeconfig PATH] [--leader-elect=false] [--health-port N]',
  options: {
    kubeconfig: { type: 'string' },
    'leader-elect': { type: 'string' },
    'leader-election-namespace': { type: 'string' },
    'health-port': { type: 'string' },
    'lease-duration-ms': { type: 'string' },
    identity: { type: 'string' },
    'hub-host': { type: 'string' },
    'hub-port': { type: 'string' },
    'hub-protocols': { type: 'string' },
    'hub-ca-file': { type: 'string' },
    'hub-cert-file': { type: 'string' },
    'hub-key-file': { type: 'string' },
    'webhook-port': { type: 'string' },
    'kubelet-port-range': { type: 'string' },
    'kubelet-client-ca-file': { type: 'string' },
    'kubelet-advertise-address': { type: 'string' },
    'kubelet-host': { type: 'string' },
    'webhook-host': { type: 'string' },
    'webhook-mode': { type: 'string' },
    'webhook-cert-dir': { type: 'string' },
    'webhook-service': { type: 'string' },
    ...identityOptions,
  },
  optionHelp: {
    kubeconfig: 'kubeconfig file (default: KUBECONFIG, ~/.kube/config, or in-cluster)',
    'leader-elect': 'true|false: elect one active replica through a Lease (default true)',
    'leader-election-namespace': `namespace of the Lease (default ${defaultCloudConfig.leaderElectionNamespace})`,
    'health-port': `port for /healthz, /readyz, /metrics (default ${defaultCloudConfig.healthPort}; 0 = any free port; -1 = off)`,
    'lease-duration-ms': `leader Lease duration (default ${defaultCloudConfig.leaseDurationMs})`,
    identity: 'leader-election identity (default hostname_pid)',
    'hub-host': 'address CloudHub listens on (default 0.0.0.0)',
    'hub-port': 'CloudHub port: WebSocket on TCP, QUIC on UDP (default 10000; -1 = no hub)',
    'hub-protocols': 'comma-separated: websocket,quic (default both)',
    'hub-ca-file': 'CA that signs node client certificates',
    'hub-cert-file': 'CloudHub serving certificate (SANs: every address edges dial)',
    'hub-key-file': 'CloudHub private key',
    'kubelet-port-range': 'ports for the kubelet endpoint of edge nodes, one per connected node (kubectl logs/exec/attach/port-forward/top; default 10350-10850; off = none)',
    'kubelet-client-ca-file': 'CA of the API server\'s --kubelet-client-certificate (default: client-ca-file of kube-system/extension-apiserver-authentication)',
    'kubelet-advertise-address': 'IP of this replica the API server dials for edge kubelets (default: first non-loopback IPv4)',
    'kubelet-host': 'address the kubelet endpoints listen on (default 0.0.0.0)',
    'webhook-port': 'admission webhook port (default -1 = no webhooks; 9443 is usual)',
    'webhook-host': 'address the webhook server listens on (default 127.0.0.1)',
    'webhook-mode': 'url (the API server calls https://<host>:<port>; Outpost as a process) or service (in-cluster) (default url)',
    'webhook-cert-dir': 'where the webhook CA and serving certificate are kept across restarts',
    'webhook-service': 'service mode: namespace/name of the Service in front of the webhook (default outpost-system/outpost-webhook-service)',
    ...identityOptionHelp,
  },
  async run(v) {
    const le = v['leader-elect'];
    if (le !== undefined && le !== 'true' && le !== 'false') throw new CliError('CLI_USAGE', `--leader-elect must be true or false, got "${String(le)}"`);
    const leaseDurationMs = intFlag('lease-duration-ms', v['lease-duration-ms'], 2000, 600_000, defaultCloudConfig.leaseDurationMs);
    const cfg: CloudConfig = Object.freeze({
      ...defaultCloudConfig,
      ...(v.kubeconfig ? { kubeconfig: String(v.kubeconfig) } : {}),
      ...(v.identity ? { identity: String(v.identity) } : {}),
      ...(v['leader-election-namespace'] ? { leaderElectionNamespace: String(v['leader-election-namespace']) } : {}),
      leaderElect: le !== 'false',
      healthPort: intFlag('health-port', v['health-port'], -1, 65535, defaultCloudConfig.healthPort),
      leaseDurationMs,
      renewDeadlineMs: Math.round(leaseDurationMs * 2 / 3),
      retryPeriodMs: Math.max(500, Math.round(leaseDurationMs / 7)),
    });
    // --state-dir: hub, bootstrap and PKI come from the local cloud's directory (cli/install/local.ts)
    const hubPort = v['state-dir'] !== undefined ? -1 : intFlag('hub-port', v['hub-port'], -1, 65535, 10000);
    let hub: CloudConfig['hub'];
    let bootstrap: CloudConfig['bootstrap'];
    const identity = v['state-dir'] !== undefined ? undefined : await cloudIdentityFromFlags(v, { host: String(v['hub-host'] ?? '0.0.0.0'), port: hubPort });
    if (identity?.bootstrap && hubPort >= 0) bootstrap = identity.bootstrap;
    if (hubPort >= 0) {
      const protocols = String(v['hub-protocols'] ?? 'websocket,quic').split(',').map((p) => p.trim());
      for (const p of protocols) if (p !== 'websocket' && p !== 'quic') throw new CliError('CLI_USAGE', `--hub-protocols: unknown protocol "${p}" (use websocket, quic or both)`);
      const read = (flag: string) => {
        const path = v[flag];
        if (!path) throw new CliError('CLI_USAGE', `--${flag} is required when the hub runs (or pass --hub-port -1)`);
        try {
          return readFileSync(String(path), 'utf8');
        } catch (err) {
          throw new CliError('CLI_USAGE', `--${flag}: cannot read ${String(path)} (${(err as NodeJS.ErrnoException).code})`);
        }
      };
      hub = { host: String(v['hub-host'] ?? '0.0.0.0'), port: hubPort, protocols: protocols as ('websocket' | 'quic')[],
        tls: identity?.tls ?? { ca: read('hub-ca-file'), cert: read('hub-cert-file'), key: read('hub-key-file') } };
    }
    const webhookPort = intFlag('webhook-port', v['webhook-port'], -1, 65535, -1);
    const mode = String(v['webhook-mode'] ?? 'url');
    if (mode !== 'url' && mode !== 'service') throw new CliError('CLI_USAGE', `--webhook-mode must be url or service, got "${mode}"`);
    const webhooks = webhookPort >= 0
      ? {
        host: String(v['webhook-host'] ?? '127.0.0.1'), port: webhookPort, mode: mode as 'url' | 'service',
        ...(v['webhook-cert-dir'] ? { certDir: String(v['webhook-cert-dir']) } : {}),
        ...(mode === 'service' ? { service: serviceRef(String(v['webhook-service'] ?? 'outpost-system/outpost-webhook-service')) } : {}),
      }
      : undefined;
    const stateDir = v['state-dir'] === undefined ? undefined : String(v['state-dir']);
    const kubelet = kubeletFromFlags(v);
    const c = await startCloud(Object.freeze(stateDir
      ? { ...(await localCloudConfig(stateDir, v.kubeconfig ? { kubeconfig: String(v.kubeconfig) } : {})), ...(webhooks ? { webhooks } : {}), ...(kubelet ? { kubelet } : {}) }
      : { ...cfg, ...(hub ? { hub } : {}), ...(bootstrap ? { bootstrap } : {}), ...(webhooks ? { webhooks } : {}), ...(hub && kubelet ? { kubelet } : {}) }));
    if (stateDir) writeCloudPid(stateDir);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await c.stop();
    if (stateDir) removeCloudPid(stateDir);
    return 0;
  },
};

/** The kubelet endpoint (on unless --kubelet-port-range off): cloud/kubelet. */
function kubeletFromFlags(v: Record<string, unknown>): CloudConfig['kubelet'] {
  const range = String(v['kubelet-port-range'] ?? '10350-10850');
  if (range === 'off') return undefined;
  let portRange: [number, number];
  try {
    portRange = parsePortRange(range);
  } catch (err) {
    throw new CliError('CLI_USAGE', `--kubelet-port-range: ${(err as KubeletError).message}`);
  }
  let clientCa: string | undefined;
  if (v['kubelet-client-ca-file'] !== undefined) {
    try {
      clientCa = readFileSync(String(v['kubelet-client-ca-file']), 'utf8');
    } catch (err) {
      throw new CliError('CLI_USAGE', `--kubelet-client-ca-file: cannot read ${String(v['kubelet-client-ca-file'])} (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  return {
    host: String(v['kubelet-host'] ?? '0.0.0.0'), advertiseAddress: String(v['kubelet-advertise-address'] ?? defaultAdvertiseAddress()), portRange,
    ...(clientCa ? { clientCa } : {}),
  };
}
