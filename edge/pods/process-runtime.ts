/**
 * The process runtime (default): each container is a host process, for
 * devices with no container runtime. What a container gets:
 *
 * - argv = `command` + `args` (no image: `image` is reported but not used,
 *   so `command` or `args` must name a host executable), the pod's env (a
 *   clean environment, not the agent's), `workingDir` (default `/`),
 *   `runAsUser`/`runAsGroup` (through setpriv);
 * - its own session and process group: stop = SIGTERM to the group, then
 *   SIGKILL after the grace period; leftovers of the group are killed when
 *   the main process exits (as a container's pid namespace would);
 * - volume mounts at their `mountPath` in a private mount namespace
 *   (`unshare --mount`, bind mounts, read-only remounts) when the agent runs
 *   as root, so two pods can mount different things at the same path. A
 *   missing mountPath is created on the host as an empty mount point (like
 *   Docker does for bind targets). Not root: no mounts (a warning), the
 *   volumes are still in the pod directory;
 * - stdout/stderr appended to raw files by the process itself (no pipe to
 *   the agent), converted to the CRI log format by the agent: the process
 *   keeps running, and writing, while no agent runs;
 * - a small `sh` wrapper as the group leader that waits for the process and
 *   writes its exit status to a file, so an agent that adopts the process
 *   after a restart still learns how it ended. The wrapper ignores SIGTERM
 *   (the process gets it directly, as a member of the group).
 *
 * Not isolated: no pid/network/UTS namespaces, no cgroup limits (memory and
 * CPU limits are not enforced), no TTY for attach or for a container's own
 * process (`exec -t` gets one from script(1), edge/pods/tty.ts). Host network
 * only, which is what every Outpost pod uses.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, createWriteStream, type WriteStream, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { PassThrough, type Duplex } from 'node:stream';
import { PodError } from './errors.ts';
import { LogConverter, readLogs } from './logs.ts';
import { ptyOf, resizePty, ttyInvocation } from './tty.ts';
import type { ContainerHandle, ContainerSpec, ContainerUsage, ExecResult, ExecSession, ObservedState, PodRuntime, SandboxHandle, SandboxSpec, StreamOptions } from './runtime.ts';
import type { Logger } from '../../lib/log.ts';

export interface ProcessRuntimeOptions {
  log: Logger;
  /** Bind-mount volumes in a private mount namespace (default: when running as root and `unshare` exists). */
  mountNamespaces?: boolean;
  /** How often output is converted to the log and adopted processes are checked, ms (default 250). */
  pollMs?: number;
  /** Reported as containerRuntimeVersion `outpost-process://<version>`. */
  version?: string;
}

const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

// The group leader: optional bind mounts, cd, then run the process in the
// background and wait for it, so its status can be written to a file.
// Positional: $1 exit file, $2 working dir, $3 number of mounts, then
// (source, target, readOnly) per mount, then the argv.
const wrapper = `exitf=$1; wd=$2; n=$3; shift 3
while [ "$n" -gt 0 ]; do
  src=$1; dst=$2; ro=$3; shift 3; n=$((n-1))
  if [ -d "$src" ]; then [ -d "$dst" ] || mkdir -p "$dst" || exit 126
  else [ -e "$dst" ] || { mkdir -p "\${dst%/*}" && : > "$dst"; } || exit 126; fi
  mount --bind "$src" "$dst" || exit 126
  if [ "$ro" = 1 ]; then mount -o remount,bind,ro "$dst" || exit 126; fi
done
if [ -n "$wd" ]; then { [ -d "$wd" ] || mkdir -p "$wd"; } && cd "$wd" || exit 126; fi
"$@" <&3 3<&- &
c=$!
trap '' TERM INT HUP
wait $c
s=$?
echo $s > "$exitf"
exit $s`;

interface Proc {
  id: string;
  pid: number;
  startTicks: string;
  dir: string;
  podDir: string;
  ns: boolean;
  env: Record<string, string>;
  cwd: string;
  runAs: string[];
  logPath: string;
  stdinPath?: string;
  startedAt: number;
  state: ObservedState;
  child?: ChildProcess;
  converter?: LogConverter;
  waiters: (() => void)[];
}

/**
 * The fields of /proc/<pid>/stat after the command name (f[0] is field 3, state), or undefined
 * when the process does not exist. The name is skipped up to its last ')' because it may hold
 * spaces and parentheses.
 */
function statFields(pid: string | number, proc = '/proc'): string[] | undefined {
  try {
    const s = readFileSync(`${proc}/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** /proc/<pid>/stat: [state, starttime] or undefined when the pid does not exist. */
function procStat(pid: number): { state: string; startTicks: string } | undefined {
  const f = statFields(pid);
  return f ? { state: f[0]!, startTicks: f[19]! } : undefined;
}

const CLK_TCK = 100;
const PAGE = 4096;

/**
 * CPU time (ns) and resident memory (bytes) per process group, from one pass over
 * /proc/<pid>/stat: utime + stime + cutime + cstime (fields 14-17, clock ticks; the
 * children's share counts once they are waited for) and rss (field 24, pages).
 * Only the groups in `pgids` are summed.
 */
export function groupUsage(pgids: ReadonlySet<number>, proc = '/proc'): Map<number, { cpuNanos: number; rssBytes: number }> {
  const out = new Map<number, { cpuNanos: number; rssBytes: number }>();
  if (pgids.size === 0) return out;
  let pids: string[];
  try {
    pids = readdirSync(proc).filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    const f = statFields(pid, proc);
    if (!f) continue; // exited meanwhile
    const pgrp = Number(f[2]);
    if (!pgids.has(pgrp)) continue;
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    const u = out.get(pgrp) ?? { cpuNanos: 0, rssBytes: 0 };
    u.cpuNanos += ticks * (1e9 / CLK_TCK);
    u.rssBytes += Number(f[21]) * PAGE;
    out.set(pgrp, u);
  }
  return out;
}

function which(cmd: string, path: string): string | undefined {
  const ok = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (cmd.includes('/')) return ok(cmd) ? cmd : undefined;
  for (const d of path.split(delimiter)) if (d && ok(join(d, cmd))) return join(d, cmd);
  return undefined;
}

const signals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGABRT: 6, SIGSEGV: 11, SIGPIPE: 13 };

function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    /* gone */
  }
}

export class ProcessRuntime implements PodRuntime {
  readonly type = 'process';
  readonly #log: Logger;
  readonly #ns: boolean;
  readonly #pollMs: number;
  readonly #version: string;
  readonly #procs = new Map<string, Proc>();
  readonly #exitListeners = new Set<(h: ContainerHandle) => void>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #seq = 0;

  constructor(opts: ProcessRuntimeOptions) {
    this.#log = opts.log.child({ runtime: 'process' });
    const root = process.getuid?.() === 0;
    const unshare = which('unshare', defaultPath) !== undefined && which('mount', defaultPath) !== undefined;
    this.#ns = opts.mountNamespaces ?? (root && unshare);
    if (!this.#ns) this.#log.warn('Running containers without mount namespaces: volume mounts are not visible at their mountPath', { root, unshare });
    this.#pollMs = opts.pollMs ?? 250;
    this.#version = opts.version ?? '0.1.0';
  }

  async version(): Promise<{ name: string; version: string }> {
    return { name: 'outpost-process', version: this.#version };
  }

  async runSandbox(spec: SandboxSpec): Promise<SandboxHandle> {
    mkdirSync(spec.podDir, { recursive: true });
    mkdirSync(spec.logDir, { recursive: true });
    return { id: spec.uid, data: { podDir: spec.podDir } };
  }

  async sandboxReady(sandbox: SandboxHandle): Promise<boolean> {
    return existsSync(String(sandbox.data?.podDir ?? ''));
  }

  async stopSandbox(sandbox: SandboxHandle): Promise<void> {
    const podDir = String(sandbox.data?.podDir ?? '');
    await Promise.all([...this.#procs.values()].filter((p) => p.podDir === podDir).map((p) => this.stopContainer({ id: p.id }, 0)));
  }

  async removeSandbox(sandbox: SandboxHandle): Promise<void> {
    await this.stopSandbox(sandbox);
    const podDir = String(sandbox.data?.podDir ?? '');
    for (const p of [...this.#procs.values()]) if (p.podDir === podDir) await this.removeContainer({ id: p.id });
  }

  #env(spec: ContainerSpec): Record<string, string> {
    const env: Record<string, string> = {};
    for (const e of spec.env) env[e.name] = e.value;
    env.PATH ??= defaultPath;
    return env;
  }

  #runAs(spec: ContainerSpec): string[] {
    if (spec.runAsUser === undefined && spec.runAsGroup === undefined) return [];
    if (process.getuid?.() !== 0) {
      if (spec.runAsUser === process.getuid?.()) return [];
      throw new PodError('POD_UNSUPPORTED', `runAsUser ${spec.runAsUser} needs the agent to run as root (the process runtime switches users with setpriv)`);
    }
    const uid = spec.runAsUser ?? 0;
    const gid = spec.runAsGroup ?? uid;
    return ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--'];
  }

  async startContainer(sandbox: SandboxHandle, spec: ContainerSpec): Promise<{ handle: ContainerHandle; startedAt: number }> {
    if (this.#closed) throw new PodError('POD_RUNTIME_UNAVAILABLE', 'the process runtime is closed');
    if (spec.tty) throw new PodError('POD_UNSUPPORTED', `container ${spec.name}: tty is not supported by the process runtime; use --runtime cri`, { reason: 'CreateContainerError' });
    const podDir = String(sandbox.data?.podDir ?? '');
    const argv = [...spec.command, ...spec.args];
    if (argv.length === 0) throw new PodError('POD_START_FAILED', `container ${spec.name}: the process runtime has no image entrypoint; set command (or args) to a host executable`, { reason: 'CreateContainerError' });
    const env = this.#env(spec);
    if (!which(argv[0]!, env.PATH!)) {
      throw new PodError('POD_START_FAILED', `container ${spec.name}: exec: "${argv[0]}": executable file not found in $PATH (${env.PATH}) on this host`, { reason: 'RunContainerError' });
    }
    const runAs = this.#runAs(spec);
    const dir = join(podDir, 'containers', `${spec.name}.${spec.attempt}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    mkdirSync(dirname(spec.logPath), { recursive: true });
    const out = openSync(join(dir, 'stdout'), 'a');
    const err = openSync(join(dir, 'stderr'), 'a');
    // fd 3 becomes the process's stdin: a FIFO that attach writes to, or /dev/null
    let stdinPath: string | undefined;
    if (spec.stdin) {
      stdinPath = join(dir, 'stdin');
      spawnSync('mkfifo', ['-m', '0600', stdinPath]);
    }
    const stdinFd = stdinPath ? openSync(stdinPath, constants.O_RDWR) : openSync('/dev/null', 'r');
    const mounts = this.#ns ? spec.mounts : [];
    const mountArgs = mounts.flatMap((m) => [m.hostPath, m.containerPath, m.readOnly ? '1' : '0']);
    const shArgs = ['-c', wrapper, 'outpost-container', join(dir, 'exit'), spec.workingDir ?? '/', String(mounts.length), ...mountArgs, ...runAs, ...argv];
    const [file, args] = this.#ns ? ['unshare', ['--mount', '--propagation', 'private', '/bin/sh', ...shArgs]] : ['/bin/sh', shArgs];
    const startedAt = Date.now();
    let child: ChildProcess;
    try {
      child = spawn(file, args, { detached: true, stdio: ['ignore', out, err, stdinFd], env, cwd: '/' });
    } finally {
      closeSync(out);
      closeSync(err);
      closeSync(stdinFd);
    }
    const pid = child.pid;
    if (pid === undefined) {
      const e = await new Promise<Error>((r) => child.once('error', r));
      throw new PodError('POD_START_FAILED', `container ${spec.name}: cannot start ${file}: ${e.message}`, { cause: e });
    }
    child.unref();
    const id = `${Date.now().toString(16)}${(this.#seq++).toString(16).padStart(4, '0')}${pid.toString(16)}`;
    const p: Proc = {
      id, pid, startTicks: procStat(pid)?.startTicks ?? '', dir, podDir, ns: this.#ns, env, cwd: spec.workingDir ?? '/', runAs, logPath: spec.logPath,
      ...(stdinPath ? { stdinPath } : {}), startedAt, state: { state: 'running', startedAt }, child, waiters: [],
    };
    p.converter = new LogConverter({ logPath: spec.logPath, stdoutPath: join(dir, 'stdout'), stderrPath: join(dir, 'stderr') });
    this.#procs.set(id, p);
    child.once('exit', (code, signal) => this.#exited(p, code, signal));
    this.#ensureTimer();
    return { handle: this.#handle(p), startedAt };
  }

  #handle(p: Proc): ContainerHandle {
    return { id: p.id, data: { pid: p.pid, startTicks: p.startTicks, dir: p.dir, podDir: p.podDir, ns: p.ns, startedAt: p.startedAt } };
  }

  async adopt(_sandbox: SandboxHandle, handle: ContainerHandle, spec: ContainerSpec): Promise<ObservedState> {
    const known = this.#procs.get(handle.id);
    if (known) return known.state;
    const d = handle.data ?? {};
    const p: Proc = {
      id: handle.id, pid: Number(d.pid), startTicks: String(d.startTicks ?? ''), dir: String(d.dir ?? ''), podDir: String(d.podDir ?? ''), ns: d.ns === true,
      env: this.#env(spec), cwd: spec.workingDir ?? '/', runAs: (() => {
        try {
          return this.#runAs(spec);
        } catch {
          return [];
        }
      })(),
      logPath: spec.logPath,
      ...(spec.stdin ? { stdinPath: join(String(d.dir ?? ''), 'stdin') } : {}),
      startedAt: Number(d.startedAt ?? Date.now()), state: { state: 'running', startedAt: Number(d.startedAt ?? Date.now()) }, waiters: [],
    };
    this.#procs.set(p.id, p);
    let offsets: { stdout: number; stderr: number } | undefined;
    try {
      offsets = JSON.parse(readFileSync(join(p.dir, 'offsets'), 'utf8')) as { stdout: number; stderr: number };
    } catch {
      offsets = undefined;
    }
    if (existsSync(p.dir)) {
      mkdirSync(dirname(spec.logPath), { recursive: true });
      p.converter = new LogConverter({ logPath: spec.logPath, stdoutPath: join(p.dir, 'stdout'), stderrPath: join(p.dir, 'stderr'), ...(offsets ? { offsets } : {}) });
    }
    if (!this.#alive(p)) this.#exited(p, null, null, false);
    else this.#ensureTimer();
    return p.state;
  }

  #alive(p: Proc): boolean {
    const s = procStat(p.pid);
    return s !== undefined && s.startTicks === p.startTicks && s.state !== 'Z' && s.state !== 'X';
  }

  #exited(p: Proc, code: number | null, signal: NodeJS.Signals | null, notify = true): void {
    if (p.state.state !== 'running') return;
    let exitCode: number | undefined;
    let finishedAt = Date.now();
    const exitFile = join(p.dir, 'exit');
    try {
      exitCode = Number(readFileSync(exitFile, 'utf8').trim());
      if (!p.child) finishedAt = statSync(exitFile).mtimeMs;
    } catch {
      exitCode = code ?? (signal ? 128 + (signals[signal] ?? 9) : undefined);
    }
    // leftovers of the group go with the main process, as in a container's pid namespace
    killGroup(p.pid, 'SIGKILL');
    const known = exitCode !== undefined && Number.isFinite(exitCode);
    const ec = known ? exitCode! : 137;
    p.state = {
      state: 'exited', exitCode: ec, startedAt: p.startedAt, finishedAt: Math.round(finishedAt),
      reason: !known ? 'Error' : ec === 0 ? 'Completed' : 'Error',
      ...(ec > 128 && ec < 160 ? { signal: ec - 128 } : {}),
      ...(!known ? { message: 'the process ended while no agent was watching it; its exit status is unknown' } : {}),
    };
    if (p.converter) {
      try {
        p.converter.poll(true);
        this.#saveOffsets(p);
      } catch (err) {
        this.#log.warn('Failed to convert container output', { id: p.id, err });
      }
      p.converter.close();
      p.converter = undefined;
    }
    for (const w of p.waiters.splice(0)) w();
    if (notify && !this.#closed) for (const l of this.#exitListeners) l({ id: p.id });
  }

  #saveOffsets(p: Proc): void {
    if (!p.converter) return;
    try {
      writeFileSync(join(p.dir, 'offsets'), JSON.stringify(p.converter.offsets()));
    } catch {
      /* the container dir is gone */
    }
  }

  #ensureTimer(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => this.#poll(), this.#pollMs);
    this.#timer.unref();
  }

  #poll(): void {
    let live = 0;
    for (const p of this.#procs.values()) {
      if (p.state.state !== 'running') continue;
      live++;
      try {
        if (p.converter?.poll()) this.#saveOffsets(p);
      } catch (err) {
        this.#log.warn('Failed to convert container output', { id: p.id, err });
      }
      // our own children report their exit through the 'exit' event; adopted ones are polled
      if (!p.child && !this.#alive(p)) this.#exited(p, null, null);
    }
    if (live === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  async inspect(handle: ContainerHandle): Promise<ObservedState> {
    const p = this.#procs.get(handle.id);
    if (!p) return { state: 'unknown', message: `container ${handle.id} is not known to the process runtime` };
    if (p.state.state === 'running' && !p.child && !this.#alive(p)) this.#exited(p, null, null);
    return p.state;
  }

  #waitExit(p: Proc, timeoutMs: number): Promise<boolean> {
    if (p.state.state !== 'running') return Promise.resolve(true);
    return new Promise((resolve) => {
      let done = false;
      const finish = (v: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(t);
        clearInterval(poll);
        resolve(v);
      };
      const t = setTimeout(() => finish(p.state.state !== 'running'), timeoutMs);
      // adopted processes have no exit event: look more often while stopping
      const poll = setInterval(() => {
        if (!p.child && !this.#alive(p)) this.#exited(p, null, null);
        if (p.state.state !== 'running') finish(true);
      }, 50);
      p.waiters.push(() => finish(true));
    });
  }

  async stopContainer(handle: ContainerHandle, graceMs: number): Promise<void> {
    const p = this.#procs.get(handle.id);
    if (!p || p.state.state !== 'running') return;
    if (graceMs > 0) {
      killGroup(p.pid, 'SIGTERM');
      if (await this.#waitExit(p, graceMs)) return;
    }
    killGroup(p.pid, 'SIGKILL');
    await this.#waitExit(p, 10_000);
  }

  async removeContainer(handle: ContainerHandle): Promise<void> {
    const p = this.#procs.get(handle.id);
    if (!p) return;
    if (p.state.state === 'running') await this.stopContainer(handle, 0);
    this.#procs.delete(handle.id);
    rmSync(p.dir, { recursive: true, force: true });
  }

  onExit(cb: (handle: ContainerHandle) => void): () => void {
    this.#exitListeners.add(cb);
    return () => this.#exitListeners.delete(cb);
  }

  #execArgv(p: Proc, cmd: string[]): [string, string[]] {
    const argv = [...p.runAs, ...cmd];
    if (p.ns && p.state.state === 'running') return ['nsenter', [`--target=${p.pid}`, '--mount', `--wd=${p.cwd}`, '--', ...argv]];
    return [argv[0]!, argv.slice(1)];
  }

  #proc(handle: ContainerHandle): Proc {
    const p = this.#procs.get(handle.id);
    if (!p) throw new PodError('POD_CONTAINER_NOT_FOUND', `container ${handle.id} is not known to the process runtime`);
    return p;
  }

  async execSync(handle: ContainerHandle, cmd: string[], timeoutMs: number): Promise<ExecResult> {
    const p = this.#proc(handle);
    const [file, args] = this.#execArgv(p, cmd);
    return await new Promise<ExecResult>((resolve) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const child = spawn(file, args, { env: p.env, cwd: p.ns ? '/' : existsSync(p.cwd) ? p.cwd : '/', stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      const t = setTimeout(() => {
        timedOut = true;
        if (child.pid) killGroup(child.pid, 'SIGKILL');
      }, timeoutMs);
      child.stdout!.on('data', (d: Buffer) => out.push(d));
      child.stderr!.on('data', (d: Buffer) => err.push(d));
      child.once('error', (e) => {
        clearTimeout(t);
        resolve({ exitCode: 126, stdout: Buffer.alloc(0), stderr: Buffer.from(e.message), timedOut: false });
      });
      child.once('close', (code, signal) => {
        clearTimeout(t);
        resolve({ exitCode: code ?? 128 + (signals[signal ?? 'SIGKILL'] ?? 9), stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut });
      });
    });
  }

  async exec(handle: ContainerHandle, cmd: string[], opts: StreamOptions): Promise<ExecSession> {
    const p = this.#proc(handle);
    const [file, args] = this.#execArgv(p, cmd);
    // -t: the command runs on a pty opened by script(1) (edge/pods/tty.ts); its output is one stream
    const tty = opts.tty ? ttyInvocation([file, ...args], p.env) : undefined;
    const child = spawn(tty?.file ?? file, tty?.args ?? args, {
      env: tty?.env ?? p.env, cwd: p.ns ? '/' : existsSync(p.cwd) ? p.cwd : '/', detached: true,
      stdio: [opts.stdin || tty ? 'pipe' : 'ignore', opts.stdout ? 'pipe' : 'ignore', opts.stderr && !tty ? 'pipe' : 'ignore'],
    });
    if (tty) child.once('error', (err) => this.#log.warn('exec -t needs script(1) from util-linux on the node', { err }));
    const exit = new Promise<{ exitCode: number }>((resolve) => {
      child.once('error', () => resolve({ exitCode: 126 }));
      child.once('close', (code, signal) => resolve({ exitCode: code ?? 128 + (signals[signal ?? 'SIGKILL'] ?? 9) }));
    });
    return {
      ...(child.stdin ? { stdin: child.stdin } : {}),
      ...(child.stdout ? { stdout: child.stdout } : {}),
      ...(child.stderr ? { stderr: child.stderr } : {}),
      resize: tty ? (cols, rows) => void this.#resizeTty(child, cols, rows) : () => undefined,
      exit,
      close: () => {
        if (child.pid) killGroup(child.pid, 'SIGKILL');
      },
    };
  }

  /** Applies a terminal size to the pty of an `exec -t` (retrying while the command starts). */
  async #resizeTty(child: ChildProcess, cols: number, rows: number): Promise<void> {
    for (let i = 0; i < 40 && child.exitCode === null && child.pid; i++) {
      const pty = ptyOf(child.pid);
      if (pty && (await resizePty(pty, cols, rows))) return;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async attach(handle: ContainerHandle, opts: StreamOptions): Promise<ExecSession> {
    if (opts.tty) throw new PodError('POD_UNSUPPORTED', 'attach with a tty is not supported by the process runtime; use --runtime cri');
    const p = this.#proc(handle);
    const abort = new AbortController();
    const logPath = p.logPath;
    const since = Date.now();
    const pipe = (stream: 'stdout' | 'stderr') => {
      const out = new PassThrough();
      void (async () => {
        try {
          for await (const c of readLogs(logPath, { follow: true, sinceMs: since, stream, signal: abort.signal, done: () => p.state.state !== 'running' })) out.write(c);
        } finally {
          out.end();
        }
      })();
      return out;
    };
    let stdin: WriteStream | undefined;
    if (opts.stdin) {
      if (!p.stdinPath) throw new PodError('POD_UNSUPPORTED', 'the container was not started with stdin: true; attach cannot write to it');
      stdin = createWriteStream(p.stdinPath, { flags: 'w' });
    }
    const exit = new Promise<{ exitCode: number }>((resolve) => {
      const done = () => resolve({ exitCode: p.state.state === 'exited' ? p.state.exitCode : 0 });
      if (p.state.state !== 'running') done();
      else p.waiters.push(done);
    });
    return {
      ...(stdin ? { stdin } : {}),
      ...(opts.stdout ? { stdout: pipe('stdout') } : {}),
      ...(opts.stderr ? { stderr: pipe('stderr') } : {}),
      resize: () => undefined,
      exit,
      close: () => {
        abort.abort();
        stdin?.destroy();
      },
    };
  }

  async portForward(_sandbox: SandboxHandle, port: number): Promise<Duplex> {
    return await new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  }

  /**
   * Usage of each container's process group (its wrapper, the process and whatever they
   * started) from /proc; no cgroups, so the working set is the summed RSS (shared pages
   * count once per process).
   */
  async containerStats(handles: ContainerHandle[]): Promise<Map<string, ContainerUsage>> {
    const running = handles.map((h) => this.#procs.get(h.id)).filter((p): p is Proc => p?.state.state === 'running');
    const usage = groupUsage(new Set(running.map((p) => p.pid)));
    const now = Date.now();
    const out = new Map<string, ContainerUsage>();
    for (const p of running) {
      const u = usage.get(p.pid);
      if (!u || u.rssBytes === 0) continue;
      out.set(p.id, { timestamp: now, cpuNanos: u.cpuNanos, workingSetBytes: u.rssBytes, usageBytes: u.rssBytes, rssBytes: u.rssBytes });
    }
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const p of this.#procs.values()) {
      if (p.converter) {
        try {
          p.converter.poll();
          this.#saveOffsets(p);
        } catch {
          /* best effort */
        }
        p.converter.close();
        p.converter = undefined;
      }
      p.child?.removeAllListeners('exit');
    }
    this.#procs.clear();
  }
}
