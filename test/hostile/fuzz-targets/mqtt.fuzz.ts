/**
 * Coverage-guided fuzz target for the device twin's MQTT payload handlers
 * (TwinMqtt + DeviceTwin on a real SQLite edge store, on an in-memory event
 * bus): the same contract as mqtt-fuzz.test.ts, driven by raw bytes.
 * Byte 0 picks the topic (one of this node's request topics, another
 * device's or node's, or, for the last choice, a topic made of the bytes up
 * to the first NUL); the rest is the payload. `fuzz(data)` throws only on a
 * bug: a request this node owns that gets no answer or more than one, an
 * answer to a request it does not own, an answer that is not JSON, or a
 * handler failure that is not a typed DeviceError (TwinMqtt logs those as
 * "Failed MQTT request"). Run by `npm run fuzz -- --target mqtt`
 * (test/hostile/fuzz/run.ts); fuzz-target.test.ts replays its seeds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../../lib/log.ts';
import { TwinMqtt } from '../../../edge/devices/mqtt-api.ts';
import { parseTopic, topics } from '../../../edge/devices/topics.ts';
import { DeviceTwin } from '../../../edge/devices/twin.ts';
import { openEdgeStore, type EdgeStore } from '../../../edge/store/store.ts';
import { device, deviceModel, MemoryBus, receive } from '../../support/devices.ts';

const ID = 'plant/pump-1';
export const TOPICS = [
  topics.twinUpdate(ID), topics.twinGet(ID), topics.stateUpdate(ID), topics.stateGet(ID), topics.membershipGet('edge-1'),
  topics.twinUpdate('plant/ghost'), topics.twinGet('other/pump-9'), topics.membershipGet('other-node'),
];

interface Rig { dir: string; store: EdgeStore; twin: DeviceTwin; bus: MemoryBus; api: TwinMqtt; failures: string[] }
let rig: Promise<Rig> | undefined;

async function start(): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-mqtt-fuzz-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const failures: string[] = [];
  const log = createLogger({ level: 'error', write: (line) => failures.push(line) });
  const store = openEdgeStore(join(dir, 'edge.db'));
  const twin = new DeviceTwin({ store, nodeName: 'edge-1', log, notifyOutbox: () => undefined });
  twin.start();
  receive(store, deviceModel('plant', 'pump', [
    { name: 'temperature', type: 'FLOAT', accessMode: 'ReadOnly' },
    { name: 'setpoint', type: 'INT', accessMode: 'ReadWrite', minimum: '5', maximum: '35' },
  ]));
  receive(store, device('plant', 'pump-1', { model: 'pump', properties: [{ name: 'setpoint', desired: { value: '21' } }] }));
  for (let i = 0; i < 200 && !twin.device(ID)?.modelFound; i++) await new Promise((r) => setTimeout(r, 10));
  const bus = new MemoryBus();
  const api = new TwinMqtt(twin, bus, log);
  await api.start();
  return { dir, store, twin, bus, api, failures };
}

/** Stops the twin and removes its store (for tests that replay inputs; the fuzzer process just exits). */
export async function dispose(): Promise<void> {
  if (!rig) return;
  const r = await rig;
  rig = undefined;
  r.api.stop();
  r.twin.stop();
  r.store.close();
  rmSync(r.dir, { recursive: true, force: true });
}

/** Splits an input into topic and payload (see the file comment). */
export function split(data: Uint8Array): { topic: string; payload: Buffer } {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const pick = bytes.length > 0 ? bytes[0]! % (TOPICS.length + 1) : 0;
  if (pick < TOPICS.length) return { topic: TOPICS[pick]!, payload: bytes.subarray(1) };
  const nul = bytes.indexOf(0, 1);
  const end = nul < 0 ? bytes.length : nul;
  return { topic: bytes.toString('utf8', 1, end), payload: bytes.subarray(Math.min(bytes.length, end + 1)) };
}

export async function fuzz(data: Uint8Array): Promise<void> {
  const { bus, failures } = await (rig ??= start());
  const { topic, payload } = split(data);
  let recognised: boolean;
  try {
    const req = parseTopic(topic);
    // another node's membership request on a shared broker is that node's to answer
    recognised = req !== undefined && !(req.kind === 'membership-get' && req.node !== 'edge-1');
  } catch {
    recognised = false;
  }
  bus.published.length = 0;
  failures.length = 0;
  bus.deliver(topic, payload);
  // answers are published after the async handler settles
  for (let i = 0; i < 20 && bus.published.length === 0; i++) await new Promise((r) => setImmediate(r));
  const answers = bus.published.filter((m) => m.topic.endsWith('/result'));
  const what = `${JSON.stringify(topic)} ${JSON.stringify(payload.subarray(0, 200).toString('latin1'))}`;
  if (failures.length > 0) throw new Error(`handler failed with an untyped error on ${what}: ${failures.join('\n')}`);
  if (recognised && answers.length !== 1) throw new Error(`${answers.length} answers to ${what}`);
  if (!recognised && answers.length !== 0) throw new Error(`answered a request that is not this node's: ${what}`);
  for (const a of answers) {
    try {
      JSON.parse(a.payload.toString('utf8'));
    } catch {
      throw new Error(`answer on ${a.topic} is not JSON: ${a.payload.subarray(0, 200).toString('latin1')} (input ${what})`);
    }
  }
}

/** Seed inputs: well-formed and near-miss requests for each topic choice. */
export function seeds(): Uint8Array[] {
  const p = (i: number, body: string) => Buffer.concat([Buffer.from([i]), Buffer.from(body)]);
  return [
    p(0, '{"event_id":"e1","twin":{"setpoint":{"actual":{"value":"22"}},"temperature":{"actual":{"value":"20.5","metadata":{"timestamp":1}}}}}'),
    p(0, '{"event_id":"e2","twin":{"setpoint":{"expected":{"value":"40"}}}}'),
    p(1, '{"event_id":"g1"}'),
    p(2, '{"event_id":"s1","state":"online"}'),
    p(2, '{"event_id":"s2","state":"offline"}'),
    p(3, '{}'),
    p(4, '{"event_id":"m1"}'),
    p(5, '{"event_id":"x","twin":{}}'),
    p(6, '{}'),
    p(7, '{}'),
    Buffer.concat([Buffer.from([TOPICS.length]), Buffer.from('$hw/events/device/plant/pump-1/twin/update\0{"event_id":"r","twin":{"setpoint":{"actual":{"value":"7"}}}}')]),
    Buffer.concat([Buffer.from([TOPICS.length]), Buffer.from('$hw/events/node/edge-1/membership/get\0{}')]),
  ];
}
