/**
 * Pods end to end, for both runtimes (issue "Edge node", deliverable 2):
 * real kubectl and API server → CloudHub → edge store → PodManager →
 * runtime, and status back through the outbox → CloudHub → API server.
 * - a pod bound to the edge node runs, its readiness probe passes, and the
 *   API server shows phase, conditions and containerStatuses;
 * - `kubectl delete` is graceful: the container gets SIGTERM, the edge
 *   reports `{deleted: true}`, the cloud removes the object;
 * - a Deployment scheduled onto the edge node by the real scheduler
 *   (nodeSelector kubernetes.io/hostname) gets every replica Running.
 */
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { createNamespace, deleteNamespace, installCrds, kubeConfig, kubeconfigPath, kubectlOk } from '../../test/support/kube.ts';
import { edgeConfig, makePki, type TestPki } from '../../test/support/hub-fixture.ts';
import { startContainerd, type Containerd } from '../../hack/containerd/containerd.ts';
import { killRecordedPods } from '../../test/support/edge-pods.ts';
import { startCloud, defaultCloudConfig, type Cloud } from '../../cloud/cloud.ts';
import { startEdge, type EdgeAgent } from '../../edge/agent.ts';

const log = createLogger({ level: process.env.OUTPOST_TEST_LOG === '1' ? 'debug' : 'warn' });
let pki: TestPki;
let core: k8s.CoreV1Api;

beforeAll(async () => {
  await installCrds();
  pki = await makePki();
  core = kubeConfig().makeApiClient(k8s.CoreV1Api);
});

describe.each(['process', 'cri'] as const)('pods on the %s runtime', (runtime) => {
  const run = randomBytes(3).toString('hex');
  const node = `edge-pods-${runtime}-${run}`;
  const image = runtime === 'cri' ? 'docker.io/library/busybox:1.35' : 'busybox:1.35';
  let ns = '';
  let cloud: Cloud;
  let agent: EdgeAgent;
  let containerd: Containerd | undefined;

  beforeAll(async () => {
    ns = await createNamespace(`pods-${runtime}`);
    cloud = await startCloud({
      ...defaultCloudConfig, kubeconfig: kubeconfigPath(), leaderElect: false, healthPort: -1,
      hub: { host: '127.0.0.1', port: 0, protocols: ['websocket'], tls: { ca: pki.ca.certPem, cert: pki.hub.cert, key: pki.hub.key }, heartbeatMs: 1000 },
    }, { log });
    if (runtime === 'cri') containerd = await startContainerd({ images: true });
    const base = await edgeConfig(pki, node, cloud.hubAddresses.websocket!.port, 'websocket');
    agent = await startEdge({
      ...base, node: { ip: '127.0.0.1', heartbeatMs: 2000 },
      pods: { runtime, criEndpoint: containerd ? `unix://${containerd.socket}` : '', backoff: { initialMs: 1000, maxMs: 5000 } },
    }, { log });
    for (let i = 0; i < 300; i++) {
      const ready = (await core.readNode({ name: node }).catch(() => undefined))?.status?.conditions?.find((c) => c.type === 'Ready')?.status;
      if (ready === 'True') break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 180_000);

  afterAll(async () => {
    await deleteNamespace(ns);
    // the edge stops the namespace's pods; what a failed test left running is killed below
    for (let i = 0; i < 150 && (agent?.workloads.pods?.podCount ?? 0) > 0; i++) await new Promise((r) => setTimeout(r, 200));
    await agent?.stop();
    if (agent) killRecordedPods(agent.config.dataDir);
    await cloud?.stop();
    await containerd?.stop();
    await core.deleteNode({ name: node }).catch(() => undefined);
  }, 120_000);

  const podJson = async (name: string) => JSON.parse(await kubectlOk(['get', 'pod', '-n', ns, name, '-o', 'json'])) as k8s.V1Pod;

  it('runs a pod bound to the edge node and reports its status to the API server', async () => {
    const manifest = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hello', namespace: ns },
      spec: {
        nodeName: node, terminationGracePeriodSeconds: 30,
        containers: [{
          name: 'main', image, imagePullPolicy: 'IfNotPresent',
          command: ['sh', '-c', "trap 'echo bye; exit 0' TERM; echo hello from $NODE; while true; do sleep 0.2; done"],
          env: [{ name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
          readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1 },
        }],
      },
    };
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(manifest));
    await expect.poll(async () => (await podJson('hello')).status?.conditions?.find((c) => c.type === 'Ready')?.status, { timeout: 30_000 }).toBe('True');
    const p = await podJson('hello');
    expect(p.status!.phase).toBe('Running');
    expect(p.status!.podIP).toBe('127.0.0.1');
    expect(p.status!.containerStatuses![0]).toMatchObject({ name: 'main', ready: true, restartCount: 0, started: true });
    expect(p.status!.containerStatuses![0]!.containerID).toMatch(runtime === 'cri' ? /^containerd:\/\// : /^process:\/\//);
    expect(p.status!.conditions!.map((c) => c.type)).toEqual(expect.arrayContaining(['PodScheduled', 'Initialized', 'ContainersReady', 'Ready', 'PodReadyToStartContainers']));
    const logs: Buffer[] = [];
    for await (const c of agent.workloads.pods!.logs(ns, 'hello', 'main')) logs.push(c);
    expect(Buffer.concat(logs).toString()).toContain(`hello from ${node}`);
  });

  it('deletes gracefully: kubectl delete returns once the edge stopped the container', async () => {
    const t0 = Date.now();
    await kubectlOk(['delete', 'pod', '-n', ns, 'hello', '--wait=true', '--timeout=60s']);
    expect(Date.now() - t0).toBeLessThan(20_000);
    await expect.poll(() => agent.workloads.pods!.record(ns, 'hello'), { timeout: 10_000 }).toBeUndefined();
  });

  it('runs every replica of a Deployment the scheduler places on the edge node', async () => {
    const manifest = {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: ns },
      spec: {
        replicas: 3, selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { nodeSelector: { 'kubernetes.io/hostname': node }, terminationGracePeriodSeconds: 2, containers: [{ name: 'main', image, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
        },
      },
    };
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(manifest));
    await expect.poll(async () => {
      const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })).items;
      return pods.filter((p) => p.spec?.nodeName === node && p.status?.phase === 'Running').length;
    }, { timeout: 60_000 }).toBe(3);
    await kubectlOk(['delete', 'deployment', '-n', ns, 'web', '--wait=true']);
  });
});
