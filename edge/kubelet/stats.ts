/**
 * The kubelet stats API of an edge node, for `kubectl top` through a metrics
 * server:
 *
 * - `/stats/summary`: k8s.io/kubelet/pkg/apis/stats/v1alpha1 Summary;
 * - `/metrics/resource`: the kubelet's resource metrics in the Prometheus text
 *   format, what metrics-server ≥ 0.6 scrapes
 *   (sigs.k8s.io/metrics-server pkg/scraper/client/resource/decode.go).
 *
 * Node CPU and memory come from /proc (NodeUsageReader); container usage from
 * the pod runtime (PodManager.stats → PodRuntime.containerStats: the process
 * runtime reads its process groups in /proc, the CRI runtime asks containerd's
 * ListContainerStats). Pod usage is the sum of its containers. Building the
 * documents is pure: usage in, JSON / text out.
 */
import { readFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import type { PodUsage } from '../pods/manager.ts';

const CLK_TCK = 100;

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Node-level usage at one instant. */
export interface NodeUsage {
  /** ms since the epoch. */
  timestamp: number;
  /** Boot time, ms since the epoch. */
  startTime: number;
  /** Cumulative busy CPU time over all cores, ns. */
  cpuNanos: number;
  /** Busy CPU since the previous reading, nano-cores (0 on the first). */
  nanoCores: number;
  availableBytes: number;
  /** total - available. */
  workingSetBytes: number;
}

/** Reads node CPU (/proc/stat) and memory; remembers the last CPU sample for the rate. */
export class NodeUsageReader {
  #last: { at: number; cpu: number } | undefined;

  read(now = Date.now()): NodeUsage {
    const stat = readProc('/proc/stat') ?? '';
    const f = (stat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    // user nice system irq softirq steal (idle and iowait are not busy)
    const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
    const cpu = busy * (1e9 / CLK_TCK);
    const nanoCores = this.#last && now > this.#last.at ? Math.max(0, Math.round((cpu - this.#last.cpu) / ((now - this.#last.at) / 1000))) : 0;
    this.#last = { at: now, cpu };
    const btime = /^btime (\d+)$/m.exec(stat);
    const total = totalmem();
    const free = freemem();
    return { timestamp: now, startTime: btime ? Number(btime[1]) * 1000 : now, cpuNanos: cpu, nanoCores, availableBytes: free, workingSetBytes: total - free };
  }
}

interface CpuStats { time: string; usageCoreNanoSeconds: number; usageNanoCores?: number }
interface MemoryStats { time: string; availableBytes?: number; usageBytes: number; workingSetBytes: number; rssBytes: number }

/** stats/v1alpha1 Summary (the fields we fill; cpu/memory are absent where nothing was measured, as the kubelet does). */
export interface Summary {
  node: { nodeName: string; startTime: string; cpu: CpuStats; memory: MemoryStats };
  pods: {
    podRef: { name: string; namespace: string; uid: string };
    startTime: string;
    containers: { name: string; startTime: string; cpu?: CpuStats; memory?: MemoryStats }[];
    cpu?: CpuStats;
    memory?: MemoryStats;
  }[];
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Builds the stats/v1alpha1 Summary from measured usage (pure). */
export function statsSummary(o: { nodeName: string; node: NodeUsage; pods: readonly PodUsage[] }): Summary {
  const n = o.node;
  return {
    node: {
      nodeName: o.nodeName, startTime: iso(n.startTime),
      cpu: { time: iso(n.timestamp), usageNanoCores: n.nanoCores, usageCoreNanoSeconds: Math.round(n.cpuNanos) },
      memory: { time: iso(n.timestamp), availableBytes: n.availableBytes, usageBytes: n.workingSetBytes, workingSetBytes: n.workingSetBytes, rssBytes: n.workingSetBytes },
    },
    pods: o.pods.map((p) => {
      const measured = p.containers.flatMap((c) => (c.usage ? [c.usage] : []));
      const time = iso(Math.max(n.timestamp, ...measured.map((u) => u.timestamp)));
      const sum = (k: 'cpuNanos' | 'workingSetBytes' | 'usageBytes' | 'rssBytes') => measured.reduce((a, u) => a + u[k], 0);
      const allRates = measured.every((u) => u.nanoCores !== undefined);
      return {
        podRef: { name: p.name, namespace: p.namespace, uid: p.uid },
        startTime: iso(p.startTime),
        containers: p.containers.map((c) => ({
          name: c.name, startTime: iso(c.startedAt),
          ...(c.usage ? {
            cpu: { time: iso(c.usage.timestamp), usageCoreNanoSeconds: Math.round(c.usage.cpuNanos), ...(c.usage.nanoCores !== undefined ? { usageNanoCores: c.usage.nanoCores } : {}) },
            memory: { time: iso(c.usage.timestamp), usageBytes: c.usage.usageBytes, workingSetBytes: c.usage.workingSetBytes, rssBytes: c.usage.rssBytes },
          } : {}),
        })),
        ...(measured.length > 0 ? {
          cpu: { time, usageCoreNanoSeconds: Math.round(sum('cpuNanos')), ...(allRates ? { usageNanoCores: measured.reduce((a, u) => a + (u.nanoCores ?? 0), 0) } : {}) },
          memory: { time, usageBytes: sum('usageBytes'), workingSetBytes: sum('workingSetBytes'), rssBytes: sum('rssBytes') },
        } : {}),
      };
    }),
  };
}

const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * `/metrics/resource` in the Prometheus text format (kubelet resource metrics: node, pod
 * and container CPU seconds and working set, each sample with its measurement time in ms).
 * A container without usage, or whose CPU counter or working set is still 0, is left out:
 * metrics-server drops a whole pod when one of its containers reports a zero
 * (checkContainerMetrics), so such a pod would vanish from `kubectl top pod`.
 * `scrapeError`: the runtime's container stats failed (the kubelet's scrape_error 1).
 */
export function resourceMetrics(s: Summary, opts: { scrapeError?: boolean } = {}): string {
  const out: string[] = [];
  const ms = (t: string) => Date.parse(t);
  const metric = (name: string, type: 'counter' | 'gauge', help: string, rows: [labels: string, value: number, time: string][]) => {
    out.push(`# HELP ${name} [STABLE] ${help}`, `# TYPE ${name} ${type}`);
    for (const [l, v, t] of rows) out.push(`${name}${l} ${v} ${ms(t)}`);
  };
  type Pod = Summary['pods'][number];
  type Measured = { name: string; startTime: string; cpu: CpuStats; memory: MemoryStats };
  const withUsage = s.pods
    .map((p) => ({ p, cs: p.containers.filter((c): c is Measured => (c.cpu?.usageCoreNanoSeconds ?? 0) > 0 && (c.memory?.workingSetBytes ?? 0) > 0) }))
    .filter((x) => x.cs.length > 0);
  const cl = (p: Pod, c: { name: string }) => `{container="${label(c.name)}",namespace="${label(p.podRef.namespace)}",pod="${label(p.podRef.name)}"}`;
  const pl = (p: Pod) => `{namespace="${label(p.podRef.namespace)}",pod="${label(p.podRef.name)}"}`;
  const rows = (f: (p: Pod, c: Measured) => [number, string]) => withUsage.flatMap(({ p, cs }) => cs.map((c): [string, number, string] => [cl(p, c), ...f(p, c)]));
  metric('container_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed by the container in core-seconds', rows((_, c) => [c.cpu.usageCoreNanoSeconds / 1e9, c.cpu.time]));
  metric('container_memory_working_set_bytes', 'gauge', 'Current working set of the container in bytes', rows((_, c) => [c.memory.workingSetBytes, c.memory.time]));
  metric('container_start_time_seconds', 'gauge', 'Start time of the container since unix epoch in seconds', rows((_, c) => [ms(c.startTime) / 1000, c.cpu.time]));
  metric('node_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed by the node in core-seconds', [['', s.node.cpu.usageCoreNanoSeconds / 1e9, s.node.cpu.time]]);
  metric('node_memory_working_set_bytes', 'gauge', 'Current working set of the node in bytes', [['', s.node.memory.workingSetBytes, s.node.memory.time]]);
  const podSum = (cs: Measured[], f: (c: Measured) => number) => cs.reduce((a, c) => a + f(c), 0);
  const podTime = (cs: Measured[]) => cs.map((c) => c.cpu.time).sort().at(-1)!;
  metric('pod_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed by the pod in core-seconds', withUsage.map(({ p, cs }): [string, number, string] => [pl(p), podSum(cs, (c) => c.cpu.usageCoreNanoSeconds) / 1e9, podTime(cs)]));
  metric('pod_memory_working_set_bytes', 'gauge', 'Current working set of the pod in bytes', withUsage.map(({ p, cs }): [string, number, string] => [pl(p), podSum(cs, (c) => c.memory.workingSetBytes), podTime(cs)]));
  out.push('# HELP scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise', '# TYPE scrape_error gauge', `scrape_error ${opts.scrapeError ? 1 : 0}`);
  return out.join('\n') + '\n';
}
