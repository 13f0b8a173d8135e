/**
 * The transport port: a {@link Link} carries opaque, whole messages in order
 * between an edge and the hub; a {@link Listener} hands out the links that
 * edges open. edge/protocol frames and validates the bytes; a transport only
 * delivers each message intact, in order, once, or reports why it stopped.
 */
                                               
import { TransportError,                         } from './errors.js';

/** Which implementation a link runs on. */
                                                       

/** Who is on the other end, as far as TLS proved it. */
                           
                                                                                          
                                          
                                                                                    
                                 
 

/**
 * Why a link closed. Codes use WebSocket numbering on every transport:
 * 1000 normal, 1001 going away (listener closing), 1002 protocol violation,
 * 1006 connection lost (never sent on the wire), 1009 message too large,
 * 1011 internal error, 4000-4999 for edge/protocol's own reasons.
 */
                            
                        
                          
                                                                                                 
                           
                                                                                          
                                  
 

/** One connection between an edge and the hub. */
                       
                              
                          
                                                                                         
                                  
                                                                                    
                           
     
                                                                         
                                                                         
                                                                      
                                                                            
     
                                         
     
                                                                            
                                                                          
                                                 
     
                                                 
                                                                                       
                                               
     
                                                                            
                                                                           
                                                             
     
                                                       
 

/** Accepts links on one address. */
                           
                              
                                                                    
                                                   
                                                                           
                                         
                                                                     
                         
 

/** PEM material for mutual TLS. */
                              
                                                          
             
               
              
 

/** Options every transport shares. */
                              
                                                                                                              
                           
                                                                                
                       
                                                                                
                       
                                                                                   
                          
               
 

/** Options of a transport's dial(). */
                                                  
               
               
                                                                         
                      
                                                                                                               
                                                   
                                                                
                            
 

/** Options of a transport's listen(). */
                                                    
               
                             
               
                   
 

/** Defaults of {@link LinkOptions}, resolved. */
                                      
                          
                      
                      
                         
                          
 

/** Fills defaults and checks ranges; throws TRANSPORT_INVALID_ARGUMENT. */
export function resolveLinkOptions(o             )                      {
  const r = {
    maxMessageBytes: o.maxMessageBytes ?? 16 * 1024 * 1024,
    keepAliveMs: o.keepAliveMs ?? 2000,
    deadAfterMs: o.deadAfterMs ?? 7000,
    closeTimeoutMs: o.closeTimeoutMs ?? 2000,
    log: o.log,
  };
  const int = (name        , v        , min        , max        ) => {
    if (!Number.isInteger(v) || v < min || v > max) throw new TransportError('TRANSPORT_INVALID_ARGUMENT', `${name} must be an integer in [${min}, ${max}], got ${v}`);
  };
  int('maxMessageBytes', r.maxMessageBytes, 0, 2 ** 32 - 2);
  int('keepAliveMs', r.keepAliveMs, 10, 3_600_000);
  int('deadAfterMs', r.deadAfterMs, 20, 3_600_000);
  int('closeTimeoutMs', r.closeTimeoutMs, 0, 60_000);
  if (r.deadAfterMs < 2 * r.keepAliveMs) throw new TransportError('TRANSPORT_INVALID_ARGUMENT', `deadAfterMs (${r.deadAfterMs}) must be at least twice keepAliveMs (${r.keepAliveMs}), or a live peer can look dead between two heartbeats`);
  return r;
}

/** Checks a close code an application may send; throws TRANSPORT_INVALID_ARGUMENT. */
export function checkCloseCode(code        )       {
  if (code !== 1000 && !(Number.isInteger(code) && code >= 4000 && code <= 4999)) {
    throw new TransportError('TRANSPORT_INVALID_ARGUMENT', `close code must be 1000 or 4000-4999, got ${code}`);
  }
}

/**
 * The bookkeeping every Link shares: callbacks registered late still get
 * what already happened, the close is reported exactly once, and send()
 * checks happen before any bytes move. Implementations call `deliver` for
 * each whole message and `finish` exactly when the connection is gone.
 */
export          class LinkBase                 {
                                       
                                   
                                        
                                                  
                                                                
  /** close() with 1001 "going away", used when a listener shuts down. */
                                   

           maxMessageBytes        ;
  #frameCbs                              = [];
  #early               = [];
  #closeCbs                             = [];
  #closeInfo                       ;

  constructor(maxMessageBytes        ) {
    this.maxMessageBytes = maxMessageBytes;
  }

  get closed()          {
    return this.#closeInfo !== undefined;
  }

  /** How the link closed, once it has. */
  get closeInfo()                        {
    return this.#closeInfo;
  }

  onFrame(cb                             )       {
    this.#frameCbs.push(cb);
    if (this.#frameCbs.length === 1 && this.#early.length > 0) {
      const early = this.#early;
      this.#early = [];
      for (const f of early) cb(f);
    }
  }

  onClose(cb                           )       {
    const info = this.#closeInfo;
    if (info) queueMicrotask(() => cb(info));
    else this.#closeCbs.push(cb);
  }

  /**
   * Hands one received message to the callbacks (or keeps it until one is
   * registered). A callback that throws is a bug in the layer above: the
   * error is rethrown as an uncaught exception, the same on every transport,
   * instead of breaking the transport's read loop.
   */
            deliver(frame            )       {
    if (this.#closeInfo) return;
    if (this.#frameCbs.length === 0) this.#early.push(frame);
    for (const cb of this.#frameCbs) {
      try {
        cb(frame);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  /** Records the close and schedules the close callbacks; later calls are ignored. Returns whether this call closed the link. */
            finish(info           )          {
    if (this.#closeInfo) return false;
    this.#closeInfo = info;
    const cbs = this.#closeCbs;
    this.#closeCbs = [];
    queueMicrotask(() => {
      for (const cb of cbs) cb(info);
    });
    return true;
  }

  /** Rejects what send() must refuse before touching the connection. */
            checkSend(frame            )                             {
    if (this.#closeInfo) return new TransportError('TRANSPORT_CLOSED', `the ${this.protocol} link to ${this.peer.remoteAddress} is closed (${this.#closeInfo.code} ${this.#closeInfo.reason}); dial again`, { cause: this.#closeInfo.error });
    if (!(frame instanceof Uint8Array)) return new TransportError('TRANSPORT_INVALID_ARGUMENT', 'send() takes a Uint8Array');
    if (frame.byteLength > this.maxMessageBytes) return tooLarge(frame.byteLength, this.maxMessageBytes, 'send');
    return undefined;
  }
}

/** TRANSPORT_MESSAGE_TOO_LARGE with a message that says which side's limit it was. */
export function tooLarge(size                    , max        , where                    )                 {
  return new TransportError(
    'TRANSPORT_MESSAGE_TOO_LARGE',
    where === 'send'
      ? `message of ${size} bytes exceeds maxMessageBytes ${max}; split it (edge/protocol chunks large payloads) or raise maxMessageBytes on both sides`
      : `the peer sent a message ${size === undefined ? 'larger than' : `of ${size} bytes, over`} this side's maxMessageBytes ${max}; the link was closed with 1009`,
  );
}

/**
 * What a close code received from the peer means, as a CloseInfo. Codes the
 * transport itself sends for a failure map back to the same error code on
 * the other side, so both ends log the same cause.
 */
export function peerCloseInfo(code        , reason        )            {
  const err = (c                    , m        )            => ({ code, reason, byPeer: true, error: new TransportError(c, m) });
  switch (code) {
    case 1002:
    case 1003:
      return err('TRANSPORT_PROTOCOL_VIOLATION', `the peer closed the link for a protocol violation (${code} ${reason})`);
    case 1009:
      return err('TRANSPORT_MESSAGE_TOO_LARGE', `the peer refused a message over its maxMessageBytes (${reason}); lower what is sent or raise the limit on both sides`);
    case 1005:
    case 1006:
      return err('TRANSPORT_CLOSED', `the connection was lost without a close handshake (${code}${reason ? ' ' + reason : ''})`);
    case 1011:
      return err('TRANSPORT_CLOSED', `the peer closed the link after an internal error (${reason})`);
    default:
      return { code, reason, byPeer: true };
  }
}

/** A close reason cut to the 123 UTF-8 bytes a close frame has room for (RFC 6455 §5.5), on a character boundary. */
export function clipReason(reason        )         {
  let r = reason.slice(0, 123);
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

/** `host:port`, with IPv6 hosts in brackets. */
export function formatAddress(host                    , port                    )         {
  return `${host?.includes(':') ? `[${host}]` : (host ?? '?')}:${port ?? '?'}`;
}

/**
 * Listener bookkeeping: links accepted before onLink is registered are kept,
 * open links are tracked so close() can close them with 1001.
 */
export          class ListenerBase                     {
                                       
                                                            
  #cbs                        = [];
  #early         = [];
                     links = new Set      ();
  #closing                           ;

  onLink(cb                      )       {
    this.#cbs.push(cb);
    if (this.#cbs.length === 1) for (const l of this.#early.splice(0)) if (!l.closed) cb(l);
  }

  /** Hands a new, authenticated link to the callbacks. */
            accept(link      )       {
    this.links.add(link);
    link.onClose(() => this.links.delete(link));
    if (this.#cbs.length === 0) this.#early.push(link);
    for (const cb of this.#cbs) cb(link);
  }

  close()                {
    this.#closing ??= (async () => {
      await Promise.all([...this.links].map((l) => (l            ).goAway()));
      await this.stop();
    })();
    return this.#closing;
  }

  /** Stops accepting and releases the socket. */
                                           
}
