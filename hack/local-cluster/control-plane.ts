/**
 * A real single-node Kubernetes control plane on loopback for tests and the
 * quickstart: etcd, kube-apiserver, kube-controller-manager and kube-scheduler
 * built from Kubernetes' Go modules (hack/control-plane/build.sh), started the
 * way controller-runtime's envtest starts them, plus the node-lifecycle,
 * garbage-collector and service-account controllers that envtest lacks.
 *
 * State lives in one directory (default `.outpost/cluster` in the repo):
 * state.json (ports, pids, args), pki/, kubeconfig, logs/, etcd/.
 * `up` is idempotent: a running cluster is reused.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { request } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ClusterError } from './errors.ts';
import { ensurePki, type Pki } from './pki.ts';
import { processAlive } from '../../lib/process.ts';
import { freePorts } from '../../lib/ports.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const defaultClusterDir = process.env.OUTPOST_CLUSTER_DIR ?? join(repoRoot, '.outpost', 'cluster');

export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler';
export const components: readonly Component[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];

export interface ClusterState {
  dir: string;
  binDir: string;
  kubeconfig: string;
  server: string;
  ports: { etcd: number; etcdPeer: number; apiserver: number; controllerManager: number; scheduler: number };
  pids: Partial<Record<Component, number>>;
}

export interface UpOptions {
  dir?: string;
  /** Progress lines for humans (stderr by default). */
  progress?: (line: string) => void;
  /** How long to wait for /readyz, ms (2 cores: allow a minute). */
  readyTimeoutMs?: number;
  /** Extra flags per component (e.g. a shorter node-monitor-grace-period for tests). */
  extraArgs?: Partial<Record<Component, string[]>>;
}

const stderrProgress = (line: string) => process.stderr.write(`${line}\n`);

/** Builds (or finds cached) binaries and returns their directory. */
export async function ensureBinaries(progress: (l: string) => void = stderrProgress): Promise<string> {
  return await runBuildScript(join(repoRoot, 'hack', 'control-plane', 'build.sh'), 'the control plane', progress);
}

/**
 * Runs a hack/ build script (bash; its `build.sh:` stderr lines are progress) and resolves with
 * the last line it prints on stdout (what it built). Throws CLUSTER_BUILD_FAILED with the tail of
 * its stderr.
 */
export async function runBuildScript(script: string, what: string, progress: (l: string) => void = stderrProgress): Promise<string> {
  return await new Promise((resolveOut, reject) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      for (const line of d.toString().split('\n')) if (line.startsWith('build.sh:')) progress(line);
    });
    child.on('error', (e) => reject(new ClusterError('CLUSTER_BUILD_FAILED', `could not run ${script}: ${e.message}`, { cause: e })));
    child.on('exit', (code) => {
      if (code === 0) resolveOut(out.trim().split('\n').pop() ?? '');
      else reject(new ClusterError('CLUSTER_BUILD_FAILED', `building ${what} failed (exit ${code}); last output:\n${err.split('\n').slice(-15).join('\n')}`));
    });
  });
}

function statePath(dir: string): string {
  return join(dir, 'state.json');
}

/** Reads the saved state, or undefined when there is none. */
export function readState(dir = defaultClusterDir): ClusterState | undefined {
  const p = statePath(dir);
  if (!existsSync(p)) return undefined;
  return JSON.parse(readFileSync(p, 'utf8')) as ClusterState;
}

function writeState(s: ClusterState): void {
  writeFileSync(statePath(s.dir), JSON.stringify(s, null, 2));
}

/** GET a path on a loopback HTTPS endpoint; resolves with the status code (0 on connection error). */
function probe(port: number, path: string, ca?: Buffer, cert?: { cert: Buffer; key: Buffer }): Promise<{ status: number; body: string }> {
  return new Promise((res) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'GET', timeout: 2000, ...(ca ? { ca } : { rejectUnauthorized: false }), ...(cert ?? {}) },
      (r) => {
        let body = '';
        r.on('data', (d: Buffer) => (body += d.toString()));
        r.on('end', () => res({ status: r.statusCode ?? 0, body }));
      },
    );
    req.on('error', () => res({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, logFile?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  const tail = logFile && existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n') : '';
  throw new ClusterError('CLUSTER_START_TIMEOUT', `${what} was not ready after ${timeoutMs / 1000}s${logFile ? `; see ${logFile}:\n${tail}` : ''}`);
}

function args(state: ClusterState, pki: Pki, c: Component, extra: string[] = []): string[] {
  const d = state.dir;
  const p = state.ports;
  switch (c) {
    case 'etcd':
      return [
        '--name=outpost', `--data-dir=${join(d, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${p.etcd}`, `--advertise-client-urls=http://127.0.0.1:${p.etcd}`,
        `--listen-peer-urls=http://127.0.0.1:${p.etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${p.etcdPeer}`,
        `--initial-cluster=outpost=http://127.0.0.1:${p.etcdPeer}`, '--unsafe-no-fsync=true', '--log-level=warn', ...extra,
      ];
    case 'kube-apiserver':
      return [
        `--etcd-servers=http://127.0.0.1:${p.etcd}`,
        '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${p.apiserver}`,
        `--cert-dir=${join(d, 'apiserver-certs')}`,
        `--tls-cert-file=${pki.apiserverCert}`, `--tls-private-key-file=${pki.apiserverKey}`,
        `--client-ca-file=${pki.caCert}`,
        `--kubelet-client-certificate=${pki.kubeletClientCert}`, `--kubelet-client-key=${pki.kubeletClientKey}`,
        `--service-account-issuer=https://127.0.0.1:${p.apiserver}`,
        `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
        '--service-cluster-ip-range=10.0.0.0/24', '--authorization-mode=Node,RBAC', '--allow-privileged=true',
        '--endpoint-reconciler-type=none', '--enable-priority-and-fairness=false',
        // aggregation layer (APIService, e.g. metrics-server for kubectl top): kubeadm's front-proxy flags
        `--requestheader-client-ca-file=${pki.frontProxyCaCert}`, '--requestheader-allowed-names=front-proxy-client',
        '--requestheader-username-headers=X-Remote-User', '--requestheader-group-headers=X-Remote-Group', '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        `--proxy-client-cert-file=${pki.frontProxyClientCert}`, `--proxy-client-key-file=${pki.frontProxyClientKey}`, ...extra,
      ];
    case 'kube-controller-manager':
      return [
        `--kubeconfig=${state.kubeconfig}`, `--authentication-kubeconfig=${state.kubeconfig}`, `--authorization-kubeconfig=${state.kubeconfig}`,
        '--bind-address=127.0.0.1', `--secure-port=${p.controllerManager}`, '--leader-elect=false',
        `--service-account-private-key-file=${pki.saKey}`, `--root-ca-file=${pki.caCert}`,
        `--cluster-signing-cert-file=${pki.caCert}`, `--cluster-signing-key-file=${pki.caKey}`,
        '--use-service-account-credentials=false', '--controllers=*', ...extra,
      ];
    case 'kube-scheduler':
      return [
        `--kubeconfig=${state.kubeconfig}`, `--authentication-kubeconfig=${state.kubeconfig}`, `--authorization-kubeconfig=${state.kubeconfig}`,
        '--bind-address=127.0.0.1', `--secure-port=${p.scheduler}`, '--leader-elect=false', ...extra,
      ];
  }
}

function startProcess(state: ClusterState, bin: string, argv: string[], name: Component): number {
  const logDir = join(state.dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const fd = openSync(join(logDir, `${name}.log`), 'a');
  const child = spawn(join(state.binDir, bin), argv, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  if (!child.pid) throw new ClusterError('CLUSTER_PROCESS_EXITED', `${name} did not start; see ${join(logDir, `${name}.log`)}`);
  return child.pid;
}

function writeKubeconfig(state: ClusterState, pki: Pki): void {
  const kc = [
    'apiVersion: v1', 'kind: Config',
    'clusters:', '- name: outpost-local', '  cluster:', `    server: ${state.server}`, `    certificate-authority: ${pki.caCert}`,
    'users:', '- name: outpost-admin', '  user:', `    client-certificate: ${pki.adminCert}`, `    client-key: ${pki.adminKey}`,
    'contexts:', '- name: outpost-local', '  context:', '    cluster: outpost-local', '    user: outpost-admin',
    'current-context: outpost-local', '',
  ].join('\n');
  writeFileSync(state.kubeconfig, kc, { mode: 0o600 });
}

async function waitComponent(state: ClusterState, pki: Pki, c: Component, timeoutMs: number): Promise<void> {
  const log = join(state.dir, 'logs', `${c}.log`);
  const ca = readFileSync(pki.caCert);
  const pid = state.pids[c];
  const alive = async (f: () => Promise<boolean>) => {
    if (!processAlive(pid)) {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-20).join('\n') : '';
      throw new ClusterError('CLUSTER_PROCESS_EXITED', `${c} exited during start-up; see ${log}:\n${tail}`);
    }
    return await f();
  };
  switch (c) {
    case 'etcd':
      return waitFor('etcd', timeoutMs, () => alive(async () => {
        try {
          const r = await fetch(`http://127.0.0.1:${state.ports.etcd}/health`);
          return r.ok;
        } catch {
          return false;
        }
      }), log);
    case 'kube-apiserver':
      return waitFor('kube-apiserver /readyz', timeoutMs, () => alive(async () => (await probe(state.ports.apiserver, '/readyz', ca)).status === 200), log);
    case 'kube-controller-manager':
      return waitFor('kube-controller-manager /healthz', timeoutMs, () => alive(async () => (await probe(state.ports.controllerManager, '/healthz')).status === 200), log);
    case 'kube-scheduler':
      return waitFor('kube-scheduler /healthz', timeoutMs, () => alive(async () => (await probe(state.ports.scheduler, '/healthz')).status === 200), log);
  }
}

/** True when every component of the saved state is alive and the API server answers /readyz. */
export async function isRunning(dir = defaultClusterDir): Promise<boolean> {
  const s = readState(dir);
  if (!s) return false;
  if (!components.every((c) => processAlive(s.pids[c]))) return false;
  const ca = readFileSync(join(dir, 'pki', 'ca.crt'));
  return (await probe(s.ports.apiserver, '/readyz', ca)).status === 200;
}

/**
 * Starts the control plane (or reuses a running one) and returns its state;
 * `state.kubeconfig` is the admin kubeconfig. Idempotent.
 */
export async function up(opts: UpOptions = {}): Promise<ClusterState> {
  const dir = resolve(opts.dir ?? defaultClusterDir);
  mkdirSync(dir, { recursive: true });
  return await withLock(dir, () => upLocked(dir, opts));
}

/**
 * Serialises up/down/restart between processes (parallel test runs share one
 * cluster): a lock directory holding the owner's pid; a lock whose owner died is taken over.
 */
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(dir, '.lock');
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      const owner = Number(existsSync(join(lock, 'pid')) ? readFileSync(join(lock, 'pid'), 'utf8') : '0');
      if (owner && !processAlive(owner)) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new ClusterError('CLUSTER_START_TIMEOUT', `waited 10 min for ${lock}; remove it if no other cluster command runs`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

async function upLocked(dir: string, opts: UpOptions): Promise<ClusterState> {
  const progress = opts.progress ?? stderrProgress;
  const timeout = opts.readyTimeoutMs ?? 90_000;
  const existing = readState(dir);
  if (existing && components.every((c) => processAlive(existing.pids[c]))) {
    // Everything runs: it may only be restarting (e.g. an API server restart in a test); give it time.
    const pki = ensurePki(join(dir, 'pki'));
    await waitComponent(existing, pki, 'kube-apiserver', timeout);
    return existing;
  }
  // A half-running cluster (some component died) is restarted from scratch.
  if (existing) await downLocked(dir, false);
  const binDir = await ensureBinaries(progress);
  mkdirSync(dir, { recursive: true });
  const pki = ensurePki(join(dir, 'pki'));
  const [etcd, etcdPeer, apiserver, controllerManager, scheduler] = (await freePorts(5)) as [number, number, number, number, number];
  const ports = { etcd, etcdPeer, apiserver, controllerManager, scheduler };
  const state: ClusterState = {
    dir, binDir, kubeconfig: join(dir, 'kubeconfig'), server: `https://127.0.0.1:${ports.apiserver}`, ports, pids: {},
  };
  writeKubeconfig(state, pki);
  writeFileSync(join(dir, 'args.json'), JSON.stringify(opts.extraArgs ?? {}));
  for (const c of components) {
    progress(`cluster: starting ${c}`);
    await startComponent(state, pki, c, opts.extraArgs?.[c], timeout);
  }
  progress(`cluster: ready at ${state.server}`);
  return state;
}

/**
 * Starts one component and waits for it. The controller-manager and scheduler
 * exit if the API server is not fully serving yet (e.g. the
 * extension-apiserver-authentication ConfigMap is missing right after /readyz),
 * so they get a few attempts.
 */
async function startComponent(state: ClusterState, pki: Pki, c: Component, extra: string[] | undefined, timeout: number): Promise<void> {
  const attempts = c === 'etcd' || c === 'kube-apiserver' ? 1 : 5;
  for (let i = 1; ; i++) {
    state.pids[c] = startProcess(state, c === 'etcd' ? 'etcd' : 'hyperkube', c === 'etcd' ? args(state, pki, c, extra) : [c, ...args(state, pki, c, extra)], c);
    writeState(state);
    try {
      await waitComponent(state, pki, c, timeout);
      return;
    } catch (err) {
      if (i >= attempts || !(err instanceof ClusterError) || err.code !== 'CLUSTER_PROCESS_EXITED') throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function stopPid(pid: number | undefined, graceMs = 10_000): Promise<void> {
  if (!processAlive(pid)) return;
  try {
    process.kill(pid!, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && processAlive(pid)) await new Promise((r) => setTimeout(r, 100));
  if (processAlive(pid)) {
    try {
      process.kill(pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** Stops every component; removes the directory unless keepData. Idempotent. */
export async function down(opts: { dir?: string; keepData?: boolean } = {}): Promise<void> {
  const dir = resolve(opts.dir ?? defaultClusterDir);
  if (!existsSync(dir)) return;
  await withLock(dir, () => downLocked(dir, opts.keepData ?? false));
  if (!opts.keepData) rmSync(dir, { recursive: true, force: true });
}

async function downLocked(dir: string, keepData: boolean): Promise<void> {
  const s = readState(dir);
  if (s) for (const c of [...components].reverse()) await stopPid(s.pids[c]);
  if (!keepData) {
    for (const f of ['state.json', 'etcd', 'logs', 'apiserver-certs', 'kubeconfig', 'args.json']) rmSync(join(dir, f), { recursive: true, force: true });
  }
}

/**
 * Restarts one component in place (same ports, same data), e.g. to prove a
 * controller survives an API server restart. `signal` SIGKILL simulates a crash.
 */
export async function restart(c: Component, opts: { dir?: string; signal?: NodeJS.Signals; downtimeMs?: number } = {}): Promise<void> {
  const dir = resolve(opts.dir ?? defaultClusterDir);
  await withLock(dir, () => restartLocked(dir, c, opts));
}

async function restartLocked(dir: string, c: Component, opts: { signal?: NodeJS.Signals; downtimeMs?: number }): Promise<void> {
  const state = readState(dir);
  if (!state) throw new ClusterError('CLUSTER_NOT_RUNNING', `no cluster state in ${dir}; run npm run cluster:up first`);
  const pki = ensurePki(join(dir, 'pki'));
  const pid = state.pids[c];
  if (opts.signal === 'SIGKILL') {
    if (processAlive(pid)) process.kill(pid!, 'SIGKILL');
    while (processAlive(pid)) await new Promise((r) => setTimeout(r, 50));
  } else {
    await stopPid(pid);
  }
  if (opts.downtimeMs) await new Promise((r) => setTimeout(r, opts.downtimeMs));
  const extra = (JSON.parse(readFileSync(join(dir, 'args.json'), 'utf8')) as UpOptions['extraArgs'])?.[c];
  await startComponent(state, pki, c, extra, 90_000);
}

/** Runs the cluster's kubectl with the admin kubeconfig; resolves stdout, rejects with stderr. */
export async function kubectl(argv: string[], opts: { dir?: string; input?: string } = {}): Promise<string> {
  const dir = resolve(opts.dir ?? defaultClusterDir);
  const s = readState(dir);
  if (!s) throw new ClusterError('CLUSTER_NOT_RUNNING', `no cluster state in ${dir}; run npm run cluster:up first`);
  const run = promisify(execFile);
  const child = run(join(s.binDir, 'kubectl'), ['--kubeconfig', s.kubeconfig, ...argv], { maxBuffer: 64 << 20 });
  if (opts.input !== undefined) {
    child.child.stdin?.end(opts.input);
  }
  const { stdout } = await child;
  return stdout;
}
