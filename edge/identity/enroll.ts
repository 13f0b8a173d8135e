/**
 * Joining and re-enrolling a node (`outpost join`): fetch the cloud CA and
 * check it against the token's pin, make a key here and send only a CSR, get
 * the certificate, and write the root directory so that no crash leaves a
 * half-joined node:
 *
 * - fresh join: everything is written into a staging directory next to (or,
 *   for an existing empty root, inside) the root, and `config.yaml`, whose
 *   presence means "joined", arrives last, by rename;
 * - re-enrolment (`--force-reenroll`, same cloud and name only): pki/ca.crt,
 *   pki/node.pem and config.yaml are each replaced by one atomic rename, and
 *   data/ is never touched, so the local store survives.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DEFAULT_BOOTSTRAP_PORT, nodeCommonName, parseJoinToken, type HubEndpoint } from '../../lib/join-token.ts';
import { fetchPinnedCa, requestJoin, spkiPin, type BootstrapEndpoint } from './client.ts';
import { IdentityError } from './errors.ts';
import {
  certificateWindow, joinNodePem, readRootConfig, readRootCredentials, readRootToken, removeRootToken, renderRootConfig, rootFiles, writeFileAtomic,
  type EdgeRootConfig, type HubProtocolSetting,
} from './root.ts';

export interface EnrollOptions {
  root: string;
  /** Cloud address: `host` or `host:port` of the bootstrap endpoint (default port 10002). */
  cloud: string;
  token: string;
  nodeName: string;
  /** Re-enrol a root that is already joined (same cloud, same name), keeping data/. */
  reenroll?: boolean;
  protocol?: HubProtocolSetting;
  /** Overrides the hub port the cloud advertises (NAT, NodePort). */
  hubPort?: number;
  quicPort?: number;
  serverName?: string;
}

export interface EnrollResult {
  status: 'joined' | 'reenrolled' | 'already-joined';
  config: EdgeRootConfig;
  notAfter?: Date;
  /** For already-joined: the certificate expired (re-enrol with --force-reenroll). */
  expired?: boolean;
}

/** Parses `host`, `host:port`, `[v6]:port`; the port defaults to 10002. */
export function parseCloudAddress(s: string, defaultPort = DEFAULT_BOOTSTRAP_PORT): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(s.trim());
  const bare = !m && s.includes(':') && !s.includes('[') ? s.trim() : undefined; // bare IPv6 without port
  if (!m && !bare) throw new IdentityError('IDENTITY_INVALID_ARGUMENT', `--cloud "${s}" must be host or host:port of the cloud's bootstrap endpoint, e.g. 10.0.0.5 or 10.0.0.5:${DEFAULT_BOOTSTRAP_PORT}`);
  const port = m?.[3] ? Number(m[3]) : defaultPort;
  if (port < 1 || port > 65535) throw new IdentityError('IDENTITY_INVALID_ARGUMENT', `--cloud port ${port} is out of range 1-65535`);
  return { host: bare ?? m![1] ?? m![2]!, port };
}

function protocolFor(hub: HubEndpoint, wanted: HubProtocolSetting | undefined): HubProtocolSetting {
  if (wanted) return wanted;
  const ws = hub.protocols.includes('websocket');
  const q = hub.protocols.includes('quic');
  return ws && q ? 'auto' : q ? 'quic' : 'websocket';
}

/**
 * Entries of `dir` other than leftovers of an interrupted join (staging
 * directories, or pki/ and an empty data/ without config.yaml), which are
 * removed; undefined when `dir` does not exist.
 */
function entries(dir: string): string[] | undefined {
  let found: string[];
  try {
    found = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const dataEmpty = !found.includes(rootFiles.dataDir) || readdirSync(join(dir, rootFiles.dataDir)).length === 0;
  const leftovers = found.filter((e) => e.startsWith('.join-'));
  if (dataEmpty && found.every((e) => e.startsWith('.join-') || e === rootFiles.pkiDir || e === rootFiles.dataDir)) leftovers.push(...found);
  for (const e of new Set(leftovers)) rmSync(join(dir, e), { recursive: true, force: true });
  return found.filter((e) => !leftovers.includes(e));
}

/**
 * Joins (or re-enrols) the node under `o.root`. Idempotent for the same
 * cloud and name (status `already-joined`, no network); throws
 * IDENTITY_ROOT_CONFLICT for another cloud or name, IDENTITY_ROOT_NOT_EMPTY
 * for a directory that is not an Outpost root, and the client's errors
 * (IDENTITY_CA_PIN_MISMATCH, IDENTITY_REFUSED with the server's code, ...).
 * Nothing under the root changes unless the cloud issued a certificate.
 */
export async function enrollNode(o: EnrollOptions): Promise<EnrollResult> {
  const root = resolve(o.root);
  const token = parseJoinToken(o.token);
  const endpoint: BootstrapEndpoint = { ...parseCloudAddress(o.cloud), ...(o.serverName ? { serverName: o.serverName } : {}) };
  const existing = readRootConfig(root);
  if (existing) {
    if (existing.nodeName !== o.nodeName || existing.cloud.caPin !== token.caPin) {
      const what = existing.nodeName !== o.nodeName ? `node "${existing.nodeName}"` : 'node of another cloud';
      throw new IdentityError('IDENTITY_ROOT_CONFLICT', `${root} is already joined as ${what} (cloud ${existing.cloud.address}, CA ${existing.cloud.caPin.slice(0, 19)}…); this join asks for node "${o.nodeName}" with a token for CA ${token.caPin.slice(0, 19)}…. Remove the old identity first with "outpost reset --edge --root ${root} --force", or use another --root`);
    }
    if (!o.reenroll) {
      let notAfter: Date | undefined;
      try {
        notAfter = certificateWindow(splitCert(root)).notAfter;
      } catch {
        // unreadable certificate: report as expired so the message points at --force-reenroll
      }
      return { status: 'already-joined', config: existing, ...(notAfter ? { notAfter } : {}), expired: !notAfter || notAfter.getTime() <= Date.now() };
    }
  } else {
    const found = entries(root);
    if (found && found.length > 0) {
      throw new IdentityError('IDENTITY_ROOT_NOT_EMPTY', `${root} is not empty (${found.slice(0, 5).join(', ')}${found.length > 5 ? ', …' : ''}) and holds no Outpost config.yaml; join into an empty or new directory (--root), or empty this one`);
    }
    if (o.reenroll) throw new IdentityError('IDENTITY_NOT_JOINED', `${root} is not joined, so there is nothing to re-enrol; drop --force-reenroll`);
  }

  const { ca } = await fetchPinnedCa(endpoint, token.caPin);
  const { createCsr } = await import('../../lib/pki.ts');
  const { csrPem, keyPem } = await createCsr({ commonName: nodeCommonName(o.nodeName) });
  const answer = await requestJoin(endpoint, ca, `${token.id}.${token.secret}`, { nodeName: o.nodeName, csr: csrPem, ...(o.reenroll ? { reenroll: true } : {}) });
  checkIssued(answer.certificate, answer.ca, ca, token.caPin, o.nodeName);

  const config: EdgeRootConfig = {
    apiVersion: 'outpost.io/v1alpha1', kind: 'EdgeNodeConfig', nodeName: o.nodeName,
    cloud: {
      address: endpoint.host, caPin: token.caPin, bootstrapPort: endpoint.port, hubPort: o.hubPort ?? answer.hub.port,
      ...((o.quicPort ?? answer.hub.quicPort) ? { quicPort: o.quicPort ?? answer.hub.quicPort } : {}),
      protocol: protocolFor(answer.hub, o.protocol), ...(o.serverName ? { serverName: o.serverName } : {}),
    },
    certificates: { rotate: existing?.certificates.rotate ?? true },
    ...(existing?.runtime ? { runtime: existing.runtime } : {}),
    ...(existing?.broker ? { broker: existing.broker } : {}),
  };
  const nodePem = joinNodePem({ key: keyPem, cert: answer.certificate });
  const notAfter = certificateWindow(answer.certificate).notAfter;
  if (existing) {
    writeFileAtomic(join(root, rootFiles.ca), answer.ca, 0o644);
    writeFileAtomic(join(root, rootFiles.node), nodePem, 0o600);
    writeFileAtomic(join(root, rootFiles.config), renderRootConfig(config), 0o644);
    mkdirSync(join(root, rootFiles.dataDir), { recursive: true });
    if (readRootToken(root) === o.token.trim()) removeRootToken(root);
    return { status: 'reenrolled', config, notAfter };
  }
  writeFresh(root, { ca: answer.ca, nodePem, config: renderRootConfig(config) });
  return { status: 'joined', config, notAfter };
}

function splitCert(root: string): string {
  return readRootCredentials(root).cert;
}

/** The issued certificate must be for this node, signed by the pinned CA. */
function checkIssued(certPem: string, caFromAnswer: string, pinnedCa: string, pin: string, node: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new IdentityError('IDENTITY_BAD_RESPONSE', 'the cloud returned a certificate that does not parse', { cause: err });
  }
  if (spkiPin(caFromAnswer) !== pin) throw new IdentityError('IDENTITY_CA_PIN_MISMATCH', 'the CA in the join answer differs from the pinned CA; refusing it');
  if (!cert.verify(new X509Certificate(pinnedCa).publicKey)) throw new IdentityError('IDENTITY_BAD_RESPONSE', 'the issued certificate is not signed by the pinned CA; refusing it');
  const cn = /^CN=(.*)$/m.exec(cert.subject)?.[1];
  if (cn !== nodeCommonName(node)) throw new IdentityError('IDENTITY_BAD_RESPONSE', `the issued certificate is for "${cn}", not "${nodeCommonName(node)}"`);
}

/** Writes a fresh root: staged, then published with config.yaml last. */
function writeFresh(root: string, f: { ca: string; nodePem: string; config: string }): void {
  const exists = existsSync(root);
  const parent = exists ? root : dirname(root);
  mkdirSync(parent, { recursive: true });
  const stage = mkdtempSync(join(parent, exists ? '.join-' : `.${basename(root)}.join-`));
  try {
    writeFileAtomic(join(stage, rootFiles.ca), f.ca, 0o644);
    writeFileAtomic(join(stage, rootFiles.node), f.nodePem, 0o600);
    mkdirSync(join(stage, rootFiles.dataDir), { recursive: true });
    writeFileAtomic(join(stage, rootFiles.config), f.config, 0o644);
    if (!exists) {
      renameSync(stage, root);
      return;
    }
    // an existing empty root (maybe a mount point): move the pieces in, config.yaml last
    renameSync(join(stage, rootFiles.pkiDir), join(root, rootFiles.pkiDir));
    renameSync(join(stage, rootFiles.dataDir), join(root, rootFiles.dataDir));
    renameSync(join(stage, rootFiles.config), join(root, rootFiles.config));
    rmdirSync(stage);
  } catch (err) {
    rmSync(stage, { recursive: true, force: true });
    throw err;
  }
}
