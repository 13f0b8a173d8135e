/**
 * Byte streams multiplexed over one hub session (edge/protocol `request` /
 * `response` frames), with per-stream flow control. The cloud's kubelet
 * endpoint opens one stream per TLS connection from the API server
 * (`open`); the edge accepts it (`onStream`) and runs an ordinary HTTP
 * server over it, so HTTP/1.1 keep-alive, chunked bodies and Upgrade (SPDY
 * for exec/attach/port-forward) need nothing special in the tunnel: like an
 * HTTP CONNECT tunnel.
 *
 * Conventions on the wire (edge/protocol README, "Tunnels"):
 * - open:   `request {id, method: "CONNECT", path, headers, end: false}`
 * - accept: `response {id, status: 200, headers: [["x-outpost-window", N]]}`;
 *           refuse: `response {id, status: 4xx/5xx, end: true, body: reason}`
 * - data:   `response {id, end: false, body}` in either direction
 * - FIN:    `response {id, end: true}`: no more data in that direction
 * - reset:  `response {id, end: true, headers: [["x-outpost-reset", reason]]}`
 * - credit: `response {id, headers: [["x-outpost-credit", N]]}`: the sender may send N more body bytes
 *
 * Flow control: each side may have at most `window` unacknowledged body
 * bytes per stream in flight; the receiver grants credit back as its
 * consumer reads (a follow-logs stream whose reader is slow stops being read
 * from the file). On top, a writer waits while the session's link buffers
 * more than `maxLinkBuffer` bytes, so many streams together cannot flood it.
 * Every stream is destroyed when the session closes (`closeAll`).
 */
import { Duplex } from 'node:stream';
                                                                                      

                                                       

                                   
                                                         
                             
                                                               
                           
                                                              
                  
                                                                             
                         
                                                 
                      
 

                             
                 
               
                        
 

const CREDIT = 'x-outpost-credit';
const RESET = 'x-outpost-reset';
const WINDOW = 'x-outpost-window';
const empty = new Uint8Array(0);

/** Thrown (as the stream's error) when the peer refused or reset a stream. */
export class TunnelStreamError extends Error {
           status                    ;
  constructor(message        , status         ) {
    super(message);
    this.name = 'TunnelStreamError';
    this.status = status;
  }
}

/** One tunnelled byte stream. */
export class TunnelStream extends Duplex {
           id        ;
           head            ;
           #mux           ;
  /** Bytes we may still send. */
  credit        ;
  /** Bytes received and pushed, not yet credited back. */
  #unacked = 0;
  #waiting                          ;
  #sentEnd = false;
  #gotEnd = false;
  accepted               ;
  #accept             ;
  #refuse                     ;
  // Duck-typed bits of net.Socket that node:http touches on a server-side socket.
  remoteAddress = 'tunnel';
  remotePort = 0;
  encrypted = false;

  constructor(mux           , id        , head            , credit        ) {
    super({ allowHalfOpen: true });
    this.#mux = mux;
    this.id = id;
    this.head = head;
    this.credit = credit;
    this.accepted = new Promise((res, rej) => {
      this.#accept = res;
      this.#refuse = rej;
    });
    this.accepted.catch(() => undefined);
  }

  setTimeout()       {
    return this;
  }
  setNoDelay()       {
    return this;
  }
  setKeepAlive()       {
    return this;
  }

  /** @internal */ _accepted(window        )       {
    this.credit = window;
    this.#accept();
    this.#wake();
  }

  /** @internal */ _refused(err       )       {
    this.#refuse(err);
    this.destroy(err);
  }

  /** @internal */ _data(body            , end         )       {
    if (this.#gotEnd) return;
    if (body.length) {
      this.#unacked += body.length;
      if (this.push(Buffer.from(body))) this.#grant();
    }
    if (end) {
      this.#gotEnd = true;
      this.push(null); // autoDestroy frees the stream once it is read to the end and our side finished
    }
  }

  /** @internal */ _credit(n        )       {
    this.credit += n;
    this.#wake();
  }

  #grant()       {
    if (this.#unacked === 0 || this.#gotEnd) return;
    const n = this.#unacked;
    this.#unacked = 0;
    this.#mux._send({ type: 'response', id: this.id, headers: [[CREDIT, String(n)]], end: false, body: empty });
  }

  #wake()       {
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.();
  }

           _read()       {
    this.#grant();
  }

           _write(chunk        , _enc                , cb                              )       {
    let off = 0;
    const step = ()       => {
      if (this.destroyed) return cb(new TunnelStreamError('stream closed'));
      while (off < chunk.length) {
        if (this.credit <= 0 || this.#mux.congested()) {
          this.#waiting = step;
          if (this.#mux.congested()) setTimeout(() => this.#wake(), 5).unref();
          return;
        }
        const n = Math.min(chunk.length - off, this.credit, this.#mux.chunkBytes);
        this.#mux._send({ type: 'response', id: this.id, end: false, body: chunk.subarray(off, off + n) });
        this.credit -= n;
        off += n;
      }
      cb();
    };
    this.accepted.then(step, (e       ) => cb(e));
  }

           _final(cb                              )       {
    this.accepted.then(() => {
      this.#sentEnd = true;
      this.#mux._send({ type: 'response', id: this.id, end: true, body: empty });
      cb();
    }, (e       ) => cb(e));
  }

           _destroy(err              , cb                              )       {
    const clean = this.#sentEnd && this.#gotEnd;
    this.#mux._forget(this.id, clean ? undefined : (err?.message ?? 'cancelled'));
    this.#wake();
    cb(err);
  }
}

/** One per session and side. */
export class TunnelMux {
           #o                            ;
           #streams = new Map                      ();
  #nextId = 1;
  #closed = false;
  /** Called with every stream the peer opens; accept with `accept`, or `refuse`. */
  onStream                            = (s) => this.refuse(s, 501, 'no tunnel handler on this side');

  constructor(opts                  ) {
    this.#o = { window: 256 * 1024, maxLinkBuffer: 4 << 20, chunkBytes: 64 * 1024, ...opts };
  }

  get chunkBytes()         {
    return this.#o.chunkBytes;
  }

  get size()         {
    return this.#streams.size;
  }

  congested()          {
    return this.#o.bufferedAmount() > this.#o.maxLinkBuffer;
  }

  /** @internal */ _send(msg           )       {
    if (!this.#closed) this.#o.send(msg);
  }

  /** @internal */ _forget(id        , reset                    )       {
    if (!this.#streams.delete(id)) return;
    if (reset !== undefined) this._send({ type: 'response', id, headers: [[RESET, reset.replace(/[^\x20-\x7e]/g, '?').slice(0, 200)]], end: true, body: empty });
  }

  /** Opens a stream to the peer; data may be written at once (it waits for the accept). */
  open(path        , headers               = [])               {
    if (this.#closed) throw new TunnelStreamError('the session is closed');
    while (this.#streams.has(this.#nextId)) this.#nextId = (this.#nextId % 0xfffffffe) + 1;
    const id = this.#nextId;
    this.#nextId = (this.#nextId % 0xfffffffe) + 1;
    const s = new TunnelStream(this, id, { method: 'CONNECT', path, headers }, 0);
    this.#streams.set(id, s);
    this._send({ type: 'request', id, method: 'CONNECT', path, headers: [...headers, [WINDOW, String(this.#o.window)]], end: false, body: empty });
    return s;
  }

  /** Accepts a stream the peer opened. */
  accept(s              )       {
    this._send({ type: 'response', id: s.id, status: 200, headers: [[WINDOW, String(this.#o.window)]], end: false, body: empty });
    s._accepted(s.credit);
  }

  /** Refuses a stream the peer opened. */
  refuse(s              , status        , reason        )       {
    this._send({ type: 'response', id: s.id, status, end: true, body: Buffer.from(reason) });
    this.#streams.delete(s.id);
    s.destroy();
  }

  /** Feeds one received request/response frame. Unknown stream ids are ignored (already closed). */
  receive(msg           )       {
    if (this.#closed) return;
    if (msg.type === 'request') {
      if (this.#streams.has(msg.id)) return this._forget(msg.id, 'duplicate stream id');
      const window = Number(msg.headers.find(([k]) => k === WINDOW)?.[1] ?? 65536);
      const s = new TunnelStream(this, msg.id, { method: msg.method, path: msg.path, headers: msg.headers.filter(([k]) => k !== WINDOW) }, Number.isFinite(window) && window > 0 ? window : 65536);
      this.#streams.set(msg.id, s);
      if (msg.body.length || msg.end) s._data(msg.body, msg.end);
      this.onStream(s);
      return;
    }
    const s = this.#streams.get(msg.id);
    if (!s) return;
    const h = msg.headers ?? [];
    const reset = h.find(([k]) => k === RESET);
    if (reset) {
      this.#streams.delete(msg.id);
      s.destroy(new TunnelStreamError(`the peer reset the stream: ${reset[1]}`));
      return;
    }
    if (msg.status !== undefined) {
      if (msg.status >= 300) {
        this.#streams.delete(msg.id);
        s._refused(new TunnelStreamError(Buffer.from(msg.body).toString('utf8') || `refused with ${msg.status}`, msg.status));
        return;
      }
      const window = Number(h.find(([k]) => k === WINDOW)?.[1] ?? 65536);
      s._accepted(Number.isFinite(window) && window > 0 ? window : 65536);
    }
    const credit = h.find(([k]) => k === CREDIT);
    if (credit) s._credit(Number(credit[1]) || 0);
    if (msg.body.length || msg.end) s._data(msg.body, msg.end);
  }

  /** The session closed: destroy every stream. */
  closeAll(reason = 'the hub session closed')       {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#streams.values()]) s.destroy(new TunnelStreamError(reason));
    this.#streams.clear();
  }
}
