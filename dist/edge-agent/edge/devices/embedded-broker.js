// The embedded MQTT broker (aedes 1.x, MQTT 3.1.1; platform-notes §4). The
// twin subscribes and publishes through the broker object itself, not
// through a client connection, so its traffic costs no socket and no packet
// encoding.
import { createServer,             } from 'node:net';
                                            
import { Aedes } from 'aedes';
                                               
import { DeviceError } from './errors.js';
                                                                               

                                                  
                                                  
                                                   
                                                        
                           
 

/** Starts aedes and listens on host:port. Throws DEVICE_BROKER_FAILED when the port cannot be bound. */
export async function openEmbeddedBroker(cfg                                , log        )                          {
  const l = log.child({ component: 'mqtt', broker: 'embedded' });
  // queueLimit bounds what a slow subscriber may owe us before aedes drops it.
  const broker = await Aedes.createBroker({ queueLimit: 10_000, concurrency: 1000, maxClientsIdLength: 128 });
  broker.on('clientError', (client, err) => l.debug('MQTT client error', { client: client?.id, err }));
  broker.on('connectionError', (_client, err) => l.debug('MQTT connection error', { err }));
  const server         = createServer((socket) => broker.handle(socket));
  await new Promise      ((resolve, reject) => {
    server.once('error', (err                       ) => {
      broker.close();
      reject(new DeviceError('DEVICE_BROKER_FAILED', `embedded MQTT broker cannot listen on ${cfg.host}:${cfg.port} (${err.code ?? err.message}); free the port, pick another with --mqtt-port, or use an external broker with --mqtt mqtt://host:port`, { cause: err }));
    });
    server.listen(cfg.port, cfg.host, () => resolve());
  });
  server.on('error', (err) => l.error('MQTT listener failed', { err }));
  const a = server.address()               ;
  const address = { host: cfg.host, port: a.port };
  let closed = false;
  l.info('Started embedded MQTT broker', { address: `${address.host}:${address.port}` });
  const bus                 = {
    kind: 'embedded',
    url: `mqtt://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`,
    address,
    get clients() {
      return broker.connectedClients;
    },
    subscribe(filter        , handler                )                {
      if (closed) return Promise.reject(new DeviceError('DEVICE_BUS_CLOSED', 'the MQTT event bus is closed'));
      // MQTT 3.1.1 §4.7.2: a filter starting with a wildcard never matches a $-topic (aedes' internal
      // subscriptions do not apply this rule, client subscriptions do).
      const dollarSafe = filter.startsWith('#') || filter.startsWith('+');
      return new Promise((resolve) => {
        // The delivery callback runs in a microtask, never synchronously: when aedes' emitter has
        // queued messages (more than `concurrency` deliveries in flight), each synchronous
        // completion drains the next queued message one stack frame deeper (our callback →
        // fastparallel release → mqemitter released → _do → our callback …). A burst of 40 000
        // twin updates with result subscribers overflowed the stack in 3 of 10 runs that way
        // (RangeError in qlobber); 0 of 16 with the microtask.
        broker.subscribe(filter, (packet, cb) => {
          if (dollarSafe && packet.topic.startsWith('$')) {
            queueMicrotask(cb);
            return;
          }
          try {
            handler(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload));
          } catch (err) {
            l.error('MQTT handler failed', { topic: packet.topic, err });
          }
          queueMicrotask(cb);
        }, () => resolve());
      });
    },
    publish(topic        , payload                     , opts                 = {})                {
      if (closed) return Promise.reject(new DeviceError('DEVICE_BUS_CLOSED', 'the MQTT event bus is closed'));
      return new Promise((resolve, reject) => {
        broker.publish(
          { cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), qos: opts.qos ?? 0, retain: opts.retain ?? false, dup: false },
          (err) => (err ? reject(new DeviceError('DEVICE_BUS_CLOSED', `publish to ${topic} failed: ${err.message}`, { cause: err })) : resolve()),
        );
      });
    },
    async close()                {
      if (closed) return;
      closed = true;
      await new Promise      ((resolve) => broker.close(() => resolve()));
      await new Promise      ((resolve) => server.close(() => resolve()));
      l.info('Stopped embedded MQTT broker');
    },
  };
  return bus;
}
