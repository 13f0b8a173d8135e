import { describe, expect, it } from 'vitest';
import type { Device } from '../../api/index.ts';
import { conditionsChanged, conditionsPatch, mergeReport, planDeviceStatus, type EdgeView } from './plan.ts';

const now = new Date('2026-03-01T10:00:00Z');
const later = new Date('2026-03-01T10:05:00Z');

const dev = (o: { desired?: Record<string, string>; node?: string; status?: Device['status']; generation?: number } = {}): Device => ({
  apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device',
  metadata: { name: 'pump-1', namespace: 'plant', uid: 'u1', generation: o.generation ?? 2 },
  spec: {
    deviceModelRef: { name: 'pump' }, ...(o.node === '' ? {} : { nodeName: o.node ?? 'edge-1' }),
    properties: [{ name: 'temperature' }, ...Object.entries(o.desired ?? {}).map(([name, value]) => ({ name, desired: { value } }))],
  },
  ...(o.status ? { status: o.status } : {}),
});

const twinReport = (seq: number, twins: { propertyName: string; reported?: { value: string }; observedDesired?: { value: string } }[], generation?: number) =>
  ({ kind: 'device-twin' as const, payload: { seq, twins, ...(generation !== undefined ? { generation } : {}) } });
const stateReport = (seq: number, state: 'online' | 'offline' | 'unknown' | 'ok' | 'unhealthy', lastOnlineTime?: string) =>
  ({ kind: 'device-state' as const, payload: { seq, state, ...(lastOnlineTime ? { lastOnlineTime } : {}) } });

const cond = (s: { conditions?: { type: string; status: string; reason: string }[] }, type: string) => s.conditions?.find((c) => c.type === type);

describe('mergeReport', () => {
  it('keeps the newest snapshot per kind by seq', () => {
    let v: EdgeView | undefined;
    v = mergeReport(v, twinReport(5, [{ propertyName: 'temperature', reported: { value: '1' } }], 2));
    v = mergeReport(v, twinReport(3, [{ propertyName: 'temperature', reported: { value: 'old' } }]));
    v = mergeReport(v, stateReport(4, 'online', '2026-03-01T09:00:00Z'));
    v = mergeReport(v, stateReport(2, 'offline'));
    expect(v).toEqual({ twinSeq: 5, twins: [{ propertyName: 'temperature', reported: { value: '1' } }], generation: 2, stateSeq: 4, state: 'online', lastOnlineTime: '2026-03-01T09:00:00Z' });
    v = mergeReport(v, stateReport(9, 'offline'));
    expect(v.state).toBe('offline');
    expect(v.lastOnlineTime).toBe('2026-03-01T09:00:00Z');
  });
});

describe('planDeviceStatus', () => {
  it('writes twins, state and lastOnlineTime from the edge, with Online and Synced', () => {
    const edge = mergeReport(mergeReport(undefined, twinReport(1, [{ propertyName: 'temperature', reported: { value: '21.5' } }, { propertyName: 'setpoint', reported: { value: '20' }, observedDesired: { value: '21' } }])), stateReport(2, 'online', '2026-03-01T09:59:00Z'));
    const s = planDeviceStatus({ device: dev({ desired: { setpoint: '21' } }), edge, node: { ready: 'True' }, now });
    expect(s.twins).toHaveLength(2);
    expect(s.state).toBe('online');
    expect(s.lastOnlineTime).toBe('2026-03-01T09:59:00Z');
    expect(s.observedGeneration).toBe(2);
    expect(cond(s, 'Online')).toMatchObject({ status: 'True', reason: 'DeviceOnline', observedGeneration: 2, lastTransitionTime: '2026-03-01T10:00:00Z' });
    expect(cond(s, 'Synced')).toMatchObject({ status: 'True', reason: 'DesiredObserved' });
  });

  it('is Synced=False while a desired value has not reached the edge', () => {
    const edge = mergeReport(undefined, twinReport(1, [{ propertyName: 'setpoint', observedDesired: { value: '21' } }]));
    const s = planDeviceStatus({ device: dev({ desired: { setpoint: '25', mode: 'eco' } }), edge, node: { ready: 'True' }, now });
    expect(cond(s, 'Synced')).toMatchObject({ status: 'False', reason: 'DesiredPending' });
    expect(s.conditions!.find((c) => c.type === 'Synced')!.message).toContain('setpoint, mode');
  });

  it.each([
    ['offline', { ready: 'True' as const }, 'False', 'DeviceOffline'],
    ['unhealthy', { ready: 'True' as const }, 'False', 'DeviceUnhealthy'],
    ['ok', { ready: 'True' as const }, 'True', 'DeviceOnline'],
    ['unknown', { ready: 'True' as const }, 'Unknown', 'StateUnknown'],
    ['online', { ready: 'Unknown' as const }, 'Unknown', 'NodeNotReady'],
    ['online', { ready: 'False' as const }, 'Unknown', 'NodeNotReady'],
  ])('state %s on a node %o → Online=%s (%s)', (state, node, status, reason) => {
    const s = planDeviceStatus({ device: dev(), edge: mergeReport(undefined, stateReport(1, state as 'online')), node, now });
    expect(cond(s, 'Online')).toMatchObject({ status, reason });
  });

  it('says when a Device is bound to no node, and when nothing was reported yet', () => {
    expect(cond(planDeviceStatus({ device: dev({ node: '' }), now }), 'Online')).toMatchObject({ status: 'Unknown', reason: 'NotAssigned' });
    expect(cond(planDeviceStatus({ device: dev(), node: { ready: 'True' }, now }), 'Online')).toMatchObject({ status: 'Unknown', reason: 'StateUnknown' });
  });

  it('without an edge view keeps the current twins and state, and keeps transition times while statuses hold', () => {
    const first = planDeviceStatus({ device: dev(), edge: mergeReport(undefined, stateReport(1, 'online')), node: { ready: 'True' }, now });
    const withStatus = dev({ status: { ...first, twins: [{ propertyName: 'temperature', reported: { value: '3' } }] } });
    const again = planDeviceStatus({ device: withStatus, node: { ready: 'True' }, now: later });
    expect(again.twins).toEqual([{ propertyName: 'temperature', reported: { value: '3' } }]);
    expect(again.state).toBe('online');
    expect(cond(again, 'Online')).toMatchObject({ lastTransitionTime: '2026-03-01T10:00:00Z' });
    expect(conditionsChanged(withStatus.status, again)).toBe(false);
    const offline = planDeviceStatus({ device: withStatus, edge: mergeReport(undefined, stateReport(2, 'offline')), node: { ready: 'True' }, now: later });
    expect(cond(offline, 'Online')).toMatchObject({ status: 'False', lastTransitionTime: '2026-03-01T10:05:00Z' });
    expect(conditionsChanged(withStatus.status, offline)).toBe(true);
    expect(Object.keys(conditionsPatch(offline)).sort()).toEqual(['conditions', 'observedGeneration']);
  });
});
