/**
 * `kubectl top` for edge nodes and their pods (issue "Edge node", deliverable
 * 4), end to end with real components: the real kubectl asks the real API
 * server for metrics.k8s.io; the aggregator proxies to a real metrics-server
 * (built from its Go module, hack/metrics-server) running on loopback behind
 * an ExternalName Service; metrics-server scrapes `/metrics/resource` of each
 * edge node at the cloud's kubelet endpoint (cloud/kubelet), which tunnels it
 * to the edge agent (edge/kubelet/stats.ts) — one node on the process runtime,
 * one on containerd through CRI (skipped when containerd is not installed).
 *
 * The APIService v1beta1.metrics.k8s.io is cluster-wide: it is registered only
 * once metrics-server answers and removed before metrics-server stops, because
 * an unavailable aggregated API stalls namespace deletion for every test
 * sharing the cluster.
 */
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { edgeConfig, makePki, type TestPki } from '../../test/support/hub-fixture.ts';
import { createNamespace, deleteNamespace, installCrds, kubeConfig, kubeconfigPath, kubectl, kubectlOk } from '../../test/support/kube.ts';
import { readState } from '../../hack/local-cluster/control-plane.ts';
import { startCloud, defaultCloudConfig, type Cloud } from '../../cloud/cloud.ts';
import { startEdge, type EdgeAgent } from '../agent.ts';
import type { EdgeConfig } from '../config.ts';
import { checkInstalled, startContainerd, type Containerd } from '../../hack/containerd/containerd.ts';
import { apiServiceManifests, buildMetricsServer, metricsServerUnavailable, startMetricsServer, type MetricsServer } from '../../hack/metrics-server/metrics-server.ts';
import { waitFor } from '../../test/support/wait.ts';

const log = createLogger({ level: process.env.OUTPOST_TEST_LOG === '1' ? 'debug' : 'warn' });
const apiServiceName = 'v1beta1.metrics.k8s.io';

const containerdMissing = (() => {
  try {
    checkInstalled();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
})();
const metricsServerMissing = metricsServerUnavailable();
if (metricsServerMissing) console.warn(`kubectl top test skipped: ${metricsServerMissing}`);
if (containerdMissing) console.warn(`kubectl top test: CRI runtime skipped: ${containerdMissing}`);

type Runtime = 'process' | 'cri';
const runtimes: Runtime[] = containerdMissing ? ['process'] : ['process', 'cri'];

// Some CPU (a counting loop every half second) and a few MB of memory (a shell variable), the same
// POSIX sh for the host's sh (process runtime) and busybox (CRI)
const workload = 'x=$(head -c 4000000 /dev/zero | tr "\\000" a); while :; do i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; sleep 0.5; done';

describe.skipIf(!!metricsServerMissing)('kubectl top with metrics-server for edge nodes (process and CRI runtimes)', () => {
  const run = Math.random().toString(36).slice(2, 7);
  const nodeOf = (r: Runtime) => `edge-top-${r}-${run}`;
  const portBase = 20000 + Math.floor(Math.random() * 20000);
  let pki: TestPki;
  let cloud: Cloud | undefined;
  const agents: EdgeAgent[] = [];
  let containerd: Containerd | undefined;
  let metrics: MetricsServer | undefined;
  let registered = false;
  let core: k8s.CoreV1Api;
  let ns: string;
  let binary: string;

  beforeAll(async () => {
    core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    const auth = await core.readNamespacedConfigMap({ name: 'extension-apiserver-authentication', namespace: 'kube-system' });
    if (!auth.data?.['requestheader-client-ca-file']) {
      throw new Error('the API server runs without the aggregation-layer flags (--requestheader-client-ca-file, --proxy-client-cert-file), so it cannot proxy to metrics-server: '
        + 'the local control plane predates them (hack/local-cluster); restart it: npm run cluster:down && npm run cluster:up');
    }
    // a cache hit costs nothing; a cold build takes several minutes on 2 cores
    binary = await buildMetricsServer();
  }, 30 * 60_000);

  beforeAll(async () => {
    await installCrds(); // startCloud's informers wait for them
    pki = await makePki();
    cloud = await startCloud({
      ...defaultCloudConfig, kubeconfig: kubeconfigPath(), leaderElect: false, healthPort: -1,
      hub: { host: '127.0.0.1', port: 0, protocols: ['websocket'], tls: { ca: pki.ca.certPem, cert: pki.hub.cert, key: pki.hub.key }, heartbeatMs: 1000 },
      kubelet: { host: '127.0.0.1', advertiseAddress: '127.0.0.1', portRange: [portBase, portBase + 20] },
    }, { log });
    if (runtimes.includes('cri')) containerd = await startContainerd({ images: true });
    ns = await createNamespace('top');
    for (const r of runtimes) {
      const config: EdgeConfig = {
        ...(await edgeConfig(pki, nodeOf(r), cloud.hubAddresses.websocket!.port, 'websocket')), node: { ip: '127.0.0.1', heartbeatMs: 2000 },
        pods: r === 'cri' ? { runtime: 'cri', criEndpoint: `unix://${containerd!.socket}` } : { runtime: 'process', criEndpoint: '' },
      };
      agents.push(await startEdge(config, { log }));
    }
    for (const r of runtimes) {
      await waitFor('kubelet port on the Node', async () => (await core.readNode({ name: nodeOf(r) }).catch(() => undefined))?.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 0, (p) => p >= portBase, 30_000);
      await core.createNamespacedPod({
        namespace: ns,
        body: { metadata: { name: `app-${r}` }, spec: { nodeName: nodeOf(r), containers: [{ name: 'work', image: 'docker.io/library/busybox:1.35', command: ['sh', '-c', workload] }] } },
      });
    }
    for (const r of runtimes) {
      await waitFor(`pod app-${r} phase`, async () => (await core.readNamespacedPod({ name: `app-${r}`, namespace: ns })).status?.phase, (p) => p === 'Running', 90_000);
    }

    // metrics-server scrapes only this test's nodes (the cluster is shared), with the API server's kubelet client certificate
    const pkiDir = join(readState()!.dir, 'pki');
    metrics = await startMetricsServer({
      binary, kubeconfig: kubeconfigPath(),
      kubeletClientCert: join(pkiDir, 'apiserver-kubelet-client.crt'), kubeletClientKey: join(pkiDir, 'apiserver-kubelet-client.key'),
      nodeSelector: `kubernetes.io/hostname in (${runtimes.map(nodeOf).join(',')})`,
    });
    registered = true;
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(apiServiceManifests({ namespace: ns, serviceName: `metrics-server-${run}`, port: metrics.port })));
    await waitFor(`APIService ${apiServiceName} Available`, async () => (await kubectl(['get', 'apiservice', apiServiceName, '-o', 'jsonpath={.status.conditions[?(@.type=="Available")]}'])).stdout,
      (s) => s.includes('"status":"True"'), 60_000);
  }, 300_000);

  afterAll(async () => {
    // the APIService first, while metrics-server still answers (see the file comment); only if it is still ours
    if (registered) {
      const svc = await kubectl(['get', 'apiservice', apiServiceName, '-o', 'jsonpath={.spec.service.namespace}']);
      if (svc.stdout === ns) await kubectl(['delete', 'apiservice', apiServiceName, '--wait=false']);
    }
    if (metrics && process.env.OUTPOST_TEST_LOG === '1') process.stderr.write(`metrics-server log:\n${metrics.logTail(60)}\n`);
    await metrics?.stop();
    for (const r of runtimes) if (ns) await core.deleteNamespacedPod({ name: `app-${r}`, namespace: ns, gracePeriodSeconds: 0 }).catch(() => undefined);
    for (const a of agents) await a.stop();
    await cloud?.stop();
    for (const r of runtimes) await core?.deleteNode({ name: nodeOf(r) }).catch(() => undefined);
    if (ns) await deleteNamespace(ns);
    await containerd?.stop();
  }, 120_000);

  /** Polls `kubectl top` until a line starts with `name`; returns that line's columns. */
  const topLine = async (argv: string[], name: string): Promise<string[]> => {
    let last = '';
    const deadline = Date.now() + 90_000; // two scrapes at least (--metric-resolution=10s), on a busy machine
    while (Date.now() < deadline) {
      const r = await kubectl(['top', ...argv]);
      last = `exit ${r.code}: ${r.stdout}${r.stderr}`;
      const line = r.stdout.split('\n').find((l) => l.split(/\s+/)[0] === name);
      if (r.code === 0 && line) {
        if (process.env.OUTPOST_TEST_LOG === '1') process.stderr.write(`kubectl top ${argv.join(' ')}\n${r.stdout}`);
        return line.trim().split(/\s+/);
      }
      await new Promise((res) => setTimeout(res, 2000));
    }
    throw new Error(`kubectl top ${argv.join(' ')} never listed ${name}; last: ${last}\nmetrics-server log:\n${metrics?.logTail(30)}`);
  };

  for (const r of runtimes) {
    it(`kubectl top node (${r} runtime): CPU and memory of the edge node`, async () => {
      // NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)
      const [name, cpu, , mem] = await topLine(['node', nodeOf(r)], nodeOf(r));
      expect(name).toBe(nodeOf(r));
      expect(cpu).toMatch(/^\d+m?$/);
      expect(mem).toMatch(/^[1-9]\d*(Mi|Gi)$/);
    });

    it(`kubectl top pod (${r} runtime): CPU and memory of the edge pod`, async () => {
      // NAME CPU(cores) MEMORY(bytes)
      const [, cpu, mem] = await topLine(['pod', '-n', ns], `app-${r}`);
      expect(cpu).toMatch(/^[1-9]\d*m$/);
      expect(mem).toMatch(/^[1-9]\d*Mi$/);
      const byContainer = await topLine(['pod', '-n', ns, `app-${r}`, '--containers'], `app-${r}`);
      expect(byContainer.slice(1, 2)).toEqual(['work']); // POD NAME CPU(cores) MEMORY(bytes)
    });
  }
});
