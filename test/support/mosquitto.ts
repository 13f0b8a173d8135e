/**
 * A throw-away mosquitto broker for tests and benchmarks: its own config
 * file in a temp dir, a free loopback port, queue limits raised (Debian's
 * defaults drop QoS 1 messages under bursts: platform-notes §4), stopped by
 * its pid. Never touches the system service.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../lib/ports.ts';

export interface Mosquitto {
  url: string;
  port: number;
  pid: number;
  /** stderr/stdout of the broker, for diagnostics. */
  logs(): string;
  stop(): Promise<void>;
}

function mosquittoBinary(): string {
  for (const p of ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', 'mosquitto']) {
    const r = spawnSync(p, ['-h'], { stdio: 'ignore' });
    if (r.error === undefined) return p;
  }
  throw new Error('mosquitto is not installed; run: apt-get install -y mosquitto mosquitto-clients (.ci/run does)');
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Starts mosquitto on a free 127.0.0.1 port (or `port`); resolves once it accepts connections. */
export async function startMosquitto(o: { port?: number } = {}): Promise<Mosquitto> {
  const bin = mosquittoBinary();
  const dir = mkdtempSync(join(tmpdir(), 'outpost-mosquitto-'));
  const port = o.port ?? (await freePort());
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence false',
    'max_queued_messages 100000',
    'max_inflight_messages 0',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    '',
  ].join('\n'));
  const child: ChildProcess = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  const keep = (d: Buffer) => {
    logs += d.toString();
    if (logs.length > 1 << 16) logs = logs.slice(-(1 << 15));
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`mosquitto did not start on port ${port}: ${logs}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    logs: () => logs,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, 'SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
