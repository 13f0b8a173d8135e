/**
 * The admission webhook server: HTTPS, AdmissionReview v1 decode/encode, uid
 * echo, JSON Patch encoding, limits. Everything else (what is allowed) is in
 * the pure validators behind `definitions.ts`.
 *
 * HTTP answers: 200 with an AdmissionReview for every well-formed review
 * (also when the handler failed: then `allowed` follows the webhook's
 * failurePolicy and the message says why); 400 for a body that is not a JSON
 * AdmissionReview v1, 404 for an unknown path, 405 for a method other than
 * POST, 413 above `maxBodyBytes`, 415 for a non-JSON content type. Error
 * bodies are a metav1.Status whose `reason` is the WEBHOOK_* code.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../lib/log.ts';
import { isObject, type AdmissionRequest, type AdmissionResponse, type AdmissionReview } from './admission.ts';
import type { HandlerResult, WebhookDefinition } from './definitions.ts';
import { WebhookError, type WebhookErrorCode } from './errors.ts';
import type { LookupProvider } from './lookups.ts';

/**
 * Twice the API server's own request body limit (3 MiB): an AdmissionReview
 * for an UPDATE carries both the object and the old object.
 */
export const defaultMaxBodyBytes = 2 * 3 * 1024 * 1024;

/** PEM key and certificate the server presents. */
export interface TlsMaterial {
  certPem: string;
  keyPem: string;
}

/** Options of {@link WebhookServer}. */
export interface WebhookServerOptions {
  webhooks: readonly WebhookDefinition[];
  lookups: LookupProvider;
  tls: TlsMaterial;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  log?: Logger;
  /** Larger bodies get 413; default `defaultMaxBodyBytes`. */
  maxBodyBytes?: number;
  /**
   * Default true. False answers every request with `Connection: close`, so every admission
   * is a new TLS handshake (tests use it to prove that a rotated certificate is trusted).
   */
  keepAlive?: boolean;
  /** Handler deadline; default: the webhook's timeoutSeconds minus 500 ms, so the answer beats the API server's timeout. */
  handlerTimeoutMs?: number;
}

/** What `inject` and the socket path both produce. */
export interface HttpResult {
  statusCode: number;
  body: unknown;
}

const status = (code: number, reason: WebhookErrorCode, message: string): HttpResult => ({
  statusCode: code,
  body: { apiVersion: 'v1', kind: 'Status', status: 'Failure', code, reason, message },
});

/** Checks the shape of a decoded body; returns the request or an error message. */
function decodeReview(body: unknown): AdmissionRequest | string {
  if (!isObject(body) || body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview') {
    return 'the body is not an admission.k8s.io/v1 AdmissionReview; register the webhook with admissionReviewVersions: ["v1"]';
  }
  const req = body.request;
  if (!isObject(req) || typeof req.uid !== 'string' || req.uid === '' || typeof req.operation !== 'string') {
    return 'request.uid and request.operation are required in an AdmissionReview';
  }
  return req as unknown as AdmissionRequest;
}

/** Serves the webhooks of `definitions.ts`; see the file comment for the HTTP contract. */
export class WebhookServer {
  readonly #opts: WebhookServerOptions;
  readonly #log: Logger;
  readonly #byPath: Map<string, WebhookDefinition>;
  readonly #maxBody: number;
  readonly #server: Server;

  constructor(opts: WebhookServerOptions) {
    this.#opts = opts;
    this.#log = (opts.log ?? createLogger()).child({ component: 'webhooks' });
    this.#byPath = new Map(opts.webhooks.map((w) => [w.path, w]));
    this.#maxBody = opts.maxBodyBytes ?? defaultMaxBodyBytes;
    this.#server = createServer({
      key: opts.tls.keyPem,
      cert: opts.tls.certPem,
      minVersion: 'TLSv1.2',
      // Go's HTTP client (the API server) keeps idle connections for 90 s. If we closed them
      // first, a POST racing our close would fail, and Go does not retry POSTs.
      keepAliveTimeout: 120_000,
      requestTimeout: 30_000,
      headersTimeout: 20_000,
    }, (req, res) => void this.#serve(req, res));
  }

  /** Starts listening; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#opts.port ?? 9443, this.#opts.host ?? '127.0.0.1', () => {
        this.#server.off('error', reject);
        const a = this.#server.address() as AddressInfo;
        this.#log.info('Started webhook server', { host: a.address, port: a.port });
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  /**
   * Swaps the serving certificate. New TLS handshakes use it; established
   * connections keep theirs, so nothing in flight is dropped.
   */
  setCertificate(tls: TlsMaterial): void {
    this.#server.setSecureContext({ key: tls.keyPem, cert: tls.certPem, minVersion: 'TLSv1.2' });
  }

  /** Stops accepting connections, then closes idle ones; resolves when all are closed. Idempotent. */
  close(): Promise<void> {
    if (!this.#server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
      setTimeout(() => this.#server.closeAllConnections(), 5_000).unref();
    });
  }

  /**
   * Runs one request through decoding, the handler and encoding without a
   * socket (fastify's `inject`). `body` may be an object (sent as JSON) or
   * raw text/bytes to test malformed input.
   */
  inject(path: string, body: unknown, opts: { method?: string; contentType?: string } = {}): Promise<HttpResult> {
    const raw = typeof body === 'string' || body instanceof Uint8Array ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
    return this.#handle(opts.method ?? 'POST', path, opts.contentType ?? 'application/json', raw);
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (r: HttpResult) => {
      const text = JSON.stringify(r.body);
      const close = this.#opts.keepAlive === false ? { connection: 'close' } : {};
      res.writeHead(r.statusCode, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...close }).end(text);
    };
    try {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > this.#maxBody) {
        req.resume();
        return send(status(413, 'WEBHOOK_BODY_TOO_LARGE', `request body of ${declared} bytes exceeds the limit of ${this.#maxBody} bytes`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > this.#maxBody) {
          send(status(413, 'WEBHOOK_BODY_TOO_LARGE', `request body exceeds the limit of ${this.#maxBody} bytes`));
          req.destroy();
          return;
        }
        chunks.push(chunk);
      }
      send(await this.#handle(req.method ?? 'GET', (req.url ?? '/').split('?')[0]!, req.headers['content-type'] ?? '', Buffer.concat(chunks)));
    } catch (err) {
      this.#log.error('Failed to serve webhook request', { err, path: req.url });
      if (!res.headersSent) send(status(500, 'WEBHOOK_HANDLER_FAILED', 'internal error'));
    }
  }

  async #handle(method: string, path: string, contentType: string, raw: Buffer): Promise<HttpResult> {
    if (path === '/healthz' && method === 'GET') return { statusCode: 200, body: { status: 'ok' } };
    const def = this.#byPath.get(path);
    if (!def) return status(404, 'WEBHOOK_NOT_FOUND', `no webhook at ${path}; the paths are ${[...this.#byPath.keys()].join(', ')}`);
    if (method !== 'POST') return status(405, 'WEBHOOK_METHOD_NOT_ALLOWED', `use POST for ${path}, not ${method}`);
    if (!/^application\/json\b/i.test(contentType)) return status(415, 'WEBHOOK_UNSUPPORTED_MEDIA_TYPE', `content type ${JSON.stringify(contentType)} is not supported; send application/json`);
    if (raw.length > this.#maxBody) return status(413, 'WEBHOOK_BODY_TOO_LARGE', `request body of ${raw.length} bytes exceeds the limit of ${this.#maxBody} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      return status(400, 'WEBHOOK_BAD_REQUEST', `the body is not JSON (${(err as Error).message}); send an admission.k8s.io/v1 AdmissionReview`);
    }
    const req = decodeReview(body);
    if (typeof req === 'string') return status(400, 'WEBHOOK_BAD_REQUEST', req);
    const response = await this.#respond(def, req);
    const review: AdmissionReview = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
    return { statusCode: 200, body: review };
  }

  async #respond(def: WebhookDefinition, req: AdmissionRequest): Promise<AdmissionResponse> {
    const log = this.#log.child({ webhook: def.name, uid: req.uid, kind: req.kind?.kind, namespace: req.namespace, name: req.name, operation: req.operation });
    const timeoutMs = this.#opts.handlerTimeoutMs ?? Math.max(500, def.timeoutSeconds * 1000 - 500);
    let result: HandlerResult;
    try {
      result = await withTimeout(def.handle(req, { lookups: this.#opts.lookups }), timeoutMs);
    } catch (err) {
      const code: WebhookErrorCode = err instanceof WebhookError ? err.code : 'WEBHOOK_HANDLER_FAILED';
      log.error('Failed to evaluate admission request', { err, code });
      const message = `${code}: webhook ${def.name} could not evaluate the request (${(err as Error).message})`;
      // Answer as the API server would on a failed call, but sooner and with the reason.
      return def.failurePolicy === 'Ignore'
        ? { uid: req.uid, allowed: true, warnings: [`${message}; admitted without its checks`] }
        : { uid: req.uid, allowed: false, status: { code: 500, reason: 'InternalError', message: `${message}; retry, and check the Outpost webhook logs if it persists` } };
    }
    const response: AdmissionResponse = { uid: req.uid, allowed: result.allowed };
    if (result.warnings.length > 0) response.warnings = result.warnings;
    if (!result.allowed) {
      response.status = { code: 403, reason: 'Forbidden', message: result.message ?? 'denied' };
      response.auditAnnotations = { violations: [...new Set(result.violations.map((v) => v.code))].join(',') };
      log.info('Denied admission request', { violations: result.violations.map((v) => v.code), dryRun: req.dryRun ?? false });
    }
    if (def.type === 'mutating' && result.patch && result.patch.length > 0) {
      response.patch = Buffer.from(JSON.stringify(result.patch)).toString('base64');
      response.patchType = 'JSONPatch';
    }
    return response;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WebhookError('WEBHOOK_TIMEOUT', `no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
