/**
 * A process the chaos harness runs inside a network namespace
 * (`ip netns exec <ns> node …`; `ip netns exec` execs, so the pid we hold is
 * node's own). Tracks incarnations and tells an exit the harness caused
 * (kill -9, stop) from a crash, which is a test failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface ProcessExit {
  name: string;
  incarnation: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the harness killed or stopped it. */
  expected: boolean;
  at: number;
  logFile: string;
}

export interface ManagedProcessOptions {
  name: string;
  ns: string;
  /** Arguments after `node`. */
  args: () => string[];
  logDir: string;
  env?: Record<string, string>;
  onExit?: (e: ProcessExit) => void;
  onStdoutLine?: (line: string) => void;
}

export class ManagedProcess {
  readonly name: string;
  readonly #o: ManagedProcessOptions;
  #child: ChildProcess | undefined;
  #incarnation = 0;
  #expectExit = false;
  #exited: Promise<void> = Promise.resolve();
  readonly exits: ProcessExit[] = [];

  constructor(o: ManagedProcessOptions) {
    this.name = o.name;
    this.#o = o;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.#child!.pid : undefined;
  }

  get incarnation(): number {
    return this.#incarnation;
  }

  logFile(incarnation = this.#incarnation): string {
    return join(this.#o.logDir, `${this.name}.${incarnation}.log`);
  }

  /** Starts a new incarnation (no-op while one runs). */
  start(): void {
    if (this.running) return;
    this.#incarnation++;
    this.#expectExit = false;
    const log = openSync(this.logFile(), 'a');
    const child = spawn('ip', ['netns', 'exec', this.#o.ns, process.execPath, ...this.#o.args()], {
      stdio: ['pipe', this.#o.onStdoutLine ? 'pipe' : log, log],
      env: { ...process.env, ...this.#o.env },
    });
    closeSync(log);
    this.#child = child;
    child.stdin!.on('error', () => {});
    if (this.#o.onStdoutLine && child.stdout) createInterface({ input: child.stdout }).on('line', this.#o.onStdoutLine);
    const incarnation = this.#incarnation;
    this.#exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      const e: ProcessExit = { name: this.name, incarnation, code, signal, expected: this.#expectExit, at: Date.now(), logFile: this.logFile(incarnation) };
      this.exits.push(e);
      this.#o.onExit?.(e);
      resolve();
    }));
  }

  /** Writes one line to the process's stdin. */
  send(line: string): void {
    if (this.running) this.#child!.stdin!.write(`${line}\n`);
  }

  /** kill -9, and waits for the exit. */
  async kill9(): Promise<void> {
    if (!this.running) return;
    this.#expectExit = true;
    this.#child!.kill('SIGKILL');
    await this.#exited;
  }

  /** Graceful stop: closes stdin and sends SIGTERM; SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.#expectExit = true;
    this.#child!.stdin!.end();
    this.#child!.kill('SIGTERM');
    const t = setTimeout(() => this.#child?.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(t);
  }

  /** Resident set size in bytes (from /proc), or undefined when not running. */
  rss(): number | undefined {
    const pid = this.pid;
    if (!pid) return undefined;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : undefined;
    } catch {
      return undefined;
    }
  }

  /** Last `n` lines of the current (or given) incarnation's log. */
  tail(n = 20, incarnation = this.#incarnation): string {
    try {
      return readFileSync(this.logFile(incarnation), 'utf8').split('\n').slice(-n - 1).join('\n');
    } catch {
      return '';
    }
  }
}
