/**
 * `--hub-protocol auto|quic|websocket`: which transport the edge dials.
 *
 * `auto` tries QUIC first, with a short connect timeout (2 s), and falls
 * back to WebSocket when the QUIC module is missing (linux-arm64 has no
 * @matrixai/quic build), when nothing answers on UDP (blocked, or no QUIC
 * listener: QUIC has no fast "refused"), or when the QUIC handshake fails.
 *
 * Why QUIC first, and when to pin WebSocket instead (platform notes, "QUIC
 * vs WebSocket on an impaired link", 100 ms RTT, one run each):
 * - QUIC wins where TCP suffers head-of-line blocking between independent
 *   flows (2 % loss, 4 flows: 6 % of messages late vs 21 % for WSS over BBR
 *   and 42 % over CUBIC) and against CUBIC-only TCP stacks. A link is one
 *   QUIC stream today, so that advantage only arrives once the session layer
 *   gives independent flows their own streams.
 * - It loses badly at high loss with quiche's default congestion control
 *   (10 % loss: p50 1.2 s / p99 4.4 s vs WSS over BBR 0.23 s / 0.66 s),
 *   costs 3× (client) and 4-5× (hub) the CPU per message, and on loopback
 *   moves 80-100× less data per second.
 * So `auto` keeps the order (QUIC, then WebSocket) for links where
 * the multi-flow benefit will matter and UDP gets through, and costs at most
 * 2 s when it does not. Fleets on lossy radio links (≥ 5 % loss), CPU-starved
 * devices, and hubs serving thousands of edges should pin `websocket`: over
 * BBR it is as good or better in every single-flow measurement we have.
 *
 * A QUIC failure is remembered in `memo` for `quicRetryAfterMs`, so a
 * reconnect loop behind a UDP-blocking firewall does not pay the 2 s QUIC
 * timeout on every attempt.
 */
import { TransportError, isTransportError } from './errors.js';
                                                   
import * as quic from './quic.js';

/** The values of `--hub-protocol`. */
                                                        

/** Shared across dialAuto calls (pass the same object on every reconnect). */
                           
                        
                       
 

/** Options of {@link dialAuto}. */
                                                      
                        
                                                                                               
                    
                                                               
                                
                                                                                               
                            
                  
                     
                             
 

/** The link and a sentence for the log saying which transport was chosen and why. */
                                 
             
                 
 

function why(err         , o                 , timeoutMs        )         {
  if (isTransportError(err, 'TRANSPORT_QUIC_UNAVAILABLE')) return `QUIC native module unavailable on ${process.platform}-${process.arch}`;
  if (isTransportError(err, 'TRANSPORT_CONNECT_TIMEOUT')) return `no QUIC answer from ${o.host}:${o.quicPort ?? o.port}/udp within ${timeoutMs} ms (UDP blocked or no QUIC listener)`;
  if (isTransportError(err, 'TRANSPORT_TLS_FAILED')) return `QUIC TLS handshake failed (${(err         ).message})`;
  return `QUIC failed (${(err         ).message})`;
}

/**
 * Dials the hub with the configured protocol. `quic` and `websocket` never
 * fall back. Rejects with the WebSocket error when every candidate failed
 * (its message also names the QUIC failure), or TRANSPORT_INVALID_ARGUMENT.
 */
export async function dialAuto(o                 )                          {
  const websocket = () => import('./websocket.js'); // loaded only when used: `ws` costs ~12 MB of RSS
  const quicOpts = (timeoutMs         ) => ({ ...o, port: o.quicPort ?? o.port, ...(timeoutMs ? { connectTimeoutMs: timeoutMs } : {}) });
  switch (o.protocol) {
    case 'websocket':
      return { link: await (await websocket()).dial(o), reason: 'using websocket: configured (--hub-protocol websocket)' };
    case 'quic':
      return { link: await quic.dial(quicOpts()), reason: 'using quic: configured (--hub-protocol quic)' };
    case 'auto':
      break;
    default:
      throw new TransportError('TRANSPORT_INVALID_ARGUMENT', `hub protocol must be auto, quic or websocket, got ${JSON.stringify(o.protocol)}`);
  }
  const now = o.now ?? Date.now;
  const memo = o.memo ?? {};
  const retryAfter = o.quicRetryAfterMs ?? 5 * 60_000;
  let reason        ;
  if (memo.quicFailedAt !== undefined && now() - memo.quicFailedAt < retryAfter) {
    reason = `using websocket: ${memo.quicFailure} ${Math.round((now() - memo.quicFailedAt) / 1000)} s ago; next QUIC try in ${Math.round((memo.quicFailedAt + retryAfter - now()) / 1000)} s`;
  } else {
    const timeoutMs = Math.min(o.quicConnectTimeoutMs ?? 2000, o.connectTimeoutMs ?? Infinity);
    try {
      const link = await quic.dial(quicOpts(timeoutMs));
      delete memo.quicFailedAt;
      delete memo.quicFailure;
      return { link, reason: 'using quic' };
    } catch (err) {
      if (isTransportError(err, 'TRANSPORT_INVALID_ARGUMENT')) throw err;
      memo.quicFailedAt = now();
      memo.quicFailure = why(err, o, timeoutMs);
      reason = `using websocket: ${memo.quicFailure}`;
    }
  }
  try {
    return { link: await (await websocket()).dial(o), reason };
  } catch (err) {
    const e = err                  ;
    throw new TransportError(e.code, `${e.message} (before that: ${reason.replace(/^using websocket: /, '')})`, { cause: err });
  }
}
