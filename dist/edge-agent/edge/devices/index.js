/**
 * edge/devices: the device twin, its MQTT event bus speaking the KubeEdge
 * topic contract, and the built-in mappers, started together. Loaded lazily
 * by attach.ts (the agent imports only that), so nodes without devices
 * never load aedes, mqtt.js or the mappers.
 */
                                               
                                                   
import { MapperRuntime } from '../mappers/runtime.js';
                                                 
import { openEventBus,               } from './event-bus.js';
import { TwinMqtt } from './mqtt-api.js';
import { DeviceTwin } from './twin.js';

export { DeviceTwin } from './twin.js';
                                                 

                          
                   
                                                                                              
                 
                  
                          
                        
 

                                      
                   
                   
              
                           
                        
                     
 

/**
 * Starts the twin (synchronously loads and reconciles it), the event bus
 * and the mappers. A broker that cannot start is logged and skipped: device
 * data keeps flowing from mappers to the cloud without it. Throws only when
 * the twin's tables cannot be opened (StoreError).
 */
export async function startDevices(o                     )                   {
  const log = o.log.child({ component: 'devices' });
  const twin = new DeviceTwin({ store: o.store, nodeName: o.nodeName, log, notifyOutbox: o.notifyOutbox, ...(o.now ? { now: o.now } : {}) });
  twin.start();
  let bus                      ;
  let mqtt                      ;
  try {
    bus = await openEventBus(o.config.mqtt, log, o.nodeName);
    mqtt = new TwinMqtt(twin, bus, log, o.now);
    await mqtt.start();
  } catch (err) {
    log.error('Running devices without MQTT: the event bus did not start', { err });
  }
  const mappers = o.config.mappers ? new MapperRuntime({ twin, log, ...(o.now ? { now: o.now } : {}) }) : undefined;
  mappers?.start();
  return {
    twin, ...(bus ? { bus } : {}), ...(mqtt ? { mqtt } : {}), ...(mappers ? { mappers } : {}),
    async stop() {
      await mappers?.stop();
      mqtt?.stop();
      twin.stop();
      await bus?.close();
    },
  };
}
