// Device twin throughput and latency against the real control plane: CloudHub
// (`outpost cloud`, in this process), one edge agent (`outpost edge --devices on`,
// its own process as on a node; --in-process shares this one) with the embedded
// MQTT broker, and a KubeEdge-style mapper publishing
// `$hw/events/device/<ns>/<name>/twin/update` over plain MQTT. Prints one JSON object:
//
//   updatesPerSecond            twin property updates one node accepts (answered
//                               without error on twin/update/result), burst phase
//   loadUpdatesPerSecond        accepted rate in the paced phase (--rate)
//   reportToStatusP50Ms / P99Ms mapper publish → the value (or a newer one) visible
//                               in Device status through a watch, paced phase
//   apiWritesPerDevicePerCycle  status writes (watch MODIFIED events) per device
//                               per report cycle, paced phase, worst device
//
//   node bench/twins.ts [--json] [--devices 50] [--properties 4] [--rate 1000]
//                       [--seconds 20] [--burst 20000] [--cycle-ms 500] [--in-process]
//
// Also printed, to read the numbers: edge accept latency (publish → result),
// cloud status writes and their average duration, CPU of this process, the
// edge agent's RSS, and the 1-minute load average (the numbers mean little on
// a machine that is busy with other work).
//
// Uses (or starts) the local control plane of hack/local-cluster, like the
// integration tests, and cleans up its namespace.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as k8s from '@kubernetes/client-node';
import { connectAsync } from 'mqtt';
import { defaultClusterDir, isRunning, kubectl, up, down } from '../hack/local-cluster/control-plane.ts';
import { startCloud, defaultCloudConfig } from '../cloud/cloud.ts';
import { startEdge } from '../edge/agent.ts';
import { KubeClient } from '../controllers/runtime/client.ts';
import { createLogger } from '../lib/log.ts';
import { edgeConfig, exited, makePki, spawnOutpost } from '../test/support/hub-fixture.ts';
import type { Device } from '../api/index.ts';
import { freePort } from '../lib/ports.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const DEVICES = opt('devices', 50);
const PROPS = opt('properties', 4);
const RATE = opt('rate', 1000);
const SECONDS = opt('seconds', 20);
const BURST = opt('burst', 20_000);
const CYCLE_MS = opt('cycle-ms', 500);
const IN_PROCESS = args.includes('--in-process');
const api = 'devices.kubeedge.io/v1beta1';
const log = createLogger({ level: (process.env.OUTPOST_LOG_LEVEL as 'debug' | 'info' | 'warn' | 'error' | undefined) ?? 'error' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! * 10) / 10;
};

async function main(): Promise<Record<string, unknown>> {
  const wasRunning = await isRunning();
  const state = await up({ progress: (l) => process.stderr.write(`${l}\n`) });
  const users = join(defaultClusterDir, 'users');
  mkdirSync(users, { recursive: true });
  const me = join(users, `${process.pid}-bench`);
  writeFileSync(me, '');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(import.meta.dirname, '..', 'config', 'crd', 'bases')]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', join(import.meta.dirname, '..', 'config', 'crd', 'bases')]);
  const client = new KubeClient(kc);
  const run = randomBytes(3).toString('hex');
  const ns = `bench-twins-${run}`;
  const node = `bench-edge-${run}`;
  await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const pki = await makePki();
  const cloud = await startCloud({
    ...defaultCloudConfig, kubeconfig: state.kubeconfig, leaderElect: false, healthPort: -1,
    hub: { host: '127.0.0.1', port: 0, protocols: ['websocket'], tls: { ca: pki.ca.certPem, cert: pki.hub.cert, key: pki.hub.key } },
  }, { log });
  // The edge agent runs as its own process (`outpost edge`), as on a node; --in-process shares this one.
  const hubPort = cloud.hubAddresses.websocket!.port;
  let edge: { mqttUrl: string; stats: () => { reportsSent: number }; devicesSeen: () => Promise<number>; rssMB: () => number | undefined; stop: () => Promise<void> };
  if (IN_PROCESS) {
    const cfg = await edgeConfig(pki, node, hubPort, 'websocket');
    const agent = await startEdge({ ...cfg, devices: { mode: 'on', mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0 }, mappers: false } }, { log });
    const devices = (await agent.devices.ready())!;
    edge = { mqttUrl: devices.bus!.url, stats: () => agent.hub.stats, devicesSeen: async () => devices.twin.devices().length, rssMB: () => undefined, stop: () => agent.stop() };
  } else {
    const n = await pki.node(node);
    const mqttPort = await freePort();
    const child = spawnOutpost(['edge', '--node-name', node, '--hub', `127.0.0.1:${hubPort}`, '--hub-protocol', 'websocket', '--data-dir', join(pki.dir, 'edge-data'),
      '--ca-file', pki.caFile, '--cert-file', n.certFile, '--key-file', n.keyFile, '--devices', 'on', '--mqtt-port', String(mqttPort), '--mappers', 'off'], { OUTPOST_LOG_LEVEL: 'warn' });
    edge = {
      mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
      stats: () => ({ reportsSent: -1 }),
      rssMB: () => {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        return m ? Math.round(Number(m[1]) / 102.4) / 10 : undefined;
      },
      devicesSeen: async () => (await client.list<Device>(`/apis/${api}/namespaces/${ns}/devices`)).items.filter((d) => d.status?.twins !== undefined).length,
      stop: async () => {
        if (child.exitCode === null) process.kill(child.pid!, 'SIGTERM');
        await exited(child);
      },
    };
  }
  const props = Array.from({ length: PROPS }, (_, i) => `p${i}`);
  const names = Array.from({ length: DEVICES }, (_, i) => `dev-${i}`);
  try {
    await client.create({
      apiVersion: api, kind: 'DeviceModel', metadata: { name: 'bench', namespace: ns },
      spec: { protocol: 'bench', properties: props.map((name) => ({ name, type: 'INT', accessMode: 'ReadOnly' })) },
    });
    for (const name of names) {
      await client.create({
        apiVersion: api, kind: 'Device', metadata: { name, namespace: ns },
        spec: { deviceModelRef: { name: 'bench' }, nodeName: node, protocol: { protocolName: 'bench' }, properties: props.map((p) => ({ name: p, reportCycle: CYCLE_MS * 1e6, reportToCloud: true })) },
      } satisfies Device);
    }
    // every device reached the edge when the edge's first snapshot of it is in its status
    while ((await edge.devicesSeen()) < DEVICES) await sleep(200);
    await sleep(2000);
    const edgeRssIdleMB = edge.rssMB();

    // status watch: latency bookkeeping and write counting
    const pending = new Map<string, [seq: number, sentAt: number][]>();
    const latencies: number[] = [];
    const writes = new Map<string, number>();
    let counting = false;
    const watch = new k8s.Watch(kc);
    let watching = true;
    let req: AbortController | undefined;
    const onEvent = (type: string, obj: Device) => {
      if (type !== 'MODIFIED' && type !== 'ADDED') return;
      const now = performance.now();
      const name = obj.metadata.name!;
      if (counting && type === 'MODIFIED') writes.set(name, (writes.get(name) ?? 0) + 1);
      for (const t of obj.status?.twins ?? []) {
        const q = pending.get(`${name}/${t.propertyName}`);
        const v = Number(t.reported?.value);
        while (q && q.length && q[0]![0] <= v) latencies.push(now - q.shift()![1]);
      }
    };
    // a watch the API server ends is restarted (its ADDED replay resolves latencies, not write counts)
    const startWatch = async (): Promise<void> => {
      req = await watch.watch(`/apis/${api}/namespaces/${ns}/devices`, {}, onEvent, (err) => {
        if (!watching) return;
        process.stderr.write(`bench:twins: status watch ended (${String(err)}); restarting\n`);
        void startWatch();
      });
    };
    await startWatch();

    const app = await connectAsync(edge.mqttUrl, { clientId: `bench-mapper-${run}`, protocolVersion: 4, reconnectPeriod: 0 });
    let accepted = 0;
    let refused = 0;
    const sentAt = new Map<string, number>();
    const acceptMs: number[] = [];
    app.on('message', (_t, p) => {
      const r = JSON.parse(p.toString()) as { code?: number; event_id?: string };
      if (r.code === undefined) accepted++;
      else refused++;
      const t = r.event_id !== undefined ? sentAt.get(r.event_id) : undefined;
      if (t !== undefined) {
        acceptMs.push(performance.now() - t);
        sentAt.delete(r.event_id!);
      }
    });
    await app.subscribeAsync(`$hw/events/device/${ns}/+/twin/update/result`, { qos: 0 });
    const seq = new Map<string, number>();
    let i = 0;
    const publishOne = (track: boolean) => {
      const d = names[i % DEVICES]!;
      const p = props[Math.floor(i / DEVICES) % PROPS]!;
      i++;
      const k = `${d}/${p}`;
      const v = (seq.get(k) ?? 0) + 1;
      seq.set(k, v);
      if (track) {
        let q = pending.get(k);
        if (!q) pending.set(k, (q = []));
        q.push([v, performance.now()]);
        sentAt.set(String(i), performance.now());
      }
      return app.publishAsync(`$hw/events/device/${ns}/${d}/twin/update`, `{"event_id":"${i}","timestamp":${Date.now()},"twin":{"${p}":{"actual":{"value":"${v}"},"metadata":{"type":"int"}}}}`, { qos: 0 });
    };

    // 1) burst: how many updates one node accepts per second
    accepted = 0;
    const b0 = performance.now();
    for (let n = 0; n < BURST; n++) {
      void publishOne(false);
      if (n % 500 === 499) await new Promise((r) => setImmediate(r));
    }
    while (accepted + refused < BURST && performance.now() - b0 < 60_000) await sleep(5);
    const burstSeconds = (performance.now() - b0) / 1000;
    const burstAccepted = accepted;
    await sleep(2 * CYCLE_MS + 500); // let the burst settle upstream

    // 2) paced load: latency and API writes at RATE updates/s
    accepted = 0;
    refused = 0;
    latencies.length = 0;
    pending.clear();
    writes.clear();
    counting = true;
    const w0 = { ...cloud.deviceStatus!.stats };
    const hub0 = { ...edge.stats() };
    const cpu0 = process.cpuUsage();
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const l0 = performance.now();
    const tickMs = 10;
    let sent = 0;
    while (performance.now() - l0 < SECONDS * 1000) {
      const due = Math.floor(((performance.now() - l0) / 1000) * RATE);
      while (sent < due) {
        void publishOne(true);
        sent++;
      }
      await sleep(tickMs);
    }
    const loadSeconds = (performance.now() - l0) / 1000;
    const loadAccepted = accepted;
    const edgeRssMB = edge.rssMB();
    const cpu = process.cpuUsage(cpu0);
    loopDelay.disable();
    const w1 = cloud.deviceStatus!.stats;
    const hub1 = edge.stats();
    counting = false;
    const deadline = performance.now() + 15_000;
    while ([...pending.values()].some((q) => q.length) && performance.now() < deadline) await sleep(50);
    const lost = [...pending.values()].reduce((n, q) => n + q.length, 0);
    await sleep(10_000);
    const edgeRssSettledMB = edge.rssMB();
    watching = false;
    req?.abort();
    await app.endAsync(true);
    const cycles = (loadSeconds * 1000) / CYCLE_MS;
    const perDevice = names.map((n) => (writes.get(n) ?? 0) / cycles);
    return {
      updatesPerSecond: Math.round(burstAccepted / burstSeconds),
      loadUpdatesPerSecond: Math.round(loadAccepted / loadSeconds),
      reportToStatusP50Ms: pct(latencies, 50),
      reportToStatusP99Ms: pct(latencies, 99),
      apiWritesPerDevicePerCycle: Math.round(Math.max(...perDevice) * 100) / 100,
      apiWritesPerDevicePerCycleMean: Math.round((perDevice.reduce((a, b) => a + b, 0) / perDevice.length) * 100) / 100,
      offeredRate: RATE,
      burstUpdates: BURST,
      refused,
      unresolvedReports: lost,
      latencySamples: latencies.length,
      devices: DEVICES,
      propertiesPerDevice: PROPS,
      reportCycleMs: CYCLE_MS,
      loadSeconds: Math.round(loadSeconds * 10) / 10,
      edgeProcess: IN_PROCESS ? 'in-process' : 'child process',
      ...(edgeRssMB !== undefined ? { edgeRssIdleMB, edgeRssLoadMB: edgeRssMB, edgeRssSettledMB } : {}),
      edgeAcceptP50Ms: pct(acceptMs, 50),
      edgeAcceptP99Ms: pct(acceptMs, 99),
      cloudReports: w1.reports - w0.reports,
      cloudStatusWrites: w1.writes - w0.writes,
      cloudWriteAvgMs: Math.round((w1.writeMsTotal - w0.writeMsTotal) / Math.max(1, w1.writes - w0.writes)),
      cloudWriteFailures: w1.failed - w0.failed,
      ...(IN_PROCESS ? { edgeReportsSent: hub1.reportsSent - hub0.reportsSent } : {}),
      processCpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / (loadSeconds * 1000)) * 100),
      cloudEventLoopDelayP99Ms: Math.round(loopDelay.percentile(99) / 1e5) / 10,
      loadAverage1m: Math.round(loadavg()[0]! * 10) / 10,
      node: process.version,
    };
  } finally {
    await edge.stop();
    await cloud.stop();
    await client.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
    rmSync(me, { force: true });
    const others = readdirSync(users).filter((f) => {
      try {
        process.kill(Number(f.split('-')[0]), 0);
        return true;
      } catch {
        return false;
      }
    });
    if (!wasRunning && others.length === 0) await down({ dir: defaultClusterDir });
  }
}

main().then(
  (r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`bench:twins failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
