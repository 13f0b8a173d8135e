/**
 * `/stats/summary` (kubelet stats API, k8s.io/kubelet/pkg/apis/stats/v1alpha1
 * Summary): node CPU and memory from /proc, and per pod the containers'
 * CPU time and RSS for the process runtime (their pids are in the pod
 * records). metrics-server can read it (`--kubelet-use-node-status-port`);
 * CRI containers are listed without usage (containerd's stats are not
 * wired yet).
 */
import { readFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
                                                   

const CLK_TCK = 100;
const PAGE = 4096;

function readProc(path        )                     {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Node CPU time in ns from /proc/stat (all CPUs, busy time). */
function nodeCpuNanos()         {
  const line = readProc('/proc/stat')?.split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return busy * (1e9 / CLK_TCK);
}

function bootTimeMs()         {
  const m = /^btime (\d+)$/m.exec(readProc('/proc/stat') ?? '');
  return m ? Number(m[1]) * 1000 : Date.now();
}

/** CPU ns and RSS bytes of one process, or undefined when it is gone. */
function procUsage(pid        )                                                                 {
  const stat = readProc(`/proc/${pid}/stat`);
  const statm = readProc(`/proc/${pid}/statm`);
  if (!stat || !statm) return undefined;
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
  const start = Number(f[19]); // starttime (field 22), ticks since boot
  return { cpuNanos: ticks * (1e9 / CLK_TCK), rss: Number(statm.split(' ')[1]) * PAGE, startMs: bootTimeMs() + (start * 1000) / CLK_TCK };
}

let last                                         ;

                                                                                                                                                                               

/** Builds a stats/v1alpha1 Summary. */
export function statsSummary(o                                                      )         {
  const now = o.now ?? Date.now();
  const time = new Date(now).toISOString();
  const cpu = nodeCpuNanos();
  const usageNanoCores = last && now > last.at ? Math.max(0, Math.round((cpu - last.cpu) / ((now - last.at) / 1000))) : 0;
  last = { at: now, cpu };
  const total = totalmem();
  const free = freemem();
  const pods = [];
  for (const [, v] of o.store.objects.meta.entries('pods/')) {
    let r     ;
    try {
      r = JSON.parse(v)       ;
    } catch {
      continue;
    }
    const containers = [];
    let podCpu = 0;
    let podMem = 0;
    let podStart = now;
    for (const [name, c] of Object.entries(r.containers ?? {})) {
      if (c.state !== 'running') continue;
      const pid = Number(c.handle?.data?.pid);
      const u = Number.isInteger(pid) && pid > 0 ? procUsage(pid) : undefined;
      const startTime = new Date(c.startedAt ?? u?.startMs ?? now).toISOString();
      podStart = Math.min(podStart, c.startedAt ?? now);
      if (u) {
        podCpu += u.cpuNanos;
        podMem += u.rss;
      }
      containers.push({
        name, startTime,
        cpu: { time, usageCoreNanoSeconds: Math.round(u?.cpuNanos ?? 0), usageNanoCores: 0 },
        memory: { time, usageBytes: u?.rss ?? 0, workingSetBytes: u?.rss ?? 0, rssBytes: u?.rss ?? 0 },
      });
    }
    if (containers.length === 0) continue;
    pods.push({
      podRef: { name: r.name, namespace: r.namespace, uid: r.uid }, startTime: new Date(podStart).toISOString(), containers,
      cpu: { time, usageCoreNanoSeconds: Math.round(podCpu), usageNanoCores: 0 },
      memory: { time, usageBytes: podMem, workingSetBytes: podMem, rssBytes: podMem },
    });
  }
  return {
    node: {
      nodeName: o.nodeName, startTime: new Date(bootTimeMs()).toISOString(),
      cpu: { time, usageNanoCores, usageCoreNanoSeconds: Math.round(cpu) },
      memory: { time, availableBytes: free, usageBytes: total - free, workingSetBytes: total - free, rssBytes: total - free },
    },
    pods,
  };
}

                        
                                                                                       
                                                                                                                                                                                                                                                                     
 

const label = (v        ) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * `/metrics/resource` in the Prometheus text format, what metrics-server
 * ≥ 0.6 scrapes for `kubectl top` (kubelet resource metrics: node, pod and
 * container CPU seconds and working set). Containers without usage data
 * (CRI for now) are left out rather than reported as zero.
 */
export function resourceMetrics(summary        , nowMs = Date.now())         {
  const s = summary                ;
  const ts = ` ${nowMs}`;
  const out           = [];
  const metric = (name        , type                     , help        , rows                                   ) => {
    out.push(`# HELP ${name} [STABLE] ${help}`, `# TYPE ${name} ${type}`);
    for (const [l, v] of rows) out.push(`${name}${l} ${v}${ts}`);
  };
  const withUsage = s.pods.map((p) => ({ p, cs: p.containers.filter((c) => c.memory.workingSetBytes > 0) })).filter((x) => x.cs.length > 0);
  const cl = (p                              , c                  ) => `{container="${label(c.name)}",namespace="${label(p.podRef.namespace)}",pod="${label(p.podRef.name)}"}`;
  const pl = (p                              ) => `{namespace="${label(p.podRef.namespace)}",pod="${label(p.podRef.name)}"}`;
  metric('container_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed by the container in core-seconds', withUsage.flatMap(({ p, cs }) => cs.map((c)                   => [cl(p, c), c.cpu.usageCoreNanoSeconds / 1e9])));
  metric('container_memory_working_set_bytes', 'gauge', 'Current working set of the container in bytes', withUsage.flatMap(({ p, cs }) => cs.map((c)                   => [cl(p, c), c.memory.workingSetBytes])));
  metric('container_start_time_seconds', 'gauge', 'Start time of the container since unix epoch in seconds', withUsage.flatMap(({ p, cs }) => cs.map((c)                   => [cl(p, c), Date.parse(c.startTime) / 1000])));
  metric('node_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed by the node in core-seconds', [['', s.node.cpu.usageCoreNanoSeconds / 1e9]]);
  metric('node_memory_working_set_bytes', 'gauge', 'Current working set of the node in bytes', [['', s.node.memory.workingSetBytes]]);
  metric('pod_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed by the pod in core-seconds', withUsage.map(({ p })                   => [pl(p), p.cpu.usageCoreNanoSeconds / 1e9]));
  metric('pod_memory_working_set_bytes', 'gauge', 'Current working set of the pod in bytes', withUsage.map(({ p })                   => [pl(p), p.memory.workingSetBytes]));
  out.push('# HELP scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise', '# TYPE scrape_error gauge', 'scrape_error 0');
  return out.join('\n') + '\n';
}
