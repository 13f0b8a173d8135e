/**
 * kubectl logs / exec / attach / port-forward and /stats/summary to an edge
 * pod (issue "Edge node", deliverable 4), with the REAL kubectl against the
 * REAL API server: the API server dials the cloud's kubelet endpoint
 * (cloud/kubelet, client CA discovered from the cluster, nothing configured
 * by the user), which carries the connection over the hub session to the
 * edge agent (edge/kubelet) running the pod on the process runtime.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { request } from 'node:http';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { edgeConfig, makePki, type TestPki } from '../../test/support/hub-fixture.ts';
import { createNamespace, deleteNamespace, kubeConfig, kubeconfigPath, kubectl } from '../../test/support/kube.ts';
import { readState } from '../../hack/local-cluster/control-plane.ts';
import { startCloud, defaultCloudConfig, type Cloud } from '../../cloud/cloud.ts';
import { defaultAdvertiseAddress } from '../../cloud/kubelet/endpoints.ts';
import { startEdge, type EdgeAgent } from '../agent.ts';

const log = createLogger({ level: process.env.OUTPOST_TEST_LOG === '1' ? 'debug' : 'warn' });
const run = Math.random().toString(36).slice(2, 7);
const nodeName = `edge-kubelet-${run}`;
const portBase = 20000 + Math.floor(Math.random() * 20000);
const httpPort = 40000 + Math.floor(Math.random() * 10000);

let pki: TestPki;
let cloud: Cloud | undefined;
let agent: EdgeAgent | undefined;
let core: k8s.CoreV1Api;
let ns: string;
const kubectlBin = () => join(readState()!.binDir, 'kubectl');

/** Runs kubectl in the background, resolving once `ready` matches its stdout. */
function background(argv: string[], ready: RegExp): Promise<{ out: () => string; kill: () => void }> {
  const child = spawn(kubectlBin(), ['--kubeconfig', kubeconfigPath(), ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kubectl ${argv.join(' ')}: no ${ready} within 30 s; stdout: ${out.slice(-500)} stderr: ${err}`));
    }, 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(t);
        resolve({ out: () => out, kill: () => child.kill('SIGKILL') });
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  });
}

async function waitFor<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await get();
    if (ok(last)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
}

beforeAll(async () => {
  core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  pki = await makePki();
  cloud = await startCloud({
    ...defaultCloudConfig, kubeconfig: kubeconfigPath(), leaderElect: false, healthPort: -1,
    hub: { host: '127.0.0.1', port: 0, protocols: ['websocket'], tls: { ca: pki.ca.certPem, cert: pki.hub.cert, key: pki.hub.key }, heartbeatMs: 1000 },
    // no clientCa: discovered from kube-system/extension-apiserver-authentication (on by default)
    kubelet: { host: '0.0.0.0', advertiseAddress: defaultAdvertiseAddress(), portRange: [portBase, portBase + 20] },
  }, { log });
  const config = { ...(await edgeConfig(pki, nodeName, cloud.hubAddresses.websocket!.port, 'websocket')), node: { ip: '127.0.0.1', heartbeatMs: 2000 }, pods: { runtime: 'process' as const, criEndpoint: '' } };
  agent = await startEdge(config, { log });
  await waitFor('kubelet port on the Node', async () => (await core.readNode({ name: nodeName }).catch(() => undefined))?.status?.daemonEndpoints?.kubeletEndpoint?.Port, (p) => (p ?? 0) >= portBase);
  ns = await createNamespace('kubelet');
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: 'app' },
      spec: {
        nodeName,
        containers: [
          { name: 'ticker', image: 'busybox', command: ['sh', '-c', 'i=0; while true; do echo "line-$i"; i=$((i+1)); sleep 0.2; done'] },
          { name: 'web', image: 'python', command: ['python3', '-m', 'http.server', String(httpPort), '--bind', '127.0.0.1'] },
        ],
      },
    },
  });
  await waitFor('pod phase', async () => (await core.readNamespacedPod({ name: 'app', namespace: ns })).status?.phase, (p) => p === 'Running');
}, 120_000);

afterAll(async () => {
  if (ns) await core.deleteNamespacedPod({ name: 'app', namespace: ns, gracePeriodSeconds: 0 }).catch(() => undefined);
  await agent?.stop();
  await cloud?.stop();
  await core?.deleteNode({ name: nodeName }).catch(() => undefined);
  if (ns) await deleteNamespace(ns);
}, 60_000);

describe('kubectl to an edge pod through the cloud kubelet endpoint', () => {
  it('points the Node at this replica: InternalIP = advertised address, kubelet port from the range', async () => {
    const n = await core.readNode({ name: nodeName });
    expect(n.status!.addresses).toEqual([{ type: 'InternalIP', address: defaultAdvertiseAddress() }]);
    expect(n.status!.daemonEndpoints!.kubeletEndpoint!.Port).toBeLessThanOrEqual(portBase + 20);
    expect(JSON.parse(n.metadata!.annotations!['outpost.io/edge-addresses']!)).toEqual(expect.arrayContaining([{ type: 'InternalIP', address: '127.0.0.1' }]));
  });

  it('kubectl logs (and --tail, --timestamps)', async () => {
    await expect.poll(async () => (await kubectl(['logs', '-n', ns, 'app', '-c', 'ticker'])).stdout, { timeout: 15_000 }).toContain('line-3');
    const tail = await kubectl(['logs', '-n', ns, 'app', '-c', 'ticker', '--tail=2', '--timestamps']);
    expect(tail.code, tail.stderr).toBe(0);
    const lines = tail.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\d{4}-\d{2}-\d{2}T\S+Z line-\d+$/);
  });

  it('kubectl logs -f sees new lines as they are written', async () => {
    const f = await background(['logs', '-f', '-n', ns, 'app', '-c', 'ticker', '--tail=1'], /line-\d+\n/);
    const first = Number(/line-(\d+)/.exec(f.out())![1]);
    await expect.poll(() => Math.max(...[...f.out().matchAll(/line-(\d+)/g)].map((m) => Number(m[1]))), { timeout: 10_000 }).toBeGreaterThan(first + 5);
    f.kill();
  });

  it('kubectl exec: output and exit code', async () => {
    const r = await kubectl(['exec', '-n', ns, 'app', '-c', 'ticker', '--', 'sh', '-c', 'echo hi; echo oops >&2; exit 3']);
    expect(r.stdout).toBe('hi\n');
    expect(r.stderr).toContain('oops');
    expect(r.code).toBe(3);
    const ok = await kubectl(['exec', '-n', ns, 'app', '-c', 'ticker', '--', 'true']);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('kubectl exec -i passes stdin', async () => {
    const r = await kubectl(['exec', '-i', '-n', ns, 'app', '-c', 'ticker', '--', 'sh', '-c', 'tr a-z A-Z'], 'hello edge\n');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('HELLO EDGE\n');
  });

  it('kubectl attach streams the container output', async () => {
    const a = await background(['attach', '-n', ns, 'app', '-c', 'ticker'], /line-\d+\n/);
    a.kill();
  });

  it('kubectl port-forward reaches a port in the pod', async () => {
    const local = httpPort + 1;
    const pf = await background(['port-forward', '-n', ns, 'pod/app', `${local}:${httpPort}`], /Forwarding from/);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        request({ host: '127.0.0.1', port: local, path: '/' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject).end();
      });
      expect(status).toBe(200);
    } finally {
      pf.kill();
    }
  });

  it('serves /stats/summary through nodes/proxy (kubectl get --raw)', async () => {
    const r = await kubectl(['get', '--raw', `/api/v1/nodes/${nodeName}/proxy/stats/summary`]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { node: { nodeName: string; memory: { usageBytes: number } }; pods: { podRef: { name: string; namespace: string }; containers: { name: string; memory: { rssBytes: number } }[] }[] };
    expect(s.node.nodeName).toBe(nodeName);
    expect(s.node.memory.usageBytes).toBeGreaterThan(0);
    const pod = s.pods.find((p) => p.podRef.namespace === ns && p.podRef.name === 'app');
    expect(pod?.containers.map((c) => c.name).sort()).toEqual(['ticker', 'web']);
    expect(pod!.containers.find((c) => c.name === 'web')!.memory.rssBytes).toBeGreaterThan(0);
  });

  it('refuses a client certificate from another CA', async () => {
    const port = (await core.readNode({ name: nodeName })).status!.daemonEndpoints!.kubeletEndpoint!.Port!;
    const stranger = await pki.node('stranger', 'kube-apiserver-kubelet-client');
    const outcome = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: defaultAdvertiseAddress(), port, cert: stranger.cert, key: stranger.key, rejectUnauthorized: false }, () => {
        s.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
      });
      s.on('data', (d: Buffer) => resolve(`answered: ${d.toString().split('\r\n')[0]}`));
      s.on('error', (e) => resolve(`refused: ${e.message}`));
      s.on('close', () => resolve('refused: closed'));
    });
    expect(outcome).toMatch(/^refused/);
  });
});
