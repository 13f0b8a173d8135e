/**
 * The MQTT event bus the device twin speaks the KubeEdge topic contract on:
 * one small port with two implementations, chosen by configuration and
 * tested with one contract suite (event-bus.contract.ts):
 *
 * - `embedded` (default): an aedes broker inside the agent, listening for
 *   device apps on host:port. The twin hooks the broker directly
 *   (broker.subscribe / broker.publish), with no MQTT client connection to
 *   itself: no second socket, no packet encoding on the hot path.
 * - `external`: an MQTT client connected to a broker the node already runs
 *   (mosquitto); subscriptions are restored on reconnect.
 *
 * Implementations are imported lazily, so a node runs only the one it uses
 * (aedes or mqtt.js, ~10 MB each) and a node without devices neither.
 */
                                               

/** Called for each message whose topic matches the filter it was registered with. Must not throw. */
                                                                      

                                 
                                                           
              
                   
 

                           
                                         
                                                               
                       
                                                                                                                                   
                                                                    
                                                                                                   
                                                                                             
                                                                                  
                         
 

                        
                                                    
                                                                                    

/**
 * Opens the configured bus. Throws DeviceError DEVICE_BROKER_FAILED when the
 * embedded broker cannot listen (port taken). An external broker that is
 * down at start is not an error: the client keeps reconnecting and logs.
 */
export async function openEventBus(cfg            , log        , nodeName = 'edge')                    {
  if (cfg.mode === 'embedded') {
    const { openEmbeddedBroker } = await import('./embedded-broker.js');
    return openEmbeddedBroker(cfg, log);
  }
  const { openExternalBroker } = await import('./external-broker.js');
  return openExternalBroker({ url: cfg.url, clientId: cfg.clientId ?? `outpost-edge-${nodeName}`, ...(cfg.connectTimeoutMs !== undefined ? { connectTimeoutMs: cfg.connectTimeoutMs } : {}) }, log);
}
