/**
 * The edge's kubelet API (the subset `kubectl` reaches through the API
 * server): an ordinary node:http server that never listens on a port. The
 * cloud's kubelet endpoint terminates the API server's TLS and hands each
 * connection to this node as a tunnel stream (edge/transport/tunnel.ts);
 * `serveConnection` feeds it to the server, so keep-alive, chunked bodies
 * and the SPDY Upgrade behave exactly as on a kubelet socket.
 *
 * Paths (pkg/kubelet/server/server.go):
 *   GET  /healthz, /pods
 *   GET  /containerLogs/{ns}/{pod}/{container}?follow&tailLines&sinceSeconds&sinceTime&timestamps&previous&limitBytes
 *   POST /exec/{ns}/{pod}/{container}?command=…&input&output&error&tty     (SPDY/3.1, remotecommand v4)
 *   POST /attach/{ns}/{pod}/{container}?input&output&error&tty
 *   POST /portForward/{ns}/{pod}[?port=N]                                   (SPDY/3.1, portforward.k8s.io)
 *   GET  /stats/summary                                                      (kubelet stats API v1alpha1)
 *   GET  /metrics/resource                                                   (resource metrics for metrics-server)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../lib/log.ts';
import type { PodManager } from '../pods/manager.ts';
import { PodError } from '../pods/errors.ts';
import type { EdgeStore } from '../store/store.ts';
import {
  negotiate, PORT_FORWARD_PROTOCOL, REMOTE_COMMAND_PROTOCOLS, servePortForward, serveRemoteCommand, upgradeResponse,
} from './remote-command.ts';
import { relayUpgrade } from './relay.ts';
import { NodeUsageReader, resourceMetrics, statsSummary, type Summary } from './stats.ts';

export interface KubeletServerOptions {
  nodeName: string;
  store: EdgeStore;
  /** The pod manager, once started (undefined: the node runs no pods). */
  pods: () => PodManager | undefined;
  log: Logger;
}

export interface KubeletServer {
  readonly server: Server;
  /** Serves HTTP on one connection (a tunnel stream). */
  serveConnection(socket: Duplex): void;
  close(): void;
}

const bool = (v: string | null) => v === '1' || v === 'true';

function sendStatus(res: ServerResponse, code: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(message + '\n');
}

function httpCode(err: unknown): number {
  if (err instanceof PodError) return err.code === 'POD_CONTAINER_NOT_FOUND' ? 404 : err.code === 'POD_UNSUPPORTED' ? 400 : 500;
  return 500;
}

/** Creates the kubelet API server (not listening). */
export function createKubeletServer(o: KubeletServerOptions): KubeletServer {
  const log = o.log.child({ component: 'kubelet' });
  const pods = (): PodManager => {
    const p = o.pods();
    if (!p) throw new PodError('POD_CONTAINER_NOT_FOUND', `node ${o.nodeName} runs no pods (start outpost edge with a pod runtime)`);
    return p;
  };

  const nodeUsage = new NodeUsageReader();
  /** Node usage and the pods' container usage; a failing runtime gives pods without usage and `failed`. */
  async function summary(): Promise<{ s: Summary; failed: boolean }> {
    const node = nodeUsage.read();
    const pm = o.pods();
    try {
      return { s: statsSummary({ nodeName: o.nodeName, node, pods: pm ? await pm.stats() : [] }), failed: false };
    } catch (err) {
      log.warn('Container stats failed', { err });
      return { s: statsSummary({ nodeName: o.nodeName, node, pods: [] }), failed: true };
    }
  }

  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.warn('Kubelet request failed', { method: req.method, path: req.url, err });
      sendStatus(res, httpCode(err), (err as Error).message);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://kubelet');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    log.debug('Kubelet request', { method: req.method, path: url.pathname });
    switch (parts[0]) {
      case 'healthz':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
        return;
      case 'pods': {
        const items = o.store.objects.list({ apiVersion: 'v1', kind: 'Pod' }).map((p) => {
          const pod = p as unknown as { metadata: { namespace?: string; name: string } };
          const status = o.pods()?.status(pod.metadata.namespace ?? '', pod.metadata.name);
          return status ? { ...p, status } : p;
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items }));
        return;
      }
      case 'containerLogs':
        return await logs(req, res, parts, url.searchParams);
      case 'stats':
        if (parts[1] === 'summary') {
          const { s } = await summary();
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(s));
          return;
        }
        break;
      case 'metrics':
        if (parts[1] === 'resource') {
          const { s, failed } = await summary();
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
          res.end(resourceMetrics(s, { scrapeError: failed }));
          return;
        }
        break;
      case 'exec':
      case 'attach':
      case 'portForward':
        return sendStatus(res, 400, `${parts[0]} needs an Upgrade: SPDY/3.1 request`);
    }
    sendStatus(res, 404, `${url.pathname} is not served by this kubelet`);
  }

  async function logs(req: IncomingMessage, res: ServerResponse, parts: string[], q: URLSearchParams): Promise<void> {
    const [, ns, pod, container] = parts;
    if (!ns || !pod) return sendStatus(res, 400, 'path must be /containerLogs/{namespace}/{pod}/{container}');
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    const num = (k: string) => (q.has(k) && Number.isFinite(Number(q.get(k))) ? Number(q.get(k)) : undefined);
    const tailLines = num('tailLines');
    const sinceSeconds = num('sinceSeconds');
    const sinceTime = q.get('sinceTime');
    const limitBytes = num('limitBytes');
    const sinceMs = sinceSeconds !== undefined ? Date.now() - sinceSeconds * 1000 : sinceTime ? Date.parse(sinceTime) : undefined;
    const it = pods().logs(ns, pod, container, {
      follow: bool(q.get('follow')), timestamps: bool(q.get('timestamps')), previous: bool(q.get('previous')), signal: abort.signal,
      ...(tailLines !== undefined && tailLines >= 0 ? { tailLines } : {}),
      ...(sinceMs !== undefined && Number.isFinite(sinceMs) ? { sinceMs } : {}),
      ...(limitBytes !== undefined && limitBytes > 0 ? { limitBytes } : {}),
    });
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    try {
      for await (const chunk of it) {
        if (abort.signal.aborted) break;
        // backpressure: a slow reader (tunnel credit) stops the file reads
        if (!res.write(chunk)) await new Promise<void>((r) => {
          res.once('drain', r);
          res.once('close', r);
        });
      }
    } finally {
      await it.return(undefined);
    }
    res.end();
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://kubelet');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const q = url.searchParams;
    const offered = req.headers['x-stream-protocol-version'];
    const offers = (Array.isArray(offered) ? offered : (offered ?? '').split(',')).map((s) => s.trim()).filter(Boolean);
    const fail = (code: number, msg: string) => {
      socket.end(`HTTP/1.1 ${code} ${code === 404 ? 'Not Found' : code === 400 ? 'Bad Request' : 'Error'}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(msg)}\r\nconnection: close\r\n\r\n${msg}`);
    };
    if (String(req.headers.upgrade ?? '').toLowerCase() !== 'spdy/3.1') return fail(400, `unsupported upgrade ${String(req.headers.upgrade)}; this kubelet speaks SPDY/3.1`);
    const [kind, ns, pod, container] = parts;
    if (!ns || !pod) return fail(400, `path must be /${kind ?? 'exec'}/{namespace}/{pod}[/{container}]`);
    let pm: PodManager;
    try {
      pm = pods();
    } catch (err) {
      return fail(404, (err as Error).message);
    }
    if (kind === 'exec' || kind === 'attach') {
      const protocol = negotiate(offers, REMOTE_COMMAND_PROTOCOLS);
      if (!protocol) return fail(400, `none of the offered protocols [${offers.join(', ')}] is supported; this kubelet speaks ${REMOTE_COMMAND_PROTOCOLS.join(', ')}`);
      const command = q.getAll('command');
      if (kind === 'exec' && command.length === 0) return fail(400, 'exec needs at least one command= parameter');
      const opts = { stdin: bool(q.get('input')), stdout: bool(q.get('output')), stderr: bool(q.get('error')), tty: bool(q.get('tty')) };
      try {
        pm.logPath(ns, pod, container); // the container exists on this node (throws PodError otherwise)
      } catch (err) {
        return fail(httpCode(err), (err as Error).message);
      }
      const what = { namespace: ns, pod, container, command: kind === 'exec' ? command : undefined, tty: opts.tty };
      // A runtime with its own streaming server (CRI) gets the connection relayed as is, as the
      // kubelet does; otherwise this node serves the session (process runtime).
      pm.streamUrl(kind, ns, pod, container, command, opts).then((streamUrl) => {
        log.info(kind === 'exec' ? 'Exec in container' : 'Attach to container', { ...what, via: streamUrl ? 'runtime streaming server' : 'kubelet' });
        if (streamUrl) {
          relayUpgrade(socket, req, head, streamUrl, (err) => log.warn('Relay to the runtime streaming server failed', { ...what, err }));
          return;
        }
        socket.write(upgradeResponse(protocol));
        void serveRemoteCommand(socket, opts, kind === 'exec' ? `command ${JSON.stringify(command)}` : 'container', (o2) => (kind === 'exec' ? pm.exec(ns, pod, container, command, o2) : pm.attach(ns, pod, container, o2)));
      }, (err: unknown) => fail(httpCode(err), (err as Error).message));
      return;
    }
    if (kind === 'portForward') {
      if (!negotiate(offers, [PORT_FORWARD_PROTOCOL])) return fail(400, `port-forward needs protocol ${PORT_FORWARD_PROTOCOL}, offered [${offers.join(', ')}]`);
      try {
        if (!pm.status(ns, pod)) pm.logPath(ns, pod); // the pod runs on this node (throws PodError otherwise)
      } catch (err) {
        return fail(httpCode(err), (err as Error).message);
      }
      socket.write(upgradeResponse(PORT_FORWARD_PROTOCOL));
      const ports = q.getAll('port').map(Number).filter((n) => n > 0);
      log.info('Port-forward to pod', { namespace: ns, pod, ports });
      void servePortForward(socket, ports.length ? ports : undefined, (port) => pm.portForward(ns, pod, port));
      return;
    }
    fail(404, `${url.pathname} is not served by this kubelet`);
  });

  const sockets = new Set<Duplex>();
  return {
    server,
    serveConnection(socket) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      server.emit('connection', socket);
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
