import { describe, expect, it } from 'vitest';
import { ProtocolError } from './errors.ts';
import { cycleMs, deviceReportCycleMs, validateDeviceStateReport, validateDeviceTwinReport } from './device-reports.ts';

const twin = {
  seq: 7, uid: 'a1b2-c3', generation: 3,
  twins: [
    { propertyName: 'temperature', reported: { value: '21.5', metadata: { timestamp: '1700000000000', type: 'float' } } },
    { propertyName: 'setpoint', reported: { value: '21' }, observedDesired: { value: '22', metadata: { type: 'int' } } },
  ],
};

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof ProtocolError) return `${e.code} ${e.field ?? ''}`.trim();
    throw e;
  }
  return undefined;
}

describe('device-twin payload', () => {
  it('round-trips a valid snapshot canonically', () => {
    const v = validateDeviceTwinReport(JSON.parse(JSON.stringify(twin)));
    expect(v).toEqual(twin);
    expect(JSON.stringify(validateDeviceTwinReport(v))).toBe(JSON.stringify(v));
  });

  it('accepts an empty twin list and no uid/generation', () => {
    expect(validateDeviceTwinReport({ seq: 1, twins: [] })).toEqual({ seq: 1, twins: [] });
  });

  it.each([
    ['missing seq', { twins: [] }, 'PROTO_INVALID_FIELD device-twin.seq'],
    ['seq 0', { seq: 0, twins: [] }, 'PROTO_INVALID_FIELD device-twin.seq'],
    ['unknown field', { seq: 1, twins: [], extra: 1 }, 'PROTO_INVALID_FIELD device-twin.extra'],
    ['twins not a list', { seq: 1, twins: {} }, 'PROTO_INVALID_FIELD device-twin.twins'],
    ['bad property name', { seq: 1, twins: [{ propertyName: 'has space' }] }, 'PROTO_INVALID_FIELD device-twin.twins[0].propertyName'],
    ['value not a string', { seq: 1, twins: [{ propertyName: 'a', reported: { value: 5 } }] }, 'PROTO_INVALID_FIELD device-twin.twins[0].reported.value'],
    ['control character', { seq: 1, twins: [{ propertyName: 'a', reported: { value: 'x\u0001' } }] }, 'PROTO_INVALID_FIELD device-twin.twins[0].reported.value'],
    ['metadata value not a string', { seq: 1, twins: [{ propertyName: 'a', reported: { value: '1', metadata: { t: 1 } } }] }, 'PROTO_INVALID_FIELD device-twin.twins[0].reported.metadata["t"]'],
    ['duplicate property', { seq: 1, twins: [{ propertyName: 'a' }, { propertyName: 'a' }] }, 'PROTO_INVALID_FIELD device-twin.twins'],
    ['too many twins', { seq: 1, twins: Array.from({ length: 257 }, (_, i) => ({ propertyName: `p${i}` })) }, 'PROTO_INVALID_FIELD device-twin.twins'],
    ['not an object', 'x', 'PROTO_INVALID_FIELD device-twin'],
  ])('refuses %s', (_name, payload, want) => {
    expect(code(() => validateDeviceTwinReport(payload))).toBe(want);
  });
});

describe('device-state payload', () => {
  it('accepts every KubeEdge state', () => {
    for (const state of ['ok', 'online', 'offline', 'unhealthy', 'unknown']) {
      expect(validateDeviceStateReport({ seq: 2, state, lastOnlineTime: '2026-01-02T03:04:05Z' }).state).toBe(state);
    }
  });

  it.each([
    ['unknown state', { seq: 1, state: 'sleeping' }, 'PROTO_INVALID_FIELD device-state.state'],
    ['bad time', { seq: 1, state: 'online', lastOnlineTime: 'yesterday' }, 'PROTO_INVALID_FIELD device-state.lastOnlineTime'],
    ['missing seq', { state: 'online' }, 'PROTO_INVALID_FIELD device-state.seq'],
  ])('refuses %s', (_n, payload, want) => {
    expect(code(() => validateDeviceStateReport(payload))).toBe(want);
  });
});

describe('cycles', () => {
  it('reads KubeEdge nanosecond cycles as milliseconds, with a floor and a fallback', () => {
    expect(cycleMs(1_000_000_000, 5)).toBe(1000);
    expect(cycleMs(250_000_000, 5)).toBe(250);
    expect(cycleMs(1000, 5)).toBe(10); // 1 µs: floored, never a busy loop
    expect(cycleMs(0, 5)).toBe(5);
    expect(cycleMs(undefined, 5)).toBe(5);
    expect(cycleMs(-3, 5)).toBe(5);
  });

  it('uses the shortest reportCycle of the properties that report to the cloud', () => {
    expect(deviceReportCycleMs({ properties: [{ reportCycle: 10e9 }, { reportCycle: 2e9 }, { reportCycle: 1e8, reportToCloud: false }] })).toBe(2000);
    expect(deviceReportCycleMs({ properties: [] })).toBe(1000);
    expect(deviceReportCycleMs(undefined)).toBe(1000);
    expect(deviceReportCycleMs({ properties: [{ reportCycle: 1e6 }] })).toBe(100);
    expect(deviceReportCycleMs({ properties: [{ reportCycle: 1e6 }] }, 10)).toBe(10);
  });
});
