/**
 * The edge agent (`outpost edge`): opens the local store, then syncs it with
 * the cloud through EdgeHub whenever a link is up. Everything else the node
 * does (pods, device twins) reads the store, so it keeps working offline and
 * even starts offline. Configuration is validated once (edge/config.ts) and frozen.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { InventoryDigest } from './protocol/index.ts';
import { dialAuto, type AutoMemo } from './transport/index.ts';
import { openEdgeStore, type EdgeStore } from './store/store.ts';
import { EdgeHub } from './hub/edge-hub.ts';
import type { EdgeConfig } from './config.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import type { Link } from './transport/index.ts';
import { startAgentIdentity, type AgentIdentity } from './identity/agent-identity.ts';
import { startNodeWorkloads, type NodeWorkloads } from './node/workloads.ts';
import { attachDevices, type DevicesHandle } from './devices/attach.ts';
import { attachKubelet } from './kubelet/index.ts';

export interface EdgeAgent {
  config: EdgeConfig;
  store: EdgeStore;
  hub: EdgeHub;
  /** Certificate rotation and pid file (set when started with --root). */
  identity: AgentIdentity;
  /** The TLS material in use (changes when the certificate is renewed). */
  readonly tls: EdgeConfig['tls'];
  /** Node lifecycle and pods (edge/node, edge/pods); empty when the config has neither. */
  workloads: NodeWorkloads;
  /** Device twin, MQTT and mappers, loaded when the first Device arrives (edge/devices). */
  devices: DevicesHandle;
  stop(): Promise<void>;
}

/** Starts the agent; resolves once the store is open and the hub's connect loop runs (not when connected). */
export async function startEdge(config: EdgeConfig, opts: { log?: Logger; identity?: Parameters<typeof startAgentIdentity>[3] } = {}): Promise<EdgeAgent> {
  const log = (opts.log ?? createLogger()).child({ node: config.nodeName });
  mkdirSync(config.dataDir, { recursive: true });
  const store = openEdgeStore(join(config.dataDir, 'edge.db'), { objects: { incrementalDigest: () => new InventoryDigest() } });
  const memo: AutoMemo = {};
  let lastReason = '';
  // renewed certificates replace this; the next dial uses them
  let tls = config.tls;
  let link: Link | undefined;
  const hub = new EdgeHub({
    store,
    log,
    dial: async () => {
      const r = await dialAuto({
        protocol: config.hub.protocol, host: config.hub.host, port: config.hub.port,
        ...(config.hub.quicPort ? { quicPort: config.hub.quicPort } : {}),
        ...(config.hub.serverName ? { serverName: config.hub.serverName } : {}),
        tls, memo, log,
      });
      link = r.link;
      if (r.reason !== lastReason) log.info('Chose hub transport', { reason: r.reason });
      lastReason = r.reason;
      return r.link;
    },
  });
  // before hub.start(): the first Device the hub applies must be seen (attachDevices loads edge/devices lazily)
  const devices = attachDevices({ store, nodeName: config.nodeName, log, notifyOutbox: () => hub.notifyOutbox(), ...(config.devices ? { config: config.devices } : {}) });
  // kubectl logs/exec/attach/port-forward/top arrive as tunnel streams on the hub session (edge/kubelet)
  const podsRef: { workloads?: NodeWorkloads } = {};
  const kubelet = attachKubelet(hub, { nodeName: config.nodeName, store, log, pods: () => podsRef.workloads?.pods });
  hub.start();
  const identity = startAgentIdentity(config, log, (c, how) => {
    tls = Object.freeze({ ca: c.ca, cert: c.cert, key: c.key });
    // reconnect with the new certificate; the store is untouched and the session resumes by digest
    if (link && !link.closed) void link.close(1000, `certificate ${how}`);
  }, opts.identity);
  const workloads = await startNodeWorkloads(config, {
    store, log, notify: () => hub.notifyOutbox(), onSynced: (cb) => hub.onState((st) => st === 'synced' && cb()),
  });
  podsRef.workloads = workloads;
  log.info('Started edge agent', { dataDir: config.dataDir, hub: `${config.hub.host}:${config.hub.port}`, protocol: config.hub.protocol, objects: store.objects.count() });
  return {
    config, store, hub, identity, workloads, devices,
    get tls() {
      return tls;
    },
    async stop() {
      identity.stop();
      kubelet.stop();
      await devices.stop();
      await workloads.stop();
      await hub.stop();
      store.close();
    },
  };
}
