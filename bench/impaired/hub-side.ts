/**
 * Child process of bench/hub-impaired.ts, running in the hub's namespace: a
 * CloudHub behind a real mutual-TLS listener (WebSocket or QUIC) on the
 * overlay address, reading from in-memory sources (the API server is not in
 * the loop). Objects: every edge's pod mounts ConfigMap `small` (a few bytes)
 * and ConfigMap `large` (a few bytes until the bench grows it), so each
 * update of either one fans out to every edge.
 *
 * IPC commands: start, prepare (the key and resourceVersion of the next
 * update, so the edges can watch for it), update (returns the wall-clock
 * time of the write), stats (sessions, bytes the sessions sent, CPU).
 */
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../lib/log.ts';
import { CloudHub } from '../../cloud/hub/hub.ts';
import { MemorySources } from '../../cloud/hub/memory-sources.ts';
import { objectKey, type RoutedObject } from '../../cloud/hub/routing.ts';
import type { Listener } from '../../edge/transport/index.ts';

export interface HubStart { type: 'start'; protocol: 'websocket' | 'quic'; host: string; port: number; edges: number; tls: { ca: string; cert: string; key: string } }
export type HubCmd = HubStart | { type: 'prepare'; name: string } | { type: 'update'; name: string; bytes: number } | { type: 'stats' } | { type: 'exit' };

const NS = 'bench';
const send = (m: object) => process.send!(m);
const sources = new MemorySources();
let hub: CloudHub | undefined;
let listener: Listener | undefined;
let edges = 0;

function configMap(name: string, bytes: number): RoutedObject & Record<string, unknown> {
  // base64 of random bytes: incompressible, like a real certificate bundle or model file
  return { metadata: { namespace: NS, name }, data: { v: randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64').slice(0, bytes) } };
}

async function start(s: HubStart): Promise<void> {
  edges = s.edges;
  sources.upsert('configMap', configMap('small', 8));
  sources.upsert('configMap', configMap('large', 8));
  for (let i = 0; i < s.edges; i++) {
    sources.upsert('pod', {
      metadata: { namespace: NS, name: `pod-${i}` },
      spec: { nodeName: `edge-${i}`, containers: [{ name: 'c', image: 'busybox' }], volumes: [{ name: 's', configMap: { name: 'small' } }, { name: 'l', configMap: { name: 'large' } }] },
    });
  }
  hub = new CloudHub({ sources, reports: { handle: async () => ({ ok: true }) }, log: silentLogger, session: { heartbeatMs: 10_000 } });
  const mod = s.protocol === 'websocket' ? await import('../../edge/transport/websocket.ts') : await import('../../edge/transport/quic.ts');
  listener = await mod.listen({ host: s.host, port: s.port, tls: s.tls, log: silentLogger });
  listener.onLink((l) => hub!.attach(l));
  send({ type: 'started', port: listener.address.port });
}

function stats(): object {
  let bytesSent = 0;
  for (let i = 0; i < edges; i++) bytesSent += hub?.session(`edge-${i}`)?.bytesSent ?? 0;
  const cpu = process.cpuUsage();
  return { type: 'stats', connected: hub?.connectedNodes ?? 0, bytesSent, cpuMs: (cpu.user + cpu.system) / 1000, rssMB: process.memoryUsage().rss / 1048576 };
}

process.on('disconnect', () => process.exit(0)); // never outlive the bench
process.on('message', (c: HubCmd) => {
  void (async () => {
    switch (c.type) {
      case 'start':
        return start(c);
      case 'prepare':
        return send({ type: 'prepared', key: objectKey('v1', 'ConfigMap', NS, c.name), rv: sources.nextResourceVersion() });
      case 'update': {
        const obj = configMap(c.name, c.bytes);
        const t0 = Date.now(); // the edges stamp arrivals with Date.now() too (same machine clock)
        sources.upsert('configMap', obj);
        return send({ type: 'updated', t0 });
      }
      case 'stats':
        return send(stats());
      case 'exit':
        await hub?.close();
        await listener?.close();
        process.exit(0);
    }
  })().catch((err: unknown) => send({ type: 'error', message: err instanceof Error ? err.stack : String(err) }));
});
