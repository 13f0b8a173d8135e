// The event bus on an external broker (mosquitto): one MQTT 3.1.1 client,
// QoS 1 subscriptions (restored by mqtt.js after every reconnect), topic
// filters matched locally to dispatch each message to its handlers.
import { connect,                 } from 'mqtt';
                                               
import { DeviceError } from './errors.js';
                                                                               
import { topicMatches } from './topics.js';

                                        
              
                   
                                                                                         
                            
 

/** Connects to the broker at `url`. Never fails for a broker that is down: the client keeps reconnecting (logged). */
export async function openExternalBroker(o                       , log        )                    {
  const l = log.child({ component: 'mqtt', broker: o.url });
  const client             = connect(o.url, {
    clientId: `${o.clientId}-${process.pid}`, protocolVersion: 4, clean: true, reconnectPeriod: 1000, connectTimeout: 5000, keepalive: 30, resubscribe: true,
  });
  const handlers                                                = [];
  let closed = false;
  let wasConnected = false;
  client.on('message', (topic, payload) => {
    for (const h of handlers) {
      if (!topicMatches(h.filter, topic)) continue;
      try {
        h.handler(topic, payload);
      } catch (err) {
        l.error('MQTT handler failed', { topic, err });
      }
    }
  });
  client.on('connect', () => {
    l.info(wasConnected ? 'Reconnected to MQTT broker' : 'Connected to MQTT broker');
    wasConnected = true;
  });
  client.on('offline', () => l.warn('Lost MQTT broker; reconnecting'));
  client.on('error', (err) => l.warn('MQTT client error', { err }));
  await new Promise      ((resolve) => {
    const t = setTimeout(() => {
      l.warn('MQTT broker not reachable yet; continuing and reconnecting in the background');
      resolve();
    }, o.connectTimeoutMs ?? 5000);
    client.once('connect', () => {
      clearTimeout(t);
      resolve();
    });
  });
  const closedError = () => new DeviceError('DEVICE_BUS_CLOSED', 'the MQTT event bus is closed');
  return {
    kind: 'external',
    url: o.url,
    async subscribe(filter, handler) {
      if (closed) throw closedError();
      handlers.push({ filter, handler });
      const connected = client.connected;
      // Offline, mqtt.js queues the SUBSCRIBE and sends it on connect: do not wait for it.
      const done = new Promise      ((resolve) => {
        client.subscribe(filter, { qos: 1 }, (err) => {
          if (err) l.warn('MQTT subscription failed; retried on reconnect', { filter, err });
          resolve();
        });
      });
      if (connected) await done;
    },
    async publish(topic        , payload                     , opts                 = {}) {
      if (closed) throw closedError();
      try {
        await client.publishAsync(topic, typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos: opts.qos ?? 0, retain: opts.retain ?? false });
      } catch (err) {
        throw new DeviceError('DEVICE_BROKER_FAILED', `publish to ${topic} on ${o.url} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await client.endAsync(true);
    },
  };
}
