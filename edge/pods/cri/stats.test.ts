import { describe, expect, it } from 'vitest';
import { usageFromCriStats, type CriContainerStats } from './stats.ts';

// What containerd 1.6.20 answered to ListContainerStats for a busy busybox container
// (cgroup v1), trimmed to the fields the mapping reads plus a few it must ignore.
const busy: CriContainerStats & Record<string, unknown> = {
  attributes: { id: '9f8ecd17834d', metadata: { name: 'busy', attempt: 0 }, labels: { 'outpost.io/managed': 'true' } } as CriContainerStats['attributes'],
  cpu: { timestamp: 1795334382277516800, usage_core_nano_seconds: { value: 995071668 }, usage_nano_cores: { value: 614603512 } },
  memory: { timestamp: 1795334382277516800, working_set_bytes: { value: 516096 }, usage_bytes: { value: 516096 }, rss_bytes: { value: 61440 } },
  writable_layer: { timestamp: 0, used_bytes: { value: 0 } },
  swap: null,
};

describe('usageFromCriStats', () => {
  it('maps CPU, memory and the timestamp (ns → ms) by container id', () => {
    expect(usageFromCriStats([busy], 1)).toEqual(new Map([['9f8ecd17834d', {
      timestamp: 1795334382277, cpuNanos: 995071668, nanoCores: 614603512, workingSetBytes: 516096, usageBytes: 516096, rssBytes: 61440,
    }]]));
  });

  it('leaves usage_nano_cores out when containerd has no previous sample yet (0)', () => {
    const first = { ...busy, cpu: { ...busy.cpu, usage_nano_cores: { value: 0 } } };
    expect(usageFromCriStats([first], 1).get('9f8ecd17834d')).not.toHaveProperty('nanoCores');
  });

  it('falls back to the memory timestamp, then to now, and to the working set for usage', () => {
    const noTs = { ...busy, cpu: { usage_core_nano_seconds: { value: 5 } }, memory: { working_set_bytes: { value: 7 } } };
    expect(usageFromCriStats([noTs], 1234).get('9f8ecd17834d')).toEqual({ timestamp: 1234, cpuNanos: 5, workingSetBytes: 7, usageBytes: 7, rssBytes: 0 });
    const memTs = { ...noTs, memory: { timestamp: 2e15, working_set_bytes: { value: 7 } } };
    expect(usageFromCriStats([memTs], 1234).get('9f8ecd17834d')!.timestamp).toBe(2e9);
  });

  it('leaves out entries without an id, CPU or working set (exited or just-created tasks)', () => {
    const cases: CriContainerStats[] = [
      { ...busy, attributes: null },
      { ...busy, attributes: { id: '' } },
      { ...busy, cpu: null },
      { ...busy, cpu: { usage_core_nano_seconds: null } },
      { ...busy, cpu: { usage_core_nano_seconds: { value: 0 } } },
      { ...busy, memory: null },
      { ...busy, memory: { working_set_bytes: { value: 0 } } },
    ];
    expect(usageFromCriStats(cases, 1).size).toBe(0);
  });
});
