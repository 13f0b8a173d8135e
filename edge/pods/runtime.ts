/**
 * The pod runtime port: what edged-lite (manager.ts) needs from something
 * that runs containers. Two implementations pass one contract suite
 * (contract.ts): host processes (process-runtime.ts, the default, for devices
 * without a container runtime) and containerd through CRI gRPC
 * (cri/cri-runtime.ts, host network only).
 *
 * The runtime is deliberately low-level and keeps no durable state of its
 * own: the manager decides what runs (restart policy, backoff, probes, init
 * order) and records the opaque handles it gets back in the edge store, so a
 * restarted agent can `adopt` what still runs instead of restarting it.
 *
 * For `kubectl logs / exec / attach / port-forward` (the tunnel, built on top
 * of this later):
 * - **logs**: every container instance writes the CRI log format
 *   (`<RFC3339Nano> stdout|stderr F|P <line>`) to `ContainerSpec.logPath`
 *   = `<podLogDir>/<container>/<restartCount>.log`, in both runtimes
 *   (containerd writes it itself; the process runtime converts the raw
 *   output). `logs.ts` reads that format with follow / tailLines /
 *   sinceTime / sinceSeconds / timestamps / limitBytes; `previous` is the
 *   file of `restartCount - 1`. The manager exposes it as
 *   `PodManager.logs(namespace, pod, container, opts)`.
 * - **exec**: `exec(handle, cmd, {stdin, stdout, stderr, tty})` returns an
 *   {@link ExecSession}: writable stdin, readable stdout/stderr (one merged
 *   stream when tty), `resize(cols, rows)`, and `exit` resolving to the exit
 *   code. `execSync` is the buffered form the probes use.
 * - **attach**: `attach(handle, opts)` returns the same session shape, bound
 *   to the container's main process (stdin needs `stdin: true` in the spec).
 * - **port-forward**: `portForward(sandbox, port)` returns a connected
 *   duplex stream to the pod's port. Pods use the host network, so this is
 *   a TCP connection to 127.0.0.1:port in both runtimes.
 */
import type { Duplex, Readable, Writable } from 'node:stream';

/** JSON-serialisable data a runtime attaches to a handle (stored in the edge store). */
export type HandleData = { [k: string]: string | number | boolean | null | undefined };

/** A pod-level sandbox: the pod directory (process) or a CRI PodSandbox (containerd). */
export interface SandboxHandle {
  id: string;
  data?: HandleData;
}

/** One container instance (one restart attempt). */
export interface ContainerHandle {
  id: string;
  data?: HandleData;
}

export interface SandboxSpec {
  uid: string;
  namespace: string;
  name: string;
  /** Restart number of the sandbox (CRI metadata.attempt). */
  attempt: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Per-pod directory owned by the manager (volumes live under it). */
  podDir: string;
  /** Directory for the CRI log files: `<logDir>/<container>/<attempt>.log`. */
  logDir: string;
}

export interface Mount {
  /** Where the container sees it. */
  containerPath: string;
  /** What is mounted (a directory or file on the host). */
  hostPath: string;
  readOnly: boolean;
}

/** Everything needed to create and start one container instance. */
export interface ContainerSpec {
  name: string;
  /** 0 for the first instance, then the container's restart count. */
  attempt: number;
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** The container's `command` (replaces the image entrypoint); empty = image default. */
  command: string[];
  /** The container's `args`; empty = image default (CRI) or nothing. */
  args: string[];
  env: { name: string; value: string }[];
  workingDir?: string;
  mounts: Mount[];
  /** Absolute path of this instance's CRI-format log file. */
  logPath: string;
  stdin: boolean;
  stdinOnce: boolean;
  tty: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  /** Limits the runtime should enforce when it can (the CRI runtime does; the process runtime does not). */
  memoryLimitBytes?: number;
  cpuMillis?: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** What a runtime observed about a container instance. */
export type ObservedState =
  | { state: 'running'; startedAt: number }
  | { state: 'exited'; exitCode: number; signal?: number; startedAt: number; finishedAt: number; reason: string; message?: string }
  /** The runtime does not know the container (any more): treat as exited with 137 and reason ContainerStatusUnknown. */
  | { state: 'unknown'; message: string };

export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
}

export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/**
 * Resource usage of one running container instance, as the kubelet's stats
 * API (`/stats/summary`, `/metrics/resource`) reports it.
 */
export interface ContainerUsage {
  /** When it was measured, ms since the epoch. */
  timestamp: number;
  /** Cumulative CPU time of the container, ns summed over all cores. */
  cpuNanos: number;
  /** Current CPU use, nano-cores, when the runtime computes a rate (CRI); absent otherwise. */
  nanoCores?: number;
  /** Working set (what metrics-server and `kubectl top` show), bytes. */
  workingSetBytes: number;
  usageBytes: number;
  rssBytes: number;
}

/** A running exec or attach. With tty, stdout carries both streams and stderr is absent. */
export interface ExecSession {
  stdin?: Writable;
  stdout?: Readable;
  stderr?: Readable;
  /** Terminal size (tty only); a no-op otherwise. */
  resize(cols: number, rows: number): void;
  /** The command's exit code (attach: resolves when the stream ends, with the container's exit code if known, else 0). */
  exit: Promise<{ exitCode: number }>;
  /** Ends the session (kills an exec'd process). */
  close(): void;
}

/**
 * A container runtime. Every method may throw PodError: POD_START_FAILED,
 * POD_IMAGE_PULL_FAILED, POD_CONTAINER_NOT_FOUND, POD_UNSUPPORTED,
 * POD_RUNTIME_UNAVAILABLE. Stop/remove methods are idempotent.
 */
export interface PodRuntime {
  /** `process` or `cri`. */
  readonly type: string;
  /** For Node.status.nodeInfo.containerRuntimeVersion (`<name>://<version>`). */
  version(): Promise<{ name: string; version: string }>;
  /** Creates the pod sandbox; resolves once it is ready. */
  runSandbox(spec: SandboxSpec): Promise<SandboxHandle>;
  /** Whether the sandbox still exists and is ready (false: the manager recreates it and restarts the containers). */
  sandboxReady(sandbox: SandboxHandle): Promise<boolean>;
  /** Stops every container of the sandbox and the sandbox itself; idempotent. */
  stopSandbox(sandbox: SandboxHandle): Promise<void>;
  /** Removes the sandbox and its containers; idempotent. */
  removeSandbox(sandbox: SandboxHandle): Promise<void>;
  /** Creates and starts a container; resolves when it runs (or already exited). */
  startContainer(sandbox: SandboxHandle, spec: ContainerSpec): Promise<{ handle: ContainerHandle; startedAt: number }>;
  /**
   * After an agent restart: takes over a container a previous agent started
   * (process: watch its pid and convert its output; CRI: nothing to do) and
   * returns its state. Never restarts it.
   */
  adopt(sandbox: SandboxHandle, handle: ContainerHandle, spec: ContainerSpec): Promise<ObservedState>;
  /** The container's current state. */
  inspect(handle: ContainerHandle): Promise<ObservedState>;
  /** Sends SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. Idempotent. */
  stopContainer(handle: ContainerHandle, graceMs: number): Promise<void>;
  /** Frees what the container instance holds (its log file stays); idempotent. */
  removeContainer(handle: ContainerHandle): Promise<void>;
  /** Called when a container exits (the process runtime at once; the CRI runtime within its poll interval). */
  onExit(cb: (handle: ContainerHandle) => void): () => void;
  /** Runs a command in the container and buffers its output (probes). */
  execSync(handle: ContainerHandle, cmd: string[], timeoutMs: number): Promise<ExecResult>;
  /** Runs a command in the container with streams (kubectl exec). */
  exec(handle: ContainerHandle, cmd: string[], opts: StreamOptions): Promise<ExecSession>;
  /** Attaches to the container's main process (kubectl attach). */
  attach(handle: ContainerHandle, opts: StreamOptions): Promise<ExecSession>;
  /** A TCP connection to the pod's `port` (kubectl port-forward). */
  portForward(sandbox: SandboxHandle, port: number): Promise<Duplex>;
  /**
   * Where a runtime with its own streaming server (CRI) serves this exec or attach. The kubelet
   * then relays the client's upgraded connection there unchanged, as the kubelet does, so stdin
   * half-close, TTY and resize behave exactly as the runtime implements them. Runtimes without
   * one omit it and serve `exec`/`attach` sessions instead.
   */
  streamUrl?(kind: 'exec' | 'attach', handle: ContainerHandle, cmd: string[], opts: StreamOptions): Promise<string>;
  /**
   * Sandboxes this runtime holds for Outpost, whether or not a record names them (garbage
   * collection of what a lost record left behind). Runtimes without durable sandboxes omit it.
   */
  listSandboxes?(): Promise<{ id: string; uid: string; labels: Record<string, string> }[]>;
  /**
   * Usage of the given running containers, keyed by handle id (kubelet stats API). Containers
   * the runtime cannot measure (gone, not started yet) are missing from the map; one container
   * never fails the call, a runtime that does not answer throws POD_RUNTIME_UNAVAILABLE.
   * Read-only, safe to call concurrently. Runtimes without stats omit it.
   */
  containerStats?(handles: ContainerHandle[]): Promise<Map<string, ContainerUsage>>;
  /** Stops timers and connections; leaves containers running (they are adopted by the next agent). */
  close(): Promise<void>;
}
