/**
 * The QUIC transport on @matrixai/quic (quiche + BoringSSL, linux-x64,
 * darwin and win32 only: no arm64 Linux build). The module is loaded with a
 * dynamic import, so a missing native binding is a TRANSPORT_QUIC_UNAVAILABLE
 * at dial/listen time instead of a crash at start-up.
 *
 * Wire format on the single bidirectional stream of each connection:
 *   client → server  "OPQ1"                   hello; the server answers "OPQ1"
 *   either way       u32be length, bytes       one message (length ≤ maxMessageBytes,
 *                                              checked before any byte is buffered)
 *   either way       u32be 0xFFFFFFFF, u32be n, u16be code, utf-8 reason (n-2 bytes)
 *                                              close: everything before it was delivered;
 *                                              the receiver ends the connection with that
 *                                              application code (QUIC CONNECTION_CLOSE)
 * The hello exchange makes dial() resolve only after the server accepted
 * the client certificate: in TLS 1.3 the client finishes its handshake
 * before the server has checked the client's certificate.
 *
 * Liveness is QUIC's own: `keepAliveIntervalTime` = keepAliveMs (PINGs),
 * `maxIdleTimeout` = deadAfterMs − keepAliveMs, so a peer that sends nothing
 * (not even ACKs) is noticed between deadAfterMs − keepAliveMs and
 * deadAfterMs and the link closes with TRANSPORT_PEER_DEAD. Without both
 * settings quiche never notices a dead peer (platform notes §1b).
 * Keep-alives only prove the peer answers; a stream whose bytes stop moving
 * while PINGs are ACKed is caught by the SendWatchdog (link.ts): no piece
 * taken by quiche for stallTimeoutMs → TRANSPORT_SEND_STALLED, and the peer
 * gets CONNECTION_CLOSE with application code 1013.
 */
import { createHmac, randomBytes, timingSafeEqual, webcrypto, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { subjectCommonName } from '../../lib/cert-cn.ts';
import type { Logger } from '../../lib/log.ts';
import { TransportError, isTransportError, type TransportErrorCode } from './errors.ts';
import {
  LinkBase, ListenerBase, SEND_CHUNK_BYTES, SendWatchdog, checkCloseCode, clipReason, formatAddress, peerCloseInfo, resolveLinkOptions, sendStalled, tooLarge,
  type CloseInfo, type DialOptions, type Link, type Listener, type ListenOptions, type PeerInfo, type ResolvedLinkOptions,
} from './link.ts';

type QuicModule = typeof import('@matrixai/quic');
type QUICConnection = InstanceType<QuicModule['QUICConnection']>;
type QUICStream = InstanceType<QuicModule['QUICStream']>;
type QuicCloseData = { isApp: boolean; errorCode: number; reason: Uint8Array };

/** Loads @matrixai/quic; injectable so tests can simulate a platform without it. */
export type QuicLoader = () => Promise<QuicModule>;

let cached: Promise<QuicModule> | undefined;

/**
 * The default {@link QuicLoader}: imports @matrixai/quic once. Rejects with
 * TRANSPORT_QUIC_UNAVAILABLE when the package or its native binding for
 * this platform is missing (for example linux-arm64).
 */
export const loadQuic: QuicLoader = () => {
  cached ??= import('@matrixai/quic').then(tolerateLostDatagrams, (err: unknown) => {
    cached = undefined;
    throw new TransportError('TRANSPORT_QUIC_UNAVAILABLE', `QUIC native module unavailable on ${process.platform}-${process.arch} (${(err as Error).message.split('\n')[0]}); use --hub-protocol websocket`, { cause: err });
  });
  return cached;
};

/**
 * Send errors that only mean "this datagram did not leave": a local firewall
 * (EPERM, EACCES), a full queue (ENOBUFS, EAGAIN), an interface going away
 * (ENETDOWN), an ICMP error reported on the socket (ECONNREFUSED), a shrunken
 * path MTU (EMSGSIZE).
 */
const LOST_DATAGRAM = new Set(['EPERM', 'EACCES', 'ENOBUFS', 'EAGAIN', 'EWOULDBLOCK', 'ENETDOWN', 'ECONNREFUSED', 'EMSGSIZE']);

/**
 * @matrixai/quic 2.0.9 treats any UDP send error it does not list (it lists
 * EINVAL, EADDRNOTAVAIL, ENETUNREACH, EHOSTUNREACH) as an internal error and
 * throws it from an event handler: an uncaught exception that kills the
 * process, edge agent or hub, whenever nftables drops a packet in OUTPUT.
 * UDP gives no delivery guarantee anyway, so such a send is a lost datagram:
 * QUIC retransmits, and a path that stays dead ends in the idle timeout
 * (TRANSPORT_PEER_DEAD). Found by the chaos suite (docs/reliability.md).
 */
function tolerateLostDatagrams(q: QuicModule): QuicModule {
  const proto = q.QUICSocket.prototype as unknown as { send_: (...a: unknown[]) => Promise<void>; __outpostLossTolerant?: true };
  if (proto.__outpostLossTolerant) return q;
  const send = proto.send_;
  proto.send_ = async function (this: unknown, ...args: unknown[]) {
    try {
      await send.apply(this, args);
    } catch (err) {
      if (!LOST_DATAGRAM.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
  };
  proto.__outpostLossTolerant = true;
  return q;
}

const HELLO = 0x4f505131; // "OPQ1"
const CLOSE_MARK = 0xffffffff;
const MAX_CONTROL = 2 + 1024;

/** @matrixai/quic logs through @matrixai/logger; this routes its chatter to our debug level. */
function quicLogger(log: Logger | undefined): never {
  const l = { getChild: () => l, debug: fwd, info: fwd, warn: fwd, error: fwd };
  function fwd(msg?: unknown) {
    log?.debug('quic', { detail: String(msg) });
  }
  return l as never;
}

/**
 * Why a connection ended, from a @matrixai/quic error (matched by class name:
 * the classes live in the lazily loaded module) or from the connection's
 * recorded CONNECTION_CLOSE. Undefined when neither says.
 */
function closeFromQuic(err: unknown, conn: QUICConnection | undefined, peer: string, o: ResolvedLinkOptions): CloseInfo | undefined {
  const name = (err as Error | undefined)?.constructor?.name ?? '';
  const fail = (code: TransportErrorCode, message: string): CloseInfo => {
    const e = new TransportError(code, message, { cause: err });
    return { code: 1006, reason: e.message, byPeer: true, error: e };
  };
  if (name === 'ErrorQUICConnectionIdleTimeout') return fail('TRANSPORT_PEER_DEAD', `${peer} went silent (QUIC idle timeout, deadAfterMs ${o.deadAfterMs}); the link was dropped and should be dialled again`);
  const tls = () => fail('TRANSPORT_TLS_FAILED', `TLS with ${peer} failed (${(err as Error | undefined)?.message ?? 'crypto error'}); check that both sides' certificates come from the same Outpost CA and have not expired`);
  if (name.endsWith('TLS')) return tls();
  const data = (err as { data?: QuicCloseData } | undefined)?.data ?? conn?.getConnectionError();
  if (!data) return name.startsWith('ErrorQUIC') ? fail('TRANSPORT_CLOSED', `the QUIC connection to ${peer} ended: ${(err as Error).message}`) : undefined;
  if (data.isApp) return peerCloseInfo(data.errorCode, new TextDecoder().decode(data.reason));
  // Transport codes 0x100-0x1ff are TLS alerts (RFC 9001 §4.8).
  if (data.errorCode >= 0x100 && data.errorCode <= 0x1ff) return tls();
  return fail('TRANSPORT_CLOSED', `the QUIC connection to ${peer} ended with transport error ${data.errorCode}`);
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

interface ParserEvents {
  hello(): void;
  frame(f: Uint8Array): void;
  close(code: number, reason: string): void;
  error(code: number, e: TransportError): void;
}

/**
 * Incremental parser of the stream's bytes. A message's buffer is allocated
 * only after its length passed the limit, then filled chunk by chunk.
 */
class StreamParser {
  #head = new Uint8Array(4);
  #headFill = 0;
  #body: Uint8Array | undefined;
  #bodyFill = 0;
  #state: 'hello' | 'len' | 'body' | 'ctlLen' | 'ctl' = 'hello';
  #max: number;
  #on: ParserEvents;

  constructor(max: number, on: ParserEvents) {
    this.#max = max;
    this.#on = on;
  }

  /** Returns false once parsing stopped (close or error). */
  push(chunk: Uint8Array): boolean {
    let off = 0;
    while (off < chunk.length) {
      if (this.#state === 'body' || this.#state === 'ctl') {
        const body = this.#body!;
        const n = Math.min(body.length - this.#bodyFill, chunk.length - off);
        body.set(chunk.subarray(off, off + n), this.#bodyFill);
        this.#bodyFill += n;
        off += n;
        if (this.#bodyFill === body.length && !this.#complete()) return false;
        continue;
      }
      const n = Math.min(4 - this.#headFill, chunk.length - off);
      this.#head.set(chunk.subarray(off, off + n), this.#headFill);
      this.#headFill += n;
      off += n;
      if (this.#headFill < 4) break;
      this.#headFill = 0;
      const v = new DataView(this.#head.buffer).getUint32(0);
      if (this.#state === 'hello') {
        if (v !== HELLO) return this.#error(1002, new TransportError('TRANSPORT_PROTOCOL_VIOLATION', `the peer did not start with the Outpost QUIC hello (got 0x${v.toString(16)}); is it an Outpost hub or edge of a compatible version?`));
        this.#state = 'len';
        this.#on.hello();
      } else if (this.#state === 'len' && v === CLOSE_MARK) {
        this.#state = 'ctlLen';
      } else if (this.#state === 'len') {
        if (v > this.#max) return this.#error(1009, tooLarge(v, this.#max, 'receive'));
        this.#startBody(v, 'body');
        if (v === 0 && !this.#complete()) return false;
      } else {
        if (v < 2 || v > MAX_CONTROL) return this.#error(1002, new TransportError('TRANSPORT_PROTOCOL_VIOLATION', `malformed close record of ${v} bytes from the peer`));
        this.#startBody(v, 'ctl');
      }
    }
    return true;
  }

  #startBody(len: number, state: 'body' | 'ctl'): void {
    this.#body = new Uint8Array(len);
    this.#bodyFill = 0;
    this.#state = state;
  }

  #complete(): boolean {
    const body = this.#body!;
    this.#body = undefined;
    if (this.#state === 'ctl') {
      this.#state = 'len';
      this.#on.close(new DataView(body.buffer).getUint16(0), new TextDecoder().decode(body.subarray(2)));
      return false;
    }
    this.#state = 'len';
    this.#on.frame(body);
    return true;
  }

  #error(code: number, e: TransportError): false {
    this.#on.error(code, e);
    return false;
  }
}

type Teardown = (code: number, reason: string) => Promise<void>;

class QuicLink extends LinkBase {
  readonly protocol = 'quic' as const;
  readonly peer: PeerInfo;
  #o: ResolvedLinkOptions;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #buffered = 0;
  /** Bytes quiche has taken from the writer (send progress for the watchdog). */
  #taken = 0;
  #watchdog: SendWatchdog;
  #teardown: Teardown;
  #localClose: { code: number; reason: string } | undefined;
  #closing: Promise<void> | undefined;
  #ended: Promise<void>;
  #resolveEnded!: () => void;
  /** Resolves when the peer's hello arrived; rejects if the link ends first. */
  readonly ready: Promise<void>;

  constructor(stream: QUICStream, conn: QUICConnection, peer: PeerInfo, o: ResolvedLinkOptions, teardown: Teardown, errorEvent: string) {
    super(o.maxMessageBytes);
    this.peer = peer;
    this.#o = o;
    this.#teardown = teardown;
    this.#writer = stream.writable.getWriter();
    this.#ended = new Promise((r) => (this.#resolveEnded = r));
    this.#watchdog = new SendWatchdog(o.stallTimeoutMs, () => this.#buffered, () => this.#taken, (idleMs) => this.#stalled(idleMs));
    let helloResolve!: () => void;
    let helloReject!: (e: unknown) => void;
    this.ready = new Promise((res, rej) => ((helloResolve = res), (helloReject = rej)));
    this.ready.catch(() => {});
    this.onClose((info) => helloReject(info.error ?? new TransportError('TRANSPORT_CLOSED', `the hub closed the link during the hello (${info.code} ${info.reason})`)));

    const parser = new StreamParser(o.maxMessageBytes, {
      hello: helloResolve,
      frame: (f) => this.deliver(f),
      close: (code, reason) => {
        if (this.#localClose) this.#end({ ...this.#localClose, byPeer: false });
        else this.#end({ code, reason, byPeer: true });
        void this.#teardown(code, reason);
      },
      error: (code, e) => {
        this.#end({ code, reason: e.message, byPeer: true, error: e });
        void this.#teardown(code, clipReason(e.message));
      },
    });
    conn.addEventListener(errorEvent, (evt: Event) => this.#onConnError((evt as CustomEvent).detail, conn));
    void (async () => {
      const reader = stream.readable.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return this.#onConnError(undefined, conn);
          if (!parser.push(value)) return;
        }
      } catch (err) {
        this.#onConnError(err, conn);
      }
    })();
  }

  #end(info: CloseInfo): void {
    this.#watchdog.stop();
    this.finish(info);
    this.#resolveEnded();
  }

  /**
   * The watchdog fired: bytes wait and quiche took none for stallTimeoutMs,
   * while QUIC's keep-alives kept the connection open. CONNECTION_CLOSE
   * with 1013 is a control frame, not stream data, so it reaches a live peer
   * even though the stream is stuck.
   */
  #stalled(idleMs: number): void {
    if (this.closed) return;
    const e = sendStalled(this.peer.remoteAddress, idleMs, this.#buffered, this.#o.stallTimeoutMs);
    this.#o.log?.warn('Dropped QUIC link: sends made no progress', { remote: this.peer.remoteAddress, code: e.code, bufferedBytes: this.#buffered, idleMs });
    this.#end({ code: 1006, reason: clipReason(e.message), byPeer: true, error: e });
    void this.#teardown(1013, 'send stalled');
  }

  #onConnError(err: unknown, conn: QUICConnection, wait = true): void {
    if (this.closed) return this.#resolveEnded();
    let info = this.#localClose ? { ...this.#localClose, byPeer: false } : closeFromQuic(err, conn, this.peer.remoteAddress, this.#o);
    if (!info && wait) {
      // A stream read fails with a generic error (or just ends) a moment
      // before the connection reports why (idle timeout, peer close).
      setTimeout(() => this.#onConnError(err, conn, false), 100).unref();
      return;
    }
    if (!info) {
      const e = new TransportError('TRANSPORT_CLOSED', `the QUIC stream from ${this.peer.remoteAddress} ended without a close record`, { cause: err });
      info = { code: 1006, reason: e.message, byPeer: true, error: e };
    }
    this.#end(info);
    void this.#teardown(info.code, '');
  }

  get bufferedAmount(): number {
    return this.#buffered;
  }

  /**
   * @internal Writes raw bytes (hello, records) in order, in pieces of at
   * most SEND_CHUNK_BYTES: each piece resolves when quiche took it, so a
   * 16 MiB message on a slow link still shows progress to the watchdog.
   * Resolves when the last piece was taken (the writer keeps them in order).
   */
  _write(bytes: Uint8Array): Promise<void> {
    let p: Promise<void> = Promise.resolve();
    for (let off = 0; off < bytes.byteLength || off === 0; off += SEND_CHUNK_BYTES) {
      const piece = bytes.subarray(off, Math.min(bytes.byteLength, off + SEND_CHUNK_BYTES));
      this.#buffered += piece.byteLength;
      p = this.#writer.write(piece).then(() => void (this.#taken += piece.byteLength)).finally(() => (this.#buffered -= piece.byteLength));
      p.catch(() => {});
      if (bytes.byteLength === 0) break;
    }
    return p;
  }

  async send(frame: Uint8Array): Promise<void> {
    const err = this.checkSend(frame);
    if (err) throw err;
    // Two writes on one writer are queued in order; nothing can come between them.
    void this._write(u32(frame.byteLength));
    try {
      await this._write(frame);
    } catch (e) {
      throw this.checkSend(frame) ?? new TransportError('TRANSPORT_CLOSED', `send to ${this.peer.remoteAddress} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  async close(code = 1000, reason = ''): Promise<void> {
    checkCloseCode(code);
    return this.#closeWith(code, reason);
  }

  goAway(): Promise<void> {
    return this.#closeWith(1001, 'going away');
  }

  #closeWith(code: number, reason: string): Promise<void> {
    if (!this.#closing && this.closed) return Promise.resolve();
    this.#closing ??= (async () => {
      reason = clipReason(reason);
      this.#localClose = { code, reason };
      const r = new TextEncoder().encode(reason);
      const rec = new Uint8Array(10 + r.length);
      const v = new DataView(rec.buffer);
      v.setUint32(0, CLOSE_MARK);
      v.setUint32(4, 2 + r.length);
      v.setUint16(8, code);
      rec.set(r, 10);
      void this._write(rec);
      // The peer answers by ending the connection with our code; give up waiting after closeTimeoutMs.
      let t: NodeJS.Timeout | undefined;
      await Promise.race([this.#ended, new Promise((r) => (t = setTimeout(r, this.#o.closeTimeoutMs)))]);
      clearTimeout(t);
      this.#end({ code, reason, byPeer: false });
      await this.#teardown(code, reason);
    })();
    return this.#closing;
  }
}

function config(o: ResolvedLinkOptions, tls: { ca: string; cert?: string; key?: string }) {
  return {
    ca: tls.ca,
    ...(tls.cert ? { cert: tls.cert } : {}),
    ...(tls.key ? { key: tls.key } : {}),
    verifyPeer: true,
    // RFC 9000 §10.1: the idle timer also restarts at the first ack-eliciting
    // packet sent after the last one received, so a keep-alive sent just
    // after the peer vanished adds up to keepAliveMs. Subtracting it keeps the
    // worst case at deadAfterMs, like the WebSocket transport.
    maxIdleTimeout: o.deadAfterMs - o.keepAliveMs,
    keepAliveIntervalTime: o.keepAliveMs,
    // One stream per link: refuse more than a handful of peer-opened streams.
    initialMaxStreamsBidi: 1,
    initialMaxStreamsUni: 0,
  };
}

// quiche/BoringSSL check the server name as a DNS name only, so a hub dialled
// by IP address (the usual case at the edge) fails with BadCertificate even when
// its certificate carries that IP SAN. For IP literals we verify the chain,
// validity and IP SAN ourselves with node:crypto (TLS alert codes from
// @matrixai/quic's CryptoError: 298 bad_certificate, 301 certificate_expired,
// 304 unknown_ca).
function verifyByIp(ip: string, caPem: string): (certs: Uint8Array[]) => Promise<number | undefined> {
  const cas = caPem.split(/(?=-----BEGIN CERTIFICATE-----)/).filter((p) => p.includes('BEGIN CERTIFICATE')).map((p) => new X509Certificate(p));
  return async (certs) => {
    try {
      const chain = certs.map((c) => new X509Certificate(Buffer.from(c)));
      const now = Date.now();
      if (chain.length === 0) return 298;
      for (const c of chain) if (Date.parse(c.validFrom) > now || Date.parse(c.validTo) < now) return 301;
      if (chain[0]!.checkIP(ip) === undefined) return 298;
      // walk up the presented chain until a certificate is signed by a trusted CA
      for (const c of chain) {
        if (cas.some((ca) => c.checkIssued(ca) && c.verify(ca.publicKey))) return undefined;
      }
      return 304;
    } catch {
      return 298;
    }
  };
}

function safeTeardown(f: () => Promise<void>): Promise<void> {
  return f().catch(() => {});
}

/**
 * Opens a link to a hub's QUIC listener. Rejects with
 * TRANSPORT_QUIC_UNAVAILABLE, TRANSPORT_CONNECT_TIMEOUT (nothing answered:
 * no listener or UDP blocked; QUIC has no fast "connection refused"),
 * TRANSPORT_TLS_FAILED or TRANSPORT_CONNECT_FAILED. Resolves only after the
 * hub accepted this side's certificate.
 */
export async function dial(opts: DialOptions & { loadQuic?: QuicLoader }): Promise<Link> {
  const o = resolveLinkOptions(opts);
  const q = await (opts.loadQuic ?? loadQuic)();
  const target = formatAddress(opts.host, opts.port);
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;
  const deadline = performance.now() + timeoutMs;
  const timeout = () => new TransportError('TRANSPORT_CONNECT_TIMEOUT', `no QUIC handshake with ${target} within ${timeoutMs} ms; the hub may be down, or UDP to it is blocked (use --hub-protocol websocket)`);
  let client: InstanceType<QuicModule['QUICClient']>;
  try {
    client = await q.QUICClient.createQUICClient({
      host: opts.host,
      port: opts.port,
      serverName: opts.serverName ?? opts.host,
      crypto: { ops: { randomBytes: async (ab: ArrayBuffer) => void webcrypto.getRandomValues(new Uint8Array(ab)) } },
      config: {
        ...config(o, opts.tls),
        ...(isIP(opts.serverName ?? opts.host) ? { verifyCallback: verifyByIp(opts.serverName ?? opts.host, opts.tls.ca) } : {}),
      },
      logger: quicLogger(o.log),
    }, { timer: timeoutMs });
  } catch (err) {
    const name = (err as Error).constructor?.name ?? '';
    if (name === 'ErrorQUICClientCreateTimeout') throw Object.assign(timeout(), { cause: err });
    const tls = name.includes('TLS') ? closeFromQuic(err, undefined, target, o)?.error : undefined;
    if (tls) throw tls;
    throw new TransportError('TRANSPORT_CONNECT_FAILED', `could not open QUIC to ${target}: ${(err as Error).message}`, { cause: err });
  }
  const conn = client.connection;
  const chain = conn.getRemoteCertsChain();
  const peer = { commonName: chain[0] ? subjectCommonName(chain[0]) : undefined, remoteAddress: target };
  const teardown: Teardown = (code, reason) => safeTeardown(() => client.destroy({ isApp: true, errorCode: code, reason: new TextEncoder().encode(clipReason(reason)), force: true }));
  const link = new QuicLink(conn.newStream('bidi'), conn, peer, o, teardown, q.events.EventQUICConnectionError.name);
  void link._write(u32(HELLO));
  let t: NodeJS.Timeout | undefined;
  try {
    await Promise.race([link.ready, new Promise((_, rej) => (t = setTimeout(() => rej(timeout()), Math.max(0, deadline - performance.now()))))]);
  } catch (err) {
    await teardown(1006, '');
    if (isTransportError(err, 'TRANSPORT_PEER_DEAD')) throw timeout();
    throw err;
  } finally {
    clearTimeout(t);
  }
  return link;
}

class QuicListener extends ListenerBase {
  readonly protocol = 'quic' as const;
  readonly address: { host: string; port: number };
  #server: InstanceType<QuicModule['QUICServer']>;

  constructor(q: QuicModule, server: InstanceType<QuicModule['QUICServer']>, o: ResolvedLinkOptions, helloTimeoutMs: number) {
    super();
    this.#server = server;
    this.address = { host: server.host, port: server.port };
    server.addEventListener(q.events.EventQUICServerConnection.name, (evt: Event) => {
      const conn = (evt as CustomEvent<QUICConnection>).detail;
      const remote = formatAddress(conn.remoteHost, conn.remotePort);
      const stop = (code: number, reason: string) => safeTeardown(() => conn.stop({ isApp: true, errorCode: code, reason: new TextEncoder().encode(clipReason(reason)), force: true }));
      const chain = conn.getRemoteCertsChain();
      if (!chain[0]) {
        o.log?.debug('Refused QUIC connection without a client certificate', { remote });
        void stop(1002, 'client certificate required');
        return;
      }
      const peer = { commonName: subjectCommonName(chain[0]), remoteAddress: remote };
      // A connection that never opens its stream and says hello is dropped.
      const t = setTimeout(() => void stop(1002, 'no hello'), helloTimeoutMs).unref();
      let link: QuicLink | undefined;
      conn.addEventListener(q.events.EventQUICConnectionStream.name, (se: Event) => {
        const stream = (se as CustomEvent<QUICStream>).detail;
        if (link) return void stream.cancel(new Error('one stream per link'));
        const l = (link = new QuicLink(stream, conn, peer, o, stop, q.events.EventQUICConnectionError.name));
        l.ready.then(() => {
          clearTimeout(t);
          void l._write(u32(HELLO));
          this.accept(l);
        }, () => clearTimeout(t));
      });
    });
  }

  protected async stop(): Promise<void> {
    await this.#server.stop({ isApp: true, errorCode: 1001, force: true });
  }
}

/**
 * Serves QUIC links on UDP `host:port`. The client must present a
 * certificate that chains to `tls.ca`; its CN is the link's peer.commonName.
 */
export async function listen(opts: ListenOptions & { loadQuic?: QuicLoader }): Promise<Listener> {
  const o = resolveLinkOptions(opts);
  const q = await (opts.loadQuic ?? loadQuic)();
  const key = randomBytes(32);
  // HMAC for the server's stateless retry tokens.
  const mac = (d: ArrayBuffer) => createHmac('sha256', key).update(new Uint8Array(d)).digest();
  const server = new q.QUICServer({
    crypto: {
      key: new Uint8Array(key).buffer,
      ops: {
        sign: async (_k: ArrayBuffer, d: ArrayBuffer) => new Uint8Array(mac(d)).buffer,
        verify: async (_k: ArrayBuffer, d: ArrayBuffer, sig: ArrayBuffer) => {
          const m = mac(d);
          return sig.byteLength === m.length && timingSafeEqual(m, new Uint8Array(sig));
        },
      },
    },
    config: { ...config(o, opts.tls), key: opts.tls.key, cert: opts.tls.cert },
    logger: quicLogger(o.log),
  });
  try {
    await server.start({ host: opts.host, port: opts.port });
  } catch (err) {
    throw new TransportError('TRANSPORT_CONNECT_FAILED', `cannot listen on UDP ${formatAddress(opts.host, opts.port)}: ${(err as Error).message}`, { cause: err });
  }
  return new QuicListener(q, server, o, 10_000);
}
