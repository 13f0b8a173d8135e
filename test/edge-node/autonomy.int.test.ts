/**
 * Offline autonomy with the real control plane and the cloud cut off (issue
 * "Edge node", deliverable 3), on the fast cluster (NotReady after 6 s,
 * default tolerations 10 s), the agent as a real `outpost edge` process
 * (process runtime) so it can be killed with SIGKILL, and the cloud killed
 * (stopped) to cut the node off. In order:
 * 1. with the cloud gone, running pods keep running (same processes) and a
 *    crashing one keeps restarting; the kube-controller-manager marks the
 *    node NotReady and taints it; pods labelled
 *    app-offline.kubeedge.io=autonomy (toleration added by the admission
 *    webhook, webhooks/pod) are not evicted, an unlabelled one is;
 * 2. a SIGKILLed agent restarted with no cloud restores every pod from the
 *    local store within 5 s, adopting the processes that still run;
 * 3. a "reboot" with no cloud (agent and every pod process killed) brings
 *    the node's last desired state back;
 * 4. on reconnect the node converges: a pod deleted in the cloud meanwhile
 *    is stopped and goes away, a new one starts, the evicted one finishes its
 *    deletion, restart counts catch up, and the node is Ready again.
 * The edge's view is read from its store (read-only): the pod records
 * (`pods/<uid>`: pids, restart counts) and the pending `pod-status` reports.
 */
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { exited, makePki, spawnOutpost, type TestPki } from '../../test/support/hub-fixture.ts';
import { killRecordedPods } from '../../test/support/edge-pods.ts';
import { fastTolerationSeconds, keepNodeReady, useFastCluster, type FastCluster } from '../../test/support/fast-cluster.ts';
import { startCloud, defaultCloudConfig, type Cloud } from '../../cloud/cloud.ts';
import { KubeClient, SharedInformerFactory } from '../../controllers/runtime/index.ts';
import { startWebhooks, type Webhooks } from '../../webhooks/index.ts';
import type { PodRecord } from '../../edge/pods/record.ts';
import type { PodStatus } from '../../edge/pods/types.ts';
import { processAlive } from '../../lib/process.ts';

const log = createLogger({ level: process.env.OUTPOST_TEST_LOG === '1' ? 'debug' : 'warn' });
const run = Math.random().toString(36).slice(2, 7);
const nodeName = `edge-auto-${run}`;
const ns = `autonomy-${run}`;
const runLabel = 'outpost.io/test-run';
const autonomy = { 'app-offline.kubeedge.io': 'autonomy' };

let fc: FastCluster;
let core: k8s.CoreV1Api;
let pki: TestPki;
let cloud: Cloud | undefined;
let port = 0;
let agent: ReturnType<typeof spawnOutpost> | undefined;
let agentArgs: string[] = [];
let dataDir = '';
let stopKeepalive: () => Promise<void>;
let webhooks: Webhooks | undefined;
let factory: SharedInformerFactory | undefined;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startTheCloud(): Promise<void> {
  cloud = await startCloud({
    ...defaultCloudConfig, kubeconfig: fc.kubeconfig, leaderElect: false, healthPort: -1,
    hub: { host: '127.0.0.1', port, protocols: ['websocket'], tls: { ca: pki.ca.certPem, cert: pki.hub.cert, key: pki.hub.key }, heartbeatMs: 1000 },
  }, { log });
  port = cloud.hubAddresses.websocket!.port;
}

async function stopTheCloud(): Promise<void> {
  await cloud?.stop();
  cloud = undefined;
}

function startAgent(): void {
  agent = spawnOutpost(agentArgs, { OUTPOST_LOG_LEVEL: 'warn' });
}

async function killAgent(): Promise<void> {
  if (!agent) return;
  agent.kill('SIGKILL');
  await exited(agent);
  agent = undefined;
}

/** The edge's own view, read from its store without taking the write lock. */
function edgeView(): { records: Map<string, PodRecord>; reports: Map<string, { createdAt: number; status?: PodStatus; deleted?: boolean }> } {
  const db = new DatabaseSync(join(dataDir, 'edge.db'), { readOnly: true });
  try {
    const records = new Map<string, PodRecord>();
    for (const r of db.prepare("SELECT value FROM meta WHERE key LIKE 'pods/%'").all() as { value: string }[]) {
      const rec = JSON.parse(r.value) as PodRecord;
      records.set(rec.name, rec);
    }
    const reports = new Map<string, { createdAt: number; status?: PodStatus; deleted?: boolean }>();
    for (const r of db.prepare("SELECT key, payload, created_at FROM outbox WHERE kind = 'pod-status' ORDER BY id").all() as { key: string; payload: string; created_at: number }[]) {
      reports.set(r.key.split('/')[3]!, { createdAt: r.created_at, ...(JSON.parse(r.payload) as { status?: PodStatus; deleted?: boolean }) });
    }
    return { records, reports };
  } finally {
    db.close();
  }
}

const pidOf = (name: string): number | undefined => {
  const d = edgeView().records.get(name)?.containers.main?.handle?.data;
  return d ? Number(d.pid) : undefined;
};
const localRestarts = (name: string) => edgeView().records.get(name)?.containers.main?.restartCount ?? -1;

const pod = (name: string, script: string, labels: Record<string, string>, extra: Partial<k8s.V1PodSpec> = {}): k8s.V1Pod => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: { [runLabel]: run, ...labels } },
  spec: { nodeName, terminationGracePeriodSeconds: 2, containers: [{ name: 'main', image: 'busybox:1.35', command: ['sh', '-c', script] }], ...extra },
});

const apiPod = (name: string) => core.readNamespacedPod({ name, namespace: ns }).catch(() => undefined);
const ready = async () => (await core.readNode({ name: nodeName }).catch(() => undefined))?.status?.conditions?.find((c) => c.type === 'Ready')?.status;

beforeAll(async () => {
  fc = await useFastCluster();
  core = fc.kubeConfig.makeApiClient(k8s.CoreV1Api);
  stopKeepalive = await keepNodeReady(fc.kubeConfig, `keepalive-${run}`);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  for (let i = 0; i < 100 && !(await core.readNamespacedServiceAccount({ name: 'default', namespace: ns }).then(() => true, () => false)); i++) await sleep(100);
  // the autonomy toleration comes from Outpost's pod admission webhook (webhooks/pod/default.ts), scoped to this run's pods
  const client = new KubeClient(fc.kubeConfig);
  factory = new SharedInformerFactory({ client, log });
  webhooks = await startWebhooks({
    kubeConfig: fc.kubeConfig, informers: factory, log, port: 0, configurationName: `outpost-autonomy-${run}`,
    objectSelector: { matchLabels: { [runLabel]: run } }, unregisterOnStop: true, caPropagationDelayMs: 1000,
  });
  for (let i = 0; i < 100; i++) {
    const probe = JSON.parse(await fc.kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], JSON.stringify(pod('probe', 'true', autonomy)))) as k8s.V1Pod;
    if (probe.spec?.tolerations?.some((t) => t.key === 'node.kubernetes.io/unreachable' && t.tolerationSeconds === undefined)) break;
    await sleep(300);
  }
  pki = await makePki();
  await startTheCloud();
  const n = await pki.node(nodeName);
  dataDir = join(pki.dir, `data-${nodeName}`);
  agentArgs = ['edge', '--node-name', nodeName, '--hub', `127.0.0.1:${port}`, '--hub-protocol', 'websocket', '--data-dir', dataDir,
    '--ca-file', pki.caFile, '--cert-file', n.certFile, '--key-file', n.keyFile, '--node-ip', '127.0.0.1', '--runtime', 'process'];
}, 300_000);

afterAll(async () => {
  await core?.deleteNamespace({ name: ns }).catch(() => undefined);
  if (!cloud && fc) await startTheCloud().catch(() => undefined);
  await sleep(3000); // the edge stops the namespace's pods
  // anything a failed test left behind: the agent and its pods' process groups
  await killAgent();
  if (dataDir) killRecordedPods(dataDir);
  await stopTheCloud();
  await webhooks?.stop();
  factory?.stop();
  await core?.deleteNode({ name: nodeName }).catch(() => undefined);
  await stopKeepalive?.();
  await fc?.release();
}, 120_000);

describe('offline autonomy', () => {
  it('starts the pods while connected', async () => {
    startAgent();
    await expect.poll(ready, { timeout: 30_000 }).toBe('True');
    await fc.kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'List', items: [
        pod('steady', 'echo started; exec sleep 100000', autonomy),
        pod('crasher', 'echo run; sleep 1; exit 1', autonomy),
        pod('doomed', 'exec sleep 100000', autonomy),
        pod('control', 'exec sleep 100000', {}),
      ],
    }));
    for (const name of ['steady', 'doomed', 'control']) {
      await expect.poll(async () => (await apiPod(name))?.status?.conditions?.find((c) => c.type === 'Ready')?.status, { timeout: 30_000 }).toBe('True');
    }
    await expect.poll(async () => (await apiPod('crasher'))?.status?.containerStatuses?.[0]?.restartCount ?? 0, { timeout: 30_000 }).toBeGreaterThanOrEqual(1);
    const tolerates = (p: k8s.V1Pod | undefined) => p?.spec?.tolerations?.find((t) => t.key === 'node.kubernetes.io/unreachable');
    expect(tolerates(await apiPod('steady'))).toMatchObject({ operator: 'Exists', effect: 'NoExecute' });
    expect(tolerates(await apiPod('steady'))!.tolerationSeconds).toBeUndefined();
    expect(tolerates(await apiPod('control'))!.tolerationSeconds).toBe(fastTolerationSeconds);
  });

  it('keeps pods running and restarting with the cloud gone; only the pod without the autonomy label is evicted', async () => {
    const steadyPid = pidOf('steady');
    expect(processAlive(steadyPid)).toBe(true);
    const restartsBefore = localRestarts('crasher');
    await stopTheCloud();
    await expect.poll(ready, { timeout: 60_000, interval: 500 }).toBe('Unknown');
    const taints = ((await core.readNode({ name: nodeName })).spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`);
    await expect.poll(async () => ((await core.readNode({ name: nodeName })).spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`), { timeout: 30_000 })
      .toContain('node.kubernetes.io/unreachable:NoExecute');
    void taints;
    // the unlabelled pod's 10 s toleration runs out: the taint manager deletes it (it stays Terminating: nobody on the node hears it)
    await expect.poll(async () => (await apiPod('control'))?.metadata?.deletionTimestamp, { timeout: 60_000, interval: 1000 }).toBeTruthy();
    for (const name of ['steady', 'crasher', 'doomed']) expect((await apiPod(name))?.metadata?.deletionTimestamp).toBeUndefined();
    // locally: the same process still runs, the crasher kept restarting (kubelet backoff: 10 s, 20 s, …)
    expect(pidOf('steady')).toBe(steadyPid);
    expect(processAlive(steadyPid)).toBe(true);
    await expect.poll(() => localRestarts('crasher'), { timeout: 60_000, interval: 1000 }).toBeGreaterThanOrEqual(restartsBefore + 2);
    expect(processAlive(pidOf('control'))).toBe(true); // never heard of its eviction
  });

  it('restores every pod within 5 s after the agent is killed and restarted with no cloud, adopting running processes', async () => {
    const steadyPid = pidOf('steady');
    await killAgent();
    expect(processAlive(steadyPid)).toBe(true);
    const t0 = Date.now();
    startAgent();
    const restored = () => {
      const { reports } = edgeView();
      return ['steady', 'doomed', 'control', 'crasher'].filter((n) => {
        const r = reports.get(n);
        return r && r.createdAt >= t0 && r.status?.phase === 'Running';
      }).length;
    };
    await expect.poll(restored, { timeout: 10_000, interval: 100 }).toBe(4);
    const took = Date.now() - t0;
    expect(took).toBeLessThan(5000);
    expect(pidOf('steady')).toBe(steadyPid); // adopted, not restarted
    const st = edgeView().reports.get('steady')!.status!.containerStatuses![0]!;
    expect(st).toMatchObject({ ready: true, restartCount: 0 });
    log.info('Restored pods after an offline agent restart', { ms: took });
  });

  it('runs the last desired state after a reboot with no cloud (agent and all pods killed)', async () => {
    const before = new Map(['steady', 'doomed', 'control', 'crasher'].map((n) => [n, pidOf(n)]));
    await killAgent();
    for (const pid of before.values()) {
      try {
        if (pid) process.kill(-pid, 'SIGKILL');
      } catch {
        /* the crasher may be between runs */
      }
    }
    for (const pid of before.values()) await expect.poll(() => processAlive(pid), { timeout: 5000 }).toBe(false);
    const t0 = Date.now();
    startAgent();
    for (const name of ['steady', 'doomed', 'control']) {
      await expect.poll(() => {
        const pid = pidOf(name);
        return pid !== before.get(name) && processAlive(pid);
      }, { timeout: 15_000, interval: 100 }).toBe(true);
    }
    expect(Date.now() - t0).toBeLessThan(15_000);
    await expect.poll(() => edgeView().reports.get('steady')?.status?.containerStatuses?.[0]?.state?.running, { timeout: 10_000 }).toBeTruthy();
  });

  it('converges on reconnect: deleted pods stop, new ones start, the evicted one finishes, status catches up', async () => {
    const crasherLocal = localRestarts('crasher');
    const doomedPid = pidOf('doomed');
    const controlPid = pidOf('control');
    await core.deleteNamespacedPod({ name: 'doomed', namespace: ns });
    await fc.kubectl(['apply', '-f', '-'], JSON.stringify(pod('newcomer', 'exec sleep 100000', autonomy)));
    await sleep(1000);
    expect(processAlive(doomedPid)).toBe(true); // the node cannot know yet
    await startTheCloud();
    await expect.poll(ready, { timeout: 30_000, interval: 500 }).toBe('True');
    await expect.poll(async () => (await apiPod('doomed')) === undefined, { timeout: 30_000 }).toBe(true);
    await expect.poll(() => processAlive(doomedPid), { timeout: 10_000 }).toBe(false);
    await expect.poll(async () => (await apiPod('control')) === undefined, { timeout: 30_000 }).toBe(true);
    await expect.poll(() => processAlive(controlPid), { timeout: 10_000 }).toBe(false);
    await expect.poll(async () => (await apiPod('newcomer'))?.status?.conditions?.find((c) => c.type === 'Ready')?.status, { timeout: 30_000 }).toBe('True');
    await expect.poll(async () => (await apiPod('crasher'))?.status?.containerStatuses?.[0]?.restartCount ?? 0, { timeout: 30_000 }).toBeGreaterThanOrEqual(crasherLocal);
    const steady = (await apiPod('steady'))!;
    expect(steady.metadata!.deletionTimestamp).toBeUndefined();
    expect(steady.status!.phase).toBe('Running');
    await expect.poll(async () => ((await core.readNode({ name: nodeName })).spec?.taints ?? []).filter((t) => t.key === 'node.kubernetes.io/unreachable'), { timeout: 30_000 }).toEqual([]);
  });
});
