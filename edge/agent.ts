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

export interface EdgeAgent {
  config: EdgeConfig;
  store: EdgeStore;
  hub: EdgeHub;
  stop(): Promise<void>;
}

/** Starts the agent; resolves once the store is open and the hub's connect loop runs (not when connected). */
export async function startEdge(config: EdgeConfig, opts: { log?: Logger } = {}): Promise<EdgeAgent> {
  const log = (opts.log ?? createLogger()).child({ node: config.nodeName });
  mkdirSync(config.dataDir, { recursive: true });
  const store = openEdgeStore(join(config.dataDir, 'edge.db'), { objects: { incrementalDigest: () => new InventoryDigest() } });
  const memo: AutoMemo = {};
  let lastReason = '';
  const hub = new EdgeHub({
    store,
    log,
    dial: async () => {
      const { link, reason } = await dialAuto({
        protocol: config.hub.protocol, host: config.hub.host, port: config.hub.port,
        ...(config.hub.quicPort ? { quicPort: config.hub.quicPort } : {}),
        ...(config.hub.serverName ? { serverName: config.hub.serverName } : {}),
        tls: config.tls, memo, log,
      });
      if (reason !== lastReason) log.info('Chose hub transport', { reason });
      lastReason = reason;
      return link;
    },
  });
  hub.start();
  log.info('Started edge agent', { dataDir: config.dataDir, hub: `${config.hub.host}:${config.hub.port}`, protocol: config.hub.protocol, objects: store.objects.count() });
  return {
    config, store, hub,
    async stop() {
      await hub.stop();
      store.close();
    },
  };
}
