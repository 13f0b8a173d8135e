import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { device, deviceModel, forget, receive } from '../../test/support/devices.ts';
import type { DeviceStateReport, DeviceTwinReport } from '../protocol/device-reports.ts';
import { openEdgeStore, type EdgeStore } from '../store/store.ts';
import { DeviceError } from './errors.ts';
import { DeviceTwin, type TwinEvent } from './twin.ts';

const model = deviceModel('plant', 'pump', [
  { name: 'temperature', type: 'FLOAT', accessMode: 'ReadOnly', minimum: '-40', maximum: '125' },
  { name: 'setpoint', type: 'INT', accessMode: 'ReadWrite', minimum: '5', maximum: '35' },
  { name: 'enabled', type: 'BOOLEAN', accessMode: 'ReadWrite' },
  { name: 'local-only', type: 'STRING', accessMode: 'ReadWrite' },
]);
const pump = (over: Partial<Parameters<typeof device>[2]> = {}) => device('plant', 'pump-1', {
  model: 'pump',
  properties: [
    { name: 'temperature', reportCycle: 200_000_000 },
    { name: 'setpoint', desired: { value: '21' }, reportCycle: 200_000_000 },
    { name: 'local-only', reportToCloud: false },
  ],
  ...over,
});

const open: { store: EdgeStore; twin: DeviceTwin }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) {
    o.twin.stop();
    if (o.store.db.isOpen) o.store.close();
  }
});

function start(dir = mkdtempSync(join(tmpdir(), 'outpost-twin-')), notify: () => void = () => undefined) {
  const store = openEdgeStore(join(dir, 'edge.db'));
  const twin = new DeviceTwin({ store, nodeName: 'edge-1', log: silentLogger, notifyOutbox: notify });
  twin.start();
  const events: TwinEvent[] = [];
  twin.onEvent((e) => events.push(e));
  open.push({ store, twin });
  return { dir, store, twin, events };
}

const twinReports = (store: EdgeStore) => store.outbox.pending(1000).filter((e) => e.kind === 'device-twin');
const lastTwin = (store: EdgeStore) => twinReports(store).at(-1)?.payload as DeviceTwinReport | undefined;

async function codeOf(f: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await f();
  } catch (e) {
    if (e instanceof DeviceError) return e.code;
    throw e;
  }
  return undefined;
}

describe('DeviceTwin', () => {
  it('takes a Device from the store: desired values from the spec, a snapshot for the cloud, a membership event', async () => {
    const { store, twin, events } = start();
    receive(store, model);
    receive(store, pump());
    await expect.poll(() => twin.device('plant/pump-1')?.modelFound).toBe(true);
    expect(twin.twin('plant/pump-1')!.get('setpoint')?.desired?.value).toBe('21');
    expect(twin.delta('plant/pump-1')).toEqual({ setpoint: '21' });
    await expect.poll(() => lastTwin(store)?.twins).toEqual([{ propertyName: 'setpoint', observedDesired: { value: '21', metadata: expect.objectContaining({ type: 'int' }) } }]);
    expect(lastTwin(store)!.uid).toBe('uid-plant-pump-1');
    expect(events.some((e) => e.type === 'membership' && e.added.some((d) => d.id === 'plant/pump-1'))).toBe(true);
    // model-only properties are part of the device too (enabled)
    expect(twin.device('plant/pump-1')!.properties.map((p) => p.name)).toEqual(['temperature', 'setpoint', 'local-only', 'enabled']);
  });

  it('stores reports, coalesces them per device in the outbox and puts at most one snapshot per cycle', async () => {
    let notified = 0;
    const { store, twin } = start(undefined, () => notified++);
    receive(store, model);
    receive(store, pump());
    await expect.poll(() => twinReports(store).length).toBe(1);
    const before = twin.stats.twinPuts;
    const t0 = Date.now();
    for (let i = 0; i < 200; i++) await twin.report('plant/pump-1', [{ name: 'temperature', value: 20 + i / 10 }]);
    const elapsed = Date.now() - t0;
    expect(twinReports(store)).toHaveLength(1); // coalesced: one pending per device
    await expect.poll(() => (lastTwin(store)?.twins.find((t) => t.propertyName === 'temperature')?.reported?.value)).toBe('39.9');
    // the device's report cycle is 200 ms: at most one snapshot per 200 ms, plus the leading one
    expect(twin.stats.twinPuts - before).toBeLessThanOrEqual(Math.ceil(elapsed / 200) + 2);
    expect(notified).toBeGreaterThan(0);
    // reportToCloud: false stays at the edge
    await twin.report('plant/pump-1', [{ name: 'local-only', value: 'secret' }]);
    await new Promise((r) => setTimeout(r, 150));
    expect(lastTwin(store)!.twins.map((t) => t.propertyName)).not.toContain('local-only');
    expect(twin.twin('plant/pump-1')!.get('local-only')?.reported?.value).toBe('secret');
  });

  it('validates values against the DeviceModel', async () => {
    const { store, twin } = start();
    receive(store, model);
    receive(store, pump());
    await expect.poll(() => twin.device('plant/pump-1')?.modelFound).toBe(true);
    expect(await codeOf(() => twin.report('plant/nope', [{ name: 'x', value: 1 }]))).toBe('TWIN_DEVICE_NOT_FOUND');
    expect(await codeOf(() => twin.report('plant/pump-1', [{ name: 'humidity', value: 1 }]))).toBe('TWIN_PROPERTY_NOT_FOUND');
    expect(await codeOf(() => twin.report('plant/pump-1', [{ name: 'setpoint', value: 'warm' }]))).toBe('TWIN_INVALID_VALUE');
    expect(await codeOf(() => twin.update('plant/pump-1', { expected: [{ name: 'temperature', value: 20 }] }))).toBe('TWIN_READ_ONLY');
    expect(await codeOf(() => twin.update('plant/pump-1', { expected: [{ name: 'setpoint', value: 99 }] }))).toBe('TWIN_OUT_OF_RANGE');
    // a refused update changes nothing, even its valid parts
    expect(await codeOf(() => twin.update('plant/pump-1', { actual: [{ name: 'temperature', value: 1 }], expected: [{ name: 'setpoint', value: 99 }] }))).toBe('TWIN_OUT_OF_RANGE');
    expect(twin.twin('plant/pump-1')!.get('temperature')?.reported).toBeUndefined();
    // reported values outside min/max are what the device says: stored
    await twin.report('plant/pump-1', [{ name: 'temperature', value: 500 }]);
    expect(twin.twin('plant/pump-1')!.get('temperature')?.reported?.value).toBe('500');
  });

  it('keeps a desired value set at the edge until the cloud changes its own', async () => {
    const { store, twin } = start();
    receive(store, model);
    receive(store, pump());
    await expect.poll(() => twin.device('plant/pump-1')).toBeDefined();
    await twin.update('plant/pump-1', { expected: [{ name: 'setpoint', value: '25' }] });
    receive(store, pump({ generation: 2 })); // same spec desired (21): the edge's 25 stays
    await new Promise((r) => setTimeout(r, 20));
    expect(twin.twin('plant/pump-1')!.get('setpoint')?.desired?.value).toBe('25');
    receive(store, pump({ generation: 3, properties: [{ name: 'setpoint', desired: { value: '30' } }] }));
    await expect.poll(() => twin.twin('plant/pump-1')!.get('setpoint')?.desired?.value).toBe('30');
    receive(store, pump({ generation: 4, properties: [{ name: 'setpoint' }] }));
    await expect.poll(() => twin.twin('plant/pump-1')!.get('setpoint')?.desired).toBeUndefined();
  });

  it('records device states and reports them upstream', async () => {
    const { store, twin } = start();
    receive(store, model);
    receive(store, pump());
    await expect.poll(() => twin.device('plant/pump-1')).toBeDefined();
    const r = await twin.setState('plant/pump-1', 'online');
    expect(r.state).toBe('online');
    expect(r.lastOnline).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const p = store.outbox.pending(100).find((e) => e.kind === 'device-state')!.payload as DeviceStateReport;
    expect(p).toMatchObject({ state: 'online', lastOnlineTime: r.lastOnline, uid: 'uid-plant-pump-1' });
    await twin.setState('plant/pump-1', 'offline');
    expect(twin.state('plant/pump-1')).toEqual({ state: 'offline', lastOnline: r.lastOnline });
    const seqs = store.outbox.pending(100).map((e) => (e.payload as { seq: number }).seq);
    expect(new Set(seqs).size).toBe(seqs.length); // seq is shared by both kinds and only grows
  });

  it('survives a restart: twins, desired values, state and seq come back from SQLite', async () => {
    const a = start();
    receive(a.store, model);
    receive(a.store, pump());
    await expect.poll(() => a.twin.device('plant/pump-1')).toBeDefined();
    await a.twin.report('plant/pump-1', [{ name: 'temperature', value: '22.5', timestamp: 1_700_000_000_000 }]);
    await a.twin.update('plant/pump-1', { expected: [{ name: 'enabled', value: true }] });
    await a.twin.setState('plant/pump-1', 'online');
    const seqBefore = Math.max(...a.store.outbox.pending(100).map((e) => (e.payload as { seq: number }).seq));
    a.twin.stop();
    a.store.close();
    const b = start(a.dir);
    const t = b.twin.twin('plant/pump-1')!;
    expect(t.get('temperature')?.reported).toEqual({ value: '22.5', metadata: { timestamp: '1700000000000', type: 'float' }, at: 1_700_000_000_000 });
    expect(t.get('enabled')?.desired?.value).toBe('true');
    expect(t.get('setpoint')?.desired?.value).toBe('21');
    expect(b.twin.state('plant/pump-1')?.state).toBe('online');
    expect(b.twin.delta('plant/pump-1')).toEqual({ setpoint: '21', enabled: 'true' });
    await b.twin.report('plant/pump-1', [{ name: 'temperature', value: 1 }]);
    await expect.poll(() => lastTwin(b.store)?.seq ?? 0).toBeGreaterThan(seqBefore);
  });

  it('re-queues a snapshot that was stored but not yet sent when the agent died', async () => {
    const a = start();
    receive(a.store, model);
    receive(a.store, pump({ properties: [{ name: 'temperature', reportCycle: 60e9 }] })); // 60 s cycle: the 2nd report waits
    await expect.poll(() => twinReports(a.store).length).toBe(1);
    await a.twin.report('plant/pump-1', [{ name: 'temperature', value: 1 }]);
    await a.twin.report('plant/pump-1', [{ name: 'temperature', value: 2 }]);
    expect((lastTwin(a.store)!.twins.find((t) => t.propertyName === 'temperature'))?.reported?.value).not.toBe('2');
    a.store.close(); // crash: no stop(), the throttled snapshot was never put
    const b = start(a.dir);
    expect((lastTwin(b.store)!.twins.find((t) => t.propertyName === 'temperature'))?.reported?.value).toBe('2');
  });

  it('drops a deleted Device, also when it was deleted while the agent was down', async () => {
    const a = start();
    receive(a.store, model);
    receive(a.store, pump());
    receive(a.store, device('plant', 'pump-2', { model: 'pump' }));
    await expect.poll(() => a.twin.devices().length).toBe(2);
    forget(a.store, 'Device', 'plant', 'pump-1');
    await expect.poll(() => a.twin.device('plant/pump-1')).toBeUndefined();
    expect(a.events.some((e) => e.type === 'membership' && e.removed.some((d) => d.id === 'plant/pump-1'))).toBe(true);
    a.twin.stop();
    a.store.objects.applyDelete('devices.kubeedge.io/v1beta1/Device/plant/pump-2'); // while no twin listens
    a.store.close();
    const b = start(a.dir);
    expect(b.twin.devices()).toEqual([]);
    expect(b.store.db.sql.prepare('SELECT COUNT(*) AS n FROM device_twin').get()).toEqual({ n: 0 });
  });

  it('emits twin events with the current delta after commit', async () => {
    const { store, twin, events } = start();
    receive(store, model);
    receive(store, pump());
    await expect.poll(() => twin.device('plant/pump-1')).toBeDefined();
    events.length = 0;
    await twin.report('plant/pump-1', [{ name: 'setpoint', value: '20' }]);
    const ev = events.find((e) => e.type === 'twins') as Extract<TwinEvent, { type: 'twins' }>;
    expect(ev.delta).toEqual({ setpoint: '21' });
    expect(ev.changes.get('setpoint')!.last?.reported).toBeUndefined();
    expect(ev.changes.get('setpoint')!.current?.reported?.value).toBe('20');
    events.length = 0;
    await twin.report('plant/pump-1', [{ name: 'setpoint', value: '21.0' }]); // INT "21.0" is 21
    expect((events.find((e) => e.type === 'twins') as Extract<TwinEvent, { type: 'twins' }>).delta).toEqual({});
  });
});
