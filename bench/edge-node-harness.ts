/**
 * Shared set-up for bench/pods.ts and bench/footprint.ts: the local control
 * plane (started if needed, reused if running), `outpost cloud`'s hub in this
 * process, and a real `outpost edge` agent as a child process, registered as
 * a fresh node; plus a private containerd with the test images for
 * `--runtime cri`. `close()` removes everything it created.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { up } from '../hack/local-cluster/control-plane.ts';
import { startContainerd, type Containerd } from '../hack/containerd/containerd.ts';
import { startCloud, defaultCloudConfig, type Cloud } from '../cloud/cloud.ts';
import { makePki } from '../test/support/hub-fixture.ts';
import { killRecordedPods } from '../test/support/edge-pods.ts';
import { silentLogger } from '../lib/log.ts';

export interface EdgeBench {
  node: string;
  namespace: string;
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  agent: ChildProcess;
  dataDir: string;
  /** Resident set size of the agent process, MB (VmRSS). */
  agentRssMB(): number;
  /** What the agent process runs, from /proc/<pid>/cmdline (after bin/outpost.js replaced itself): node, its flags, the entry; repository paths relative. */
  agentCommand(): { node: string; nodeFlags: string[]; entry: string };
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const root = join(import.meta.dirname, '..');

/**
 * How the agent is started: `cli` = `outpost edge` as shipped (bin/outpost.js: the pre-stripped
 * build in dist/edge-agent, rebuilt when stale, with the launcher's V8 flags), `lean` =
 * cli/edge-main.ts (only the edge agent's modules, TypeScript stripped at load, no flags), `js` =
 * the pre-stripped build of cli/edge-main.ts (hack/build-edge.ts, built here) without flags.
 */
export type AgentEntry = 'cli' | 'lean' | 'js';

export async function startEdgeBench(opts: { runtime: 'process' | 'cri'; entry?: AgentEntry; nodeArgs?: string[]; progress?: (l: string) => void }): Promise<EdgeBench> {
  const progress = opts.progress ?? (() => undefined);
  const state = await up({ progress });
  // startCloud's informers wait for the Device/NodeGroup CRDs: install them (a fresh cluster has none)
  const crds = join(root, 'config', 'crd', 'bases');
  execFileSync(join(state.binDir, 'kubectl'), ['--kubeconfig', state.kubeconfig, 'apply', '--server-side', '--force-conflicts', '-f', crds], { stdio: 'ignore' });
  execFileSync(join(state.binDir, 'kubectl'), ['--kubeconfig', state.kubeconfig, 'wait', '--for=condition=Established', '--timeout=60s', '-f', crds], { stdio: 'ignore' });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const run = randomBytes(3).toString('hex');
  const node = `bench-${opts.runtime}-${run}`;
  const namespace = `bench-${run}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  for (let i = 0; i < 100 && !(await core.readNamespacedServiceAccount({ name: 'default', namespace }).then(() => true, () => false)); i++) await sleep(100);
  const pki = await makePki();
  let containerd: Containerd | undefined;
  if (opts.runtime === 'cri') containerd = await startContainerd({ images: true });
  const cloud: Cloud = await startCloud({
    ...defaultCloudConfig, kubeconfig: state.kubeconfig, leaderElect: false, healthPort: -1,
    hub: { host: '127.0.0.1', port: 0, protocols: ['websocket'], tls: { ca: pki.ca.certPem, cert: pki.hub.cert, key: pki.hub.key } },
  }, { log: silentLogger });
  const n = await pki.node(node);
  const dataDir = join(pki.dir, `data-${node}`);
  const entry = opts.entry ?? 'cli';
  if (entry === 'js') (await import('../hack/build-edge.ts')).buildEdge();
  const script = { cli: join(root, 'bin', 'outpost.js'), lean: join(root, 'cli', 'edge-main.ts'), js: join(root, 'dist', 'edge-agent', 'cli', 'edge-main.js') }[entry];
  // OUTPOST_BENCH_NODE_ARGS: extra node flags for the agent (e.g. --cpu-prof)
  const args = [...(opts.nodeArgs ?? process.env.OUTPOST_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), script, 'edge', '--node-name', node, '--hub', `127.0.0.1:${cloud.hubAddresses.websocket!.port}`, '--hub-protocol', 'websocket',
    '--data-dir', dataDir, '--ca-file', pki.caFile, '--cert-file', n.certFile, '--key-file', n.keyFile, '--node-ip', '127.0.0.1', '--runtime', opts.runtime,
    ...(containerd ? ['--cri-endpoint', `unix://${containerd.socket}`] : [])];
  // OUTPOST_BENCH_AGENT_LOG=<file>: the agent's debug log goes there (to see where time goes)
  const logFile = process.env.OUTPOST_BENCH_AGENT_LOG;
  const agent = spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', logFile ? openSync(logFile, 'w') : 'inherit'], env: { ...process.env, OUTPOST_LOG_LEVEL: logFile ? 'debug' : 'warn' },
  });
  for (let i = 0; i < 600; i++) {
    const ready = (await core.readNode({ name: node }).catch(() => undefined))?.status?.conditions?.find((c) => c.type === 'Ready')?.status;
    if (ready === 'True') break;
    await sleep(100);
  }
  return {
    node, namespace, kc, core, apps, agent, dataDir,
    agentRssMB() {
      const { readFileSync } = process.getBuiltinModule('node:fs');
      const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
      return Math.round((kb / 1024) * 10) / 10;
    },
    agentCommand() {
      const { readFileSync } = process.getBuiltinModule('node:fs');
      const argv = readFileSync(`/proc/${agent.pid}/cmdline`, 'utf8').split('\0').map((a) => a.replace(`${root}/`, ''));
      const entry = argv.findIndex((a, i) => i > 0 && !a.startsWith('-'));
      return { node: argv[0]!, nodeFlags: argv.slice(1, entry), entry: argv[entry]! };
    },
    async close() {
      await core.deleteNamespace({ name: namespace }).catch(() => undefined);
      for (let i = 0; i < 300; i++) {
        const left = (await core.listNamespacedPod({ namespace }).catch(() => ({ items: [] }))).items.length;
        if (left === 0) break;
        await sleep(200);
      }
      agent.kill('SIGTERM');
      await new Promise((r) => (agent.exitCode !== null ? r(undefined) : agent.once('exit', r)));
      killRecordedPods(dataDir);
      await cloud.stop();
      await containerd?.stop();
      await core.deleteNode({ name: node }).catch(() => undefined);
    },
  };
}

/** A Deployment of `replicas` pods pinned to `node` (nodeSelector kubernetes.io/hostname), each one long-running container. */
export function deployment(name: string, namespace: string, node: string, replicas: number, runtime: 'process' | 'cri'): k8s.V1Deployment {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace },
    spec: {
      replicas, selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': node }, terminationGracePeriodSeconds: 1,
          containers: [{ name: 'main', image: runtime === 'cri' ? 'docker.io/library/busybox:1.35' : 'busybox:1.35', imagePullPolicy: 'IfNotPresent', command: ['sleep', '100000'] }],
        },
      },
    },
  };
}

/** Percentile (nearest rank) of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
