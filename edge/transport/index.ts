/**
 * edge/transport: the Link port and its implementations. The edge agent
 * uses dialAuto + startReconnectLoop; the hub imports `websocket.ts` and
 * `quic.ts` for listen(); tests use memoryLinkPair. `websocket.ts` is not
 * re-exported here so that importing this index does not load `ws`.
 */
export type { CloseInfo, DialOptions, Link, LinkOptions, Listener, ListenOptions, PeerInfo, Protocol, TlsMaterial } from './link.ts';
export { TRANSPORT_ERROR_CODES, TransportError, isTransportError, type TransportErrorCode } from './errors.ts';
export { dialAuto, type AutoDialOptions, type AutoDialResult, type AutoMemo, type HubProtocol } from './auto.ts';
export { RECONNECT_POLICY, startReconnectLoop, type ReconnectClock, type ReconnectLoop, type ReconnectOptions } from './reconnect.ts';
export { MemoryLink, memoryLinkPair, type MemoryPair, type MemoryPairOptions } from './memory.ts';
export { loadQuic, type QuicLoader } from './quic.ts';
