/**
 * EdgeHub: the edge side of a CloudHub session. It dials out (through NAT),
 * says `hello` with the digest of its store, applies the cloud's upserts and
 * deletes durably in batches and acknowledges them cumulatively only after
 * commit, and drains the durable outbox upstream, deleting each report only
 * when the cloud says it reached the API server. Everything it needs to keep
 * working offline is in the store; this class only syncs it when a link is up.
 */
import { decode, encode, ProtocolError, SUPPORTED_VERSIONS,                                      } from '../protocol/index.js';
                                                 
                                                   
                                                        
import { backoffDelay,                    } from '../../lib/backoff.js';
                                               


                                 
                   
                                                                      
                            
              
                 
                                                           
                  
                                                             
                          
                                                        
                          
                        
 

                                                                                              

export class EdgeHub {
           #o                                                                     ;
           #log        ;
  #link                  ;
  #state               = 'disconnected';
  #stopped = true;
  #session = '';
  #reportWindow = 1;
  #heartbeat                            ;
  #batch            = [];
  #batchSeq = 0;
  #batchScheduled = false;
  #inflightReports = new Set        ();
  #lastSentReportId = 0;
  #pumpScheduled = false;
  #attempt = 0;
  #wake                          ;
           #stateListeners = new Set                           ();
  /** Counters for tests and metrics. */
           stats = { connects: 0, framesIn: 0, bytesIn: 0, bytesOut: 0, applied: 0, reportsSent: 0, reportsAcked: 0 };

  constructor(opts                ) {
    this.#o = {
      agent: 'outpost-edge/0.1.0', window: 512, backoff: { initialMs: 300, maxMs: 30_000 }, inventoryChunk: 5000, random: Math.random, ...opts,
    };
    this.#log = opts.log.child({ component: 'edgehub' });
  }

  get state()               {
    return this.#state;
  }

  onState(cb                           )             {
    this.#stateListeners.add(cb);
    return () => this.#stateListeners.delete(cb);
  }

  #setState(s              )       {
    if (this.#state === s) return;
    this.#state = s;
    for (const l of this.#stateListeners) l(s);
  }

  /** Starts the connect loop (returns at once). Idempotent. */
  start()       {
    if (!this.#stopped) return;
    this.#stopped = false;
    void this.#loop();
  }

  /** Stops and closes the link. */
  async stop()                {
    this.#stopped = true;
    this.#wake?.();
    const link = this.#link;
    if (link) await link.close(1000, 'edge stopping');
  }

  /** Tells the hub a report was put in the outbox: send it now if connected. */
  notifyOutbox()       {
    this.#schedulePump();
  }

  async #loop()                {
    while (!this.#stopped) {
      this.#setState('connecting');
      let link      ;
      try {
        link = await this.#o.dial();
      } catch (err) {
        const delay = backoffDelay(this.#o.backoff, this.#attempt++, this.#o.random);
        this.#log.info('Failed to connect to the cloud; retrying', { err, retryInMs: delay });
        this.#setState('disconnected');
        await this.#sleep(delay);
        continue;
      }
      if (this.#stopped) {
        await link.close(1000, 'edge stopping');
        break;
      }
      const upSince = Date.now();
      await this.#run(link);
      this.#setState('disconnected');
      // a link that stayed up a while resets the backoff
      if (Date.now() - upSince > 30_000) this.#attempt = 0;
      if (!this.#stopped) {
        const delay = backoffDelay(this.#o.backoff, this.#attempt++, this.#o.random);
        this.#log.info('Lost the cloud; reconnecting', { retryInMs: delay });
        await this.#sleep(delay);
      }
    }
  }

  #sleep(ms        )                {
    return new Promise((res) => {
      const t = setTimeout(() => {
        this.#wake = undefined;
        res();
      }, ms);
      this.#wake = () => {
        clearTimeout(t);
        this.#wake = undefined;
        res();
      };
    });
  }

  /** Runs one session until the link closes. */
  #run(link      )                {
    this.#link = link;
    this.stats.connects++;
    this.#inflightReports.clear();
    this.#lastSentReportId = 0;
    this.#batch = [];
    this.#setState('handshake');
    return new Promise((resolve) => {
      link.onClose((info) => {
        this.#link = undefined;
        if (this.#heartbeat) clearInterval(this.#heartbeat);
        this.#heartbeat = undefined;
        this.#log.info('Disconnected from the cloud', { code: info.code, reason: info.reason, protocol: link.protocol });
        resolve();
      });
      link.onFrame((f) => this.#onFrame(link, f));
      const store = this.#o.store.objects;
      this.#send(link, {
        type: 'hello', versions: [...SUPPORTED_VERSIONS], caps: [], agent: this.#o.agent, window: this.#o.window, digest: store.digest(),
      });
    });
  }

  #send(link      , msg     )       {
    const frame = encode(msg);
    this.stats.bytesOut += frame.byteLength;
    link.send(frame).catch(() => undefined); // a dead link closes and the loop reconnects
  }

  #fail(link      , code        , message        )       {
    this.#log.warn('Closing session after a bad frame', { code, message });
    this.#send(link, { type: 'error', code, message, fatal: true });
    void link.close(4002, code);
  }

  #onFrame(link      , bytes            )       {
    if (link !== this.#link) return;
    this.stats.framesIn++;
    this.stats.bytesIn += bytes.byteLength;
    let msg     ;
    try {
      msg = decode(bytes, { direction: 'down' });
    } catch (err) {
      if (err instanceof ProtocolError) return this.#fail(link, err.code, err.message);
      throw err;
    }
    switch (msg.type) {
      case 'welcome': {
        this.#session = msg.session;
        this.#reportWindow = msg.window;
        this.#attempt = 0;
        this.#log.info('Connected to the cloud', { session: msg.session, protocol: link.protocol, resume: msg.wantInventory ? 'inventory' : 'digest' });
        this.#setState('syncing');
        if (msg.wantInventory) this.#sendInventory(link);
        this.#heartbeat = setInterval(() => this.#send(link, { type: 'ping', ts: Date.now() }), msg.heartbeatMs);
        this.#heartbeat.unref?.();
        this.#schedulePump();
        return;
      }
      case 'upsert':
        this.#batch.push({ op: 'upsert', key: msg.key, rv: msg.rv, body: msg.body.slice() });
        this.#batchSeq = msg.seq;
        return this.#scheduleBatch(link);
      case 'delete':
        this.#batch.push({ op: 'delete', key: msg.key });
        this.#batchSeq = msg.seq;
        return this.#scheduleBatch(link);
      case 'sync-done':
        // ops up to msg.seq arrive before this frame; flush them first
        this.#flushBatch(link);
        this.#setState('synced');
        return;
      case 'report-ack': {
        const ids = [...msg.ids, ...msg.rejected.map((r) => r.id)];
        for (const r of msg.rejected) this.#log.warn('Cloud refused a report; dropping it', { id: r.id, code: r.code, message: r.message });
        this.#o.store.outbox.ack(ids);
        for (const id of ids) this.#inflightReports.delete(Number(id));
        this.stats.reportsAcked += ids.length;
        return this.#schedulePump();
      }
      case 'ping':
        return this.#send(link, { type: 'pong', ts: msg.ts });
      case 'pong':
        return;
      case 'error':
        this.#log.warn('Cloud reported an error', { code: msg.code, message: msg.message, fatal: msg.fatal });
        return;
      case 'request':
      case 'response':
        this.tunnel?.(link, msg);
        return;
      default:
        return this.#fail(link, 'EDGE_UNEXPECTED_FRAME', `unexpected ${msg.type}`);
    }
  }

  /** Handler for tunnelled request/response frames (kubectl logs/exec), set by the agent. */
  tunnel                                                                            ;

  #sendInventory(link      )       {
    const entries = [...this.#o.store.objects.inventory()];
    const n = this.#o.inventoryChunk;
    for (let i = 0, chunk = 0; i === 0 || i < entries.length; i += n, chunk++) {
      this.#send(link, { type: 'inventory', chunk, last: i + n >= entries.length, items: Object.fromEntries(entries.slice(i, i + n)) });
    }
  }

  #scheduleBatch(link      )       {
    if (this.#batchScheduled) return;
    this.#batchScheduled = true;
    setImmediate(() => {
      this.#batchScheduled = false;
      this.#flushBatch(link);
    });
  }

  /** Applies the received ops in one transaction, then acks them (never before commit). */
  #flushBatch(link      )       {
    if (this.#batch.length === 0 || link !== this.#link) return;
    const ops = this.#batch;
    this.#batch = [];
    try {
      this.#o.store.objects.applyBatch(ops, { session: this.#session, seq: this.#batchSeq });
    } catch (err) {
      // Not acked: the cloud resends on the next session.
      this.#log.error('Failed to store objects from the cloud', { err, count: ops.length });
      void link.close(4000, 'edge store failure');
      return;
    }
    this.stats.applied += ops.length;
    this.#send(link, { type: 'ack', seq: this.#batchSeq });
  }

  #schedulePump()       {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pumpReports();
    });
  }

  #pumpReports()       {
    const link = this.#link;
    if (!link || (this.#state !== 'syncing' && this.#state !== 'synced')) return;
    const room = this.#reportWindow - this.#inflightReports.size;
    if (room <= 0) return;
    for (const e of this.#o.store.outbox.pending(room, this.#lastSentReportId)) {
      this.#inflightReports.add(e.id);
      this.#lastSentReportId = e.id;
      this.stats.reportsSent++;
      this.#send(link, { type: 'report', id: String(e.id), kind: e.kind              , key: e.key, payload: e.payload                          });
    }
  }
}
