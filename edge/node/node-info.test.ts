import { describe, expect, it } from 'vitest';
import { microTime } from './lifecycle.ts';
import { goArch, nodeConditions, nodeInfo, nodeLabels, nodeResources, type HostFacts } from './node-info.ts';

const facts: HostFacts = {
  cpu: 4, memoryBytes: 8 * 1024 ** 3, storageBytes: 100 * 1024 ** 3, internalIP: '10.0.0.7', hostname: 'box', kernelVersion: '6.1.0', osImage: 'Debian GNU/Linux 12 (bookworm)',
  architecture: 'amd64', machineID: 'm', systemUUID: 's', bootID: 'b',
};
const input = { nodeName: 'edge-1', facts, containerRuntimeVersion: 'outpost-process://0.1.0', maxPods: 110, kubeletPort: 10350 };

describe('node registration data', () => {
  it('capacity and allocatable in Kubernetes quantities', () => {
    expect(nodeResources(input)).toEqual({
      capacity: { cpu: '4', memory: '8388608Ki', pods: '110', 'ephemeral-storage': '104857600Ki', 'hugepages-1Gi': '0', 'hugepages-2Mi': '0' },
      allocatable: { cpu: '4', memory: '8388608Ki', pods: '110', 'ephemeral-storage': '104857600Ki', 'hugepages-1Gi': '0', 'hugepages-2Mi': '0' },
    });
  });

  it('labels include the edge role and the well-known ones; the role cannot be overridden', () => {
    expect(nodeLabels({ ...input, labels: { zone: 'a', 'node-role.kubernetes.io/edge': 'x' } })).toEqual({
      'kubernetes.io/hostname': 'edge-1', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'beta.kubernetes.io/os': 'linux', 'beta.kubernetes.io/arch': 'amd64',
      zone: 'a', 'node-role.kubernetes.io/edge': '',
    });
  });

  it('nodeInfo carries the runtime and kubelet versions', () => {
    expect(nodeInfo(input)).toMatchObject({ containerRuntimeVersion: 'outpost-process://0.1.0', kubeletVersion: 'v1.36.3-outpost', operatingSystem: 'linux', architecture: 'amd64', kernelVersion: '6.1.0' });
    expect(goArch('x64')).toBe('amd64');
    expect(goArch('arm64')).toBe('arm64');
  });

  it('conditions: heartbeat every time, transition time only on a change', () => {
    const since = new Map();
    const ok = { memory: false, disk: false, pid: false };
    const a = nodeConditions('2026-01-01T00:00:00Z', ok, since);
    expect(a.map((c) => `${c.type}=${c.status}:${c.reason}`)).toEqual(['MemoryPressure=False:KubeletHasSufficientMemory', 'DiskPressure=False:KubeletHasNoDiskPressure', 'PIDPressure=False:KubeletHasSufficientPID', 'Ready=True:KubeletReady']);
    const b = nodeConditions('2026-01-01T00:00:10Z', { ...ok, disk: true }, since);
    expect(b.every((c) => c.lastHeartbeatTime === '2026-01-01T00:00:10Z')).toBe(true);
    expect(b.find((c) => c.type === 'Ready')!.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(b.find((c) => c.type === 'DiskPressure')).toMatchObject({ status: 'True', lastTransitionTime: '2026-01-01T00:00:10Z', reason: 'KubeletHasDiskPressure' });
  });

  it('lease renewTime is a MicroTime', () => {
    expect(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe('2026-01-02T03:04:05.678000Z');
  });
});
