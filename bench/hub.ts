/**
 * `npm run bench:hub -- --edges N --protocol ws|quic [--json]`
 *
 * CloudHub under load: the hub runs in this process behind a real mutual-TLS
 * listener; N simulated edges run in a child process (bench/hub-edges.ts).
 * The hub reads its objects from in-memory sources (the informer cache's port),
 * so the API server is not in the loop: this measures the hub. Prints one JSON
 * object: edges, protocol, connectSeconds, fanoutP50Ms, fanoutP99Ms,
 * rssPerEdgeKB (this process), resumeBytesNoChange, resumeBytes10Changes.
 */
import { fork } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createCa, issueCertificate } from '../lib/pki.ts';
import { silentLogger } from '../lib/log.ts';
import { CloudHub } from '../cloud/hub/hub.ts';
import { MemorySources } from '../cloud/hub/memory-sources.ts';
import { objectKey } from '../cloud/hub/routing.ts';

const { values } = parseArgs({
  options: { edges: { type: 'string', default: '1000' }, protocol: { type: 'string', default: 'ws' }, json: { type: 'boolean', default: false }, concurrency: { type: 'string', default: '100' } },
});
const edges = Number(values.edges);
const protocol = values.protocol === 'quic' ? 'quic' : values.protocol === 'ws' || values.protocol === 'websocket' ? 'websocket' : undefined;
if (!Number.isInteger(edges) || edges < 1 || !protocol) {
  process.stderr.write('usage: bench:hub -- --edges N (>= 1) --protocol ws|quic [--json]\n');
  process.exit(2);
}
const say = (s: string) => { if (!values.json) process.stderr.write(`${s}\n`); };
const gc = (globalThis as { gc?: () => void }).gc;
const rssAfterGc = async () => {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 200));
  }
  return process.memoryUsage().rss;
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

const ca = await createCa({ commonName: 'bench-ca', validityDays: 1 });
const hubCert = await issueCertificate({ ca, commonName: 'bench-hub', ipAddresses: ['127.0.0.1'], usage: 'server', validityDays: 1 });

// Objects: one shared ConfigMap every node receives (the fan-out object),
// one pod per node referencing it; edge-0's pod also uses cm-0..cm-9.
const sources = new MemorySources();
const ns = 'bench';
sources.upsert('configMap', { metadata: { namespace: ns, name: 'shared' }, data: { v: '0' } });
for (let i = 0; i < 10; i++) sources.upsert('configMap', { metadata: { namespace: ns, name: `cm-${i}` }, data: { v: '0' } });
for (let i = 0; i < edges; i++) {
  const extra = i === 0 ? Array.from({ length: 10 }, (_, j) => ({ name: `c${j}`, configMap: { name: `cm-${j}` } })) : [];
  sources.upsert('pod', { metadata: { namespace: ns, name: `pod-${i}` }, spec: { nodeName: `edge-${i}`, containers: [{ name: 'c', image: 'busybox' }], volumes: [{ name: 's', configMap: { name: 'shared' } }, ...extra] } });
}
const hub = new CloudHub({ sources, reports: { handle: async () => ({ ok: true }) }, log: silentLogger, session: { heartbeatMs: 10_000 } });
const mod = protocol === 'websocket' ? await import('../edge/transport/websocket.ts') : await import('../edge/transport/quic.ts');
const listener = await mod.listen({ host: '127.0.0.1', port: 0, tls: { ca: ca.certPem, cert: hubCert.certPem, key: hubCert.keyPem! }, log: silentLogger });
listener.onLink((l) => hub.attach(l));
const baseline = await rssAfterGc();
say(`hub listening on ${listener.address.port}; baseline RSS ${(baseline / 1048576).toFixed(1)} MB; starting ${edges} ${protocol} edges`);

const child = fork(join(import.meta.dirname, 'hub-edges.ts'), [], { execPath: process.execPath, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const next = (type: string, timeoutMs = 600_000) => new Promise<Record<string, unknown>>((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`timed out waiting for ${type}`)), timeoutMs);
  const on = (m: Record<string, unknown>) => {
    if (m.type === 'error') {
      clearTimeout(t);
      child.off('message', on);
      reject(new Error(String(m.message)));
    } else if (m.type === type) {
      clearTimeout(t);
      child.off('message', on);
      resolve(m);
    }
  };
  child.on('message', on);
});

try {
  child.send({ type: 'start', port: listener.address.port, protocol, edges, ca, concurrency: Number(values.concurrency) });
  const connected = await next('connected');
  say(`all ${edges} edges connected and synced in ${Number(connected.seconds).toFixed(1)} s (${hub.connectedNodes} sessions)`);
  if (hub.connectedNodes !== edges) throw new Error(`only ${hub.connectedNodes} of ${edges} sessions are open`);
  await new Promise((r) => setTimeout(r, 2000));
  const rss = await rssAfterGc();
  const rssPerEdgeKB = (rss - baseline) / 1024 / edges;
  const mu = process.memoryUsage();
  say(`heapUsed ${(mu.heapUsed / 1048576).toFixed(1)} MB, external ${(mu.external / 1048576).toFixed(1)} MB, arrayBuffers ${(mu.arrayBuffers / 1048576).toFixed(1)} MB`);
  say(`RSS ${(rss / 1048576).toFixed(1)} MB: ${rssPerEdgeKB.toFixed(1)} KB per idle edge`);

  // Fan-out: one update of the shared ConfigMap reaches every node.
  const fanout = next('fanout', 120_000);
  child.send({ type: 'watch', key: objectKey('v1', 'ConfigMap', ns, 'shared'), rv: sources.nextResourceVersion() });
  await next('watching');
  const t0 = Date.now();
  sources.upsert('configMap', { metadata: { namespace: ns, name: 'shared' }, data: { v: '1' } });
  const arrivals = ((await fanout).arrivals as number[]).map((t) => t - t0);
  say(`fan-out to ${arrivals.length} edges: p50 ${pct(arrivals, 50)} ms, p99 ${pct(arrivals, 99)} ms`);

  // Resume with no change: edge-0 reconnects with a matching digest.
  child.send({ type: 'disconnect', edge: 0 });
  await next('disconnected');
  child.send({ type: 'reconnect', edge: 0 });
  await next('reconnected');
  const resumeBytesNoChange = hub.session('edge-0')!.bytesSent;
  // Resume after 10 changes while away.
  child.send({ type: 'disconnect', edge: 0 });
  await next('disconnected');
  for (let j = 0; j < 10; j++) sources.upsert('configMap', { metadata: { namespace: ns, name: `cm-${j}` }, data: { v: 'changed' } });
  child.send({ type: 'reconnect', edge: 0 });
  await next('reconnected');
  const resumeBytes10Changes = hub.session('edge-0')!.bytesSent;
  say(`resume bytes: no change ${resumeBytesNoChange}, 10 changes ${resumeBytes10Changes}`);

  const result = {
    edges, protocol: protocol === 'websocket' ? 'ws' : 'quic',
    connectSeconds: Number(Number(connected.seconds).toFixed(2)),
    fanoutP50Ms: pct(arrivals, 50), fanoutP99Ms: pct(arrivals, 99),
    rssPerEdgeKB: Number(rssPerEdgeKB.toFixed(1)),
    resumeBytesNoChange, resumeBytes10Changes,
    cloudRssMB: Number((rss / 1048576).toFixed(1)),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGB: Math.round(totalmem() / 2 ** 30), node: process.version },
    date: new Date().toISOString(),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  child.send({ type: 'exit' });
  await hub.close();
  await listener.close();
}
process.exit(0);
