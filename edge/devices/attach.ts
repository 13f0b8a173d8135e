/**
 * What the edge agent imports for devices: a few lines that decide when to
 * load the device module (index.ts, with the MQTT broker and the mappers).
 * In `auto` mode that is when the first Device for this node is in the
 * store, at start or later; until then the node pays nothing for devices.
 */
import type { Logger } from '../../lib/log.ts';
import type { EdgeStore } from '../store/store.ts';
import { defaultDevicesConfig, type DevicesConfig } from './config.ts';
import type { Devices } from './index.ts';

export interface DevicesHandle {
  /** Resolves with the running device module once started (undefined when off or stopped first). */
  ready(): Promise<Devices | undefined>;
  /** The running module, if started. */
  readonly current: Devices | undefined;
  stop(): Promise<void>;
}

export interface AttachOptions {
  store: EdgeStore;
  nodeName: string;
  log: Logger;
  notifyOutbox: () => void;
  config?: DevicesConfig;
}

// spelled out (not imported from spec.ts) to keep this module's imports minimal
const DEVICE_API_VERSION = 'devices.kubeedge.io/v1beta1';
const devicePrefix = `${DEVICE_API_VERSION}/Device/`;

/** Call before the hub starts applying objects, so the first Device is seen. Never throws. */
export function attachDevices(o: AttachOptions): DevicesHandle {
  const config = o.config ?? defaultDevicesConfig;
  let current: Devices | undefined;
  let starting: Promise<Devices | undefined> | undefined;
  let stopped = false;
  let off: (() => void) | undefined;
  let wake: (d: Devices | undefined) => void = () => undefined;
  const waiting = new Promise<Devices | undefined>((r) => (wake = r));

  const start = () => {
    if (starting || stopped) return;
    off?.();
    starting = import('./index.ts')
      .then(({ startDevices }) => (stopped ? undefined : startDevices({ store: o.store, nodeName: o.nodeName, log: o.log, notifyOutbox: o.notifyOutbox, config })))
      .then((d) => {
        current = d;
        if (stopped && d) return d.stop().then(() => undefined);
        return d;
      })
      .catch((err: unknown) => {
        o.log.error('Failed to start devices', { err });
        return undefined;
      });
    void starting.then(wake);
  };

  if (config.mode === 'on') start();
  else if (config.mode === 'auto') {
    const hasDevice = (o.store.db.sql.prepare("SELECT 1 FROM objects WHERE kind = 'Device' AND api_version = ? LIMIT 1").get(DEVICE_API_VERSION)) !== undefined;
    if (hasDevice) start();
    else off = o.store.objects.onChange((e) => {
      if (e.type === 'upsert' && e.key.startsWith(devicePrefix)) start();
    });
  } else wake(undefined);

  return {
    ready: () => waiting,
    get current() {
      return current;
    },
    async stop() {
      stopped = true;
      off?.();
      if (!starting) wake(undefined);
      const d = await starting;
      await d?.stop();
      current = undefined;
    },
  };
}
