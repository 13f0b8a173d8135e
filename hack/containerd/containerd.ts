/**
 * A private containerd for tests, CI and benchmarks: its own root, state and
 * socket under one directory (never the system service or
 * /run/containerd/containerd.sock), started with hack/containerd/config.toml.
 *
 *   node hack/containerd/containerd.ts start [--dir DIR] [--images]   prints {"socket":…,"pid":…,"dir":…}
 *   node hack/containerd/containerd.ts stop --dir DIR
 *
 * `stop` also ends what this containerd left behind: the runc shims it
 * started (found by their `-address <our socket>` argument, so never another
 * containerd's) and the overlay mounts under its root.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { processAlive } from '../../lib/process.ts';

const run = promisify(execFile);
const here = import.meta.dirname;

export interface Containerd {
  dir: string;
  /** Unix socket path (CRI endpoint: `unix://${socket}`). */
  socket: string;
  pid: number;
  logFile: string;
  /** Stops containerd and everything it started, unmounts, and removes `dir` (unless keepDir). Idempotent. */
  stop(opts?: { keepDir?: boolean }): Promise<void>;
}

export interface StartOptions {
  /** Directory for root/, state/, the socket and the log; default a new temp dir. */
  dir?: string;
  /** How long to wait for the socket to answer (default 20 s). */
  readyTimeoutMs?: number;
  /** Also build and import the test images (hack/images/build-test-image.ts). */
  images?: boolean;
}

/** Checks that the Debian packages are installed; throws a message saying how to install them. */
export function checkInstalled(): void {
  const missing = ['containerd', 'runc', 'ctr', 'containerd-shim-runc-v2'].filter((b) => !['/usr/bin', '/usr/sbin', '/usr/local/bin', '/bin', '/sbin'].some((d) => existsSync(join(d, b))));
  if (missing.length) throw new Error(`containerd is not installed (missing ${missing.join(', ')}); run: apt-get install -y containerd runc busybox-static`);
}

/** Runs `ctr` against this containerd. */
export async function ctr(socket: string, args: string[]): Promise<string> {
  const { stdout } = await run('ctr', ['--address', socket, ...args], { maxBuffer: 16 << 20 });
  return stdout;
}

/** Starts a private containerd and resolves once it answers on its socket. */
export async function startContainerd(opts: StartOptions = {}): Promise<Containerd> {
  checkInstalled();
  const dir = resolve(opts.dir ?? mkdtempSync(join(tmpdir(), 'outpost-containerd-')));
  for (const d of ['root', 'state', 'root/cni/bin', 'root/cni/net.d']) mkdirSync(join(dir, d), { recursive: true });
  const socket = join(dir, 'containerd.sock');
  const config = readFileSync(join(here, 'config.toml'), 'utf8')
    .replaceAll('@ROOT@', join(dir, 'root')).replaceAll('@STATE@', join(dir, 'state')).replaceAll('@SOCKET@', socket);
  writeFileSync(join(dir, 'config.toml'), config);
  const logFile = join(dir, 'containerd.log');
  const fd = openSync(logFile, 'a');
  const child = spawn('containerd', ['--config', join(dir, 'config.toml')], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  const pid = child.pid!;
  writeFileSync(join(dir, 'containerd.pid'), String(pid));
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
  for (;;) {
    if (!processAlive(pid)) throw new Error(`containerd exited during start-up; see ${logFile}:\n${readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n')}`);
    if (existsSync(socket) && (await ctr(socket, ['version']).then(() => true, () => false))) break;
    if (Date.now() > deadline) throw new Error(`containerd did not answer on ${socket} within ${opts.readyTimeoutMs ?? 20_000} ms; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const instance: Containerd = { dir, socket, pid, logFile, stop: (o) => stopContainerd(dir, o) };
  if (opts.images) {
    const { buildTestImages, importTestImages } = await import('../images/build-test-image.ts');
    await importTestImages(socket, await buildTestImages(join(dir, 'images')));
  }
  return instance;
}

/** Pids of the runc shims started by the containerd listening on `socket` (matched on their exact `-address` argument). */
function shimPids(socket: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!argv[0]?.endsWith('containerd-shim-runc-v2')) continue;
    const i = argv.indexOf('-address');
    if (i >= 0 && argv[i + 1] === socket) out.push(Number(p));
  }
  return out;
}

/** Stops the containerd in `dir` (see {@link Containerd.stop}). */
export async function stopContainerd(dir: string, opts: { keepDir?: boolean } = {}): Promise<void> {
  dir = resolve(dir);
  const pidFile = join(dir, 'containerd.pid');
  const socket = join(dir, 'containerd.sock');
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
  const shims = shimPids(socket);
  if (pid && processAlive(pid)) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && processAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  // A shim outlives containerd by design (tasks survive a containerd restart); here we want them gone,
  // and with them the containers (SIGKILL to a shim makes it kill its init processes' namespaces only
  // when they are in a pid namespace, so kill the shims' children first).
  for (const s of shims) {
    for (const c of childPids(s)) tryKill(c);
    tryKill(s);
  }
  for (let i = 0; i < 40 && shims.some(processAlive); i++) await new Promise((r) => setTimeout(r, 50));
  // overlay and shm mounts under our root/state, deepest first
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').map((m) => m.replace(/\\040/g, ' '))
    .filter((m) => m.startsWith(dir + '/')).sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
  if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
}

function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(p), ...childPids(Number(p)));
    } catch {
      /* gone */
    }
  }
  return out;
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

if (import.meta.main) {
  const [cmd, ...rest] = process.argv.slice(2);
  const flag = (name: string) => {
    const i = rest.indexOf(name);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  if (cmd === 'start') {
    const c = await startContainerd({ ...(flag('--dir') ? { dir: flag('--dir')! } : {}), images: rest.includes('--images') });
    process.stdout.write(`${JSON.stringify({ socket: c.socket, pid: c.pid, dir: c.dir, endpoint: `unix://${c.socket}` })}\n`);
  } else if (cmd === 'stop' && flag('--dir')) {
    await stopContainerd(flag('--dir')!);
  } else {
    process.stderr.write('usage: node hack/containerd/containerd.ts start [--dir DIR] [--images] | stop --dir DIR\n');
    process.exit(2);
  }
}
