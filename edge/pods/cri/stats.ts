/**
 * CRI ContainerStats → {@link ContainerUsage} (pure). containerd 1.6 answers
 * `ListContainerStats` from the task's cgroup metrics: `cpu.usage_core_nano_seconds`
 * is the cgroup's cumulative CPU time, `memory.working_set_bytes` is usage minus
 * inactive file pages (what the kubelet's cadvisor path reports too), and
 * `cpu.usage_nano_cores` is a rate containerd derives from its previous sample of
 * that container (0 on the first call). Timestamps are ns.
 *
 * `PodSandboxStats`/`ListPodSandboxStats` are not used: containerd 1.6 needs the
 * sandbox's cgroup parent for them ("cgroupPath is empty" otherwise), which
 * Outpost's sandboxes do not set; pod usage is the sum of its containers, as the
 * kubelet computes it when the runtime gives no pod-level stats.
 */
import type { ContainerUsage } from '../runtime.ts';

/** The fields of runtime.v1.ContainerStats we read (proto names; wrapper messages may be null). */
export interface CriContainerStats {
  attributes?: { id?: string } | null;
  cpu?: { timestamp?: number; usage_core_nano_seconds?: { value?: number } | null; usage_nano_cores?: { value?: number } | null } | null;
  memory?: {
    timestamp?: number;
    working_set_bytes?: { value?: number } | null;
    usage_bytes?: { value?: number } | null;
    rss_bytes?: { value?: number } | null;
  } | null;
}

/**
 * Maps ListContainerStats entries to usage by container id. Entries without an id, without
 * cumulative CPU or without a working set (an exited or just-created task reports none) are
 * left out rather than reported as zero: metrics-server drops a whole pod when one of its
 * containers reports zero CPU or memory.
 */
export function usageFromCriStats(stats: readonly CriContainerStats[], nowMs: number): Map<string, ContainerUsage> {
  const out = new Map<string, ContainerUsage>();
  for (const s of stats) {
    const id = s.attributes?.id;
    const cpu = s.cpu?.usage_core_nano_seconds?.value;
    const ws = s.memory?.working_set_bytes?.value;
    if (!id || !cpu || !ws) continue;
    const tsNs = s.cpu?.timestamp || s.memory?.timestamp || 0;
    const nanoCores = s.cpu?.usage_nano_cores?.value;
    out.set(id, {
      timestamp: tsNs > 0 ? Math.floor(tsNs / 1e6) : nowMs,
      cpuNanos: cpu,
      ...(nanoCores ? { nanoCores } : {}),
      workingSetBytes: ws,
      usageBytes: s.memory?.usage_bytes?.value || ws,
      rssBytes: s.memory?.rss_bytes?.value ?? 0,
    });
  }
  return out;
}
