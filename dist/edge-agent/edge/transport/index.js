/**
 * edge/transport: the Link port and its implementations. The edge agent
 * uses dialAuto + startReconnectLoop; the hub imports `websocket.ts` and
 * `quic.ts` for listen(); tests use memoryLinkPair. `websocket.ts` is not
 * re-exported here so that importing this index does not load `ws`.
 */
                                                                                                                                     
export { TRANSPORT_ERROR_CODES, TransportError, isTransportError,                         } from './errors.js';
export { dialAuto,                                                                            } from './auto.js';
export { RECONNECT_POLICY, startReconnectLoop,                                                                } from './reconnect.js';
export { MemoryLink, memoryLinkPair,                                         } from './memory.js';
export { loadQuic,                 } from './quic.js';
