/**
 * What the edge agent imports for devices: a few lines that decide when to
 * load the device module (index.ts, with the MQTT broker and the mappers).
 * In `auto` mode that is when the first Device for this node is in the
 * store, at start or later; until then the node pays nothing for devices.
 */
                                               
                                                   
import { defaultDevicesConfig,                    } from './config.js';
                                          

                                
                                                                                                    
                                        
                                        
                                        
                        
 

                                
                   
                   
              
                           
                         
 

// spelled out (not imported from spec.ts) to keep this module's imports minimal
const DEVICE_API_VERSION = 'devices.kubeedge.io/v1beta1';
const devicePrefix = `${DEVICE_API_VERSION}/Device/`;

/** Call before the hub starts applying objects, so the first Device is seen. Never throws. */
export function attachDevices(o               )                {
  const config = o.config ?? defaultDevicesConfig;
  let current                     ;
  let starting                                          ;
  let stopped = false;
  let off                          ;
  let wake                                   = () => undefined;
  const waiting = new Promise                     ((r) => (wake = r));

  const start = () => {
    if (starting || stopped) return;
    off?.();
    starting = import('./index.js')
      .then(({ startDevices }) => (stopped ? undefined : startDevices({ store: o.store, nodeName: o.nodeName, log: o.log, notifyOutbox: o.notifyOutbox, config })))
      .then((d) => {
        current = d;
        if (stopped && d) return d.stop().then(() => undefined);
        return d;
      })
      .catch((err         ) => {
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
