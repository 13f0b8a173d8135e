// The mapper runtime with the real twin (SQLite) and the Modbus TCP
// simulator: polling, coercion, report cycles, desired values (also after a
// restart, with no cloud), ReadOnly and min/max, loss and reconnect.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { device, deviceModel, receive } from '../../test/support/devices.ts';
import { openEdgeStore, type EdgeStore } from '../store/store.ts';
import { DeviceTwin } from '../devices/twin.ts';
import type { DeviceProperty } from '../../api/index.ts';
import { ModbusSimulator } from './modbus/simulator.ts';
import { MapperRuntime } from './runtime.ts';

const ID = 'plant/boiler-1';
const fast = { initialMs: 50, maxMs: 200 };
const model = deviceModel('plant', 'boiler', [
  { name: 'temperature', type: 'FLOAT', accessMode: 'ReadOnly' },
  { name: 'setpoint', type: 'INT', accessMode: 'ReadWrite', minimum: '5', maximum: '35' },
  { name: 'heater', type: 'BOOLEAN', accessMode: 'ReadWrite' },
  { name: 'limit', type: 'INT', accessMode: 'ReadOnly' },
]);
const props = (setpoint?: string, over: Partial<DeviceProperty> = {}): DeviceProperty[] => [
  { name: 'temperature', collectCycle: 20e6, reportCycle: 20e6, visitors: { protocolName: 'modbus', configData: { register: 'InputRegister', offset: 0, limit: 1, scale: 0.1, signed: true } } },
  { name: 'setpoint', collectCycle: 20e6, reportCycle: 20e6, ...(setpoint ? { desired: { value: setpoint } } : {}), visitors: { protocolName: 'modbus', configData: { register: 'HoldingRegister', offset: 1 } }, ...over },
  { name: 'heater', collectCycle: 20e6, reportCycle: 20e6, visitors: { protocolName: 'modbus', configData: { register: 'CoilRegister', offset: 0 } } },
  { name: 'limit', collectCycle: 20e6, desired: { value: '7' }, visitors: { protocolName: 'modbus', configData: { register: 'HoldingRegister', offset: 5 } } },
];
const boiler = (port: number, setpoint?: string, gen = 1, over: Partial<DeviceProperty> = {}) =>
  device('plant', 'boiler-1', { model: 'boiler', generation: gen, protocol: { protocolName: 'modbus', configData: { ip: '127.0.0.1', port, slaveID: 1, timeout: 200 } }, properties: props(setpoint, over) });

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function edge(dir = mkdtempSync(join(tmpdir(), 'outpost-mapper-'))) {
  const store: EdgeStore = openEdgeStore(join(dir, 'edge.db'));
  const twin = new DeviceTwin({ store, nodeName: 'edge-1', log: silentLogger, notifyOutbox: () => undefined });
  twin.start();
  const runtime = new MapperRuntime({ twin, log: silentLogger, backoff: fast });
  runtime.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await runtime.stop();
    twin.stop();
    store.close();
  };
  cleanup.push(stop);
  return { dir, store, twin, runtime, stop };
}

const reported = (twin: DeviceTwin, name: string) => twin.twin(ID)?.get(name)?.reported?.value;

describe('MapperRuntime with the Modbus TCP mapper', () => {
  it('polls the device, coerces values and reports the device online', async () => {
    const sim = await ModbusSimulator.start();
    cleanup.push(() => sim.close());
    sim.input[0] = 0xff38; // -200 signed × 0.1
    sim.holding[1] = 18;
    sim.coils[0] = 1;
    const { store, twin } = edge();
    receive(store, model);
    receive(store, boiler(sim.port));
    await expect.poll(() => reported(twin, 'temperature')).toBe('-20');
    await expect.poll(() => reported(twin, 'setpoint')).toBe('18');
    await expect.poll(() => reported(twin, 'heater')).toBe('true');
    expect(twin.state(ID)?.state).toBe('online');
    sim.input[0] = 215;
    await expect.poll(() => reported(twin, 'temperature')).toBe('21.5');
  });

  it('writes desired values, re-applies them when the device drifts, never writes ReadOnly or out-of-range values', async () => {
    const sim = await ModbusSimulator.start();
    cleanup.push(() => sim.close());
    const { store, twin } = edge();
    receive(store, model);
    receive(store, boiler(sim.port, '21'));
    await expect.poll(() => sim.holding[1]).toBe(21);
    await expect.poll(() => reported(twin, 'setpoint')).toBe('21');
    // the cloud changes its desired value
    receive(store, boiler(sim.port, '25', 2));
    await expect.poll(() => sim.holding[1]).toBe(25);
    // somebody turns the knob on the device: the desired value wins again
    sim.holding[1] = 9;
    await expect.poll(() => sim.holding[1], { timeout: 3000 }).toBe(25);
    // a desired value over the model's maximum is never written
    receive(store, boiler(sim.port, '99', 3));
    await new Promise((r) => setTimeout(r, 300));
    expect(sim.holding[1]).toBe(25);
    // ReadOnly "limit" has a desired value in the spec: register 5 never written
    expect(sim.holding[5]).toBe(0);
    const wroteLimit = { n: 0 };
    sim.onWrite((r) => ('address' in r && r.address === 5 ? wroteLimit.n++ : 0));
    await new Promise((r) => setTimeout(r, 100));
    expect(wroteLimit.n).toBe(0);
    // a desired value set at the edge over the twin API is applied too
    await twin.update(ID, { expected: [{ name: 'heater', value: true }] });
    await expect.poll(() => sim.coils[0]).toBe(1);
  });

  it('reports at most once per reportCycle, the newest value', async () => {
    const sim = await ModbusSimulator.start();
    cleanup.push(() => sim.close());
    const { store, twin, runtime } = edge();
    receive(store, model);
    receive(store, boiler(sim.port, undefined, 1, { collectCycle: 10e6, reportCycle: 300e6 }));
    await expect.poll(() => runtime.session(ID)?.connected).toBe(true);
    const t0 = Date.now();
    const before = twin.stats.reported;
    let v = 5;
    const ticker = setInterval(() => (sim.holding[1] = ++v), 5);
    await new Promise((r) => setTimeout(r, 1000));
    clearInterval(ticker);
    const elapsed = Date.now() - t0;
    const setpointReports = twin.stats.reported - before;
    // three other properties report too, but only when they change (they don't): setpoint dominates
    expect(setpointReports).toBeLessThanOrEqual(Math.ceil(elapsed / 300) + 2);
    await expect.poll(() => reported(twin, 'setpoint'), { timeout: 2000 }).toBe(String(v));
  });

  it('reports a lost device offline and reconnects with backoff when it is back', async () => {
    const sim = await ModbusSimulator.start();
    const port = sim.port;
    const { store, twin, runtime } = edge();
    receive(store, model);
    receive(store, boiler(port));
    await expect.poll(() => twin.state(ID)?.state).toBe('online');
    await sim.close();
    await expect.poll(() => twin.state(ID)?.state, { timeout: 3000 }).toBe('offline');
    const sim2 = await ModbusSimulator.start({ port });
    cleanup.push(() => sim2.close());
    sim2.holding[1] = 33;
    await expect.poll(() => twin.state(ID)?.state, { timeout: 3000 }).toBe('online');
    await expect.poll(() => reported(twin, 'setpoint')).toBe('33');
    expect(runtime.session(ID)!.stats.connects).toBeGreaterThanOrEqual(2);
    // a device that stops answering (timeouts) is offline too
    sim2.silent = true;
    await expect.poll(() => twin.state(ID)?.state, { timeout: 3000 }).toBe('offline');
  });

  it('applies desired values stored at the edge after a restart, with no cloud', async () => {
    const sim = await ModbusSimulator.start();
    cleanup.push(() => sim.close());
    const a = edge();
    receive(a.store, model);
    receive(a.store, boiler(sim.port, '22'));
    await expect.poll(() => sim.holding[1]).toBe(22);
    await a.stop();
    sim.holding[1] = 6; // changed on the device while the agent was down
    const b = edge(a.dir); // same store, nothing from the cloud
    await expect.poll(() => sim.holding[1]).toBe(22);
    await expect.poll(() => reported(b.twin, 'setpoint')).toBe('22');
  });

  it('skips a property with a bad visitor and keeps the others', async () => {
    const sim = await ModbusSimulator.start();
    cleanup.push(() => sim.close());
    sim.holding[1] = 12;
    const { store, twin } = edge();
    receive(store, model);
    receive(store, boiler(sim.port, undefined, 1, { visitors: { protocolName: 'modbus', configData: { register: 'Nonsense' } } }));
    await expect.poll(() => reported(twin, 'heater')).toBe('false');
    expect(reported(twin, 'setpoint')).toBeUndefined();
  });
});

describe('MapperRuntime with the virtual mapper', () => {
  it('simulates sensors and holds written values', async () => {
    const { store, twin } = edge();
    receive(store, deviceModel('lab', 'virt', [
      { name: 'temp', type: 'FLOAT', accessMode: 'ReadOnly', minimum: '10', maximum: '30' },
      { name: 'count', type: 'INT', accessMode: 'ReadOnly', visitors: { protocolName: 'virtual', configData: { generator: 'counter' } } },
      { name: 'mode', type: 'STRING', accessMode: 'ReadWrite' },
    ], 'virtualProtocol'));
    receive(store, device('lab', 'v1', { model: 'virt', protocol: { protocolName: 'virtualProtocol' }, properties: [
      { name: 'temp', collectCycle: 20e6, reportCycle: 20e6 },
      { name: 'count', collectCycle: 20e6, reportCycle: 20e6 },
      { name: 'mode', collectCycle: 20e6, reportCycle: 20e6, desired: { value: 'eco' } },
    ] }));
    const r = (n: string) => twin.twin('lab/v1')?.get(n)?.reported?.value;
    await expect.poll(() => r('mode')).toBe('eco');
    await expect.poll(() => Number(r('count'))).toBeGreaterThan(2);
    const t = Number(r('temp'));
    expect(t).toBeGreaterThanOrEqual(10);
    expect(t).toBeLessThanOrEqual(30);
    expect(twin.state('lab/v1')?.state).toBe('online');
  });
});
