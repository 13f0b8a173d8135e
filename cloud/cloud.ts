/**
 * The cloud side's process (`outpost cloud`): one Manager with the shared
 * informers, the controllers (leader-elected), probes and metrics; CloudHub
 * joins it in a later step. Configuration is validated once and frozen.
 */
import * as k8s from '@kubernetes/client-node';
import { hostname } from 'node:os';
import { createLogger, type Logger } from '../lib/log.ts';
import { Manager } from '../controllers/runtime/index.ts';
import { addNodeGroupController } from '../controllers/nodegroup/controller.ts';

export interface CloudConfig {
  kubeconfig?: string;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionName: string;
  /** Probes and metrics; 0 picks a free port, -1 disables. */
  healthPort: number;
  healthHost: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export const defaultCloudConfig: Readonly<CloudConfig> = Object.freeze({
  leaderElect: true,
  leaderElectionNamespace: 'kube-system',
  leaderElectionName: 'outpost-cloud',
  healthPort: 8081,
  healthHost: '0.0.0.0',
  identity: `${hostname()}_${process.pid}`,
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
});

export interface Cloud {
  manager: Manager;
  stop(): Promise<void>;
}

/** Loads a kubeconfig from a path, KUBECONFIG, ~/.kube/config or in-cluster. */
export function loadKubeConfig(path?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

/** Starts the cloud side; resolves once caches are synced and the HTTP server listens. */
export async function startCloud(cfg: CloudConfig, opts: { log?: Logger; onLeadershipLost?: () => void } = {}): Promise<Cloud> {
  const log = opts.log ?? createLogger();
  const manager = new Manager({
    kubeConfig: loadKubeConfig(cfg.kubeconfig),
    log,
    http: cfg.healthPort < 0 ? false : { port: cfg.healthPort, host: cfg.healthHost },
    ...(cfg.leaderElect ? {
      leaderElection: {
        namespace: cfg.leaderElectionNamespace, name: cfg.leaderElectionName, identity: cfg.identity,
        leaseDurationMs: cfg.leaseDurationMs, renewDeadlineMs: cfg.renewDeadlineMs, retryPeriodMs: cfg.retryPeriodMs,
      },
    } : {}),
    ...(opts.onLeadershipLost ? { onLeadershipLost: opts.onLeadershipLost } : {}),
  });
  addNodeGroupController(manager);
  await manager.start();
  log.info('Started cloud', { identity: cfg.identity, leaderElect: cfg.leaderElect, health: manager.httpAddress() });
  return { manager, stop: () => manager.stop() };
}
