import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { device, deviceModel, receive } from '../../test/support/devices.ts';
import { openEdgeStore, type EdgeStore } from '../store/store.ts';
import { attachDevices, type DevicesHandle } from './attach.ts';
import { buildDevicesConfig, defaultDevicesConfig } from './config.ts';
import { DeviceError } from './errors.ts';

const open: { store: EdgeStore; h: DevicesHandle }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.h.stop();
    o.store.close();
  }
});

function attach(mode: 'auto' | 'on' | 'off', dir = mkdtempSync(join(tmpdir(), 'outpost-attach-'))) {
  const store = openEdgeStore(join(dir, 'edge.db'));
  const h = attachDevices({ store, nodeName: 'edge-1', log: silentLogger, notifyOutbox: () => undefined, config: { mode, mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0 }, mappers: true } });
  open.push({ store, h });
  return { store, h, dir };
}

describe('attachDevices', () => {
  it('auto: loads nothing until the first Device arrives, then starts twin, broker and mappers', async () => {
    const { store, h } = attach('auto');
    receive(store, deviceModel('ns', 'm', [{ name: 'x', type: 'INT' }]));
    await new Promise((r) => setTimeout(r, 50));
    expect(h.current).toBeUndefined();
    expect(store.db.sql.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'device_twin'").get()).toBeUndefined();
    receive(store, device('ns', 'd1', { model: 'm' }));
    const d = await h.ready();
    expect(d?.twin.device('ns/d1')?.modelFound).toBe(true);
    expect(d?.bus?.kind).toBe('embedded');
    expect(d?.mappers).toBeDefined();
  });

  it('auto: starts at once when the store already holds a Device (agent restart)', async () => {
    const a = attach('auto');
    receive(a.store, device('ns', 'd1', { model: 'm' }));
    await a.h.ready();
    await a.h.stop();
    a.store.close();
    open.splice(0);
    const b = attach('auto', a.dir);
    expect((await b.h.ready())?.twin.device('ns/d1')).toBeDefined();
  });

  it('off: never starts; on: starts without devices', async () => {
    const off = attach('off');
    receive(off.store, device('ns', 'd1', { model: 'm' }));
    expect(await off.h.ready()).toBeUndefined();
    const on = attach('on');
    expect((await on.h.ready())?.twin.devices()).toEqual([]);
  });
});

describe('device flags', () => {
  it('defaults to auto with the embedded broker on 127.0.0.1:1883 and the mappers on', () => {
    expect(buildDevicesConfig({})).toEqual(defaultDevicesConfig);
  });

  it('reads an external broker URL, tcp:// as KubeEdge writes it', () => {
    expect(buildDevicesConfig({ mqtt: 'tcp://10.0.0.9:1883' }).mqtt).toEqual({ mode: 'external', url: 'mqtt://10.0.0.9:1883' });
    expect(buildDevicesConfig({ mqtt: 'embedded', mqttPort: '0', mqttHost: '0.0.0.0', devices: 'on', mappers: 'off' })).toEqual({
      mode: 'on', mqtt: { mode: 'embedded', host: '0.0.0.0', port: 0 }, mappers: false,
    });
  });

  it.each([
    [{ devices: 'maybe' }, '--devices'],
    [{ mappers: 'yes' }, '--mappers'],
    [{ mqttPort: '70000' }, '--mqtt-port'],
    [{ mqttPort: 'x' }, '--mqtt-port'],
    [{ mqttHost: 'a b' }, '--mqtt-host'],
    [{ mqtt: 'not a url' }, '--mqtt'],
    [{ mqtt: 'http://x:1' }, '--mqtt'],
    [{ mqtt: 'mqtt://x:1883', mqttPort: '1' }, '--mqtt-port'],
  ])('refuses %o naming %s', (input, flag) => {
    try {
      buildDevicesConfig(input);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DeviceError);
      expect((e as DeviceError).code).toBe('DEVICE_CONFIG_INVALID');
      expect((e as Error).message.startsWith(`${flag}:`)).toBe(true);
    }
  });
});
