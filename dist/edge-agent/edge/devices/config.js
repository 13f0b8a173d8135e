// Device flags of `outpost edge`, validated once (edge/config.ts calls this)
// with messages that name the flag. Pure; imports nothing heavy, so the
// agent can always load it.
import { DeviceError } from './errors.js';
                                                 

                                
     
                                                                             
                                                                           
                                                              
     
                              
                   
                                                    
                   
 

                                     
                   
                
                    
                    
                   
 

/** MQTT's registered port; KubeEdge device apps connect to tcp://127.0.0.1:1883 by default. */
export const DEFAULT_MQTT_PORT = 1883;

export const defaultDevicesConfig                          = Object.freeze({
  mode: 'auto',
  mqtt: Object.freeze({ mode: 'embedded', host: '127.0.0.1', port: DEFAULT_MQTT_PORT }),
  mappers: true,
});

function bad(flag        , message        )        {
  throw new DeviceError('DEVICE_CONFIG_INVALID', `${flag}: ${message}`);
}

/** Validates the device flags; throws DeviceError DEVICE_CONFIG_INVALID naming the flag. Returns a frozen config. */
export function buildDevicesConfig(i                    )                {
  const mode = (i.devices ?? 'auto')                         ;
  if (!['auto', 'on', 'off'].includes(mode)) bad('--devices', `must be auto, on or off, got "${i.devices}"`);
  const mappers = i.mappers ?? 'on';
  if (mappers !== 'on' && mappers !== 'off') bad('--mappers', `must be on or off, got "${i.mappers}"`);
  const m = i.mqtt ?? 'embedded';
  let mqtt            ;
  if (m === 'embedded') {
    const port = i.mqttPort === undefined ? DEFAULT_MQTT_PORT : Number(i.mqttPort);
    if (!Number.isInteger(port) || port < 0 || port > 65535) bad('--mqtt-port', `must be a port number (0 picks a free one), got "${i.mqttPort}"`);
    const host = i.mqttHost ?? '127.0.0.1';
    if (!/^[A-Za-z0-9.:-]+$/.test(host)) bad('--mqtt-host', `must be an address to listen on, e.g. 127.0.0.1 or 0.0.0.0, got "${host}"`);
    mqtt = Object.freeze({ mode: 'embedded', host, port });
  } else {
    if (i.mqttPort !== undefined || i.mqttHost !== undefined) bad('--mqtt-port', 'applies to the embedded broker only; put the port in the --mqtt URL');
    let url     ;
    try {
      url = new URL(m.replace(/^tcp:\/\//, 'mqtt://').replace(/^ssl:\/\//, 'mqtts://'));
    } catch {
      bad('--mqtt', `must be "embedded" or a broker URL such as mqtt://127.0.0.1:1883, got "${m}"`);
    }
    if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol)) bad('--mqtt', `broker URL scheme must be mqtt, mqtts, tcp, ssl, ws or wss, got "${url.protocol}"`);
    mqtt = Object.freeze({ mode: 'external', url: url.toString().replace(/\/$/, '') });
  }
  return Object.freeze({ mode, mqtt, mappers: mappers === 'on' });
}
