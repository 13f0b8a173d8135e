/**
 * metrics-server (sigs.k8s.io/metrics-server, built from its Go module by
 * build.sh) as a local process against the local control plane, for tests of
 * `kubectl top` with edge nodes:
 *
 * - `buildMetricsServer()`: the cached binary, built on first use (Go needed);
 * - `startMetricsServer(o)`: runs it on a free loopback port, with the admin
 *   kubeconfig for its API client, delegated authentication/authorization, and
 *   the flags edge nodes need (their kubelet endpoint port is in the Node's
 *   status, their address is InternalIP, the endpoint wants a client
 *   certificate from the cluster's client CA);
 * - `apiServiceManifests(o)`: the Service + APIService that make the API
 *   server's aggregator send /apis/metrics.k8s.io to it. The aggregator
 *   resolves a Service of type ExternalName to `https://<externalName>:<port>`
 *   (k8s.io/apiserver pkg/util/proxy ResolveCluster) and skips the endpoint
 *   check for it (kube-aggregator's remote available controller only checks
 *   ClusterIP services), while Endpoints may not point at 127.0.0.0/8: so an
 *   ExternalName Service `localhost` reaches a process on this machine.
 *
 * Needs an API server with the aggregation-layer flags (--requestheader-*,
 * --proxy-client-*; hack/local-cluster sets them).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBuildScript } from '../local-cluster/control-plane.ts';
import { ClusterError } from '../local-cluster/errors.ts';
import { processAlive } from '../../lib/process.ts';
import { freePort } from '../../lib/ports.ts';

const here = import.meta.dirname;
export const metricsServerVersion = readFileSync(join(here, 'VERSION'), 'utf8').trim();
const cached = () => join(process.env.OUTPOST_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? '/root', '.cache'), 'outpost'), `metrics-server-${metricsServerVersion}`, 'metrics-server');

/** Why metrics-server cannot be had here (no Go and no cached binary), or undefined when it can. */
export function metricsServerUnavailable(): string | undefined {
  if (existsSync(cached())) return undefined;
  const go = (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, 'go')));
  return go ? undefined : `Go is not installed and ${cached()} is not built: metrics-server ${metricsServerVersion} is built from its Go module (hack/metrics-server/build.sh needs Go >= 1.26.4)`;
}

/** Builds metrics-server (a cache hit costs nothing) and returns the binary's path. Throws CLUSTER_BUILD_FAILED. */
export async function buildMetricsServer(progress: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<string> {
  return await runBuildScript(join(here, 'build.sh'), `metrics-server ${metricsServerVersion}`, progress);
}

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export interface MetricsServerOptions {
  binary: string;
  /** Kubeconfig for its API client and for delegated authentication/authorization (TokenReview, SubjectAccessReview). */
  kubeconfig: string;
  /** Client certificate for the kubelet endpoints (outpost's cloud kubelet endpoint accepts the cluster client CA's). */
  kubeletClientCert: string;
  kubeletClientKey: string;
  /** Label selector of the nodes to scrape (default all; tests on a shared cluster scrape only their own). */
  nodeSelector?: string;
  /** Scrape interval (default 10s, metrics-server's minimum). */
  metricResolution?: string;
  /** Working directory (serving certificate, log); default a new temp dir, removed by stop(). */
  dir?: string;
}

export interface MetricsServer {
  port: number;
  pid: number;
  dir: string;
  logFile: string;
  /** The last lines of its log (for failure messages). */
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL; removes the temp dir it created. Idempotent. */
  stop(): Promise<void>;
}

/** Starts metrics-server on a free loopback port; resolves once /livez answers. Throws CLUSTER_PROCESS_EXITED or CLUSTER_START_TIMEOUT. */
export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const ownDir = !o.dir;
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'outpost-metrics-server-'));
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const logFile = join(dir, 'metrics-server.log');
  const fd = openSync(logFile, 'a');
  const args = [
    `--kubeconfig=${o.kubeconfig}`, `--authentication-kubeconfig=${o.kubeconfig}`, `--authorization-kubeconfig=${o.kubeconfig}`,
    '--bind-address=127.0.0.1', `--secure-port=${port}`, `--cert-dir=${join(dir, 'certs')}`,
    // edge nodes: each has its own kubelet endpoint port (Node.status.daemonEndpoints), reached at its InternalIP
    '--kubelet-use-node-status-port', '--kubelet-preferred-address-types=InternalIP',
    // the cloud kubelet endpoint's serving certificate comes from an in-memory CA (cloud/kubelet/README.md)
    '--kubelet-insecure-tls',
    `--kubelet-client-certificate=${o.kubeletClientCert}`, `--kubelet-client-key=${o.kubeletClientKey}`,
    // metrics-server refuses a resolution not above the request timeout (default 10s)
    `--metric-resolution=${o.metricResolution ?? '10s'}`, '--kubelet-request-timeout=5s',
    ...(o.nodeSelector ? [`--node-selector=${o.nodeSelector}`] : []),
    '--v=2',
  ];
  const child = spawn(o.binary, args, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  const pid = child.pid!;
  const logTail = (n = 20) => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-n).join('\n') : '');
  const stop = async () => {
    if (processAlive(pid)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      for (let i = 0; i < 100 && processAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
      if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (!processAlive(pid)) {
      const tail = logTail();
      await stop();
      throw new ClusterError('CLUSTER_PROCESS_EXITED', `metrics-server exited during start-up (${args.join(' ')}):\n${tail}`);
    }
    if ((await get(port, '/livez')) === 200) break;
    if (Date.now() > deadline) {
      const tail = logTail();
      await stop();
      throw new ClusterError('CLUSTER_START_TIMEOUT', `metrics-server did not answer /livez on 127.0.0.1:${port} within 60 s:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { port, pid, dir, logFile, logTail, stop };
}

/**
 * The Service (type ExternalName `localhost`) and the APIService v1beta1.metrics.k8s.io that
 * route the metrics API to a metrics-server on this machine's `port`. The APIService name is
 * fixed by the API: one per cluster. insecureSkipTLSVerify: metrics-server serves a
 * self-signed certificate, as in its upstream manifests.
 */
export function apiServiceManifests(o: { namespace: string; serviceName: string; port: number }): object {
  return {
    apiVersion: 'v1', kind: 'List',
    items: [
      {
        apiVersion: 'v1', kind: 'Service', metadata: { name: o.serviceName, namespace: o.namespace },
        spec: { type: 'ExternalName', externalName: 'localhost', ports: [{ name: 'https', port: o.port, protocol: 'TCP' }] },
      },
      {
        apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: 'v1beta1.metrics.k8s.io', labels: { 'app.kubernetes.io/managed-by': 'outpost-tests' } },
        spec: {
          group: 'metrics.k8s.io', version: 'v1beta1', groupPriorityMinimum: 100, versionPriority: 100, insecureSkipTLSVerify: true,
          service: { namespace: o.namespace, name: o.serviceName, port: o.port },
        },
      },
    ],
  };
}
