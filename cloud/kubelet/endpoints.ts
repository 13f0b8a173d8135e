/**
 * The kubelet endpoint of edge nodes, served by every `outpost cloud`
 * replica for the edges connected to it. The API server reaches a node's
 * kubelet at `<node address>:<daemonEndpoints.kubeletEndpoint.Port>`
 * (pkg/kubelet/client: node address by --kubelet-preferred-address-types).
 * So per connected node this replica
 * - allocates a TCP port from `portRange` (sticky for the node while the
 *   process lives) and serves HTTPS there;
 * - patches the Node: addresses = [InternalIP <advertiseAddress>] and
 *   `daemonEndpoints.kubeletEndpoint.Port`; the edge's own addresses are kept
 *   in the `outpost.io/edge-addresses` annotation. (The Hostname address is
 *   dropped: the API server's default preference dials Hostname first.)
 * - verifies the API server's client certificate (--kubelet-client-certificate)
 *   against `clientCa`, then carries the raw HTTP/1.1 connection to the edge
 *   as one tunnel stream on the hub session (edge/transport/tunnel.ts), where
 *   edge/kubelet serves it. No HTTP is parsed here: the port says which node.
 *
 * Why a port per node and not one shared port: pod-scoped paths
 * (/containerLogs/{ns}/{pod}, /exec/…) could be routed by pod → node, but
 * node-scoped ones (/stats/summary, /healthz, /pods, nodes/proxy) carry no
 * node name, and the API server sends no Host or SNI that names the node
 * (it dials an address). Cost at 10 000 nodes: 10 000 listening sockets
 * (file descriptors; a few KB of memory each) spread over the replicas the
 * edges are connected to, and a port range at least as large as the nodes
 * per replica (10350-20349 for 10k on one replica).
 */
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { encode, type Report, type Msg } from '../../edge/protocol/index.ts';
import { TunnelMux } from '../../edge/transport/tunnel.ts';
import { KubeApiError, type KubeClient } from '../../controllers/runtime/index.ts';
import { createCa, issueCertificate, type CertificateAndKey } from '../../lib/pki.ts';
import type { Logger } from '../../lib/log.ts';
import type { CloudHub, ReportHandler } from '../hub/hub.ts';
import type { Session } from '../hub/session.ts';
import { KubeletError } from './errors.ts';

export interface KubeletEndpointConfig {
  /** Address the per-node servers bind (default 0.0.0.0). */
  host: string;
  /** Address the API server dials (an IP of this replica it can reach; not loopback for nodes/proxy). */
  advertiseAddress: string;
  /** Inclusive port range, e.g. [10350, 10850]. */
  portRange: [number, number];
  /** PEM bundle: the CA that signed the API server's --kubelet-client-certificate. */
  clientCa: string;
  /** A node's port is released this long after its session closed without a new one (default 10 min). */
  releaseAfterMs?: number;
  /** CA that issues the serving certificate (default: a CA made at start; the API server does not verify kubelet certificates without --kubelet-certificate-authority). */
  servingCa?: CertificateAndKey;
}

export const edgeAddressesAnnotation = 'outpost.io/edge-addresses';
const fieldManager = 'outpost-kubelet-endpoint';

interface Endpoint {
  node: string;
  port: number;
  server: TlsServer;
}

/** First non-internal IPv4 address of this host (the default advertise address). */
export function defaultAdvertiseAddress(): string {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}

/** Parses `10350-10850`. Throws KubeletError KUBELET_INVALID_CONFIG. */
export function parsePortRange(s: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(s.trim());
  const lo = Number(m?.[1]);
  const hi = Number(m?.[2]);
  if (!m || lo < 1 || hi > 65535 || lo > hi) throw new KubeletError('KUBELET_INVALID_CONFIG', `kubelet port range must look like 10350-10850 (1..65535, low <= high), got "${s}"`);
  return [lo, hi];
}

/** The Node status patch that points the API server at this replica. */
export function nodeStatusPatch(address: string, port: number): { addresses: { type: string; address: string }[]; daemonEndpoints: { kubeletEndpoint: { Port: number } } } {
  return { addresses: [{ type: 'InternalIP', address }], daemonEndpoints: { kubeletEndpoint: { Port: port } } };
}

/** A node-register report with the kubelet endpoint of this replica in place of the edge's own. */
export function rewriteRegistration(report: Report, address: string, port: number): Report {
  const p = report.payload as { metadata?: { annotations?: Record<string, string> }; status?: { addresses?: unknown } };
  const own = p.status?.addresses;
  return {
    ...report,
    payload: {
      ...report.payload,
      metadata: { ...p.metadata, annotations: { ...p.metadata?.annotations, ...(own ? { [edgeAddressesAnnotation]: JSON.stringify(own) } : {}) } },
      status: { ...p.status, ...nodeStatusPatch(address, port) },
    } as Report['payload'],
  };
}

export class KubeletEndpoints {
  readonly #cfg: KubeletEndpointConfig;
  readonly #client: KubeClient;
  readonly #log: Logger;
  readonly #byNode = new Map<string, Promise<Endpoint>>();
  readonly #usedPorts = new Set<number>();
  readonly #muxes = new Map<Session, TunnelMux>();
  #serving: CertificateAndKey | undefined;
  #hub: CloudHub | undefined;
  #cursor: number;
  #closed = false;

  constructor(cfg: KubeletEndpointConfig, deps: { client: KubeClient; log: Logger }) {
    if (isIP(cfg.advertiseAddress) === 0) throw new KubeletError('KUBELET_INVALID_CONFIG', `kubelet advertise address must be an IP the API server can dial, got "${cfg.advertiseAddress}"`);
    if (!cfg.clientCa.includes('BEGIN CERTIFICATE')) throw new KubeletError('KUBELET_INVALID_CONFIG', 'the kubelet client CA must be a PEM certificate bundle (the CA that signed the API server\'s --kubelet-client-certificate)');
    this.#cfg = cfg;
    this.#client = deps.client;
    this.#log = deps.log.child({ component: 'kubelet-endpoint' });
    this.#cursor = cfg.portRange[0];
  }

  /** Issues the serving certificate and starts serving the nodes of `hub`. */
  async start(hub: CloudHub): Promise<void> {
    const ca = this.#cfg.servingCa ?? await createCa({ commonName: 'outpost-kubelet-endpoint-ca', validityDays: 3650 });
    const c = await issueCertificate({ ca, commonName: 'outpost-kubelet-endpoint', ipAddresses: [this.#cfg.advertiseAddress], usage: 'server', validityDays: 365 });
    this.#serving = { certPem: c.certPem, keyPem: c.keyPem! };
    this.#hub = hub;
    hub.onTunnel = (session, msg) => this.#muxFor(session).receive(msg);
    hub.sessionListeners.add((s) => this.#onSession(s));
  }

  /** The endpoint of a node served by this replica, once allocated. */
  async endpoint(node: string): Promise<{ address: string; port: number } | undefined> {
    const ep = await this.#byNode.get(node)?.catch(() => undefined);
    return ep ? { address: this.#cfg.advertiseAddress, port: ep.port } : undefined;
  }

  /** Open tunnel streams over every session (tests, metrics). */
  streams(): number {
    let n = 0;
    for (const m of this.#muxes.values()) n += m.size;
    return n;
  }

  /** Wraps the hub's report handler so a node registration carries this replica's kubelet endpoint. */
  wrapReports(inner: ReportHandler): ReportHandler {
    return {
      handle: async (node, report) => {
        // only registrations that carry a status (the agent's always do): a label-only one must not grow a status write
        if (report.kind === 'node-register' && (report.payload as { status?: unknown }).status !== undefined) {
          const ep = await this.endpoint(node);
          if (ep) report = rewriteRegistration(report, ep.address, ep.port);
        }
        return inner.handle(node, report);
      },
    };
  }

  #muxFor(session: Session): TunnelMux {
    let mux = this.#muxes.get(session);
    if (!mux) {
      const m = new TunnelMux({ send: (f: Msg) => session.send(encode(f)), bufferedAmount: () => session.link.bufferedAmount });
      m.onStream = (s) => m.refuse(s, 403, 'the cloud does not accept tunnel streams from edges');
      this.#muxes.set(session, (mux = m));
      session.link.onClose(() => {
        m.closeAll();
        this.#muxes.delete(session);
      });
    }
    return mux;
  }

  #onSession(session: Session): void {
    if (this.#closed) return;
    this.#muxFor(session);
    session.link.onClose(() => {
      // a node that moved to another replica (or went away) gives its port back after a while
      const t = setTimeout(() => {
        const now = this.#hub?.session(session.node);
        if (this.#closed || (now && !now.closed)) return;
        const ep = this.#byNode.get(session.node);
        this.#byNode.delete(session.node);
        void ep?.then((e) => {
          this.#usedPorts.delete(e.port);
          e.server.close();
          this.#log.info('Released kubelet endpoint', { node: e.node, port: e.port });
        }, () => undefined);
      }, this.#cfg.releaseAfterMs ?? 600_000);
      t.unref();
    });
    let ep = this.#byNode.get(session.node);
    if (!ep) {
      ep = this.#allocate(session.node);
      this.#byNode.set(session.node, ep);
      ep.catch((err: unknown) => {
        this.#byNode.delete(session.node);
        this.#log.error('Failed to serve the kubelet endpoint of a node', { node: session.node, err });
      });
    }
    void ep.then((e) => this.#patchNode(session.node, e.port), () => undefined);
  }

  async #allocate(node: string): Promise<Endpoint> {
    const [lo, hi] = this.#cfg.portRange;
    for (let tries = 0; tries <= hi - lo; tries++) {
      const port = this.#cursor;
      this.#cursor = port >= hi ? lo : port + 1;
      if (this.#usedPorts.has(port)) continue;
      const server = this.#server(node);
      const ok = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, this.#cfg.host, () => resolve(true));
      });
      if (!ok) continue;
      this.#usedPorts.add(port);
      server.on('error', (err) => this.#log.warn('Kubelet endpoint server error', { node, port, err }));
      this.#log.info('Serving kubelet endpoint', { node, address: this.#cfg.advertiseAddress, port });
      return { node, port, server };
    }
    throw new KubeletError('KUBELET_PORTS_EXHAUSTED', `no free port in the kubelet port range ${lo}-${hi} for node ${node}; widen --kubelet-port-range`);
  }

  #server(node: string): TlsServer {
    const server = createTlsServer({
      cert: this.#serving!.certPem, key: this.#serving!.keyPem, ca: this.#cfg.clientCa,
      requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['http/1.1'],
    });
    server.on('tlsClientError', (err, socket) => {
      this.#log.info('Refused a kubelet connection', { node, remote: socket.remoteAddress, reason: err.message });
    });
    server.on('secureConnection', (socket: TLSSocket) => this.#onConnection(node, socket));
    return server;
  }

  #onConnection(node: string, socket: TLSSocket): void {
    socket.on('error', () => undefined);
    const session = this.#hub?.session(node);
    if (!session || session.closed) {
      const msg = `node ${node} is not connected to this cloud replica\n`;
      socket.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: ${msg.length}\r\nconnection: close\r\n\r\n${msg}`);
      return;
    }
    const peer = socket.getPeerCertificate();
    const cn = typeof peer?.subject?.CN === 'string' ? peer.subject.CN : '';
    const stream = this.#muxFor(session).open('/', [['x-forwarded-for', socket.remoteAddress ?? ''], ['x-client-cn', cn.replace(/[^\x20-\x7e]/g, '?')]]);
    stream.on('error', (err) => {
      this.#log.debug('Kubelet tunnel stream ended with an error', { node, err });
      socket.destroy();
    });
    socket.on('close', () => stream.destroy());
    stream.on('close', () => socket.destroy());
    socket.pipe(stream);
    stream.pipe(socket);
  }

  async #patchNode(node: string, port: number): Promise<void> {
    for (let attempt = 0; attempt < 5 && !this.#closed; attempt++) {
      try {
        await this.#client.mergePatch({ apiVersion: 'v1', kind: 'Node', name: node }, { status: nodeStatusPatch(this.#cfg.advertiseAddress, port) }, { subresource: 'status', fieldManager });
        return;
      } catch (err) {
        // not registered yet: the node-register report carries the endpoint (wrapReports)
        if (err instanceof KubeApiError && err.statusCode === 404) return;
        await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
      }
    }
  }

  /** Closes every per-node server and tunnel stream. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const m of this.#muxes.values()) m.closeAll('cloud shutting down');
    this.#muxes.clear();
    const eps = await Promise.all([...this.#byNode.values()].map((p) => p.catch(() => undefined)));
    await Promise.all(eps.map((e) => e && new Promise<void>((r) => {
      e.server.close(() => r());
      setTimeout(r, 1000).unref();
    })));
    this.#byNode.clear();
  }
}
