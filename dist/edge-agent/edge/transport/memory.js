/**
 * An in-memory Link pair for tests of the layers above (sessions, hub,
 * agent): asynchronous, ordered delivery with the same close and size rules
 * as the network transports, plus hooks to stall or sever the "network".
 */
import { TransportError } from './errors.js';
import { LinkBase, checkCloseCode, clipReason, peerCloseInfo, tooLarge,                               } from './link.js';

/** Options of {@link memoryLinkPair}. */
                                    
                                                                        
                                                      
                                                                                               
                         
                                                                  
                                           
 

/** One end of {@link memoryLinkPair}. */
export class MemoryLink extends LinkBase {
           protocol = 'memory'         ;
           peer          ;
  #net               ;
  #side       ;

  constructor(net               , side       , peerCn                    , max        ) {
    super(max);
    this.#net = net;
    this.#side = side;
    this.peer = { commonName: peerCn, remoteAddress: 'memory' };
  }

  get bufferedAmount()         {
    return this.#net.queued[this.#side];
  }

  send(frame            )                {
    const err = this.checkSend(frame);
    if (err) return Promise.reject(err);
    return this.#net.push(this.#side, frame.slice());
  }

  async close(code = 1000, reason = '')                {
    if (this.closed) return;
    checkCloseCode(code);
    await this.#net.closeFrom(this.#side, code, clipReason(reason));
  }

  async goAway()                {
    if (!this.closed) await this.#net.closeFrom(this.#side, 1001, 'going away');
  }

  /** @internal */ _deliver(frame            )       {
    if (frame.byteLength > this.maxMessageBytes) {
      this.#net.fail(this.#side, 1009, tooLarge(frame.byteLength, this.maxMessageBytes, 'receive'));
      return;
    }
    this.deliver(frame);
  }
  /** @internal */ _finish(info           )       {
    this.finish(info);
  }
}

const CLOSE_TIMEOUT_MS = 2000;

                                                                                

class MemoryNetwork {
           links                          ;
           queues                   = [[], []]; // queues[i]: from side i to side 1-i
           queued                   = [0, 0];
           drained                                   = [[], []];
           highWaterMark        ;
  stalled = false;
  scheduled = false;
  closing                                                                     = [undefined, undefined];

  constructor(o                   ) {
    const max = o.maxMessageBytes ?? 16 * 1024 * 1024;
    const [ma, mb] = typeof max === 'number' ? [max, max] : [max.a, max.b];
    this.highWaterMark = o.highWaterMark ?? 1024 * 1024;
    this.links = [new MemoryLink(this, 0, o.commonNames?.b ?? 'b', ma), new MemoryLink(this, 1, o.commonNames?.a ?? 'a', mb)];
  }

  push(side       , frame            )                {
    this.queues[side].push({ frame });
    this.queued[side] += frame.byteLength;
    this.schedule();
    if (this.queued[side] < this.highWaterMark) return Promise.resolve();
    return new Promise((resolve) => this.drained[side].push(resolve));
  }

  closeFrom(side       , code        , reason        )                {
    this.queues[side].push({ close: { code, reason } });
    this.schedule();
    return new Promise((resolve) => {
      // Like the network transports: a peer that never answers the closing
      // handshake (stalled network) does not keep close() pending forever.
      const t = setTimeout(() => {
        this.links[side]._finish({ code, reason, byPeer: false });
        resolve();
      }, CLOSE_TIMEOUT_MS);
      this.closing[side] = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Ends both sides: `side` saw `err`; the other sees the link lost. */
  fail(side       , code        , err                )       {
    this.links[side]._finish({ code, reason: err.message, byPeer: true, error: err });
    this.links[1 - side] ._finish(peerCloseInfo(code, err.message));
    this.end();
  }

  end()       {
    for (const s of [0, 1]         ) {
      this.queues[s].length = 0;
      this.queued[s] = 0;
      for (const r of this.drained[s].splice(0)) r();
      this.closing[s]?.();
    }
  }

  schedule()       {
    if (this.scheduled || this.stalled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  pump()       {
    for (const s of [0, 1]         ) {
      const to = this.links[1 - s] ;
      let item                  ;
      while (!this.stalled && (item = this.queues[s].shift())) {
        if ('frame' in item) {
          this.queued[s] -= item.frame.byteLength;
          to._deliver(item.frame);
        } else {
          const { code, reason } = item.close;
          to._finish({ code, reason, byPeer: true });
          this.links[s]._finish({ code, reason, byPeer: false });
          this.end();
          return;
        }
      }
      if (this.queued[s] < this.highWaterMark) for (const r of this.drained[s].splice(0)) r();
    }
  }
}

/** The pair plus the test hooks on the "network" between them. */
                             
                
                
                                                                                                                           
                
                                        
                 
                                                                                                           
                
 

/**
 * Two connected in-memory links. Delivery is asynchronous (setImmediate) and
 * ordered; close(code, reason) is delivered after everything sent before it.
 */
export function memoryLinkPair(opts                    = {})             {
  const net = new MemoryNetwork(opts);
  const [a, b] = net.links;
  return {
    a,
    b,
    stall: () => void (net.stalled = true),
    resume: () => {
      net.stalled = false;
      net.schedule();
    },
    sever: () => {
      const err = new TransportError('TRANSPORT_PEER_DEAD', 'the in-memory link was severed (test hook)');
      for (const l of [a, b]) l._finish({ code: 1006, reason: err.message, byPeer: true, error: err });
      net.end();
    },
  };
}
