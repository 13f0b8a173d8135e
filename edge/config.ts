/**
 * Edge agent configuration: built from flags (and later a config file),
 * validated once at start with messages that say what is wrong and how to
 * fix it, then frozen. Certificates are read here so a bad path fails fast.
 */
import { readFileSync } from 'node:fs';
import type { HubProtocol } from './transport/index.ts';
import { X509Certificate } from 'node:crypto';
import { OutpostError } from '../lib/errors.ts';

export class EdgeConfigError extends OutpostError<'EDGE_CONFIG_INVALID'> {}

export interface EdgeConfig {
  nodeName: string;
  dataDir: string;
  hub: { host: string; port: number; quicPort?: number; protocol: HubProtocol; serverName?: string };
  tls: { ca: string; cert: string; key: string };
}

export interface EdgeConfigInput {
  nodeName?: string;
  dataDir?: string;
  hub?: string;
  quicPort?: string;
  hubProtocol?: string;
  serverName?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

const dns1123 = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function bad(field: string, message: string): never {
  throw new EdgeConfigError('EDGE_CONFIG_INVALID', `${field}: ${message}`);
}

function readPem(field: string, path: string | undefined): string {
  if (!path) bad(field, 'is required');
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    bad(field, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Validates the input and returns a frozen config. Throws EDGE_CONFIG_INVALID naming the field. */
export function buildEdgeConfig(i: EdgeConfigInput): EdgeConfig {
  const nodeName = i.nodeName ?? '';
  if (!dns1123.test(nodeName)) bad('--node-name', `"${nodeName}" is not a valid node name (lower-case letters, digits, "-" and ".")`);
  if (!i.dataDir) bad('--data-dir', 'is required (where the local store lives, e.g. /var/lib/outpost)');
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(i.hub ?? '');
  if (!m) bad('--hub', `"${i.hub ?? ''}" must be host:port of the cloud hub, e.g. 10.0.0.5:10000`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) bad('--hub', `port ${port} is out of range 1-65535`);
  const protocol = (i.hubProtocol ?? 'auto') as HubProtocol;
  if (!['auto', 'quic', 'websocket'].includes(protocol)) bad('--hub-protocol', `must be auto, quic or websocket, got "${protocol}"`);
  const quicPort = i.quicPort === undefined ? undefined : Number(i.quicPort);
  if (quicPort !== undefined && !(Number.isInteger(quicPort) && quicPort > 0 && quicPort < 65536)) bad('--quic-port', `must be a port number, got "${i.quicPort}"`);
  const tls = { ca: readPem('--ca-file', i.caFile), cert: readPem('--cert-file', i.certFile), key: readPem('--key-file', i.keyFile) };
  let cn: string | undefined;
  try {
    // node:crypto, not lib/pki: keeps @peculiar/x509 out of the agent's memory
    cn = /^CN=(.*)$/m.exec(new X509Certificate(tls.cert).subject)?.[1];
  } catch (err) {
    bad('--cert-file', `is not a PEM certificate (${(err as Error).message})`);
  }
  if (cn !== `system:node:${nodeName}`) bad('--cert-file', `certificate CN is "${cn}", expected "system:node:${nodeName}" (the hub derives the node identity from it)`);
  const host = m[1]!.replace(/^\[|\]$/g, '');
  return Object.freeze({
    nodeName, dataDir: i.dataDir,
    hub: Object.freeze({ host, port, protocol, ...(quicPort ? { quicPort } : {}), ...(i.serverName ? { serverName: i.serverName } : {}) }),
    tls: Object.freeze(tls),
  });
}
