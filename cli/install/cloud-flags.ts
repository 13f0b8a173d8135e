/**
 * The identity flags of `outpost cloud`: where the hub PKI lives (files,
 * a Secret, or a local state directory), which addresses it is valid for,
 * and the bootstrap endpoint that joins and renews nodes.
 */
import { join, resolve } from 'node:path';
import { DirPkiStore, SecretPkiStore, ensureHubPki, type BootstrapConfig } from '../../cloud/bootstrap/index.ts';
import { loadKubeConfig, type HubConfig } from '../../cloud/cloud.ts';
import { KubeClient } from '../../controllers/runtime/index.ts';
import { DEFAULT_BOOTSTRAP_PORT } from '../../lib/join-token.ts';
import { CliError } from '../errors.ts';
import { checkAdvertise } from './local.ts';
import { serviceDnsNames } from './cluster.ts';

export const identityOptions = {
  'state-dir': { type: 'string' },
  'pki-dir': { type: 'string' },
  'pki-secret': { type: 'string' },
  'advertise-address': { type: 'string', multiple: true },
  'advertise-hub-port': { type: 'string' },
  'bootstrap-port': { type: 'string' },
  'token-dir': { type: 'string' },
  'token-namespace': { type: 'string' },
  'node-cert-validity-days': { type: 'string' },
} as const;

export const identityOptionHelp: Record<keyof typeof identityOptions, string> = {
  'state-dir': 'run the local cloud that "outpost init --local" prepared in DIR (PKI, tokens, ports from DIR/cloud.yaml)',
  'pki-dir': 'hub CA and serving certificate as files (ca.crt, ca.key, hub.crt, hub.key); created when missing',
  'pki-secret': 'hub CA and serving certificate in a Secret NAMESPACE/NAME (cluster mode); created when missing',
  'advertise-address': 'IP or DNS name edges dial (repeatable); each becomes a SAN of the hub certificate',
  'advertise-hub-port': 'hub port edges are told at join when it differs from --hub-port (NodePort, NAT)',
  'bootstrap-port': `TCP port of the bootstrap endpoint (join, renew, /ca.crt) (default ${DEFAULT_BOOTSTRAP_PORT} with --pki-dir/--pki-secret; -1 = off)`,
  'token-dir': 'join tokens as files in DIR (default: <pki-dir>/../tokens)',
  'token-namespace': 'join tokens as Secrets in NAMESPACE (default with --pki-secret: its namespace)',
  'node-cert-validity-days': 'validity of node certificates (default 365; renewed at 70-90 %)',
};

type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

function int(name: string, v: unknown, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new CliError('CLI_USAGE', `--${name} must be an integer from ${min} to ${max}, got "${String(v)}"`);
  return n;
}

/** Advertised addresses from repeated and comma-separated flags. */
export function advertiseFlag(v: unknown): string[] {
  const list = (Array.isArray(v) ? v : v === undefined ? [] : [v]).flatMap((a) => String(a).split(',')).map((a) => a.trim()).filter(Boolean);
  return checkAdvertise(list);
}

/**
 * Resolves --pki-dir / --pki-secret into the hub's TLS material and the
 * bootstrap config (ensuring the PKI, idempotently). Undefined when neither
 * is given (the --hub-*-file flags then apply, without a bootstrap endpoint).
 */
export async function cloudIdentityFromFlags(v: Values, hub: { host: string; port: number } | undefined): Promise<{ tls: HubConfig['tls']; bootstrap?: BootstrapConfig } | undefined> {
  const dir = v['pki-dir'] as string | undefined;
  const secret = v['pki-secret'] as string | undefined;
  if (dir && secret) throw new CliError('CLI_USAGE', 'pass either --pki-dir or --pki-secret, not both');
  if (!dir && !secret) {
    for (const f of ['bootstrap-port', 'token-dir', 'token-namespace', 'advertise-address'] as const) {
      if (v[f] !== undefined) throw new CliError('CLI_USAGE', `--${f} needs --pki-dir or --pki-secret (the bootstrap endpoint signs with the CA key)`);
    }
    return undefined;
  }
  const advertise = advertiseFlag(v['advertise-address']);
  let store;
  let tokens: BootstrapConfig['tokens'];
  if (dir) {
    store = new DirPkiStore(resolve(dir));
    if (v['token-namespace']) throw new CliError('CLI_USAGE', '--token-namespace goes with --pki-secret; with --pki-dir use --token-dir');
    tokens = { kind: 'dir', dir: resolve(String(v['token-dir'] ?? join(resolve(dir), '..', 'tokens'))) };
  } else {
    const m = /^([a-z0-9-]+)\/([a-z0-9.-]+)$/.exec(secret!);
    if (!m) throw new CliError('CLI_USAGE', `--pki-secret must be NAMESPACE/NAME, got "${secret}"`);
    store = new SecretPkiStore(new KubeClient(loadKubeConfig(v.kubeconfig as string | undefined)), m[1]!, m[2]!);
    if (v['token-dir']) tokens = { kind: 'dir', dir: resolve(String(v['token-dir'])) };
    else tokens = { kind: 'secrets', namespace: String(v['token-namespace'] ?? m[1]) };
  }
  const extra = secret ? serviceDnsNames : [];
  const { pki } = await ensureHubPki(store, { advertise: [...extra, ...advertise] });
  const tls = { ca: pki.ca.certPem, cert: pki.serving.certPem, key: pki.serving.keyPem };
  const port = int('bootstrap-port', v['bootstrap-port'], -1, 65535, DEFAULT_BOOTSTRAP_PORT);
  if (port < 0) return { tls };
  const validity = int('node-cert-validity-days', v['node-cert-validity-days'], 1, 3650, 365);
  const hubPort = v['advertise-hub-port'] === undefined ? undefined : int('advertise-hub-port', v['advertise-hub-port'], 1, 65535, 0);
  return {
    tls,
    bootstrap: {
      host: hub?.host ?? '0.0.0.0', port, ca: pki.ca, serving: pki.serving, tokens, nodeCertValidityDays: validity,
      ...(hubPort ? { advertiseHub: { port: hubPort } } : {}),
    },
  };
}
