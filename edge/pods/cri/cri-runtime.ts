/**
 * The CRI runtime: pods as containerd PodSandboxes and containers through
 * the CRI v1 gRPC API (platform-notes §5.3):
 *
 * - host network only (`namespace_options.network = NODE`), no hostname
 *   (runc refuses to set one without a private UTS namespace), no CNI;
 * - the sandbox's log directory is the pod's log directory, and each
 *   container logs to `<container>/<attempt>.log` there (containerd writes
 *   the CRI log format itself);
 * - images must be in containerd's `k8s.io` namespace; a missing image is
 *   pulled unless imagePullPolicy is Never. `Always` falls back to the local
 *   image when the pull fails (an offline edge node keeps running what it
 *   has; the kubelet would fail the container);
 * - containerd 1.6 has no GetContainerEvents (1.7+), so exits are found by
 *   polling ListContainers (`pollMs`, default 1 s);
 * - containers and sandboxes carry the label `outpost.io/managed=true`.
 *
 * containerd keeps containers across an agent restart, so adopt() only
 * checks that the container still exists.
 */
import { relative } from 'node:path';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { PodError } from '../errors.ts';
import type { ContainerHandle, ContainerSpec, ContainerUsage, ExecResult, ExecSession, ObservedState, PodRuntime, SandboxHandle, SandboxSpec, StreamOptions } from '../runtime.ts';
import type { Logger } from '../../../lib/log.ts';
import { CriClient, isNotFound } from './client.ts';
import { openStream } from './streams.ts';
import { usageFromCriStats, type CriContainerStats } from './stats.ts';

export interface CriRuntimeOptions {
  /** `unix:///run/containerd/containerd.sock` or a socket path. */
  endpoint: string;
  log: Logger;
  /** Exit polling interval, ms (default 1000). */
  pollMs?: number;
}

const managedLabel = 'outpost.io/managed';

interface CriContainerStatus {
  id: string;
  state: string;
  created_at: number;
  started_at: number;
  finished_at: number;
  exit_code: number;
  reason: string;
  message: string;
  image_ref: string;
}

const nsToMs = (ns: number) => Math.round(ns / 1e6);

export class CriRuntime implements PodRuntime {
  readonly type = 'cri';
  readonly #client: CriClient;
  readonly #log: Logger;
  readonly #pollMs: number;
  readonly #watched = new Set<string>();
  readonly #exitListeners = new Set<(h: ContainerHandle) => void>();
  /** Sandbox configs by sandbox id (CreateContainer needs the sandbox config again). */
  readonly #sandboxConfigs = new Map<string, object>();
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  #closed = false;

  constructor(opts: CriRuntimeOptions) {
    this.#client = new CriClient(opts.endpoint);
    this.#log = opts.log.child({ runtime: 'cri' });
    this.#pollMs = opts.pollMs ?? 1000;
  }

  /** Waits for the CRI endpoint (throws POD_RUNTIME_UNAVAILABLE). */
  async ready(timeoutMs?: number): Promise<void> {
    await this.#client.ready(timeoutMs);
  }

  async version(): Promise<{ name: string; version: string }> {
    const v = await this.#client.ready();
    return { name: v.runtime_name, version: v.runtime_version };
  }

  #wrap(err: unknown, code: 'POD_START_FAILED' | 'POD_RUNTIME_UNAVAILABLE', what: string, reason?: string): PodError {
    if (err instanceof PodError) return err;
    const e = err as { details?: string; message?: string };
    return new PodError(code, `${what}: ${e.details ?? e.message ?? String(err)}`, { cause: err, ...(reason ? { reason } : {}) });
  }

  #sandboxConfig(spec: SandboxSpec): object {
    return {
      metadata: { name: spec.name, uid: spec.uid, namespace: spec.namespace, attempt: spec.attempt },
      log_directory: spec.logDir,
      labels: {
        ...spec.labels, 'io.kubernetes.pod.name': spec.name, 'io.kubernetes.pod.namespace': spec.namespace, 'io.kubernetes.pod.uid': spec.uid, [managedLabel]: 'true',
      },
      annotations: spec.annotations,
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
  }

  async runSandbox(spec: SandboxSpec): Promise<SandboxHandle> {
    const config = this.#sandboxConfig(spec);
    try {
      const r = await this.#client.runtime<{ pod_sandbox_id: string }>('RunPodSandbox', { config, runtime_handler: '' }, 120_000);
      this.#sandboxConfigs.set(r.pod_sandbox_id, config);
      return { id: r.pod_sandbox_id, data: { logDir: spec.logDir, uid: spec.uid, name: spec.name, namespace: spec.namespace, attempt: spec.attempt } };
    } catch (err) {
      throw this.#wrap(err, 'POD_START_FAILED', `RunPodSandbox for ${spec.namespace}/${spec.name}`);
    }
  }

  #configOf(sandbox: SandboxHandle): object {
    const known = this.#sandboxConfigs.get(sandbox.id);
    if (known) return known;
    const d = sandbox.data ?? {};
    const config = this.#sandboxConfig({
      uid: String(d.uid ?? ''), name: String(d.name ?? ''), namespace: String(d.namespace ?? ''), attempt: Number(d.attempt ?? 0),
      logDir: String(d.logDir ?? ''), podDir: '', labels: {}, annotations: {},
    });
    this.#sandboxConfigs.set(sandbox.id, config);
    return config;
  }

  async sandboxReady(sandbox: SandboxHandle): Promise<boolean> {
    try {
      const r = await this.#client.runtime<{ status: { state: string } | null }>('PodSandboxStatus', { pod_sandbox_id: sandbox.id });
      return r.status?.state === 'SANDBOX_READY';
    } catch (err) {
      if (isNotFound(err)) return false;
      throw this.#wrap(err, 'POD_RUNTIME_UNAVAILABLE', 'PodSandboxStatus');
    }
  }

  async stopSandbox(sandbox: SandboxHandle): Promise<void> {
    try {
      await this.#client.runtime('StopPodSandbox', { pod_sandbox_id: sandbox.id }, 60_000);
    } catch (err) {
      if (!isNotFound(err)) throw this.#wrap(err, 'POD_RUNTIME_UNAVAILABLE', 'StopPodSandbox');
    }
  }

  async removeSandbox(sandbox: SandboxHandle): Promise<void> {
    await this.stopSandbox(sandbox);
    try {
      await this.#client.runtime('RemovePodSandbox', { pod_sandbox_id: sandbox.id }, 60_000);
    } catch (err) {
      if (!isNotFound(err)) throw this.#wrap(err, 'POD_RUNTIME_UNAVAILABLE', 'RemovePodSandbox');
    }
    this.#sandboxConfigs.delete(sandbox.id);
  }

  async #ensureImage(spec: ContainerSpec, sandboxConfig: object): Promise<string> {
    const image = spec.image;
    if (!image) throw new PodError('POD_START_FAILED', `container ${spec.name}: image is empty`, { reason: 'InvalidImageName' });
    const status = async () => (await this.#client.image<{ image: { id: string } | null }>('ImageStatus', { image: { image } })).image;
    let present = await status().catch(() => null);
    if (present && spec.imagePullPolicy !== 'Always') return present.id;
    if (!present && spec.imagePullPolicy === 'Never') {
      throw new PodError('POD_IMAGE_PULL_FAILED', `container ${spec.name}: image "${image}" is not present with pull policy of Never`, { reason: 'ErrImageNeverPull' });
    }
    try {
      await this.#client.image('PullImage', { image: { image }, sandbox_config: sandboxConfig }, 300_000);
      present = await status();
    } catch (err) {
      if (present) {
        this.#log.info('Pull failed; using the local image', { image, message: (err as Error).message });
        return present.id;
      }
      throw new PodError('POD_IMAGE_PULL_FAILED', `container ${spec.name}: failed to pull image "${image}": ${(err as { details?: string }).details ?? (err as Error).message}`, { cause: err });
    }
    return present?.id ?? '';
  }

  async startContainer(sandbox: SandboxHandle, spec: ContainerSpec): Promise<{ handle: ContainerHandle; startedAt: number }> {
    const sandboxConfig = this.#configOf(sandbox);
    const imageId = await this.#ensureImage(spec, sandboxConfig);
    const logDir = String(sandbox.data?.logDir ?? '');
    const security: Record<string, unknown> = { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } };
    if (spec.runAsUser !== undefined) security.run_as_user = { value: spec.runAsUser };
    if (spec.runAsGroup !== undefined) security.run_as_group = { value: spec.runAsGroup };
    const resources: Record<string, number> = {};
    if (spec.memoryLimitBytes) resources.memory_limit_in_bytes = spec.memoryLimitBytes;
    if (spec.cpuMillis) {
      resources.cpu_period = 100_000;
      resources.cpu_quota = Math.max(1000, spec.cpuMillis * 100);
    }
    const config = {
      metadata: { name: spec.name, attempt: spec.attempt },
      image: { image: spec.image },
      command: spec.command, args: spec.args, working_dir: spec.workingDir ?? '',
      envs: spec.env.map((e) => ({ key: e.name, value: e.value })),
      mounts: spec.mounts.map((m) => ({ container_path: m.containerPath, host_path: m.hostPath, readonly: m.readOnly, propagation: 'PROPAGATION_PRIVATE' })),
      labels: { ...spec.labels, [managedLabel]: 'true' },
      annotations: spec.annotations,
      log_path: logDir ? relative(logDir, spec.logPath) : spec.logPath,
      stdin: spec.stdin, stdin_once: spec.stdinOnce, tty: spec.tty,
      linux: { resources, security_context: security },
    };
    let id: string;
    try {
      id = (await this.#client.runtime<{ container_id: string }>('CreateContainer', { pod_sandbox_id: sandbox.id, config, sandbox_config: sandboxConfig }, 120_000)).container_id;
    } catch (err) {
      throw this.#wrap(err, 'POD_START_FAILED', `CreateContainer ${spec.name}`, 'CreateContainerError');
    }
    try {
      await this.#client.runtime('StartContainer', { container_id: id }, 120_000);
    } catch (err) {
      await this.#client.runtime('RemoveContainer', { container_id: id }).catch(() => undefined);
      throw this.#wrap(err, 'POD_START_FAILED', `StartContainer ${spec.name}`, 'RunContainerError');
    }
    const s = await this.#status(id);
    this.#watched.add(id);
    this.#ensureTimer();
    return { handle: { id, data: { imageId } }, startedAt: s && s.started_at > 0 ? nsToMs(s.started_at) : Date.now() };
  }

  async #status(id: string): Promise<CriContainerStatus | undefined> {
    try {
      return (await this.#client.runtime<{ status: CriContainerStatus | null }>('ContainerStatus', { container_id: id })).status ?? undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw this.#wrap(err, 'POD_RUNTIME_UNAVAILABLE', 'ContainerStatus');
    }
  }

  async adopt(_sandbox: SandboxHandle, handle: ContainerHandle): Promise<ObservedState> {
    const s = await this.inspect(handle);
    if (s.state === 'running') {
      this.#watched.add(handle.id);
      this.#ensureTimer();
    }
    return s;
  }

  async inspect(handle: ContainerHandle): Promise<ObservedState> {
    const s = await this.#status(handle.id);
    if (!s) return { state: 'unknown', message: `container ${handle.id} is not known to containerd` };
    if (s.state === 'CONTAINER_RUNNING' || s.state === 'CONTAINER_CREATED') return { state: 'running', startedAt: s.started_at > 0 ? nsToMs(s.started_at) : Date.now() };
    if (s.state === 'CONTAINER_EXITED') {
      return {
        state: 'exited', exitCode: s.exit_code, startedAt: nsToMs(s.started_at), finishedAt: nsToMs(s.finished_at),
        reason: s.reason || (s.exit_code === 0 ? 'Completed' : 'Error'), ...(s.message ? { message: s.message } : {}),
        ...(s.exit_code > 128 && s.exit_code < 160 ? { signal: s.exit_code - 128 } : {}),
      };
    }
    return { state: 'unknown', message: `container ${handle.id} is in state ${s.state}` };
  }

  #ensureTimer(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => void this.#poll(), this.#pollMs);
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    if (this.#polling || this.#closed) return;
    if (this.#watched.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    this.#polling = true;
    try {
      const r = await this.#client.runtime<{ containers: { id: string; state: string }[] }>('ListContainers', { filter: { label_selector: { [managedLabel]: 'true' } } });
      const states = new Map(r.containers.map((c) => [c.id, c.state]));
      for (const id of [...this.#watched]) {
        const st = states.get(id);
        if (st === 'CONTAINER_RUNNING' || st === 'CONTAINER_CREATED') continue;
        this.#watched.delete(id);
        for (const l of this.#exitListeners) l({ id });
      }
    } catch (err) {
      this.#log.debug('ListContainers failed', { err });
    } finally {
      this.#polling = false;
    }
  }

  async stopContainer(handle: ContainerHandle, graceMs: number): Promise<void> {
    try {
      await this.#client.runtime('StopContainer', { container_id: handle.id, timeout: Math.ceil(graceMs / 1000) }, graceMs + 60_000);
    } catch (err) {
      if (!isNotFound(err)) throw this.#wrap(err, 'POD_RUNTIME_UNAVAILABLE', 'StopContainer');
    }
    if (this.#watched.delete(handle.id)) for (const l of this.#exitListeners) l(handle);
  }

  async removeContainer(handle: ContainerHandle): Promise<void> {
    this.#watched.delete(handle.id);
    try {
      await this.#client.runtime('RemoveContainer', { container_id: handle.id }, 60_000);
    } catch (err) {
      if (!isNotFound(err)) throw this.#wrap(err, 'POD_RUNTIME_UNAVAILABLE', 'RemoveContainer');
    }
  }

  onExit(cb: (handle: ContainerHandle) => void): () => void {
    this.#exitListeners.add(cb);
    return () => this.#exitListeners.delete(cb);
  }

  async execSync(handle: ContainerHandle, cmd: string[], timeoutMs: number): Promise<ExecResult> {
    const timeout = Math.max(1, Math.ceil(timeoutMs / 1000));
    try {
      const r = await this.#client.runtime<{ stdout: Buffer; stderr: Buffer; exit_code: number }>('ExecSync', { container_id: handle.id, cmd, timeout }, timeoutMs + 5000);
      return { exitCode: r.exit_code, stdout: Buffer.from(r.stdout ?? []), stderr: Buffer.from(r.stderr ?? []), timedOut: false };
    } catch (err) {
      const e = err as { code?: number; details?: string };
      // DEADLINE_EXCEEDED (4) or containerd's "timeout" error: the command ran too long
      const timedOut = e.code === 4 || /timeout|deadline/i.test(e.details ?? '');
      return { exitCode: timedOut ? 124 : 126, stdout: Buffer.alloc(0), stderr: Buffer.from(e.details ?? String(err)), timedOut };
    }
  }

  async exec(handle: ContainerHandle, cmd: string[], opts: StreamOptions): Promise<ExecSession> {
    return await openStream(await this.streamUrl('exec', handle, cmd, opts), opts);
  }

  async attach(handle: ContainerHandle, opts: StreamOptions): Promise<ExecSession> {
    return await openStream(await this.streamUrl('attach', handle, [], opts), opts);
  }

  /** The URL of containerd's streaming server for one exec or attach (CRI Exec/Attach). */
  async streamUrl(kind: 'exec' | 'attach', handle: ContainerHandle, cmd: string[], opts: StreamOptions): Promise<string> {
    const req = { container_id: handle.id, tty: opts.tty, stdin: opts.stdin, stdout: opts.stdout, stderr: opts.stderr && !opts.tty };
    const method = kind === 'exec' ? 'Exec' : 'Attach';
    const r = await this.#client.runtime<{ url: string }>(method, kind === 'exec' ? { ...req, cmd } : req)
      .catch((err: unknown) => {
        throw isNotFound(err) ? new PodError('POD_CONTAINER_NOT_FOUND', `container ${handle.id} not found`) : this.#wrap(err, 'POD_RUNTIME_UNAVAILABLE', method);
      });
    return r.url;
  }

  async portForward(_sandbox: SandboxHandle, port: number): Promise<Duplex> {
    // host network: the pod's port is the node's
    return await new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  }

  /** Sandboxes this runtime created (label outpost.io/managed), for garbage collection. */
  async listSandboxes(): Promise<{ id: string; uid: string; labels: Record<string, string> }[]> {
    const r = await this.#client.runtime<{ items: { id: string; state: string; metadata: { uid: string }; labels: Record<string, string> }[] }>('ListPodSandbox', { filter: { label_selector: { [managedLabel]: 'true' } } });
    return r.items.map((s) => ({ id: s.id, uid: s.metadata.uid, labels: s.labels ?? {} }));
  }

  /**
   * Usage from containerd's cgroup metrics: one ListContainerStats for the containers this
   * runtime manages, then filtered to `handles` (cri/stats.ts maps the fields).
   */
  async containerStats(handles: ContainerHandle[]): Promise<Map<string, ContainerUsage>> {
    if (handles.length === 0) return new Map();
    let r: { stats: CriContainerStats[] };
    try {
      r = await this.#client.runtime<{ stats: CriContainerStats[] }>('ListContainerStats', { filter: { label_selector: { [managedLabel]: 'true' } } });
    } catch (err) {
      throw this.#wrap(err, 'POD_RUNTIME_UNAVAILABLE', 'ListContainerStats');
    }
    const all = usageFromCriStats(r.stats ?? [], Date.now());
    const out = new Map<string, ContainerUsage>();
    for (const h of handles) {
      const u = all.get(h.id);
      if (u) out.set(h.id, u);
    }
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#client.close();
  }
}
