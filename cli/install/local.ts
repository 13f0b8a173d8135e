/**
 * The cloud side as a local process (`outpost init --local`, `outpost cloud
 * --state-dir DIR`): PKI and join tokens in files under one state directory.
 *
 *   DIR/cloud.yaml   advertised addresses and ports (written by init --local)
 *   DIR/pki/         ca.crt, ca.key, hub.crt, hub.key (cloud/bootstrap DirPkiStore)
 *   DIR/tokens/      one file per join token
 *   DIR/cloud.pid    pid of the running local cloud
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { DirPkiStore, DirTokenStore, checkAdvertiseAddress, ensureHubPki, type EnsureResult } from '../../cloud/bootstrap/index.ts';
import { defaultCloudConfig, type CloudConfig } from '../../cloud/cloud.ts';
import { DEFAULT_BOOTSTRAP_PORT, DEFAULT_HUB_PORT } from '../../lib/join-token.ts';
import { CliError } from '../errors.ts';

export const localFiles = { config: 'cloud.yaml', pki: 'pki', tokens: 'tokens', pid: 'cloud.pid' } as const;

/** `$OUTPOST_STATE_DIR`, else ~/.outpost/cloud. */
export function defaultStateDir(): string {
  return resolve(process.env.OUTPOST_STATE_DIR ?? join(homedir(), '.outpost', 'cloud'));
}

/** cloud.yaml */
export interface LocalCloudSettings {
  apiVersion: 'outpost.io/v1alpha1';
  kind: 'LocalCloudConfig';
  advertiseAddresses: string[];
  hubHost: string;
  hubPort: number;
  protocols: ('websocket' | 'quic')[];
  bootstrapPort: number;
  healthPort: number;
  kubeconfig?: string;
}

/** This machine's non-loopback addresses (the default advertised set, with 127.0.0.1 and localhost). */
export function hostAddresses(): string[] {
  return Object.values(networkInterfaces()).flat().filter((i) => i && !i.internal && i.family === 'IPv4').map((i) => i!.address);
}

export function checkAdvertise(list: string[]): string[] {
  for (const a of list) {
    const err = checkAdvertiseAddress(a);
    if (err) throw new CliError('CLI_USAGE', `--advertise-address: ${err}; pass each IP or DNS name edges dial (the flag may repeat)`);
  }
  return list;
}

export function readLocalSettings(stateDir: string): LocalCloudSettings | undefined {
  try {
    return YAML.parse(readFileSync(join(stateDir, localFiles.config), 'utf8')) as LocalCloudSettings;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError('CLI_USAGE', `cannot read ${join(stateDir, localFiles.config)}: ${(err as Error).message}; run "outpost init --local --state-dir ${stateDir}" again`);
  }
}

export interface PrepareLocalOptions {
  stateDir: string;
  /** Addresses edges dial; default: this machine's IPv4 addresses. 127.0.0.1 and localhost are always added. */
  advertise?: string[];
  hubHost?: string;
  hubPort?: number;
  protocols?: ('websocket' | 'quic')[];
  bootstrapPort?: number;
  healthPort?: number;
  kubeconfig?: string;
}

/**
 * Creates (or keeps) the state directory, the hub PKI with the advertised
 * addresses as SANs, and cloud.yaml. Idempotent: the CA survives re-runs; the
 * serving certificate is re-issued only when an address is new.
 */
export async function prepareLocalCloud(o: PrepareLocalOptions): Promise<{ settings: LocalCloudSettings; pki: EnsureResult }> {
  const stateDir = resolve(o.stateDir);
  const previous = readLocalSettings(stateDir);
  const advertise = checkAdvertise(o.advertise?.length ? o.advertise : previous?.advertiseAddresses ?? hostAddresses());
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const pki = await ensureHubPki(new DirPkiStore(join(stateDir, localFiles.pki)), { advertise });
  const settings: LocalCloudSettings = {
    apiVersion: 'outpost.io/v1alpha1', kind: 'LocalCloudConfig', advertiseAddresses: advertise,
    hubHost: o.hubHost ?? previous?.hubHost ?? '0.0.0.0', hubPort: o.hubPort ?? previous?.hubPort ?? DEFAULT_HUB_PORT,
    protocols: o.protocols ?? previous?.protocols ?? ['websocket', 'quic'],
    bootstrapPort: o.bootstrapPort ?? previous?.bootstrapPort ?? DEFAULT_BOOTSTRAP_PORT,
    healthPort: o.healthPort ?? previous?.healthPort ?? defaultCloudConfig.healthPort,
    ...((o.kubeconfig ?? previous?.kubeconfig) ? { kubeconfig: resolve(o.kubeconfig ?? previous!.kubeconfig!) } : {}),
  };
  writeFileSync(join(stateDir, localFiles.config), `# Written by "outpost init --local"; read by "outpost cloud --state-dir ${stateDir}".\n${YAML.stringify(settings)}`, { mode: 0o600 });
  return { settings, pki };
}

/** The CloudConfig of a local cloud from its state directory (hub + bootstrap on, leader election off). */
export async function localCloudConfig(stateDir: string, overrides: Partial<CloudConfig> = {}): Promise<CloudConfig> {
  const dir = resolve(stateDir);
  const s = readLocalSettings(dir);
  if (!s) throw new CliError('CLI_USAGE', `${dir} has no ${localFiles.config}; run "outpost init --local --state-dir ${dir}" first`);
  const { pki } = await ensureHubPki(new DirPkiStore(join(dir, localFiles.pki)), { advertise: s.advertiseAddresses });
  return {
    ...defaultCloudConfig, leaderElect: false, healthPort: s.healthPort,
    ...(s.kubeconfig ? { kubeconfig: s.kubeconfig } : {}),
    hub: { host: s.hubHost, port: s.hubPort, protocols: s.protocols, tls: { ca: pki.ca.certPem, cert: pki.serving.certPem, key: pki.serving.keyPem } },
    bootstrap: { host: s.hubHost, port: s.bootstrapPort, ca: pki.ca, serving: pki.serving, tokens: { kind: 'dir', dir: join(dir, localFiles.tokens) } },
    ...overrides,
  };
}

/** The token store of a local cloud. */
export function localTokenStore(stateDir: string): DirTokenStore {
  return new DirTokenStore(join(resolve(stateDir), localFiles.tokens));
}

export function writeCloudPid(stateDir: string): void {
  writeFileSync(join(stateDir, localFiles.pid), `${process.pid}\n`);
}

export function removeCloudPid(stateDir: string): void {
  try {
    if (Number(readFileSync(join(stateDir, localFiles.pid), 'utf8').trim()) === process.pid) rmSync(join(stateDir, localFiles.pid), { force: true });
  } catch {
    // already gone
  }
}

export function readCloudPid(stateDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(stateDir, localFiles.pid), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
