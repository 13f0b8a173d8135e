/**
 * A second, dedicated local control plane for node-lifecycle tests, with a
 * short node monitor grace period (NotReady after ~6 s of silence instead of
 * 50 s) and 10 s default not-ready/unreachable tolerations (evictions after
 * 10 s instead of 300 s), so those tests take seconds and never disturb the
 * shared cluster other suites use. Started on first use in
 * `.outpost/cluster-fast` (OUTPOST_FAST_CLUSTER_DIR), reused while running,
 * stopped by the last user's `release()` unless OUTPOST_KEEP_CLUSTER=1.
 *
 * The node lifecycle controller stops evicting (and removes NoExecute taints)
 * when every node of the cluster is NotReady ("master disruption mode"), so
 * tests that cut an edge node off keep one other node healthy with
 * {@link keepNodeReady}.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import { down, isRunning, up, type ClusterState } from '../../hack/local-cluster/control-plane.ts';
import { processAlive } from '../../lib/process.ts';

const repoRoot = resolve(import.meta.dirname, '..', '..');
export const fastClusterDir = process.env.OUTPOST_FAST_CLUSTER_DIR ?? join(repoRoot, '.outpost', 'cluster-fast');

/** Seconds of silence before the node lifecycle controller marks a node NotReady. */
export const fastGraceSeconds = 6;
/** Default tolerationSeconds for the not-ready/unreachable taints. */
export const fastTolerationSeconds = 10;

export interface FastCluster {
  state: ClusterState;
  kubeconfig: string;
  kubeConfig: k8s.KubeConfig;
  /** kubectl against this cluster; rejects with stderr on a non-zero exit. */
  kubectl(argv: string[], input?: string): Promise<string>;
  release(): Promise<void>;
}

/** Starts (or joins) the fast cluster and installs the CRDs. */
export async function useFastCluster(): Promise<FastCluster> {
  const wasRunning = await isRunning(fastClusterDir);
  const state = await up({
    dir: fastClusterDir,
    progress: (l) => process.stderr.write(`fast-${l}\n`),
    extraArgs: {
      'kube-controller-manager': [`--node-monitor-grace-period=${fastGraceSeconds}s`, '--node-monitor-period=1s'],
      'kube-apiserver': [`--default-not-ready-toleration-seconds=${fastTolerationSeconds}`, `--default-unreachable-toleration-seconds=${fastTolerationSeconds}`],
    },
  });
  const users = join(fastClusterDir, 'users');
  mkdirSync(users, { recursive: true });
  const me = join(users, `${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  writeFileSync(me, '');
  const kubectl = (argv: string[], input?: string) => new Promise<string>((res, rej) => {
    const child = execFile(join(state.binDir, 'kubectl'), ['--kubeconfig', state.kubeconfig, ...argv], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => (err ? rej(new Error(`kubectl ${argv.join(' ')}: ${stderr}`)) : res(stdout)));
    if (input !== undefined) child.stdin?.end(input);
  });
  const crds = join(repoRoot, 'config', 'crd', 'bases');
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', crds]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', crds]);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  return {
    state, kubeconfig: state.kubeconfig, kubeConfig: kc, kubectl,
    async release() {
      rmSync(me, { force: true });
      const others = readdirSync(users).filter((f) => processAlive(Number(f.split('-')[0])) && Number(f.split('-')[0]) !== process.pid);
      const mine = readdirSync(users).filter((f) => Number(f.split('-')[0]) === process.pid);
      if (!wasRunning && others.length === 0 && mine.length === 0 && process.env.OUTPOST_KEEP_CLUSTER !== '1') await down({ dir: fastClusterDir });
    },
  };
}

/**
 * Registers a Node that stays Ready (the test renews its Lease and Ready
 * condition every second) until the returned function is called, which
 * deletes it.
 */
export async function keepNodeReady(kc: k8s.KubeConfig, name: string): Promise<() => Promise<void>> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const coord = kc.makeApiClient(k8s.CoordinationV1Api);
  await core.createNode({ body: { metadata: { name, labels: { 'outpost.io/test': 'keepalive' } } } }).catch(() => undefined);
  const beat = async () => {
    const now = new Date();
    const cond = (type: string, status: string) => ({ type, status, lastHeartbeatTime: now, lastTransitionTime: now, reason: 'Test', message: 'kept by the test' });
    await core.patchNodeStatus({
      name, body: { status: { conditions: [cond('Ready', 'True'), cond('MemoryPressure', 'False'), cond('DiskPressure', 'False'), cond('PIDPressure', 'False')] } },
    }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)).catch(() => undefined);
    const micro = now.toISOString().replace(/Z$/, '000Z');
    const patch = () => coord.patchNamespacedLease({ name, namespace: 'kube-node-lease', body: { spec: { renewTime: micro, holderIdentity: name, leaseDurationSeconds: 40 } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await patch().catch(async () => {
      await coord.createNamespacedLease({ namespace: 'kube-node-lease', body: { metadata: { name }, spec: { holderIdentity: name, leaseDurationSeconds: 40 } } }).catch(() => undefined);
      await patch().catch(() => undefined);
    });
  };
  await beat();
  const timer = setInterval(() => void beat(), 1000);
  return async () => {
    clearInterval(timer);
    await core.deleteNode({ name }).catch(() => undefined);
  };
}
