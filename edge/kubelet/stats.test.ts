import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { groupUsage } from '../pods/process-runtime.ts';
import type { PodUsage } from '../pods/manager.ts';
import { resourceMetrics, statsSummary, type NodeUsage } from './stats.ts';

const t0 = Date.parse('2026-11-22T10:00:00Z');
const node: NodeUsage = { timestamp: t0, startTime: t0 - 3_600_000, cpuNanos: 12e9, nanoCores: 250e6, availableBytes: 3e9, workingSetBytes: 1e9 };
const usage = (cpuNanos: number, ws: number, nanoCores?: number) => ({ timestamp: t0 - 500, cpuNanos, workingSetBytes: ws, usageBytes: ws + 10, rssBytes: ws - 10, ...(nanoCores !== undefined ? { nanoCores } : {}) });
const pods: PodUsage[] = [
  { uid: 'u1', namespace: 'ns', name: 'app', startTime: t0 - 60_000, containers: [
    { name: 'web', handleId: 'h1', startedAt: t0 - 59_000, usage: usage(2e9, 4096, 1e6) },
    { name: 'side', handleId: 'h2', startedAt: t0 - 58_000, usage: usage(1e9, 1024, 2e6) },
  ] },
  { uid: 'u2', namespace: 'ns', name: 'idle', startTime: t0 - 60_000, containers: [{ name: 'sleepy', handleId: 'h3', startedAt: t0 - 60_000, usage: usage(0, 2048) }] },
  { uid: 'u3', namespace: 'ns', name: 'unmeasured', startTime: t0 - 60_000, containers: [{ name: 'c', handleId: 'h4', startedAt: t0 - 60_000 }] },
];

describe('statsSummary', () => {
  const s = statsSummary({ nodeName: 'edge-1', node, pods });

  it('reports the node from its usage', () => {
    expect(s.node).toEqual({
      nodeName: 'edge-1', startTime: new Date(t0 - 3_600_000).toISOString(),
      cpu: { time: new Date(t0).toISOString(), usageNanoCores: 250e6, usageCoreNanoSeconds: 12e9 },
      memory: { time: new Date(t0).toISOString(), availableBytes: 3e9, usageBytes: 1e9, workingSetBytes: 1e9, rssBytes: 1e9 },
    });
  });

  it('reports each container and sums them per pod', () => {
    const app = s.pods.find((p) => p.podRef.name === 'app')!;
    expect(app.podRef).toEqual({ name: 'app', namespace: 'ns', uid: 'u1' });
    expect(app.containers[0]).toEqual({
      name: 'web', startTime: new Date(t0 - 59_000).toISOString(),
      cpu: { time: new Date(t0 - 500).toISOString(), usageCoreNanoSeconds: 2e9, usageNanoCores: 1e6 },
      memory: { time: new Date(t0 - 500).toISOString(), usageBytes: 4106, workingSetBytes: 4096, rssBytes: 4086 },
    });
    expect(app.cpu).toMatchObject({ usageCoreNanoSeconds: 3e9, usageNanoCores: 3e6 });
    expect(app.memory).toMatchObject({ workingSetBytes: 5120, usageBytes: 5140, rssBytes: 5100 });
  });

  it('leaves cpu and memory out where nothing was measured (as the kubelet does), and nano-cores when a runtime gives no rate', () => {
    const un = s.pods.find((p) => p.podRef.name === 'unmeasured')!;
    expect(un.containers).toEqual([{ name: 'c', startTime: new Date(t0 - 60_000).toISOString() }]);
    expect(un).not.toHaveProperty('cpu');
    expect(s.pods.find((p) => p.podRef.name === 'idle')!.cpu).not.toHaveProperty('usageNanoCores');
  });
});

describe('resourceMetrics', () => {
  const text = resourceMetrics(statsSummary({ nodeName: 'edge-1', node, pods }));
  const lines = text.split('\n');

  it('writes the series metrics-server decodes, each with its measurement time in ms', () => {
    expect(lines).toContain(`node_cpu_usage_seconds_total 12 ${t0}`);
    expect(lines).toContain(`node_memory_working_set_bytes 1000000000 ${t0}`);
    expect(lines).toContain(`container_cpu_usage_seconds_total{container="web",namespace="ns",pod="app"} 2 ${t0 - 500}`);
    expect(lines).toContain(`container_memory_working_set_bytes{container="side",namespace="ns",pod="app"} 1024 ${t0 - 500}`);
    expect(lines).toContain(`container_start_time_seconds{container="web",namespace="ns",pod="app"} ${(t0 - 59_000) / 1000} ${t0 - 500}`);
    expect(lines).toContain(`pod_cpu_usage_seconds_total{namespace="ns",pod="app"} 3 ${t0 - 500}`);
    expect(lines).toContain('scrape_error 0');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('leaves out containers with a zero counter or no usage (metrics-server would drop their whole pod)', () => {
    expect(text).not.toContain('pod="idle"');
    expect(text).not.toContain('pod="unmeasured"');
  });

  it('escapes label values and reports a failed runtime as scrape_error 1', () => {
    const odd = [{ ...pods[0]!, name: 'a"b\\c' }];
    const t = resourceMetrics(statsSummary({ nodeName: 'n', node, pods: odd }), { scrapeError: true });
    expect(t).toContain('pod="a\\"b\\\\c"');
    expect(t).toContain('scrape_error 1');
  });
});

describe('groupUsage (process runtime, /proc)', () => {
  const proc = mkdtempSync(join(tmpdir(), 'outpost-proc-'));
  afterAll(() => rmSync(proc, { recursive: true, force: true }));
  // /proc/<pid>/stat: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ... rss (field 24)
  const stat = (pid: number, comm: string, pgrp: number, utime: number, stime: number, cutime: number, cstime: number, rss: number) =>
    `${pid} (${comm}) S 1 ${pgrp} ${pgrp} 0 -1 0 0 0 0 0 ${utime} ${stime} ${cutime} ${cstime} 20 0 1 0 100 1000 ${rss} 0\n`;
  const write = (pid: number, content: string) => {
    mkdirSync(join(proc, String(pid)));
    writeFileSync(join(proc, String(pid), 'stat'), content);
  };
  write(100, stat(100, 'sh', 100, 1, 1, 0, 0, 10));
  write(101, stat(101, 'python3 (x) y', 100, 50, 20, 3, 2, 1000)); // a comm with spaces and parentheses
  write(200, stat(200, 'other', 200, 99, 99, 0, 0, 99));
  mkdirSync(join(proc, '300')); // exited between readdir and read
  mkdirSync(join(proc, 'self'));

  it('sums CPU ticks (with waited-for children) and RSS pages per process group', () => {
    expect(groupUsage(new Set([100]), proc)).toEqual(new Map([[100, { cpuNanos: (2 + 75) * 1e7, rssBytes: 1010 * 4096 }]]));
  });

  it('reads nothing for no groups and skips groups without processes', () => {
    expect(groupUsage(new Set(), proc).size).toBe(0);
    expect(groupUsage(new Set([999]), proc).size).toBe(0);
  });
});
