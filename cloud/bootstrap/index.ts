/**
 * cloud/bootstrap: the hub PKI, join tokens and the bootstrap HTTPS server
 * (README.md). `startCloudBootstrap` is what `startCloud` runs when
 * `CloudConfig.bootstrap` is set.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Informer, KubeClient } from '../../controllers/runtime/index.ts';
import type { HubEndpoint } from '../../lib/join-token.ts';
import type { Logger } from '../../lib/log.ts';
import type { CertificateAndKey } from '../../lib/pki.ts';
import { startBootstrapServer, type BootstrapServer } from './server.ts';
import { DirTokenStore, SecretTokenStore, type TokenStore } from './tokens.ts';

export { BootstrapServerError, type BootstrapServerErrorCode } from './errors.ts';
export {
  certificateCovers, checkAdvertiseAddress, defaultSans, DirPkiStore, ensureHubPki, pkiFiles, pkiSecretKeys, SecretPkiStore,
  type EnsureResult, type HubPki, type HubPkiStore, type StoredPki,
} from './hub-pki.ts';
export {
  checkToken, collectExpiredTokens, DirTokenStore, hashSecret, MAX_TOKEN_TTL_MS, mintToken, parseDuration, SecretTokenStore, tokenLabel,
  type TokenRecord, type TokenStore,
} from './tokens.ts';
export { startBootstrapServer, type BootstrapServer, type BootstrapServerOptions } from './server.ts';

/** Where join tokens live: a directory (local mode) or Secrets in a namespace (cluster mode). */
export type TokenStoreConfig = { kind: 'dir'; dir: string } | { kind: 'secrets'; namespace: string };

/** `CloudConfig.bootstrap`. */
export interface BootstrapConfig {
  host: string;
  /** TCP port (KubeEdge: 10002); 0 picks a free one. */
  port: number;
  ca: CertificateAndKey;
  /** Serving certificate (the hub's: same SANs). */
  serving: CertificateAndKey;
  tokens: TokenStoreConfig;
  nodeCertValidityDays?: number;
  /** What edges are told about the hub; defaults to the bound hub port and protocols. */
  advertiseHub?: Partial<HubEndpoint>;
  /** Clock (tests issue certificates "in the past" to make them expire soon). */
  now?: () => Date;
}

export function tokenStoreFor(cfg: TokenStoreConfig, client: KubeClient | undefined): TokenStore {
  if (cfg.kind === 'dir') return new DirTokenStore(cfg.dir);
  if (!client) throw new Error('a Secret token store needs a Kubernetes client');
  return new SecretTokenStore(client, cfg.namespace);
}

/** Starts the bootstrap server for a cloud process. */
export function startCloudBootstrap(cfg: BootstrapConfig, ctx: {
  client: KubeClient | undefined;
  nodes: Informer<k8s.V1Node> | undefined;
  hubAddresses: Partial<Record<'websocket' | 'quic', { host: string; port: number }>>;
  log: Logger;
}): Promise<BootstrapServer> {
  const protocols = (Object.keys(ctx.hubAddresses) as ('websocket' | 'quic')[]);
  const ws = ctx.hubAddresses.websocket?.port;
  const q = ctx.hubAddresses.quic?.port;
  const port = cfg.advertiseHub?.port ?? ws ?? q ?? 10000;
  const hub: HubEndpoint = {
    port,
    ...(cfg.advertiseHub?.quicPort ? { quicPort: cfg.advertiseHub.quicPort } : q && q !== port ? { quicPort: q } : {}),
    protocols: cfg.advertiseHub?.protocols ?? protocols,
  };
  return startBootstrapServer({
    host: cfg.host, port: cfg.port, ca: cfg.ca, serving: cfg.serving, hub, log: ctx.log,
    tokens: tokenStoreFor(cfg.tokens, ctx.client),
    ...(ctx.nodes ? { nodeExists: (name: string) => ctx.nodes!.get(name) !== undefined } : {}),
    ...(cfg.nodeCertValidityDays ? { nodeCertValidityDays: cfg.nodeCertValidityDays } : {}),
    ...(cfg.now ? { now: cfg.now } : {}),
  });
}
