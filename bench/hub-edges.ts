/**
 * Child process of bench/hub.ts: simulated edges. Each opens a real mutual-TLS
 * link (WebSocket or QUIC) with its own node certificate, speaks the real
 * protocol (hello, cumulative acks, pings) and records when the fan-out
 * object version arrives. No SQLite per edge: this measures the hub.
 * Talks to the parent over IPC.
 */
import { issueCertificate } from '../lib/pki.ts';
import { decode, encode, inventoryDigest, type Msg } from '../edge/protocol/index.ts';
import type { Link } from '../edge/transport/index.ts';

interface Start { type: 'start'; port: number; /** default 127.0.0.1 (bench/hub-impaired.ts dials the hub across a tunnel) */ host?: string; protocol: 'websocket' | 'quic'; edges: number; ca: { certPem: string; keyPem: string }; concurrency: number }
type Cmd = Start | { type: 'watch'; key: string; rv: string } | { type: 'reconnect'; edge: number } | { type: 'disconnect'; edge: number } | { type: 'exit' }
  | { type: 'disconnect-all' } | { type: 'reconnect-all' } | { type: 'arrivals' };

const send = (m: object) => process.send!(m);
let cfg: Start;
const links: (Link | undefined)[] = [];
const certs: { cert: string; key: string }[] = [];
/** What each edge holds (key → rv), for the digest of a resuming hello. */
const inventories: Map<string, string>[] = [];
let watch: { key: string; rv: string; arrivals: number[] } | undefined;
let mod: { dial: (o: never) => Promise<Link> };

async function connect(i: number, hello: { digest: string; inventory?: Record<string, string> }): Promise<void> {
  // like a real edge, retry a failed dial (QUIC handshakes occasionally fail on a saturated machine)
  let link: Link | undefined;
  for (let attempt = 0; !link; attempt++) {
    try {
      link = await mod.dial({ host: cfg.host ?? '127.0.0.1', port: cfg.port, tls: { ca: cfg.ca.certPem, ...certs[i]! }, connectTimeoutMs: 60_000 } as never);
    } catch (err) {
      if (attempt >= 4) throw err;
      await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
    }
  }
  links[i] = link;
  const inventory = (inventories[i] ??= new Map());
  await new Promise<void>((resolve, reject) => {
    link.onClose(() => reject(new Error(`edge ${i} closed before sync-done`)));
    link.onFrame((f) => {
      const m = decode(f, { direction: 'down' }) as Msg;
      if (m.type === 'upsert') {
        inventory.set(m.key, m.rv);
        if (watch && m.key === watch.key && m.rv === watch.rv) {
          watch.arrivals.push(Date.now());
          if (watch.arrivals.length === cfg.edges) send({ type: 'fanout', arrivals: watch.arrivals });
        }
        void link.send(encode({ type: 'ack', seq: m.seq }));
      } else if (m.type === 'delete') {
        inventory.delete(m.key);
        void link.send(encode({ type: 'ack', seq: m.seq }));
      } else if (m.type === 'sync-done') {
        resolve();
      } else if (m.type === 'ping') {
        void link.send(encode({ type: 'pong', ts: m.ts }));
      }
    });
    void link.send(encode({ type: 'hello', versions: [1], caps: [], agent: 'bench-edge/1', window: 256, ...hello }));
  });
}

async function start(s: Start): Promise<void> {
  cfg = s;
  mod = s.protocol === 'websocket' ? await import('../edge/transport/websocket.ts') : await import('../edge/transport/quic.ts');
  // One key pair, one certificate per node name: signing is cheap, key generation is not.
  const base = await issueCertificate({ ca: s.ca, commonName: 'system:node:edge-0', usage: 'client', validityDays: 1 });
  const { createPublicKey } = await import('node:crypto');
  const publicKeyPem = createPublicKey(base.keyPem!).export({ type: 'spki', format: 'pem' }).toString();
  for (let i = 0; i < s.edges; i++) {
    const c = i === 0 ? base : await issueCertificate({ ca: s.ca, commonName: `system:node:edge-${i}`, usage: 'client', validityDays: 1, publicKeyPem });
    certs.push({ cert: c.certPem, key: base.keyPem! });
  }
  // keep links alive from the start (the hub closes sessions silent for 3 heartbeats):
  // every edge pings every 4 s, spread over 8 slices of 500 ms
  let k = 0;
  setInterval(() => {
    const slice = Math.ceil(s.edges / 8);
    for (let j = 0; j < slice; j++, k = (k + 1) % s.edges) void links[k]?.send(encode({ type: 'ping', ts: Date.now() })).catch(() => undefined);
  }, 500).unref();
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < s.edges) {
      const i = next++;
      await connect(i, { digest: '0'.repeat(64), inventory: {} });
    }
  };
  await Promise.all(Array.from({ length: Math.min(s.concurrency, s.edges) }, worker));
  send({ type: 'connected', seconds: (performance.now() - t0) / 1000 });
}

process.on('disconnect', () => process.exit(0)); // never outlive the bench
process.on('message', (c: Cmd) => {
  void (async () => {
    switch (c.type) {
      case 'start':
        return start(c);
      case 'watch':
        watch = { key: c.key, rv: c.rv, arrivals: [] };
        return send({ type: 'watching' });
      case 'disconnect':
        await links[c.edge]?.close(1000, 'bench');
        return send({ type: 'disconnected' });
      case 'reconnect':
        await connect(c.edge, { digest: inventoryDigest(inventories[c.edge] ?? new Map()) });
        return send({ type: 'reconnected' });
      case 'disconnect-all':
        await Promise.all(links.map((l) => l?.close(1000, 'bench')));
        return send({ type: 'disconnected' });
      case 'reconnect-all': {
        // every edge resumes with its digest; per-edge time from dial to sync-done
        const t0 = performance.now();
        const perEdgeMs: number[] = [];
        let next = 0;
        const worker = async () => {
          while (next < cfg.edges) {
            const i = next++;
            const t = performance.now();
            await connect(i, { digest: inventoryDigest(inventories[i] ?? new Map()) });
            perEdgeMs.push(performance.now() - t);
          }
        };
        await Promise.all(Array.from({ length: Math.min(cfg.concurrency, cfg.edges) }, worker));
        return send({ type: 'reconnected', seconds: (performance.now() - t0) / 1000, perEdgeMs });
      }
      case 'arrivals':
        return send({ type: 'arrivals', arrivals: watch?.arrivals ?? [] });
      case 'exit':
        process.exit(0);
    }
  })().catch((err: unknown) => {
    send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  });
});
