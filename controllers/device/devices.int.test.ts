/**
 * Devices end to end against the real control plane (issue "Devices",
 * deliverable 5): CloudHub (in `outpost cloud`) and an edge agent in this
 * process, a Modbus TCP simulator this test starts, and the built-in Modbus
 * mapper.
 *
 * - create a DeviceModel and a Device → the mapper polls the simulator and
 *   the Device status shows the value within 2 s;
 * - change spec desired → the register changes;
 * - cut the cloud (stop the edge's hub link), change the simulator and the
 *   desired value, restore → the status and the register catch up;
 * - however fast values change, at most one status write per report cycle;
 * - the device disappears → Online=False (DeviceOffline) → comes back;
 * - a KubeEdge-style device app (plain MQTT client, exact $hw topics)
 *   reports a twin that reaches the Device status.
 */
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Device, DeviceModel } from '../../api/index.ts';
import { createLogger } from '../../lib/log.ts';
import { createNamespace, deleteNamespace, installCrds, kubeConfig, kubeconfigPath } from '../../test/support/kube.ts';
import { edgeConfig, makePki, type TestPki } from '../../test/support/hub-fixture.ts';
import { startCloud, defaultCloudConfig, type Cloud } from '../../cloud/cloud.ts';
import { startEdge, type EdgeAgent } from '../../edge/agent.ts';
import { ModbusSimulator } from '../../edge/mappers/modbus/simulator.ts';
import { KubeClient } from '../runtime/client.ts';

const log = createLogger({ level: process.env.OUTPOST_TEST_LOG === '1' ? 'debug' : 'warn' });
const run = randomBytes(3).toString('hex');
const node = `dev-edge-${run}`;
const api = 'devices.kubeedge.io/v1beta1';

let pki: TestPki;
let client: KubeClient;
let cloud: Cloud;
let agent: EdgeAgent;
let sim: ModbusSimulator;
let ns = '';

beforeAll(async () => {
  await installCrds();
  pki = await makePki();
  client = new KubeClient(kubeConfig());
  ns = await createNamespace(`dev-${run}`);
  sim = await ModbusSimulator.start();
  cloud = await startCloud({
    ...defaultCloudConfig, kubeconfig: kubeconfigPath(), leaderElect: false, healthPort: -1,
    hub: { host: '127.0.0.1', port: 0, protocols: ['websocket'], tls: { ca: pki.ca.certPem, cert: pki.hub.cert, key: pki.hub.key }, heartbeatMs: 1000 },
  }, { log });
  const cfg = await edgeConfig(pki, node, cloud.hubAddresses.websocket!.port, 'websocket');
  agent = await startEdge({ ...cfg, devices: { mode: 'on', mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0 }, mappers: true } }, { log });
  await agent.devices.ready();
});

afterAll(async () => {
  await agent?.stop();
  await cloud?.stop();
  await sim?.close();
  await deleteNamespace(ns);
});

const model = (name: string, protocol = 'modbus'): DeviceModel => ({
  apiVersion: api, kind: 'DeviceModel', metadata: { name, namespace: ns },
  spec: {
    protocol,
    properties: [
      { name: 'temperature', type: 'FLOAT', accessMode: 'ReadOnly', minimum: '-40', maximum: '125', unit: 'degC' },
      { name: 'setpoint', type: 'INT', accessMode: 'ReadWrite', minimum: '5', maximum: '35' },
    ],
  },
});

const thermostat = (name: string, modelName: string, setpoint: string): Device => ({
  apiVersion: api, kind: 'Device', metadata: { name, namespace: ns },
  spec: {
    deviceModelRef: { name: modelName }, nodeName: node,
    protocol: { protocolName: 'modbus', configData: { ip: '127.0.0.1', port: sim.port, slaveID: 1, timeout: 300 } },
    properties: [
      // KubeEdge cycles are nanoseconds: collect every 100 ms, report every 200 ms
      { name: 'temperature', collectCycle: 100_000_000, reportCycle: 200_000_000, reportToCloud: true,
        visitors: { protocolName: 'modbus', configData: { register: 'InputRegister', offset: 0, limit: 1, scale: 0.1 } } },
      { name: 'setpoint', collectCycle: 100_000_000, reportCycle: 200_000_000, reportToCloud: true, desired: { value: setpoint, metadata: { type: 'int' } },
        visitors: { protocolName: 'modbus', configData: { register: 'HoldingRegister', offset: 1, limit: 1 } } },
    ],
  },
});

const get = (name: string) => client.get<Device>({ apiVersion: api, kind: 'Device', namespace: ns, name });
const reported = async (name: string, prop: string) => (await get(name))?.status?.twins?.find((t) => t.propertyName === prop)?.reported?.value;
const condition = async (name: string, type: string) => (await get(name))?.status?.conditions?.find((c) => c.type === type)?.status;
const setDesired = (name: string, value: string) =>
  client.jsonPatch({ apiVersion: api, kind: 'Device', namespace: ns, name }, [{ op: 'replace', path: '/spec/properties/1/desired/value', value }]);

describe('devices end to end', () => {
  it('creates a DeviceModel and Device: the status shows the simulator\'s value within 2 s, the desired value reaches the register', async () => {
    sim.input[0] = 215;
    await client.create(model('thermostat'));
    const t0 = Date.now();
    await client.create(thermostat('hall-1', 'thermostat', '21'));
    await expect.poll(() => reported('hall-1', 'temperature'), { timeout: 2000, interval: 50 }).toBe('21.5');
    const firstValueMs = Date.now() - t0;
    expect(firstValueMs).toBeLessThanOrEqual(2000);
    await expect.poll(() => sim.holding[1], { timeout: 5000 }).toBe(21);
    await expect.poll(() => reported('hall-1', 'setpoint'), { timeout: 5000 }).toBe('21');
    await expect.poll(() => condition('hall-1', 'Online'), { timeout: 5000 }).toBe('True');
    await expect.poll(() => condition('hall-1', 'Synced'), { timeout: 5000 }).toBe('True');
    const d = (await get('hall-1'))!;
    expect(d.status?.state).toBe('online');
    expect(d.status?.lastOnlineTime).toMatch(/Z$/);
    expect(d.status?.observedGeneration).toBe(d.metadata.generation);
    expect(d.status?.twins?.find((t) => t.propertyName === 'setpoint')?.observedDesired?.value).toBe('21');
    // a new value on the device: the status follows within 2 s
    sim.input[0] = 230;
    const t1 = Date.now();
    await expect.poll(() => reported('hall-1', 'temperature'), { timeout: 2000, interval: 50 }).toBe('23');
    expect(Date.now() - t1).toBeLessThanOrEqual(2000);
  });

  it('changing spec desired changes the register', async () => {
    await setDesired('hall-1', '25');
    await expect.poll(() => sim.holding[1], { timeout: 5000 }).toBe(25);
    await expect.poll(async () => (await get('hall-1'))?.status?.twins?.find((t) => t.propertyName === 'setpoint')?.observedDesired?.value, { timeout: 5000 }).toBe('25');
    await expect.poll(() => reported('hall-1', 'setpoint'), { timeout: 5000 }).toBe('25');
    await expect.poll(() => condition('hall-1', 'Synced'), { timeout: 5000 }).toBe('True');
  });

  it('with the cloud cut off, reports keep being accepted; on reconnect the status and the register catch up', async () => {
    await agent.hub.stop();
    await expect.poll(() => cloud.hub!.session(node), { timeout: 5000 }).toBeUndefined();
    const twin = agent.devices.current!.twin;
    sim.input[0] = 300;
    await expect.poll(() => twin.twin(`${ns}/hall-1`)?.get('temperature')?.reported?.value, { timeout: 3000 }).toBe('30');
    for (const v of [301, 302, 303]) {
      sim.input[0] = v;
      await new Promise((r) => setTimeout(r, 250));
    }
    await expect.poll(() => twin.twin(`${ns}/hall-1`)?.get('temperature')?.reported?.value, { timeout: 3000 }).toBe('30.3');
    // a desired value written while the node is away: Synced=False until it arrives
    await setDesired('hall-1', '28');
    await expect.poll(() => condition('hall-1', 'Synced'), { timeout: 5000 }).toBe('False');
    expect(await reported('hall-1', 'temperature')).toBe('23'); // the cloud saw nothing while cut off
    expect(agent.store.outbox.size()).toBeGreaterThan(0);
    agent.hub.start();
    await expect.poll(() => reported('hall-1', 'temperature'), { timeout: 10_000 }).toBe('30.3');
    await expect.poll(() => sim.holding[1], { timeout: 10_000 }).toBe(28);
    await expect.poll(() => condition('hall-1', 'Synced'), { timeout: 10_000 }).toBe('True');
    await expect.poll(() => reported('hall-1', 'setpoint'), { timeout: 10_000 }).toBe('28');
  });

  it('writes status at most once per report cycle however fast the value changes', async () => {
    const name = 'hall-1';
    const watch = new k8s.Watch(kubeConfig());
    let modified = 0;
    const req = await watch.watch(`/apis/${api}/namespaces/${ns}/devices`, { fieldSelector: `metadata.name=${name}` }, (type) => {
      if (type === 'MODIFIED') modified++;
    }, () => undefined);
    await new Promise((r) => setTimeout(r, 300));
    modified = 0;
    const t0 = Date.now();
    let v = 400;
    const ticker = setInterval(() => (sim.input[0] = ++v), 5); // a new value every 5 ms; the mapper reads every 100 ms
    await new Promise((r) => setTimeout(r, 3000));
    clearInterval(ticker);
    await expect.poll(() => reported(name, 'temperature'), { timeout: 3000 }).toBe(String(v / 10));
    const elapsed = Date.now() - t0;
    req.abort();
    // reportCycle 200 ms: at most one write per 200 ms, +2 for the edges of the window and the settle write
    expect(modified).toBeLessThanOrEqual(Math.ceil(elapsed / 200) + 2);
    expect(modified).toBeGreaterThan(3);
  });

  it('a device that goes away is Online=False, and True again when it is back', async () => {
    const port = sim.port;
    await sim.close();
    await expect.poll(() => condition('hall-1', 'Online'), { timeout: 10_000 }).toBe('False');
    expect((await get('hall-1'))?.status?.state).toBe('offline');
    const back = await ModbusSimulator.start({ port });
    back.input[0] = 199;
    back.holding[1] = 28;
    sim = back;
    await expect.poll(() => condition('hall-1', 'Online'), { timeout: 15_000 }).toBe('True');
    await expect.poll(() => reported('hall-1', 'temperature'), { timeout: 5000 }).toBe('19.9');
  });

  it('a KubeEdge-style device app over MQTT reports a twin that reaches the Device status', async () => {
    await client.create(model('app-model', 'customized'));
    await client.create({
      apiVersion: api, kind: 'Device', metadata: { name: 'app-1', namespace: ns },
      spec: { deviceModelRef: { name: 'app-model' }, nodeName: node, protocol: { protocolName: 'customized' }, properties: [{ name: 'temperature', reportCycle: 200_000_000 }] },
    } satisfies Device);
    const bus = agent.devices.current!.bus!;
    const app = await connectAsync(bus.url, { clientId: `kubeedge-app-${run}`, protocolVersion: 4, reconnectPeriod: 0 });
    try {
      const results: Record<string, unknown>[] = [];
      app.on('message', (_t, p) => results.push(JSON.parse(p.toString()) as Record<string, unknown>));
      await app.subscribeAsync([`$hw/events/device/${ns}/app-1/twin/update/result`, `$hw/events/node/${node}/membership/get/result`], { qos: 1 });
      await expect.poll(async () => {
        await app.publishAsync(`$hw/events/node/${node}/membership/get`, JSON.stringify({ event_id: 'm' }), { qos: 1 });
        await new Promise((r) => setTimeout(r, 100));
        return results.some((r) => (r.devices as { id: string }[] | undefined)?.some((d) => d.id === `${ns}/app-1`));
      }, { timeout: 10_000 }).toBe(true);
      await app.publishAsync(`$hw/events/device/${ns}/app-1/twin/update`, JSON.stringify({
        event_id: 'e1', timestamp: Date.now(), twin: { temperature: { actual: { value: '42.5', metadata: { timestamp: Date.now() } }, metadata: { type: 'float' } } },
      }), { qos: 1 });
      await expect.poll(() => results.find((r) => r.event_id === 'e1'), { timeout: 5000 }).toMatchObject({ twin: { temperature: { actual: { value: '42.5' } } } });
      await expect.poll(() => reported('app-1', 'temperature'), { timeout: 5000 }).toBe('42.5');
      await app.publishAsync(`$hw/events/device/${ns}/app-1/twin/update`, '{not json', { qos: 1 });
      await expect.poll(() => results.find((r) => r.error === 'TWIN_BAD_JSON'), { timeout: 5000 }).toMatchObject({ code: 400 });
    } finally {
      await app.endAsync(true);
    }
  });
});
