import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { defaultCloudConfig, startCloud, type CloudConfig } from '../../cloud/cloud.ts';

function intFlag(name: string, v: unknown, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new CliError('CLI_USAGE', `--${name} must be an integer from ${min} to ${max}, got "${String(v)}"`);
  return n;
}

/** `outpost cloud`: runs the cloud side until SIGINT/SIGTERM. */
export const cloud: Command = {
  name: 'cloud',
  summary: 'run the cloud side: controllers (leader-elected), probes and metrics',
  usage: 'outpost cloud [--kubeconfig PATH] [--leader-elect=false] [--health-port N]',
  options: {
    kubeconfig: { type: 'string' },
    'leader-elect': { type: 'string' },
    'leader-election-namespace': { type: 'string' },
    'health-port': { type: 'string' },
    'lease-duration-ms': { type: 'string' },
    identity: { type: 'string' },
  },
  optionHelp: {
    kubeconfig: 'kubeconfig file (default: KUBECONFIG, ~/.kube/config, or in-cluster)',
    'leader-elect': 'true|false: elect one active replica through a Lease (default true)',
    'leader-election-namespace': `namespace of the Lease (default ${defaultCloudConfig.leaderElectionNamespace})`,
    'health-port': `port for /healthz, /readyz, /metrics (default ${defaultCloudConfig.healthPort}; 0 = any free port; -1 = off)`,
    'lease-duration-ms': `leader Lease duration (default ${defaultCloudConfig.leaseDurationMs})`,
    identity: 'leader-election identity (default hostname_pid)',
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
    const c = await startCloud(cfg);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await c.stop();
    return 0;
  },
};
