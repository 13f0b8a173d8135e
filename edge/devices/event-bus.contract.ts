/**
 * The EventBus contract, run against every implementation (embedded aedes,
 * external mosquitto) by event-bus.test.ts: what the device twin relies on,
 * seen from a plain MQTT 3.1.1 client as a KubeEdge device app uses it.
 */
import { randomBytes } from 'node:crypto';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeviceError } from './errors.ts';
import type { EventBus } from './event-bus.ts';

export interface BusFactory {
  /** A fresh, started bus. */
  open(): Promise<EventBus>;
}

async function app(url: string): Promise<MqttClient> {
  return connectAsync(url, { clientId: `app-${randomBytes(4).toString('hex')}`, protocolVersion: 4, clean: true, reconnectPeriod: 0 });
}

function collect(): { got: { topic: string; payload: Buffer }[]; handler: (topic: string, payload: Buffer) => void } {
  const got: { topic: string; payload: Buffer }[] = [];
  return { got, handler: (topic, payload) => got.push({ topic, payload }) };
}

export function eventBusContract(name: string, factory: BusFactory): void {
  describe(`EventBus contract: ${name}`, () => {
    let bus: EventBus;
    let client: MqttClient;

    beforeEach(async () => {
      bus = await factory.open();
      client = await app(bus.url);
    });

    afterEach(async () => {
      await client?.endAsync(true);
      await bus?.close();
    });

    it('delivers app publishes to matching bus subscriptions, with wildcards', async () => {
      const c = collect();
      await bus.subscribe('$hw/events/device/+/+/twin/+', c.handler);
      await client.publishAsync('$hw/events/device/ns/dev/twin/update', '{"a":1}', { qos: 1 });
      await client.publishAsync('$hw/events/device/ns/dev/twin/update/result', 'no', { qos: 1 });
      await client.publishAsync('$hw/events/device/dev/twin/update', 'no', { qos: 1 });
      await expect.poll(() => c.got.length).toBe(1);
      await new Promise((r) => setTimeout(r, 50));
      expect(c.got).toHaveLength(1);
      expect(c.got[0]!.topic).toBe('$hw/events/device/ns/dev/twin/update');
      expect(c.got[0]!.payload.toString()).toBe('{"a":1}');
    });

    it('delivers bus publishes to app subscribers byte-exactly', async () => {
      const got: Buffer[] = [];
      client.on('message', (_t, p) => got.push(p));
      await client.subscribeAsync('$hw/events/device/ns/dev/twin/update/result', { qos: 1 });
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      await bus.publish('$hw/events/device/ns/dev/twin/update/result', bytes);
      await bus.publish('$hw/events/device/ns/dev/twin/update/result', 'text', { qos: 1 });
      await expect.poll(() => got.length).toBe(2);
      expect(got[0]!.equals(bytes)).toBe(true);
      expect(got[1]!.toString()).toBe('text');
    });

    it('keeps $-topics away from filters that start with a wildcard', async () => {
      const c = collect();
      await bus.subscribe('#', c.handler);
      await client.publishAsync('$hw/events/node/n1/membership/get', 'x', { qos: 1 });
      await client.publishAsync('plain/topic', 'y', { qos: 1 });
      await expect.poll(() => c.got.map((g) => g.topic)).toContain('plain/topic');
      expect(c.got.map((g) => g.topic)).not.toContain('$hw/events/node/n1/membership/get');
    });

    it('delivers a burst of 2000 QoS 1 messages, all of them, in order', async () => {
      const c = collect();
      await bus.subscribe('$hw/events/device/+/+/state/update', c.handler);
      await Promise.all(Array.from({ length: 2000 }, (_, i) => client.publishAsync('$hw/events/device/ns/d/state/update', String(i), { qos: 1 })));
      await expect.poll(() => c.got.length, { timeout: 10_000 }).toBe(2000);
      expect(c.got.map((g) => Number(g.payload.toString()))).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    });

    it('survives a throwing handler', async () => {
      const c = collect();
      await bus.subscribe('a/b', () => {
        throw new Error('handler bug');
      });
      await bus.subscribe('a/+', c.handler);
      await client.publishAsync('a/b', '1', { qos: 1 });
      await client.publishAsync('a/b', '2', { qos: 1 });
      await expect.poll(() => c.got.length).toBe(2);
    });

    it('refuses to publish after close, and closes idempotently', async () => {
      await bus.close();
      await bus.close();
      const err = await bus.publish('a/b', 'x').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeviceError);
      expect((err as DeviceError).code).toBe('DEVICE_BUS_CLOSED');
    });
  });
}
