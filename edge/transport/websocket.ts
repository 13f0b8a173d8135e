/**
 * The WebSocket transport: `ws` over HTTPS with mutual TLS, one binary
 * WebSocket message per Link message, path {@link HUB_PATH}.
 *
 * Liveness: both ends ping every `keepAliveMs`; a peer from which nothing
 * arrived for `deadAfterMs` is terminated and the link closes with 1006 and
 * TRANSPORT_PEER_DEAD (ws README, "How to detect and close broken
 * connections"). Any received bytes count, not only pongs, and so does our
 * own backlog draining into the kernel (which takes the peer's TCP ACKs):
 * otherwise a 16 MiB message on a slow uplink, with our ping queued behind
 * it, would make a live peer look dead.
 */
import * as https from 'node:https';
import type { ClientRequestArgs, IncomingMessage } from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { subjectCommonName } from '../../lib/cert-cn.ts';
import { TransportError } from './errors.ts';
import {
  LinkBase, ListenerBase, SendWatchdog, checkCloseCode, clipReason, formatAddress, peerCloseInfo, resolveLinkOptions, sendStalled, tooLarge,
  type DialOptions, type Link, type Listener, type ListenOptions, type PeerInfo, type ResolvedLinkOptions,
} from './link.ts';

/** The HTTP path the hub serves links on. */
export const HUB_PATH = '/v1/hub';

/** Longest a client may take for its TLS handshake, and then for its HTTP upgrade request. */
export const SLOW_CLIENT_TIMEOUT_MS = 10_000;

function peerCn(socket: TLSSocket): string | undefined {
  const raw = socket.getPeerCertificate()?.raw;
  return raw ? subjectCommonName(new Uint8Array(raw)) : undefined;
}

/** TLS failures by OpenSSL/Node error code; everything else is a connect failure. */
function connectError(err: NodeJS.ErrnoException, target: string): TransportError {
  const code = err.code ?? '';
  if (/^ERR_SSL_|^ERR_TLS_|CERT|^UNABLE_TO_|SELF_SIGNED/.test(code)) {
    return new TransportError('TRANSPORT_TLS_FAILED', `TLS with ${target} failed (${code}: ${err.message}); check that the hub's CA bundle and this node's client certificate come from the same Outpost CA and have not expired`, { cause: err });
  }
  return new TransportError('TRANSPORT_CONNECT_FAILED', `could not open a WebSocket to ${target} (${code || err.message}); check the hub address and that the hub is running`, { cause: err });
}

class WsLink extends LinkBase {
  readonly protocol = 'websocket' as const;
  readonly peer: PeerInfo;
  #ws: WebSocket;
  #o: ResolvedLinkOptions;
  #lastSeen = performance.now();
  /** Bytes the kernel has taken from send(); progress while backlogged needs the peer's ACKs. */
  #flushed = 0;
  #flushedAtTick = 0;
  #backloggedAtTick = false;
  #pingTimer: NodeJS.Timeout;
  #watchdog: SendWatchdog;
  #drained = 0;
  #lastQueue = 0;
  #deadTimer: NodeJS.Timeout | undefined;
  #localClose: { code: number; reason: string } | undefined;
  #error: TransportError | undefined;
  #closedP: Promise<void>;

  constructor(ws: WebSocket, socket: TLSSocket, peer: PeerInfo, o: ResolvedLinkOptions) {
    super(o.maxMessageBytes);
    this.#ws = ws;
    this.peer = peer;
    this.#o = o;
    const seen = () => (this.#lastSeen = performance.now());
    socket.on('data', seen);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) {
        this.#fail(1003, new TransportError('TRANSPORT_PROTOCOL_VIOLATION', `${peer.remoteAddress} sent a text message; Outpost links carry binary messages only`));
        return;
      }
      const b = data as Buffer;
      this.deliver(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      // ws enforces maxPayload while parsing, before buffering the message, then closes with 1009.
      this.#error ??= err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
        ? tooLarge(undefined, o.maxMessageBytes, 'receive')
        : new TransportError('TRANSPORT_CLOSED', `the WebSocket to ${peer.remoteAddress} failed: ${err.message}`, { cause: err });
    });
    this.#closedP = new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => {
      this.#stopTimers();
      this.#onClosed(code, reason.toString());
      resolve();
    }));
    this.#pingTimer = setInterval(() => {
      if (this.#backloggedAtTick && this.#flushed > this.#flushedAtTick) seen();
      this.#backloggedAtTick = ws.bufferedAmount > 0;
      this.#flushedAtTick = this.#flushed;
      if (ws.readyState === WebSocket.OPEN) ws.ping();
    }, o.keepAliveMs);
    this.#armDeadline(o.deadAfterMs);
    // Send progress: whole messages taken by the kernel (#flushed) and, for a
    // large message, libuv's queue of the write in flight shrinking as TCP's
    // ACKs make room. A peer that keeps sending (so it never looks dead) but
    // whose receive window never reopens is caught here; the hub's
    // slow-consumer limit only acts on its next send.
    this.#watchdog = new SendWatchdog(o.stallTimeoutMs, () => ws.bufferedAmount, () => {
      const q = (socket as unknown as { _handle?: { writeQueueSize?: unknown } })._handle?.writeQueueSize;
      if (typeof q === 'number' && q < this.#lastQueue) this.#drained += this.#lastQueue - q;
      this.#lastQueue = typeof q === 'number' ? q : 0;
      return this.#flushed + this.#drained;
    }, (idleMs) => {
      // No close frame: it would queue behind the backlog that does not move.
      this.#error ??= sendStalled(peer.remoteAddress, idleMs, ws.bufferedAmount, o.stallTimeoutMs);
      o.log?.warn('Dropped WebSocket link: sends made no progress', { remote: peer.remoteAddress, code: 'TRANSPORT_SEND_STALLED', bufferedBytes: ws.bufferedAmount, idleMs });
      ws.terminate();
    });
  }

  #armDeadline(ms: number): void {
    this.#deadTimer = setTimeout(() => {
      const silent = performance.now() - this.#lastSeen;
      if (silent < this.#o.deadAfterMs) return this.#armDeadline(this.#o.deadAfterMs - silent);
      this.#error ??= new TransportError('TRANSPORT_PEER_DEAD', `${this.peer.remoteAddress} sent nothing for ${Math.round(silent)} ms (deadAfterMs ${this.#o.deadAfterMs}); the link was dropped and should be dialled again`);
      this.#ws.terminate();
    }, Math.max(1, ms));
  }

  #stopTimers(): void {
    this.#watchdog.stop();
    clearInterval(this.#pingTimer);
    clearTimeout(this.#deadTimer);
  }

  #onClosed(code: number, reason: string): void {
    const err = this.#error;
    if (this.#localClose && !err) this.finish({ ...this.#localClose, byPeer: false });
    else if (err) this.finish({ code: err.code === 'TRANSPORT_MESSAGE_TOO_LARGE' ? 1009 : code === 1005 ? 1006 : code, reason: err.message, byPeer: true, error: err });
    else this.finish(peerCloseInfo(code, reason));
  }

  #fail(code: number, err: TransportError): void {
    this.#error ??= err;
    this.#closeWith(code, err.message).catch(() => {});
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  send(frame: Uint8Array): Promise<void> {
    const err = this.checkSend(frame);
    if (err) return Promise.reject(err);
    return new Promise((resolve, reject) => {
      this.#ws.send(frame, { binary: true }, (e) => {
        if (e) return reject(this.checkSend(frame) ?? new TransportError('TRANSPORT_CLOSED', `send to ${this.peer.remoteAddress} failed: ${e.message}`, { cause: e }));
        this.#flushed += frame.byteLength;
        resolve();
      });
    });
  }

  async close(code = 1000, reason = ''): Promise<void> {
    checkCloseCode(code);
    return this.#closeWith(code, reason);
  }

  goAway(): Promise<void> {
    return this.#closeWith(1001, 'going away');
  }

  async #closeWith(code: number, reason: string): Promise<void> {
    if (!this.closed && !this.#localClose) {
      reason = clipReason(reason);
      this.#localClose = { code, reason };
      // Data queued before close() goes out first: ws sends the close frame after it.
      this.#ws.close(code, reason);
      const t = setTimeout(() => this.#ws.terminate(), this.#o.closeTimeoutMs);
      this.#closedP.finally(() => clearTimeout(t)).catch(() => {});
    }
    await this.#closedP;
  }
}

function wsOptions(o: ResolvedLinkOptions) {
  return { perMessageDeflate: false, maxPayload: o.maxMessageBytes, skipUTF8Validation: true } as const;
}

/**
 * Opens a link to a hub's WebSocket listener. Rejects with
 * TRANSPORT_CONNECT_TIMEOUT, TRANSPORT_CONNECT_FAILED or TRANSPORT_TLS_FAILED;
 * never leaves a socket open when it rejects.
 */
export function dial(opts: DialOptions): Promise<Link> {
  const o = resolveLinkOptions(opts);
  const target = formatAddress(opts.host, opts.port);
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    let socket: TLSSocket | undefined;
    let secured = false;
    const ws = new WebSocket(`wss://${target}${HUB_PATH}`, {
      ...wsOptions(o),
      ca: opts.tls.ca,
      cert: opts.tls.cert,
      key: opts.tls.key,
      ...(opts.serverName ? { servername: opts.serverName } : {}),
      // Our own tls.connect (as ws's, servername rule included) to see when the handshake completed.
      createConnection: (c: ClientRequestArgs) => {
        const co = c as tls.ConnectionOptions;
        socket = tls.connect({ ...co, path: undefined, servername: co.servername ?? (net.isIP(String(co.host)) ? '' : co.host) } as tls.ConnectionOptions);
        socket.once('secureConnect', () => (secured = true));
        return socket;
      },
    });
    const fail = (err: TransportError) => {
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      reject(err);
    };
    const timer = setTimeout(() => fail(new TransportError('TRANSPORT_CONNECT_TIMEOUT', `no WebSocket handshake with ${target} within ${timeoutMs} ms; check the address and that TCP to it is allowed`)), timeoutMs);
    ws.once('unexpected-response', (_req, res: IncomingMessage) => fail(new TransportError('TRANSPORT_CONNECT_FAILED', `${target}${HUB_PATH} answered HTTP ${res.statusCode} instead of a WebSocket upgrade; is this an Outpost hub?`)));
    ws.once('error', (err: NodeJS.ErrnoException) => {
      // Node's TLS server checks the client certificate after the TLS 1.3
      // handshake and then just drops the socket: a reset right after
      // secureConnect is how a refused certificate looks from here.
      if (secured && /^(ECONNRESET|EPIPE)$/.test(err.code ?? '')) {
        fail(new TransportError('TRANSPORT_TLS_FAILED', `${target} dropped the connection right after the TLS handshake (${err.code}): it refused this node's client certificate; check that it was issued by the hub's Outpost CA and has not expired`, { cause: err }));
      } else fail(connectError(err, target));
    });
    ws.once('open', () => {
      clearTimeout(timer);
      ws.removeAllListeners();
      const s = socket!;
      resolve(new WsLink(ws, s, { commonName: peerCn(s), remoteAddress: formatAddress(s.remoteAddress, s.remotePort) }, o));
    });
  });
}

class WsListener extends ListenerBase {
  readonly protocol = 'websocket' as const;
  readonly address: { host: string; port: number };
  #server: https.Server;
  #wss: WebSocketServer;

  constructor(server: https.Server, wss: WebSocketServer, o: ResolvedLinkOptions) {
    super();
    this.#server = server;
    this.#wss = wss;
    const a = server.address();
    this.address = typeof a === 'object' && a ? { host: a.address, port: a.port } : { host: '?', port: 0 };
    server.on('tlsClientError', (err: NodeJS.ErrnoException, s: TLSSocket) => o.log?.debug('Refused TLS connection', { remote: formatAddress(s.remoteAddress, s.remotePort), code: err.code, error: err.message }));
    wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
      const s = req.socket as TLSSocket;
      this.accept(new WsLink(ws, s, { commonName: peerCn(s), remoteAddress: formatAddress(s.remoteAddress, s.remotePort) }, o));
    });
  }

  protected async stop(): Promise<void> {
    await new Promise<void>((r) => this.#wss.close(() => r()));
    const closed = new Promise<void>((r) => this.#server.close(() => r()));
    this.#server.closeAllConnections();
    await closed;
  }
}

/**
 * Serves links on `wss://host:port/v1/hub`. Only clients whose certificate
 * chains to `tls.ca` complete the TLS handshake (`requestCert`,
 * `rejectUnauthorized`); the link's peer.commonName is that certificate's CN.
 */
export async function listen(opts: ListenOptions): Promise<Listener> {
  const o = resolveLinkOptions(opts);
  const server = https.createServer({
    key: opts.tls.key, cert: opts.tls.cert, ca: opts.tls.ca, requestCert: true, rejectUnauthorized: true,
    // Slow-loris bounds (Node's defaults are 120 s for the TLS handshake and 60 s for the
    // headers, checked every 30 s): a client that never finishes either is dropped after 10 s.
    handshakeTimeout: SLOW_CLIENT_TIMEOUT_MS, headersTimeout: SLOW_CLIENT_TIMEOUT_MS, requestTimeout: SLOW_CLIENT_TIMEOUT_MS,
    connectionsCheckingInterval: 1000,
  });
  const wss = new WebSocketServer({ ...wsOptions(o), server, path: HUB_PATH, clientTracking: false });
  wss.on('error', () => {}); // re-emitted server errors; listen() reports the bind error below
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new TransportError('TRANSPORT_CONNECT_FAILED', `cannot listen on ${formatAddress(opts.host, opts.port)}: ${err.code ?? err.message}`, { cause: err })));
    server.listen(opts.port, opts.host, () => resolve());
  });
  return new WsListener(server, wss, o);
}
