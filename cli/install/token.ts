/**
 * `outpost gettoken`: mints a join token on the local cloud (token files in
 * its state directory) or the cluster's (a Secret in outpost-system), and
 * says which address and port to join.
 */
import { isIP } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { DirPkiStore, DirTokenStore, SecretPkiStore, SecretTokenStore, defaultSans, mintToken } from '../../cloud/bootstrap/index.ts';
import { loadKubeConfig } from '../../cloud/cloud.ts';
import { cloudNamespace } from '../../cloud/rbac.ts';
import { KubeClient } from '../../controllers/runtime/index.ts';
import { DEFAULT_BOOTSTRAP_PORT, DEFAULT_HUB_PORT } from '../../lib/join-token.ts';
import { parseCertificate } from '../../lib/pki.ts';
import { CliError } from '../errors.ts';
import { pkiSecretName, serviceDnsNames, serviceName } from './cluster.ts';
import { localFiles, readLocalSettings } from './local.ts';
import { join } from 'node:path';

export interface MintedToken {
  token: string;
  caPin: string;
  expiresAt: Date;
  /** Addresses the hub certificate is valid for, best first (what `join --cloud` should use). */
  addresses: string[];
  bootstrapPort: number;
  /** Set when edges must be told another hub port (NodePort). */
  hubPort?: number;
}

export interface MintJoinTokenOptions {
  /** Local cloud; otherwise the cluster of `kubeconfig`. */
  stateDir?: string;
  kubeconfig?: string;
  ttlMs: number;
  nodeName?: string;
  description?: string;
}

function rank(addresses: string[]): string[] {
  const skip = new Set([...defaultSans, ...serviceDnsNames]);
  const own = addresses.filter((a) => !skip.has(a));
  // IPs first: they need no DNS on the edge
  return [...own.filter((a) => isIP(a)), ...own.filter((a) => !isIP(a)), ...addresses.filter((a) => skip.has(a))];
}

/** Mints one token. Throws CLI_NOT_INSTALLED when there is no hub PKI yet. */
export async function mintJoinToken(o: MintJoinTokenOptions): Promise<MintedToken> {
  if (o.stateDir) {
    const s = readLocalSettings(o.stateDir);
    const stored = await new DirPkiStore(join(o.stateDir, localFiles.pki)).load();
    if (!s || !stored) throw new CliError('CLI_NOT_INSTALLED', `no local cloud in ${o.stateDir}; run "outpost init --local --state-dir ${o.stateDir}" first`);
    const { token, record } = await mintToken(new DirTokenStore(join(o.stateDir, localFiles.tokens)), { caCertPem: stored.ca.certPem, ttlMs: o.ttlMs, ...(o.nodeName ? { nodeName: o.nodeName } : {}), ...(o.description ? { description: o.description } : {}) });
    const info = stored.serving ? parseCertificate(stored.serving.certPem) : undefined;
    return {
      token, caPin: (await import('../../lib/pki.ts')).caPin(stored.ca.certPem), expiresAt: new Date(record.expiresAt),
      addresses: rank(info ? [...info.ips, ...info.dnsNames] : s.advertiseAddresses), bootstrapPort: s.bootstrapPort,
    };
  }
  const kc = loadKubeConfig(o.kubeconfig);
  const client = new KubeClient(kc);
  const stored = await new SecretPkiStore(client, cloudNamespace, pkiSecretName).load().catch((err: unknown) => {
    throw new CliError('CLI_NOT_INSTALLED', `cannot read Secret ${cloudNamespace}/${pkiSecretName} (${(err as Error).message}); is this the right cluster, and may you read Secrets in ${cloudNamespace}?`, { cause: err });
  });
  if (!stored) throw new CliError('CLI_NOT_INSTALLED', `Outpost is not installed in this cluster (no Secret ${cloudNamespace}/${pkiSecretName}); run "outpost init --advertise-address <address edges dial>" first, or pass --state-dir for a local cloud`);
  const { token, record } = await mintToken(new SecretTokenStore(client, cloudNamespace), { caCertPem: stored.ca.certPem, ttlMs: o.ttlMs, ...(o.nodeName ? { nodeName: o.nodeName } : {}), ...(o.description ? { description: o.description } : {}) });
  const info = stored.serving ? parseCertificate(stored.serving.certPem) : undefined;
  let bootstrapPort = DEFAULT_BOOTSTRAP_PORT;
  let hubPort: number | undefined;
  const svc = await kc.makeApiClient(k8s.CoreV1Api).readNamespacedService({ name: serviceName, namespace: cloudNamespace }).catch(() => undefined);
  if (svc?.spec?.type === 'NodePort' || svc?.spec?.type === 'LoadBalancer') {
    const np = (name: string) => svc.spec!.ports?.find((p) => p.name === name);
    if (svc.spec.type === 'NodePort') {
      bootstrapPort = np('bootstrap')?.nodePort ?? bootstrapPort;
      const h = np('hub-ws')?.nodePort;
      if (h && h !== DEFAULT_HUB_PORT) hubPort = h;
    }
  }
  return {
    token, caPin: (await import('../../lib/pki.ts')).caPin(stored.ca.certPem), expiresAt: new Date(record.expiresAt),
    addresses: rank(info ? [...info.ips, ...info.dnsNames] : []), bootstrapPort, ...(hubPort ? { hubPort } : {}),
  };
}
