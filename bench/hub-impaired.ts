/**
 * `node bench/hub-impaired.ts --edges N --protocol ws|quic --loss PCT --delay-ms MS [--json] [--out FILE]`
 *
 * CloudHub over a bad link: the hub (bench/impaired/hub-side.ts) and N
 * simulated edges (bench/hub-edges.ts) run in two network namespaces joined
 * through a router namespace that drops PCT % of packets each way (nftables)
 * and delays every packet MS each way (bench/impaired/tunnel.ts), so the RTT
 * is 2 × MS. Both transports cross the same path at packet level.
 *
 * Measures, per protocol: time for every edge to connect and sync; fan-out
 * p50/p99 of a small ConfigMap update and of a large one (--large-kib,
 * default 256: where head-of-line blocking and loss recovery show), over
 * --rounds updates each; every edge resuming at once after its link was
 * closed (per-edge dial-to-sync-done p50/p99); IP bytes on the wire per phase
 * (counted at the relay, retransmissions and headers included) next to the
 * bytes the hub's sessions wrote; hub CPU per phase; load average.
 *
 * Prints one JSON object on stdout. Needs root, iproute2 and nftables.
 * Cleans up its namespaces on exit, error, SIGINT and SIGTERM; a run killed
 * with SIGKILL is swept by the next one (or by `npm run test:chaos`).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createCa, issueCertificate } from '../lib/pki.ts';
import { missingPrerequisites, run, sweepStale } from '../hack/chaos/netns.ts';
import { ImpairedPlanError, impairedPlan, percentile, type ImpairedPlan } from './impaired/plan.ts';
import { HUB_ADDR, ImpairedPath, within } from './impaired/tunnel.ts';
import type { TunnelRelayStats } from './impaired/tunnel-relay.ts';

const USAGE = 'usage: node bench/hub-impaired.ts --edges N --protocol ws|quic [--loss PCT] [--delay-ms MS] [--rounds R] [--large-kib K] [--concurrency C] [--phase-timeout-s S] [--json] [--out FILE]';
const HUB_PORT = 7000;
const SMALL_BYTES = 64;

type Msg = Record<string, unknown>;

/** Waits for the next IPC message of `type` from `child`; rejects on its `error` message or exit. */
function next(child: ChildProcess, type: string, timeoutMs: number): Promise<Msg> {
  let cleanup = () => {};
  const p = new Promise<Msg>((resolve, reject) => {
    const on = (m: Msg) => {
      if (m.type === 'error') reject(new Error(String(m.message)));
      else if (m.type === type) resolve(m);
    };
    const exit = (code: number | null, signal: string | null) => reject(new Error(`child exited (${code ?? signal}) while waiting for ${type}`));
    child.on('message', on);
    child.once('exit', exit);
    cleanup = () => {
      child.off('message', on);
      child.off('exit', exit);
    };
  });
  return within(p, timeoutMs, `no ${type}`).finally(cleanup);
}

function ask(child: ChildProcess, cmd: Msg, reply: string, timeoutMs = 30_000): Promise<Msg> {
  const p = next(child, reply, timeoutMs);
  child.send(cmd);
  return p;
}

/** UDP datagrams the kernel dropped because a socket's receive buffer was full (/proc/net/snmp of the namespace). */
async function udpRcvbufErrors(ns: string): Promise<number> {
  const lines = (await run('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const [names, vals] = lines.map((l) => l.trim().split(/\s+/));
  const i = names?.indexOf('RcvbufErrors') ?? -1;
  return i < 0 ? 0 : Number(vals?.[i] ?? 0);
}

const round1 = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);

async function measure(plan: ImpairedPlan, path: ImpairedPath, say: (s: string) => void): Promise<Msg> {
  const ca = await createCa({ commonName: 'bench-ca', validityDays: 1 });
  const hubCert = await issueCertificate({ ca, commonName: 'bench-hub', ipAddresses: [HUB_ADDR], usage: 'server', validityDays: 1 });
  const hub = path.fork(path.hubNs, join(import.meta.dirname, 'impaired', 'hub-side.ts'));
  const edges = path.fork(path.edgeNs, join(import.meta.dirname, 'hub-edges.ts'));
  const cc = (await run('ip', ['netns', 'exec', path.hubNs, 'cat', '/proc/sys/net/ipv4/tcp_congestion_control'])).stdout.trim();
  const loadStart = loadavg();
  const relay = () => path.stats();
  const hubStats = async () => ask(hub, { type: 'stats' }, 'stats');
  // QUIC endpoints read datagrams in JS: when the event loop falls behind, the kernel drops them at the socket (self-inflicted loss)
  const drops = async () => ({ hub: await udpRcvbufErrors(path.hubNs), edges: await udpRcvbufErrors(path.edgeNs) });
  const delta = (a: TunnelRelayStats, b: TunnelRelayStats) => ({ wireBytesDown: b.bytesDown - a.bytesDown, wireBytesUp: b.bytesUp - a.bytesUp, packetsDown: b.packetsDown - a.packetsDown });

  await ask(hub, { type: 'start', protocol: plan.protocol, host: HUB_ADDR, port: HUB_PORT, edges: plan.edges, tls: { ca: ca.certPem, cert: hubCert.certPem, key: hubCert.keyPem! } }, 'started');
  say(`hub listening on ${HUB_ADDR}:${HUB_PORT} (${plan.protocol}); path: ${plan.lossPct} % loss and ${plan.delayMs} ms delay each way; tcp cc ${cc}`);

  // 1. connect: every edge dials, sends hello and receives its routed set (pod + 2 ConfigMaps) up to sync-done
  let r0 = await relay();
  let h0 = await hubStats();
  edges.send({ type: 'start', host: HUB_ADDR, port: HUB_PORT, protocol: plan.protocol, edges: plan.edges, ca, concurrency: plan.concurrency });
  const connected = await next(edges, 'connected', plan.phaseTimeoutMs);
  let r1 = await relay();
  let h1 = await hubStats();
  const connect = { seconds: round1(Number(connected.seconds)), ...delta(r0, r1), hubCpuMs: Math.round(Number(h1.cpuMs) - Number(h0.cpuMs)) };
  say(`all ${plan.edges} edges connected and synced in ${connect.seconds} s (${h1.connected} sessions)`);

  // 2. fan-out: one update reaches every edge, `rounds` times per size
  const fanout = async (name: string, bytes: number) => {
    const lat: number[] = [];
    let missing = 0;
    const d0 = await drops();
    r0 = await relay();
    h0 = await hubStats();
    for (let round = 0; round < plan.rounds; round++) {
      const { key, rv } = await ask(hub, { type: 'prepare', name }, 'prepared');
      await ask(edges, { type: 'watch', key, rv }, 'watching');
      const done = next(edges, 'fanout', plan.phaseTimeoutMs);
      const { t0 } = await ask(hub, { type: 'update', name, bytes }, 'updated');
      let arrivals: number[];
      try {
        arrivals = (await done).arrivals as number[];
      } catch {
        arrivals = (await ask(edges, { type: 'arrivals' }, 'arrivals')).arrivals as number[];
        say(`  ${name} round ${round + 1}: only ${arrivals.length} of ${plan.edges} edges got it within ${plan.phaseTimeoutMs / 1000} s`);
      }
      missing += plan.edges - arrivals.length;
      lat.push(...arrivals.map((t) => t - Number(t0)));
      await new Promise((r) => setTimeout(r, 300)); // let the acks land before the next round
    }
    r1 = await relay();
    h1 = await hubStats();
    const d1 = await drops();
    const out = {
      payloadBytes: bytes, samples: lat.length, missing,
      p50Ms: round1(percentile(lat, 50)), p99Ms: round1(percentile(lat, 99)), maxMs: round1(percentile(lat, 100)),
      ...delta(r0, r1), hubBytesSent: Number(h1.bytesSent) - Number(h0.bytesSent), hubCpuMs: Math.round(Number(h1.cpuMs) - Number(h0.cpuMs)),
      udpRcvbufDrops: { hub: d1.hub - d0.hub, edges: d1.edges - d0.edges },
    };
    say(`fan-out ${name} (${bytes} B) to ${plan.edges} edges × ${plan.rounds}: p50 ${out.p50Ms} ms, p99 ${out.p99Ms} ms, missing ${missing}; wire ${out.wireBytesDown} B down for ${out.hubBytesSent} B written`);
    return out;
  };
  const fanoutSmall = await fanout('small', SMALL_BYTES);
  const fanoutLarge = await fanout('large', plan.largeBytes);

  // 3. resume: every edge's link is closed, then every edge reconnects at once with its store digest
  await ask(edges, { type: 'disconnect-all' }, 'disconnected', plan.phaseTimeoutMs);
  await new Promise((r) => setTimeout(r, 1000));
  r0 = await relay();
  h0 = await hubStats();
  const resumed = await ask(edges, { type: 'reconnect-all' }, 'reconnected', plan.phaseTimeoutMs);
  r1 = await relay();
  h1 = await hubStats();
  const perEdge = resumed.perEdgeMs as number[];
  const resume = {
    seconds: round1(Number(resumed.seconds)), p50Ms: round1(percentile(perEdge, 50)), p99Ms: round1(percentile(perEdge, 99)),
    ...delta(r0, r1), hubBytesSent: Number(h1.bytesSent), hubCpuMs: Math.round(Number(h1.cpuMs) - Number(h0.cpuMs)),
  };
  say(`all ${plan.edges} edges resumed in ${resume.seconds} s (per edge p50 ${resume.p50Ms} ms, p99 ${resume.p99Ms} ms; ${h1.connected} sessions)`);
  const end = await relay();
  const socketDrops = await drops();
  edges.send({ type: 'exit' });
  hub.send({ type: 'exit' });
  return {
    bench: 'hub-impaired', edges: plan.edges, protocol: plan.protocol === 'websocket' ? 'ws' : 'quic',
    impairment: { lossPctEachWay: plan.lossPct, delayMsEachWay: plan.delayMs, rttMs: 2 * plan.delayMs, tcpCongestionControl: cc, path: 'VXLAN through a userspace delay relay; nftables loss on the edge veth' },
    rounds: plan.rounds, connect, fanoutSmall, fanoutLarge, resume,
    sessionsAtEnd: Number(h1.connected), udpRcvbufDrops: socketDrops, relayQueueDropped: end.queueDropped, maxPacketBytes: end.maxPacketBytes, hubRssMB: Math.round(Number(h1.rssMB)),
    loadavg: { start: loadStart.map((x) => round1(x)), end: loadavg().map((x) => round1(x)) },
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGB: Math.round(totalmem() / 2 ** 30), node: process.version },
    date: new Date().toISOString(),
  };
}

async function main(): Promise<number> {
  let plan: ImpairedPlan;
  try {
    const { values } = parseArgs({
      options: Object.fromEntries([...['edges', 'protocol', 'loss', 'delay-ms', 'rounds', 'large-kib', 'concurrency', 'phase-timeout-s', 'out'].map((k) => [k, { type: 'string' as const }]), ['json', { type: 'boolean' as const }]]),
      strict: true,
    });
    plan = impairedPlan(values as Record<string, string>);
  } catch (err) {
    if (!(err instanceof ImpairedPlanError) && !(err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw err;
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const missing = await missingPrerequisites();
  if (missing.length > 0) {
    process.stderr.write(`hub-impaired: cannot run here: ${missing.join('; ')}\n`);
    return 2;
  }
  const say = (s: string) => process.stderr.write(plan.json ? '' : `${s}\n`);
  const stale = await sweepStale();
  if (stale.length) say(`removed ${stale.length} namespaces left by a killed run: ${stale.join(', ')}`);
  const workDir = mkdtempSync(join(tmpdir(), 'outpost-hub-impaired-'));
  const path = new ImpairedPath({ lossPct: plan.lossPct, delayMs: plan.delayMs, workDir });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write('hub-impaired: interrupted; removing namespaces and processes\n');
    void path.down().finally(() => {
      rmSync(workDir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.once('SIGHUP', stop);
  // a closed pipe on stderr (`| head`) must not kill the run before it cleans up
  process.stderr.on('error', () => {});
  process.stdout.on('error', () => {});
  process.once('uncaughtException', (err) => {
    process.stderr.write(`hub-impaired: ${err.stack}\n`);
    stop();
  });
  try {
    await path.up();
    const result = await measure(plan, path, say);
    const line = `${JSON.stringify(result)}\n`;
    process.stdout.write(line);
    if (plan.out) writeFileSync(plan.out, line);
    return 0;
  } finally {
    await path.down();
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`hub-impaired: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
