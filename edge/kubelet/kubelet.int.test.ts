/**
 * kubectl logs / exec / attach / port-forward and /stats/summary to an edge
 * pod (issue "Edge node", deliverable 4), with the REAL kubectl against the
 * REAL API server: the API server dials the cloud's kubelet endpoint
 * (cloud/kubelet, client CA discovered from the cluster, nothing configured
 * by the user), which carries the connection over the hub session to the
 * edge agent (edge/kubelet) running the pod — once on the process runtime,
 * once on containerd through CRI (skipped when containerd is not installed).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { edgeConfig, makePki, type TestPki } from '../../test/support/hub-fixture.ts';
import { createNamespace, deleteNamespace, kubeConfig, kubeconfigPath, kubectl } from '../../test/support/kube.ts';
import { readState } from '../../hack/local-cluster/control-plane.ts';
import { startCloud, defaultCloudConfig, type Cloud } from '../../cloud/cloud.ts';
import { startEdge, type EdgeAgent } from '../agent.ts';
import type { EdgeConfig } from '../config.ts';
import { checkInstalled, startContainerd, type Containerd } from '../../hack/containerd/containerd.ts';
import type { Summary } from './stats.ts';
import { waitFor } from '../../test/support/wait.ts';

const log = createLogger({ level: process.env.OUTPOST_TEST_LOG === '1' ? 'debug' : 'warn' });
const kubectlBin = () => join(readState()!.binDir, 'kubectl');
const busybox = 'docker.io/library/busybox:1.35';

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

const containerdInstalled = (() => {
  try {
    checkInstalled();
    return true;
  } catch {
    return false;
  }
})();

for (const runtime of ['process', 'cri'] as const) {
  describe.skipIf(runtime === 'cri' && !containerdInstalled)(`kubectl to an edge pod through the cloud kubelet endpoint (${runtime} runtime)`, () => {
    const run = Math.random().toString(36).slice(2, 7);
    const nodeName = `edge-kubelet-${runtime}-${run}`;
    const portBase = 20000 + Math.floor(Math.random() * 20000);
    const httpPort = 40000 + Math.floor(Math.random() * 10000);
    let pki: TestPki;
    let cloud: Cloud | undefined;
    let agent: EdgeAgent | undefined;
    let containerd: Containerd | undefined;
    let core: k8s.CoreV1Api;
    let ns: string;

    beforeAll(async () => {
      core = kubeConfig().makeApiClient(k8s.CoreV1Api);
      pki = await makePki();
      cloud = await startCloud({
        ...defaultCloudConfig, kubeconfig: kubeconfigPath(), leaderElect: false, healthPort: -1,
        hub: { host: '127.0.0.1', port: 0, protocols: ['websocket'], tls: { ca: pki.ca.certPem, cert: pki.hub.cert, key: pki.hub.key }, heartbeatMs: 1000 },
        // no clientCa: discovered from kube-system/extension-apiserver-authentication (on by default)
        // loopback only: tests never send traffic to this machine's other addresses
        kubelet: { host: '127.0.0.1', advertiseAddress: '127.0.0.1', portRange: [portBase, portBase + 20] },
      }, { log });
      if (runtime === 'cri') containerd = await startContainerd({ images: true });
      const config: EdgeConfig = {
        ...(await edgeConfig(pki, nodeName, cloud.hubAddresses.websocket!.port, 'websocket')), node: { ip: '127.0.0.1', heartbeatMs: 2000 },
        pods: runtime === 'cri' ? { runtime: 'cri', criEndpoint: `unix://${containerd!.socket}` } : { runtime: 'process', criEndpoint: '' },
      };
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
              { name: 'ticker', image: busybox, command: ['sh', '-c', 'i=0; while true; do echo "line-$i"; i=$((i+1)); sleep 0.2; done'] },
              runtime === 'cri'
                ? { name: 'web', image: busybox, command: ['httpd', '-f', '-p', `127.0.0.1:${httpPort}`, '-h', '/'] }
                : { name: 'web', image: 'python', command: ['python3', '-m', 'http.server', String(httpPort), '--bind', '127.0.0.1'] },
            ],
          },
        },
      });
      await waitFor('pod phase', async () => (await core.readNamespacedPod({ name: 'app', namespace: ns })).status?.phase, (p) => p === 'Running', 90_000);
    }, 300_000);

    afterAll(async () => {
      if (ns) await core.deleteNamespacedPod({ name: 'app', namespace: ns, gracePeriodSeconds: 0 }).catch(() => undefined);
      await agent?.stop();
      await cloud?.stop();
      await core?.deleteNode({ name: nodeName }).catch(() => undefined);
      if (ns) await deleteNamespace(ns);
      await containerd?.stop();
    }, 120_000);

      it('points the Node at this replica: InternalIP = advertised address, kubelet port from the range', async () => {
        const n = await core.readNode({ name: nodeName });
        expect(n.status!.addresses).toEqual([{ type: 'InternalIP', address: '127.0.0.1' }]);
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

      it('kubectl logs -f sees new lines as they are written, and its stream ends when kubectl goes', async () => {
        const f = await background(['logs', '-f', '-n', ns, 'app', '-c', 'ticker', '--tail=1'], /line-\d+\n/);
        const first = Number(/line-(\d+)/.exec(f.out())![1]);
        await expect.poll(() => Math.max(...[...f.out().matchAll(/line-(\d+)/g)].map((m) => Number(m[1]))), { timeout: 10_000 }).toBeGreaterThan(first + 5);
        const during = cloud!.kubelet!.streams();
        expect(during).toBeGreaterThan(0);
        f.kill();
        // the API server drops its connection to the kubelet endpoint: the tunnel stream is reset on both sides
        await expect.poll(() => cloud!.kubelet!.streams(), { timeout: 10_000 }).toBeLessThan(during);
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
        // the command ends on stdin's EOF: kubectl half-closes stdin, and the edge passes that on (process
        // runtime: the child's stdin ends; CRI: the connection is relayed to containerd's streaming server)
        const r = await kubectl(['exec', '-i', '-n', ns, 'app', '-c', 'ticker', '--', 'sh', '-c', 'tr a-z A-Z; echo done'], 'hello edge\n');
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toBe('HELLO EDGE\ndone\n');
      });

      it('kubectl exec -it gets a terminal (merged output, exit code)', async () => {
        // kubectl needs a terminal on its own stdin for -t: util-linux `script` gives it a pty
        const cmd = `${kubectlBin()} --kubeconfig ${kubeconfigPath()} exec -it -n ${ns} app -c ticker -- sh -c 'tty; echo err >&2; exit 4'`;
        const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
          let out = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.stderr.on('data', (d: Buffer) => (out += d.toString()));
          child.on('close', (code) => resolve({ code, out }));
        });
        expect(r.out).toMatch(/\/dev\/pts\/\d+/);
          expect(r.out).toContain('err');
        expect(r.code).toBe(4);
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
          // process: python's http.server (200); CRI: busybox httpd on an empty root (404): either way an answer through the tunnel
        expect(status).toBe(runtime === 'cri' ? 404 : 200);
        } finally {
          pf.kill();
        }
      });

      // nodes/proxy (kubectl get --raw /api/v1/nodes/N/proxy/...) refuses loopback node addresses,
      // and tests stay on loopback: read the node's kubelet endpoint the way the API server does,
      // with the API server's kubelet client certificate.
      const viaKubeletEndpoint = async (path: string) => {
        const port = (await core.readNode({ name: nodeName })).status!.daemonEndpoints!.kubeletEndpoint!.Port!;
        const pkiDir = join(readState()!.dir, 'pki');
        return await new Promise<{ code: number; body: string }>((resolve, reject) => {
          const req = httpsRequest({ host: '127.0.0.1', port, path, rejectUnauthorized: false,
            cert: readFileSync(join(pkiDir, 'apiserver-kubelet-client.crt')), key: readFileSync(join(pkiDir, 'apiserver-kubelet-client.key')) }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
          });
          req.on('error', reject);
          req.end();
        });
      };

      const summary = async () => JSON.parse((await viaKubeletEndpoint('/stats/summary')).body) as Summary;
      const appPod = (s: Summary) => s.pods.find((p) => p.podRef.namespace === ns && p.podRef.name === 'app');

      it('serves /stats/summary on the node\'s kubelet endpoint, with CPU and memory per container', async () => {
        const r = await viaKubeletEndpoint('/stats/summary');
        expect(r.code, r.body).toBe(200);
        expect(appPod(JSON.parse(r.body) as Summary)?.containers.map((c) => c.name).sort()).toEqual(['ticker', 'web']);
        // usage from the runtime: process groups in /proc (10 ms clock ticks: a fresh idle shell may still read 0),
        // or containerd's ListContainerStats (cgroups)
        await expect.poll(async () => Math.min(...(appPod(await summary())?.containers ?? []).map((c) => c.cpu?.usageCoreNanoSeconds ?? 0)), { timeout: 20_000 }).toBeGreaterThan(0);
        const s = await summary();
        expect(s.node.nodeName).toBe(nodeName);
        expect(s.node.memory.usageBytes).toBeGreaterThan(0);
        const pod = appPod(s);
        for (const c of pod!.containers) {
          expect(c.cpu?.usageCoreNanoSeconds, c.name).toBeGreaterThan(0);
          expect(c.memory?.workingSetBytes, c.name).toBeGreaterThan(0);
        }
        expect(pod!.cpu!.usageCoreNanoSeconds).toBe(pod!.containers.reduce((a, c) => a + c.cpu!.usageCoreNanoSeconds, 0));
        expect(pod!.memory!.workingSetBytes).toBeGreaterThan(0);
        // containerd computes a rate from its previous sample of the container
        if (runtime === 'cri') await expect.poll(async () => appPod(await summary())?.containers.find((c) => c.name === 'ticker')?.cpu?.usageNanoCores ?? 0, { timeout: 10_000 }).toBeGreaterThan(0);
      });

      it('serves /metrics/resource for metrics-server (kubectl top)', async () => {
        await expect.poll(async () => (await viaKubeletEndpoint('/metrics/resource')).body, { timeout: 20_000 }).toMatch(/container_cpu_usage_seconds_total\{container="ticker"/);
        const r = await viaKubeletEndpoint('/metrics/resource');
        expect(r.code, r.body).toBe(200);
        expect(r.body).toMatch(/^node_cpu_usage_seconds_total [\d.e+]+ \d+$/m);
        expect(r.body).toMatch(/^node_memory_working_set_bytes [\d.e+]+ \d+$/m);
        expect(r.body).toContain('scrape_error 0');
        for (const c of ['ticker', 'web']) {
          expect(r.body).toMatch(new RegExp(`^container_memory_working_set_bytes\\{container="${c}",namespace="${ns}",pod="app"\\} [1-9]`, 'm'));
          expect(r.body).toMatch(new RegExp(`^container_cpu_usage_seconds_total\\{container="${c}",namespace="${ns}",pod="app"\\} [\\d.e+-]+ \\d+$`, 'm'));
        }
        expect(r.body).toMatch(new RegExp(`^pod_memory_working_set_bytes\\{namespace="${ns}",pod="app"\\} [1-9]`, 'm'));
      });

    it('refuses a client certificate from another CA', async () => {
        const port = (await core.readNode({ name: nodeName })).status!.daemonEndpoints!.kubeletEndpoint!.Port!;
        const stranger = await pki.node('stranger', 'kube-apiserver-kubelet-client');
        const outcome = await new Promise<string>((resolve) => {
          const s = tlsConnect({ host: '127.0.0.1', port, cert: stranger.cert, key: stranger.key, rejectUnauthorized: false }, () => {
            s.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
          });
          s.on('data', (d: Buffer) => resolve(`answered: ${d.toString().split('\r\n')[0]}`));
          s.on('error', (e) => resolve(`refused: ${e.message}`));
          s.on('close', () => resolve('refused: closed'));
        });
        expect(outcome).toMatch(/^refused/);
      });
  });
}
