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
import { addEdgeApplicationController } from '../controllers/edgeapplication/controller.ts';
import { addDeviceController, addDeviceStatusWriter } from '../controllers/device/controller.ts';
import type { DeviceStatusWriter } from '../controllers/device/status-writer.ts';
import type { Listener } from '../edge/transport/index.ts';
import { CloudHub } from './hub/hub.ts';
import { InformerSources } from './hub/informer-sources.ts';
import { KubeReportHandler } from './hub/reports.ts';
import { startWebhooks, type Webhooks } from '../webhooks/index.ts';
import { collectionPath } from '../controllers/runtime/index.ts';
import { startCloudBootstrap, type BootstrapConfig, type BootstrapServer } from './bootstrap/index.ts';
import { KubeletEndpoints, type KubeletEndpointConfig } from './kubelet/endpoints.ts';
import { discoverKubeletClientCa } from './kubelet/client-ca.ts';

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
  /** CloudHub; absent = no hub in this process. */
  hub?: HubConfig;
  /** Bootstrap HTTPS endpoint (join, renew, /ca.crt; cloud/bootstrap); absent = none. */
  bootstrap?: BootstrapConfig;
  /** Admission webhooks; absent = not served by this process. `service` is required in service mode. */
  webhooks?: { host: string; port: number; mode: 'url' | 'service'; advertiseHost?: string; certDir?: string; service?: { namespace: string; name: string } };
  /** Kubelet endpoint for edge nodes (kubectl logs/exec/attach/port-forward/top; cloud/kubelet); needs `hub`. `clientCa` absent: read from kube-system/extension-apiserver-authentication. */
  kubelet?: Omit<KubeletEndpointConfig, 'clientCa'> & { clientCa?: string };
}

export interface HubConfig {
  host: string;
  /** TCP (WebSocket) and UDP (QUIC) port; 0 picks a free TCP port and uses the same number for UDP. */
  port: number;
  protocols: ('websocket' | 'quic')[];
  /** PEM: the hub's serving certificate and key, and the CA that signs node certificates. */
  tls: { ca: string; cert: string; key: string };
  heartbeatMs?: number;
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
  hub?: CloudHub;
  webhooks?: Webhooks;
  kubelet?: KubeletEndpoints;
  /** Bound hub addresses per protocol. */
  hubAddresses: Partial<Record<'websocket' | 'quic', { host: string; port: number }>>;
  /** The bootstrap server, when configured. */
  bootstrap?: BootstrapServer;
  /** Writes edge device twins/states into Device status (with the hub). */
  deviceStatus?: DeviceStatusWriter;
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
  addEdgeApplicationController(manager);
  addDeviceController(manager);
  let hub: CloudHub | undefined;
  let kubeletClientCa = cfg.kubelet?.clientCa;
  if (cfg.hub && cfg.kubelet && kubeletClientCa === undefined) {
    // on by default: a cluster that does not publish its client CA runs without the endpoint rather than not at all
    kubeletClientCa = await discoverKubeletClientCa(manager.client!).catch((err: unknown) => {
      log.warn('Serving no kubelet endpoint for edge nodes (kubectl logs/exec to edge pods will fail); pass --kubelet-client-ca-file', { err });
      return undefined;
    });
  }
  const kubelet = cfg.hub && cfg.kubelet && kubeletClientCa !== undefined ? new KubeletEndpoints({ ...cfg.kubelet, clientCa: kubeletClientCa }, { client: manager.client!, log }) : undefined;
  let deviceStatus: DeviceStatusWriter | undefined;
  if (cfg.hub) {
    const sources = new InformerSources(manager.informers);
    const reports = new KubeReportHandler(manager.client!, sources, log);
    // device twins/states reported by edges → Device status, coalesced per report cycle
    deviceStatus = addDeviceStatusWriter(manager, reports, log);
    hub = new CloudHub({
      sources, log, reports: kubelet ? kubelet.wrapReports(reports) : reports,
      ...(cfg.hub.heartbeatMs ? { session: { heartbeatMs: cfg.hub.heartbeatMs } } : {}),
    });
  }
  // registered before start so that the bootstrap server's "node exists" check has a synced cache
  const nodes = cfg.bootstrap ? manager.informers.informerFor<k8s.V1Node>(collectionPath('v1', 'nodes')) : undefined;
  await manager.start();
  // The hub serves on every replica (like webhooks): it needs no leadership, only the caches.
  const listeners: Listener[] = [];
  const hubAddresses: Cloud['hubAddresses'] = {};
  if (cfg.hub && hub) {
    // before the listeners: the first session must get its kubelet endpoint
    await kubelet?.start(hub);
    let port = cfg.hub.port;
    for (const protocol of cfg.hub.protocols) {
      const mod = protocol === 'websocket' ? await import('../edge/transport/websocket.ts') : await import('../edge/transport/quic.ts');
      const l = await mod.listen({ host: cfg.hub.host, port, tls: cfg.hub.tls, log });
      port = l.address.port;
      l.onLink((link) => hub.attach(link));
      listeners.push(l);
      hubAddresses[protocol] = l.address;
    }
  }
  const bootstrap = cfg.bootstrap ? await startCloudBootstrap(cfg.bootstrap, { client: manager.client, nodes, hubAddresses, log }) : undefined;
  // Webhooks also serve on every replica (controller-runtime does the same); they share the caches.
  const webhooks = cfg.webhooks ? await startWebhooks({
    kubeConfig: manager.client!.kubeConfig, informers: manager.informers, log,
    host: cfg.webhooks.host, port: cfg.webhooks.port, mode: cfg.webhooks.mode,
    ...(cfg.webhooks.advertiseHost ? { advertiseHost: cfg.webhooks.advertiseHost } : {}),
    ...(cfg.webhooks.certDir ? { certDir: cfg.webhooks.certDir } : {}),
    ...(cfg.webhooks.service ? { service: cfg.webhooks.service } : {}),
  }) : undefined;
  log.info('Started cloud', { identity: cfg.identity, leaderElect: cfg.leaderElect, health: manager.httpAddress(), hub: hubAddresses, webhooks: webhooks !== undefined });
  return {
    manager, ...(hub ? { hub } : {}), ...(kubelet ? { kubelet } : {}), hubAddresses, ...(bootstrap ? { bootstrap } : {}), ...(webhooks ? { webhooks } : {}), ...(deviceStatus ? { deviceStatus } : {}),
    async stop() {
      await webhooks?.stop();
      await bootstrap?.close();
      await kubelet?.close();
      await hub?.close();
      deviceStatus?.stop();
      await Promise.all(listeners.map((l) => l.close()));
      await manager.stop();
    },
  };
}
