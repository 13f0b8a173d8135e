/**
 * The bootstrap HTTPS server (`outpost cloud`, port 10002 like KubeEdge's
 * certificate server, §3.6). It serves the one thing an edge needs before it
 * has an identity, and renews identities before they expire:
 *
 * - `GET /ca.crt`: the CA, unauthenticated: the edge trusts it only when it
 *   matches the pin in its join token.
 * - `POST /v1/join`: a CSR + `Authorization: Bearer <id>.<secret>`. Checks the
 *   token (known, secret, not expired, not used, node binding), refuses a
 *   name that is already registered unless `reenroll`, signs a client
 *   certificate CN `system:node:<name>` O `system:nodes`, then marks the token
 *   used (atomic in the store: a race loses with BOOTSTRAP_TOKEN_USED).
 * - `POST /v1/renew`: over mutual TLS with the node's current certificate
 *   (chain to the CA, not expired): a new certificate for the same name from
 *   a fresh CSR. The edge calls it at 70–90 % of its certificate's life.
 * - `GET /v1/info`, `GET /healthz`: hub ports and server time (the Date header
 *   of every answer is what `outpost doctor` measures clock skew against).
 *
 * Client certificates are requested, never required, so the same port
 * serves nodes without an identity yet.
 */
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import {
  bootstrapPaths, isValidNodeName, nodeCommonName, NODES_GROUP,
  type BootstrapErrorCode, type BootstrapInfo, type CertificateResponse, type HubEndpoint, type JoinRequest, type RenewRequest,
} from '../../lib/join-token.ts';
import { parseCertificate, PkiError, signCsr, type CertificateAndKey } from '../../lib/pki.ts';
import type { Logger } from '../../lib/log.ts';
import { checkToken, collectExpiredTokens, type TokenStore } from './tokens.ts';

export interface BootstrapServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  ca: CertificateAndKey;
  /** The hub's serving certificate (same SANs as CloudHub's). */
  serving: CertificateAndKey;
  tokens: TokenStore;
  /** What edges are told about the hub. */
  hub: HubEndpoint;
  /** Whether a Node of this name is registered (e.g. from the Node informer). */
  nodeExists?: (name: string) => boolean;
  /** Validity of node certificates in days (default 365, KubeEdge's edgeCertSigningDuration). */
  nodeCertValidityDays?: number;
  /** Clock for token expiry and certificate issue time (tests). */
  now?: () => Date;
  log: Logger;
  /** How often expired tokens are garbage-collected (default 1 h; 0 = never). */
  tokenGcIntervalMs?: number;
}

export interface BootstrapServer {
  address: { host: string; port: number };
  /** Certificates issued by this process (join + renew), for metrics and tests. */
  readonly issued: { join: number; renew: number };
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;
const maxNodeName = 64 - 'system:node:'.length;

class HttpError extends Error {
  readonly status: number;
  readonly code: BootstrapErrorCode;
  constructor(status: number, code: BootstrapErrorCode, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function readJson<T>(req: IncomingMessage): Promise<T> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'BOOTSTRAP_BAD_REQUEST', `request body over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T);
      } catch {
        reject(new HttpError(400, 'BOOTSTRAP_BAD_REQUEST', 'the body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Starts the server; resolves once it listens. */
export async function startBootstrapServer(o: BootstrapServerOptions): Promise<BootstrapServer> {
  const log = o.log.child({ component: 'bootstrap' });
  const now = o.now ?? (() => new Date());
  const validityDays = o.nodeCertValidityDays ?? 365;
  const issued = { join: 0, renew: 0 };

  const issue = async (node: string, csr: unknown): Promise<CertificateResponse> => {
    if (typeof csr !== 'string') throw new HttpError(400, 'BOOTSTRAP_BAD_REQUEST', 'csr must be a PEM certificate request');
    try {
      const { certPem } = await signCsr(o.ca, csr, { commonName: nodeCommonName(node), organization: [NODES_GROUP], usage: 'client', validityDays, now: now() });
      return { certificate: certPem, ca: o.ca.certPem, hub: o.hub };
    } catch (err) {
      if (err instanceof PkiError) throw new HttpError(400, 'BOOTSTRAP_CSR_INVALID', `${err.message}`);
      throw err;
    }
  };

  const join = async (req: IncomingMessage): Promise<CertificateResponse> => {
    const auth = /^Bearer\s+(?:[0-9a-f]{64}\.)?([a-z0-9]{6})\.([a-z0-9]{20})(?:\.\d+)?$/.exec(req.headers.authorization ?? '');
    if (!auth) throw new HttpError(401, 'BOOTSTRAP_TOKEN_INVALID', 'missing or malformed "Authorization: Bearer <token>"; pass the token "outpost gettoken" printed');
    const body = await readJson<JoinRequest>(req);
    if (!isValidNodeName(body.nodeName) || body.nodeName.length > maxNodeName) {
      throw new HttpError(400, 'BOOTSTRAP_BAD_REQUEST', `node name ${JSON.stringify(body.nodeName)} is not valid: lower-case letters, digits, "-" and ".", at most ${maxNodeName} characters`);
    }
    const node = body.nodeName;
    const check = await checkToken(o.tokens, auth[1]!, auth[2]!, node, now());
    if (!check.ok) throw new HttpError(check.status, check.code, check.message);
    if (!body.reenroll && o.nodeExists?.(node)) {
      throw new HttpError(409, 'BOOTSTRAP_NODE_EXISTS', `node "${node}" is already registered in the cluster; if this machine is that node coming back, join again with --force-reenroll, otherwise pick another --node-name (or delete the Node first)`);
    }
    const answer = await issue(node, body.csr);
    // mark used only after signing succeeded: a bad CSR does not burn the token
    if (!(await o.tokens.consume(check.record.id, node, now()))) {
      const again = await o.tokens.get(check.record.id);
      throw new HttpError(401, 'BOOTSTRAP_TOKEN_USED', `join token ${check.record.id} was used concurrently by node "${again?.usedBy ?? '?'}"; get a new one with "outpost gettoken"`);
    }
    issued.join++;
    log.info('Issued node certificate', { node, token: check.record.id, reenroll: body.reenroll === true, validityDays });
    return answer;
  };

  const renew = async (req: IncomingMessage): Promise<CertificateResponse> => {
    const socket = req.socket as TLSSocket;
    const raw = socket.getPeerCertificate?.()?.raw;
    if (!raw) throw new HttpError(401, 'BOOTSTRAP_CLIENT_CERT_REQUIRED', 'renewal needs the node\'s current certificate as TLS client certificate; a node whose certificate expired joins again with a new token (outpost join --force-reenroll)');
    if (!socket.authorized) {
      throw new HttpError(401, 'BOOTSTRAP_CLIENT_CERT_REQUIRED', `the client certificate was refused (${String(socket.authorizationError)}); a node whose certificate expired joins again with a new token (outpost join --force-reenroll)`);
    }
    const info = parseCertificate(new Uint8Array(raw));
    const node = /^system:node:(.+)$/.exec(info.subjectCN ?? '')?.[1];
    if (!node || !isValidNodeName(node) || !info.organization.includes(NODES_GROUP)) {
      throw new HttpError(401, 'BOOTSTRAP_CLIENT_CERT_REQUIRED', `certificate CN "${info.subjectCN}" is not a node identity (system:node:<name>, O system:nodes)`);
    }
    // the TLS stack checked validity against the real clock; the injected one decides too (tests)
    if (info.notAfter.getTime() <= now().getTime()) throw new HttpError(401, 'BOOTSTRAP_CLIENT_CERT_REQUIRED', `the certificate expired at ${info.notAfter.toISOString()}; join again with a new token (--force-reenroll)`);
    const body = await readJson<RenewRequest>(req);
    const answer = await issue(node, body.csr);
    issued.renew++;
    log.info('Renewed node certificate', { node, previousNotAfter: info.notAfter.toISOString() });
    return answer;
  };

  const server = https.createServer({
    cert: o.serving.certPem, key: o.serving.keyPem, ca: o.ca.certPem, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2',
  }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = async (): Promise<void> => {
      if (req.method === 'GET' && path === bootstrapPaths.ca) return send(res, 200, o.ca.certPem, 'application/x-pem-file');
      if (req.method === 'GET' && path === bootstrapPaths.healthz) return send(res, 200, 'ok', 'text/plain');
      if (req.method === 'GET' && path === bootstrapPaths.info) return send(res, 200, { hub: o.hub, time: now().toISOString() } satisfies BootstrapInfo);
      if (req.method === 'POST' && path === bootstrapPaths.join) return send(res, 200, await join(req));
      if (req.method === 'POST' && path === bootstrapPaths.renew) return send(res, 200, await renew(req));
      throw new HttpError(404, 'BOOTSTRAP_NOT_FOUND', `no ${req.method} ${path} here; this is Outpost's bootstrap endpoint (GET ${bootstrapPaths.ca}, POST ${bootstrapPaths.join}, POST ${bootstrapPaths.renew})`);
    };
    route().catch((err: unknown) => {
      if (err instanceof HttpError) {
        if (err.status !== 404) log.info('Refused bootstrap request', { path, code: err.code, message: err.message, remote: req.socket.remoteAddress });
        return send(res, err.status, { code: err.code, message: err.message });
      }
      log.error('Bootstrap request failed', { path, err });
      send(res, 503, { code: 'BOOTSTRAP_INTERNAL', message: `the cloud could not complete the request (${(err as Error).message}); retry, and check the cloud's logs if it persists` });
    });
  });
  server.on('tlsClientError', (err) => log.debug('TLS handshake failed on the bootstrap port', { err }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as { address: string; port: number };
  const gcEvery = o.tokenGcIntervalMs ?? 3_600_000;
  const gc = gcEvery > 0 ? setInterval(() => {
    collectExpiredTokens(o.tokens, now()).then((n) => n && log.info('Deleted expired join tokens', { count: n }), (err: unknown) => log.warn('Failed to garbage-collect join tokens', { err }));
  }, gcEvery) : undefined;
  gc?.unref();
  log.info('Started bootstrap server', { host: addr.address, port: addr.port });
  return {
    address: { host: addr.address, port: addr.port },
    issued,
    async close() {
      if (gc) clearInterval(gc);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
