// A KubeEdge-style device app — a plain MQTT 3.1.1 client publishing and
// subscribing the exact $hw/events/... topics — against the twin, on both
// event bus implementations (embedded aedes and an external mosquitto).
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { device, deviceModel, receive } from '../../test/support/devices.ts';
import { startMosquitto, type Mosquitto } from '../../test/support/mosquitto.ts';
import { openEdgeStore, type EdgeStore } from '../store/store.ts';
import { openEventBus, type EventBus, type MqttConfig } from './event-bus.ts';
import { TwinMqtt } from './mqtt-api.ts';
import { DeviceTwin } from './twin.ts';

let mosquitto: Mosquitto;
beforeAll(async () => {
  mosquitto = await startMosquitto();
});
afterAll(async () => {
  await mosquitto?.stop();
});

type Json = Record<string, unknown>;
const D = '$hw/events/device/plant/pump-1';

describe.each([
  ['embedded (aedes)', (): MqttConfig => ({ mode: 'embedded', host: '127.0.0.1', port: 0 })],
  ['external (mosquitto)', (): MqttConfig => ({ mode: 'external', url: mosquitto.url, clientId: `twin-${randomBytes(3).toString('hex')}` })],
])('KubeEdge MQTT contract over %s', (_name, cfg) => {
  let store: EdgeStore;
  let twin: DeviceTwin;
  let bus: EventBus;
  let api: TwinMqtt;
  let app: MqttClient;
  const inbox: { topic: string; body: Json }[] = [];

  beforeEach(async () => {
    store = openEdgeStore(join(mkdtempSync(join(tmpdir(), 'outpost-mqtt-')), 'edge.db'));
    twin = new DeviceTwin({ store, nodeName: 'edge-1', log: silentLogger, notifyOutbox: () => undefined });
    twin.start();
    receive(store, deviceModel('plant', 'pump', [
      { name: 'temperature', type: 'FLOAT', accessMode: 'ReadOnly' },
      { name: 'setpoint', type: 'INT', accessMode: 'ReadWrite', minimum: '5', maximum: '35' },
    ]));
    receive(store, device('plant', 'pump-1', { model: 'pump', properties: [{ name: 'setpoint', desired: { value: '21' } }] }));
    await expect.poll(() => twin.device('plant/pump-1')?.modelFound).toBe(true);
    bus = await openEventBus(cfg(), silentLogger);
    api = new TwinMqtt(twin, bus, silentLogger);
    await api.start();
    app = await connectAsync(bus.url, { clientId: `app-${randomBytes(3).toString('hex')}`, protocolVersion: 4, reconnectPeriod: 0 });
    inbox.length = 0;
    app.on('message', (topic, payload) => {
      try {
        inbox.push({ topic, body: JSON.parse(payload.toString()) as Json });
      } catch {
        inbox.push({ topic, body: { raw: payload.toString() } });
      }
    });
    await app.subscribeAsync(['$hw/events/device/+/+/twin/update/result', '$hw/events/device/+/+/twin/update/delta', '$hw/events/device/+/+/twin/update/document',
      '$hw/events/device/+/+/twin/get/result', '$hw/events/device/+/+/state/update/result', '$hw/events/device/+/+/state/get/result',
      '$hw/events/node/+/membership/get/result', '$hw/events/node/+/membership/updated'], { qos: 1 });
  });

  afterEach(async () => {
    await app?.endAsync(true);
    api?.stop();
    twin?.stop();
    await bus?.close();
    store?.close();
  });

  /** Publishes like a device app and waits for the answer on `resultTopic`. */
  async function ask(topic: string, payload: string | Json, resultTopic: string): Promise<Json> {
    const from = inbox.length;
    await app.publishAsync(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 });
    let found: Json | undefined;
    await expect.poll(() => (found = inbox.slice(from).find((m) => m.topic === resultTopic)?.body), { timeout: 5000 }).toBeDefined();
    return found!;
  }

  it('membership/get lists the node\'s devices', async () => {
    const r = await ask('$hw/events/node/edge-1/membership/get', { event_id: 'm1' }, '$hw/events/node/edge-1/membership/get/result');
    expect(r).toMatchObject({ event_id: 'm1', devices: [{ id: 'plant/pump-1', name: 'pump-1', state: 'unknown' }] });
    expect(typeof r.timestamp).toBe('number');
  });

  it('twin/update with actual values: result, document, stored', async () => {
    const r = await ask(`${D}/twin/update`, { event_id: 'u1', timestamp: Date.now(), twin: { temperature: { actual: { value: '21.5', metadata: { timestamp: 1700000000000 } }, metadata: { type: 'float' } } } }, `${D}/twin/update/result`);
    expect(r).toMatchObject({ event_id: 'u1', twin: { temperature: { actual: { value: '21.5', metadata: { timestamp: 1700000000000 } }, metadata: { type: 'float' } } } });
    expect(r.code).toBeUndefined();
    await expect.poll(() => inbox.find((m) => m.topic === `${D}/twin/update/document`)?.body).toMatchObject({ twin: { temperature: { last: null, current: { actual: { value: '21.5' } } } } });
    expect(twin.twin('plant/pump-1')!.get('temperature')?.reported?.value).toBe('21.5');
  });

  it('a desired value set over MQTT is answered with a delta the mapper applies', async () => {
    await ask(`${D}/twin/update`, { event_id: 'u2', twin: { setpoint: { expected: { value: '25' } } } }, `${D}/twin/update/result`);
    let delta: Json | undefined;
    await expect.poll(() => (delta = [...inbox].reverse().find((m) => m.topic === `${D}/twin/update/delta`)?.body)).toBeDefined();
    expect(delta).toMatchObject({ delta: { setpoint: '25' }, twin: { setpoint: { expected: { value: '25' } }, temperature: { metadata: { type: 'float' } } } });
    expect(twin.twin('plant/pump-1')!.get('setpoint')?.desired?.value).toBe('25');
  });

  it('twin/get returns every twin, state/update and state/get the state', async () => {
    const g = await ask(`${D}/twin/get`, { event_id: 'g1' }, `${D}/twin/get/result`);
    expect(g).toMatchObject({ event_id: 'g1', twin: { setpoint: { expected: { value: '21' }, metadata: { type: 'int' } }, temperature: { metadata: { type: 'float' } } } });
    const s = await ask(`${D}/state/update`, { event_id: 's1', state: 'online' }, `${D}/state/update/result`);
    expect(s).toMatchObject({ event_id: 's1', device: { name: 'pump-1', state: 'online' } });
    expect((s.device as Json).last_online).toMatch(/Z$/);
    const sg = await ask(`${D}/state/get`, '', `${D}/state/get/result`);
    expect(sg).toMatchObject({ device: { name: 'pump-1', state: 'online' } });
  });

  it.each([
    ['not JSON', `${D}/twin/update`, '{oops', `${D}/twin/update/result`, 400, 'TWIN_BAD_JSON'],
    ['a JSON array', `${D}/twin/update`, '[]', `${D}/twin/update/result`, 400, 'TWIN_NOT_OBJECT'],
    ['no twin', `${D}/twin/update`, { event_id: 'x1' }, `${D}/twin/update/result`, 400, 'TWIN_MISSING_TWIN'],
    ['a bad twin key', `${D}/twin/update`, { event_id: 'x2', twin: { 'a b': { actual: { value: '1' } } } }, `${D}/twin/update/result`, 400, 'TWIN_INVALID_KEY'],
    ['a value of the wrong type', `${D}/twin/update`, { event_id: 'x3', twin: { setpoint: { actual: { value: 'warm' } } } }, `${D}/twin/update/result`, 400, 'TWIN_INVALID_VALUE'],
    ['an unknown property', `${D}/twin/update`, { event_id: 'x4', twin: { humidity: { actual: { value: '1' } } } }, `${D}/twin/update/result`, 404, 'TWIN_PROPERTY_NOT_FOUND'],
    ['expected on a ReadOnly property', `${D}/twin/update`, { event_id: 'x5', twin: { temperature: { expected: { value: '1' } } } }, `${D}/twin/update/result`, 400, 'TWIN_READ_ONLY'],
    ['expected out of range', `${D}/twin/update`, { event_id: 'x6', twin: { setpoint: { expected: { value: '99' } } } }, `${D}/twin/update/result`, 400, 'TWIN_OUT_OF_RANGE'],
    ['an unknown device', '$hw/events/device/plant/ghost/twin/update', { event_id: 'x7', twin: {} }, '$hw/events/device/plant/ghost/twin/update/result', 404, 'TWIN_DEVICE_NOT_FOUND'],
    ['twin/get of an unknown device', '$hw/events/device/plant/ghost/twin/get', { event_id: 'x8' }, '$hw/events/device/plant/ghost/twin/get/result', 404, 'TWIN_DEVICE_NOT_FOUND'],
    ['twin/get with garbage', `${D}/twin/get`, 'garbage', `${D}/twin/get/result`, 400, 'TWIN_BAD_JSON'],
    ['an unknown state', `${D}/state/update`, { event_id: 'x9', state: 'asleep' }, `${D}/state/update/result`, 400, 'TWIN_INVALID_STATE'],
    ['event_id not a string', `${D}/state/update`, { event_id: 9, state: 'online' }, `${D}/state/update/result`, 400, 'TWIN_INVALID_FIELD'],
  ])('answers %s on the result topic with its code, and keeps serving', async (_n, topic, payload, result, code, error) => {
    const r = await ask(topic, payload as string | Json, result);
    expect(r).toMatchObject({ code, error });
    expect(typeof r.reason).toBe('string');
    if (typeof payload === 'object' && typeof payload.event_id === 'string') expect(r.event_id).toBe(payload.event_id);
    expect(api.stats.errors).toBeGreaterThan(0);
    const ok = await ask(`${D}/twin/get`, { event_id: 'after' }, `${D}/twin/get/result`);
    expect(ok.event_id).toBe('after');
  });

  it('announces membership changes and ignores another node\'s membership/get', async () => {
    receive(store, device('plant', 'pump-2', { model: 'pump' }));
    await expect.poll(() => inbox.find((m) => m.topic === '$hw/events/node/edge-1/membership/updated')?.body).toMatchObject({ added_devices: [{ id: 'plant/pump-2', name: 'pump-2' }], removed_devices: [] });
    await app.publishAsync('$hw/events/node/other-node/membership/get', '{}', { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(inbox.some((m) => m.topic === '$hw/events/node/other-node/membership/get/result')).toBe(false);
  });
});
