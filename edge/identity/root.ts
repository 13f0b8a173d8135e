/**
 * The edge root directory: everything a joined node has, in one place
 * (`outpost join --root DIR` writes it, `outpost edge --root DIR` runs from
 * it, `outpost reset --edge --root DIR` removes it):
 *
 *   DIR/config.yaml    node name, cloud address, CA pin, ports (written last: its presence means "joined")
 *   DIR/pki/ca.crt     the cloud CA (checked against the pin at join)
 *   DIR/pki/node.pem   this node's private key and certificate, in one file so that a
 *                      rotation replaces both with one atomic rename
 *   DIR/data/          the local store (edge.db); never touched by join, re-enrolment or rotation
 *   DIR/token          optional join token for automatic re-enrolment after expiry (0600)
 *   DIR/agent.pid      pid of the running agent
 */
import { X509Certificate } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { isValidNodeName } from '../../lib/join-token.ts';
import { IdentityError } from './errors.ts';
export { processAlive } from '../../lib/process.ts';

// `yaml` (≈ 8 MB of RSS) is loaded only when a root directory is read or written, not by every
// edge agent (docs/benchmarks.md, "Edge agent memory"); synchronous, because readRootConfig is.
const yaml = (): typeof import('yaml') => createRequire(import.meta.url)('yaml') as typeof import('yaml');

export const rootFiles = {
  config: 'config.yaml',
  pkiDir: 'pki',
  ca: join('pki', 'ca.crt'),
  node: join('pki', 'node.pem'),
  dataDir: 'data',
  token: 'token',
  pid: 'agent.pid',
} as const;

export const defaultRoot = '/var/lib/outpost';

export type HubProtocolSetting = 'auto' | 'quic' | 'websocket';

/** config.yaml of an edge root. */
export interface EdgeRootConfig {
  apiVersion: 'outpost.io/v1alpha1';
  kind: 'EdgeNodeConfig';
  nodeName: string;
  cloud: {
    /** Host (IP or DNS name) the node dials, for the hub and the bootstrap endpoint. */
    address: string;
    /** `sha256:<hex>` of the cloud CA's public key. */
    caPin: string;
    bootstrapPort: number;
    hubPort: number;
    quicPort?: number;
    protocol: HubProtocolSetting;
    serverName?: string;
  };
  certificates: {
    /** Renew at 70-90 % of the certificate's life (default true). */
    rotate: boolean;
  };
  /** Container runtime the node's pods use (checked by `outpost doctor`), e.g. unix:///run/containerd/containerd.sock. */
  runtime?: { endpoint: string };
  /** MQTT broker devices talk to (checked by `outpost doctor`), e.g. mqtt://127.0.0.1:1883. */
  broker?: { url: string };
}

function invalid(root: string, msg: string): never {
  throw new IdentityError('IDENTITY_ROOT_INVALID', `${join(root, rootFiles.config)}: ${msg}; fix it, or run "outpost join" again (reset with "outpost reset --edge --root ${root} --force")`);
}

function port(root: string, field: string, v: unknown, optional = false): number | undefined {
  if (v === undefined && optional) return undefined;
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65535) invalid(root, `${field} must be a port number, got ${JSON.stringify(v)}`);
  return v as number;
}

/** Validates a parsed config.yaml. */
export function checkRootConfig(root: string, raw: unknown): EdgeRootConfig {
  if (!raw || typeof raw !== 'object') invalid(root, 'is not a YAML mapping');
  const r = raw as Partial<EdgeRootConfig> & { cloud?: Partial<EdgeRootConfig['cloud']>; certificates?: Partial<EdgeRootConfig['certificates']> };
  if (r.kind !== 'EdgeNodeConfig') invalid(root, `kind must be EdgeNodeConfig, got ${JSON.stringify(r.kind)}`);
  if (!isValidNodeName(r.nodeName)) invalid(root, `nodeName ${JSON.stringify(r.nodeName)} is not a valid node name`);
  const c = r.cloud;
  if (!c || typeof c.address !== 'string' || !c.address) invalid(root, 'cloud.address is required');
  if (typeof c.caPin !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(c.caPin)) invalid(root, 'cloud.caPin must be sha256:<64 hex digits>');
  const protocol = c.protocol ?? 'auto';
  if (!['auto', 'quic', 'websocket'].includes(protocol)) invalid(root, `cloud.protocol must be auto, quic or websocket, got ${JSON.stringify(protocol)}`);
  const quicPort = port(root, 'cloud.quicPort', c.quicPort, true);
  return {
    apiVersion: 'outpost.io/v1alpha1', kind: 'EdgeNodeConfig', nodeName: r.nodeName,
    cloud: {
      address: c.address, caPin: c.caPin, bootstrapPort: port(root, 'cloud.bootstrapPort', c.bootstrapPort)!, hubPort: port(root, 'cloud.hubPort', c.hubPort)!,
      ...(quicPort ? { quicPort } : {}), protocol, ...(c.serverName ? { serverName: c.serverName } : {}),
    },
    certificates: { rotate: r.certificates?.rotate ?? true },
    ...(typeof r.runtime?.endpoint === 'string' ? { runtime: { endpoint: r.runtime.endpoint } } : {}),
    ...(typeof r.broker?.url === 'string' ? { broker: { url: r.broker.url } } : {}),
  };
}

/** Reads DIR/config.yaml; undefined when DIR is not joined (no config.yaml). Throws IDENTITY_ROOT_INVALID. */
export function readRootConfig(root: string): EdgeRootConfig | undefined {
  let text: string;
  try {
    text = readFileSync(join(root, rootFiles.config), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new IdentityError('IDENTITY_ROOT_INVALID', `cannot read ${join(root, rootFiles.config)}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = yaml().parse(text);
  } catch (err) {
    invalid(root, `is not valid YAML (${(err as Error).message})`);
  }
  return checkRootConfig(root, raw);
}

export function renderRootConfig(c: EdgeRootConfig): string {
  return `# Written by "outpost join"; read by "outpost edge --root <this directory>".\n${yaml().stringify(c)}`;
}

/** Writes a file atomically: temp file in the same directory, fsync, rename. */
export function writeFileAtomic(path: string, data: string, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** A node's key and certificate (PEM). */
export interface NodeCredentials {
  cert: string;
  key: string;
}

/** Splits node.pem into key and certificate. */
export function splitNodePem(pem: string): NodeCredentials {
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/.exec(pem)?.[0];
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(pem)?.[0];
  if (!key || !cert) throw new IdentityError('IDENTITY_ROOT_INVALID', 'node.pem must hold a PRIVATE KEY and a CERTIFICATE block');
  return { key, cert };
}

export const joinNodePem = (c: NodeCredentials): string => `${c.key.trimEnd()}\n${c.cert.trimEnd()}\n`;

/** Reads DIR/pki/ca.crt and DIR/pki/node.pem. Throws IDENTITY_ROOT_INVALID. */
export function readRootCredentials(root: string): NodeCredentials & { ca: string } {
  try {
    const ca = readFileSync(join(root, rootFiles.ca), 'utf8');
    return { ca, ...splitNodePem(readFileSync(join(root, rootFiles.node), 'utf8')) };
  } catch (err) {
    if (err instanceof IdentityError) throw new IdentityError('IDENTITY_ROOT_INVALID', `${join(root, rootFiles.node)}: ${err.message}`);
    throw new IdentityError('IDENTITY_ROOT_INVALID', `cannot read the node's certificates under ${join(root, rootFiles.pkiDir)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); join again with "outpost join --force-reenroll"`, { cause: err });
  }
}

/** Replaces DIR/pki/node.pem in one rename (key and certificate together). */
export function writeNodeCredentials(root: string, c: NodeCredentials): void {
  writeFileAtomic(join(root, rootFiles.node), joinNodePem(c), 0o600);
}

/** Validity and subject of a PEM certificate, with node:crypto only (keeps @peculiar/x509 out of the agent). */
export function certificateWindow(certPem: string): { notBefore: Date; notAfter: Date; commonName: string | undefined; sans: string[] } {
  const x = new X509Certificate(certPem);
  return {
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    commonName: /^CN=(.*)$/m.exec(x.subject)?.[1],
    sans: (x.subjectAltName ?? '').split(/,\s*/).filter(Boolean),
  };
}

/** Reads DIR/token (for automatic re-enrolment), if there is one. */
export function readRootToken(root: string): string | undefined {
  try {
    return readFileSync(join(root, rootFiles.token), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function removeRootToken(root: string): void {
  rmSync(join(root, rootFiles.token), { force: true });
}

export function writeRootToken(root: string, token: string): void {
  writeFileAtomic(join(root, rootFiles.token), `${token}\n`, 0o600);
}

/** Pid file helpers for the agent. */
export function writePidFile(root: string): void {
  writeFileSync(join(root, rootFiles.pid), `${process.pid}\n`, { mode: 0o644 });
}

export function readPidFile(root: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(root, rootFiles.pid), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function removePidFile(root: string): void {
  const pid = readPidFile(root);
  if (pid === process.pid) rmSync(join(root, rootFiles.pid), { force: true });
}

