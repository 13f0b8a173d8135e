/**
 * `npm run test:chaos -- --seed S --events N`: one seeded chaos run against
 * the local control plane (started, or reused when running). Prints the seed
 * first, a PASS/FAIL line per check, a JSON line of figures, and last
 * `N passed, N failed`. Exit code 0 only when every check passed.
 *
 * Flags:
 *   --seed S          uint32; default random (printed, so a failure can be replayed)
 *   --events N        fault events (default 100; the issue asks for >= 100)
 *   --edges E         edge agents (default 4; e0 is never killed, so its memory is watched end to end)
 *   --quic Q          how many of them use QUIC (default 2; the rest WebSocket)
 *   --mean-gap-ms M   mean gap between fault starts (default 1200)
 *   --converge-timeout-ms T   (default 120000)
 *   --edge-mode M     churner (default): store + hub + the harness's report churner;
 *                     agent: the whole agent (edge/node heartbeats, edge/pods process runtime, edge/devices)
 *   --keep            keep the work dir (logs, stores, PKI) even when everything passed
 *
 * A long run: `npm run test:chaos -- --events 1000 --edges 6 --quic 2` (about 25 min).
 * Needs root, iproute2 and nftables (apt-get install iproute2 nftables).
 */
import { parseArgs } from 'node:util';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultClusterDir, down, isRunning, kubectl, up } from '../../hack/local-cluster/control-plane.ts';
import { missingPrerequisites } from '../../hack/chaos/netns.ts';
import { stopAllHarnesses } from '../../hack/chaos/harness.ts';
import { randomSeed } from '../../hack/chaos/prng.ts';
import { MEMORY_FACTOR, MEMORY_SLACK_BYTES, runChaos, type ChaosResult } from './chaos.ts';
import { processAlive } from '../../lib/process.ts';

function int(name: string, v: string | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${v}"`);
  return n;
}

/** Starts (or reuses) the local control plane and registers this run as a user, like the vitest global setup. */
async function withCluster<T>(fn: (kubeconfig: string) => Promise<T>): Promise<T> {
  const wasRunning = await isRunning();
  const state = await up({ progress: (l) => process.stderr.write(`${l}\n`) });
  const users = join(defaultClusterDir, 'users');
  mkdirSync(users, { recursive: true });
  const me = join(users, `${process.pid}-chaos`);
  writeFileSync(me, '');
  try {
    await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(import.meta.dirname, '..', '..', 'config', 'crd', 'bases')]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', join(import.meta.dirname, '..', '..', 'config', 'crd', 'bases')]);
    return await fn(state.kubeconfig);
  } finally {
    rmSync(me, { force: true });
    const others = readdirSync(users).filter((f) => processAlive(Number(f.split('-')[0])));
    if (!wasRunning && others.length === 0 && process.env.OUTPOST_KEEP_CLUSTER !== '1') await down();
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seed: { type: 'string' }, events: { type: 'string' }, edges: { type: 'string' }, quic: { type: 'string' },
      'mean-gap-ms': { type: 'string' }, 'converge-timeout-ms': { type: 'string' }, keep: { type: 'boolean' }, 'edge-mode': { type: 'string' },
    },
    strict: true,
  });
  const seed = values.seed === undefined ? randomSeed() : int('seed', values.seed, 0, 0, 2 ** 32 - 1);
  process.stdout.write(`seed: ${seed}\n`);
  const events = int('events', values.events, 100, 1, 100_000);
  const edgeCount = int('edges', values.edges, 4, 1, 50);
  const quic = int('quic', values.quic, Math.min(2, edgeCount - 1), 0, edgeCount);
  const edgeMode = values['edge-mode'] ?? 'churner';
  if (edgeMode !== 'churner' && edgeMode !== 'agent') throw new Error(`--edge-mode must be churner or agent, got "${edgeMode}"`);
  const missing = await missingPrerequisites();
  if (missing.length > 0) {
    process.stdout.write(`chaos: cannot run here: ${missing.join('; ')}\n0 passed, 1 failed\n`);
    return 1;
  }
  // edge 0 (never killed) uses WebSocket; QUIC edges come last
  const edges = Array.from({ length: edgeCount }, (_, i) => ({ protocol: (i >= edgeCount - quic ? 'quic' : 'websocket') as 'quic' | 'websocket' }));
  const result: ChaosResult = await withCluster((kubeconfig) => runChaos({
    seed, events, kubeconfig, edges,
    meanGapMs: int('mean-gap-ms', values['mean-gap-ms'], 1200, 10, 600_000),
    convergeTimeoutMs: int('converge-timeout-ms', values['converge-timeout-ms'], 120_000, 1000, 3_600_000),
    memoryFactor: MEMORY_FACTOR, memorySlackBytes: MEMORY_SLACK_BYTES,
    keepWorkDir: values.keep === true,
    edgeMode,
    log: (l) => process.stdout.write(`${l}\n`),
  }));
  const passed = result.checks.filter((c) => c.ok).length;
  const failed = result.checks.length - passed;
  process.stdout.write(`figures: ${JSON.stringify(result.figures)}\n`);
  const f = result.figures as { memoryBaseline?: { cloud?: number; edges: (number | undefined)[] }; memoryAfter?: { cloud?: number; edges: (number | undefined)[] } };
  if (f.memoryBaseline && f.memoryAfter) {
    const mb = (n: number | undefined) => (n === undefined ? 'n/a' : (n / 2 ** 20).toFixed(1));
    const edges = f.memoryBaseline.edges.map((b, i) => `e${i} ${mb(b)} → ${mb(f.memoryAfter!.edges[i])}`).join(', ');
    process.stdout.write(`memory (RSS MB, baseline → after healing): cloud ${mb(f.memoryBaseline.cloud)} → ${mb(f.memoryAfter.cloud)}, ${edges}\n`);
  }
  if (failed > 0) process.stdout.write(`chaos: logs and stores kept in ${result.workDir}; replay with --seed ${seed} --events ${events}\n`);
  process.stdout.write(`seed ${seed}: ${events} events\n${passed} passed, ${failed} failed\n`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

if (import.meta.main) {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('chaos: interrupted; removing namespaces and processes\n0 passed, 1 failed\n');
    void stopAllHarnesses().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
    process.stdout.write(`chaos: ${err instanceof Error ? err.stack : String(err)}\n0 passed, 1 failed\n`);
    process.exit(1);
  });
}
