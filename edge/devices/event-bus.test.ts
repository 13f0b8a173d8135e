// One contract suite, every EventBus implementation (STYLE.md: shared
// contract suites per port): the embedded aedes broker and an external
// mosquitto the test starts on its own port.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { startMosquitto, type Mosquitto } from '../../test/support/mosquitto.ts';
import { DeviceError } from './errors.ts';
import { eventBusContract } from './event-bus.contract.ts';
import { openEventBus } from './event-bus.ts';
import { openEmbeddedBroker } from './embedded-broker.ts';

eventBusContract('embedded (aedes)', { open: () => openEventBus({ mode: 'embedded', host: '127.0.0.1', port: 0 }, silentLogger) });

let mosquitto: Mosquitto;
beforeAll(async () => {
  mosquitto = await startMosquitto();
});
afterAll(async () => {
  await mosquitto?.stop();
});
let n = 0;
eventBusContract('external (mosquitto)', { open: () => openEventBus({ mode: 'external', url: mosquitto.url, clientId: `contract-${process.pid}-${++n}` }, silentLogger) });

describe('embedded broker specifics', () => {
  it('refuses a port that is taken with DEVICE_BROKER_FAILED', async () => {
    const a = await openEmbeddedBroker({ host: '127.0.0.1', port: 0 }, silentLogger);
    try {
      const err = await openEmbeddedBroker({ host: '127.0.0.1', port: a.address.port }, silentLogger).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeviceError);
      expect((err as DeviceError).code).toBe('DEVICE_BROKER_FAILED');
      expect((err as Error).message).toContain('--mqtt-port');
    } finally {
      await a.close();
    }
  });
});

describe('embedded broker under a burst with a stalled subscriber', () => {
  it('delivers every message of a burst to the twin while another subscriber stalls', async () => {
    const bus = await openEmbeddedBroker({ host: '127.0.0.1', port: 0 }, silentLogger);
    const { connectAsync } = await import('mqtt');
    const slow = await connectAsync(bus.url, { protocolVersion: 4, reconnectPeriod: 0 });
    const fast = await connectAsync(bus.url, { protocolVersion: 4, reconnectPeriod: 0 });
    try {
      let got = 0;
      await bus.subscribe('flood/+', () => got++);
      await slow.subscribeAsync('slow/#', { qos: 0 });
      // the slow app stops reading: deliveries to it stay in flight until aedes' emitter is at its
      // concurrency limit and queues everything after, including the flood only the twin receives
      (slow.stream as unknown as { pause(): void }).pause();
      const payload = 'x'.repeat(4096);
      for (let i = 0; i < 3000; i++) void fast.publishAsync('slow/a', payload, { qos: 0 });
      for (let i = 0; i < 20_000; i++) void fast.publishAsync('flood/a', 'y', { qos: 0 });
      await new Promise((r) => setTimeout(r, 1000));
      (slow.stream as unknown as { resume(): void }).resume();
      await expect.poll(() => got, { timeout: 20_000 }).toBe(20_000);
    } finally {
      await slow.endAsync(true);
      await fast.endAsync(true);
      await bus.close();
    }
  });
});

describe('external broker specifics', () => {
  it('starts while the broker is down and subscribes once it is up', async () => {
    const m = await startMosquitto();
    const port = m.port;
    await m.stop();
    const bus = await openEventBus({ mode: 'external', url: `mqtt://127.0.0.1:${port}`, clientId: `late-${process.pid}`, connectTimeoutMs: 200 }, silentLogger);
    const got: string[] = [];
    await bus.subscribe('late/+', (t) => got.push(t));
    const again = await startMosquitto({ port });
    try {
      const { connectAsync } = await import('mqtt');
      const client = await connectAsync(again.url, { reconnectPeriod: 0, protocolVersion: 4 });
      await expect.poll(async () => {
        await client.publishAsync('late/x', '1', { qos: 1 });
        return got.length;
      }, { timeout: 10_000, interval: 300 }).toBeGreaterThan(0);
      await client.endAsync(true);
    } finally {
      await bus.close();
      await again.stop();
    }
  });
});
