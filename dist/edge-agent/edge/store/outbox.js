// The durable upstream outbox: reports (node status, lease, pod status,
// events, device twins) wait here until the cloud acknowledges them, across
// disconnects and restarts.
//
// Coalescing: most kinds are level state, so only the newest value per
// (kind, key) matters; a put replaces the pending one and takes a NEW id
// (AUTOINCREMENT: ids are never reused, even after a restart or after the
// newest row is deleted). An ack that names the old id then deletes nothing,
// and the newer value is still sent. Events are edge-triggered history, so
// they never coalesce.
//
// Bounds (README.md "Outbox bounds"): when a put would exceed maxRows or
// maxBytes, the oldest droppable rows (events) are deleted first and counted
// in `dropped()`; a new event that still does not fit is dropped itself.
// Coalescing kinds are always kept, even over the bound: their count is
// bounded by the number of distinct objects on the node, and losing the last
// pod status would leave the cloud wrong until the next change.
                                                 
                                              
import { StoreError } from './database.js';

/** Report kinds the agent writes; any non-empty string is accepted (see {@link OutboxOptions.coalesce}). */
                                                                                                                                             

/** A pending report, oldest first in {@link Outbox.pending}. */
                              
                                                                          
             
               
              
                   
                                                     
                    
                                                                                                              
                       
 

/** Options for {@link Outbox}. */
                                
                                             
                   
                                                      
                    
                                                                                                  
                           
                                                                                             
                                       
                                                                                      
                                        
 

               
             
               
              
                  
                     
                        
 

/**
 * Durable upstream report queue, coalescing by (kind, key). Every method is
 * one transaction (or joins the caller's `db.transaction`). Single writer.
 */
export class Outbox {
           db          ;
           #maxRows        ;
           #maxBytes        ;
           #maxPayload        ;
           #coalesce                           ;
           #droppable                           ;
  #overBound = false;
           #takeOld               ;
           #insert               ;
           #totals               ;
           #victims               ;
           #deleteId               ;
           #countDropped               ;
           #pending               ;

  constructor(db          , opts                = {}) {
    this.db = db;
    this.#maxRows = opts.maxRows ?? 10_000;
    this.#maxBytes = opts.maxBytes ?? 16 * 1024 * 1024;
    this.#maxPayload = opts.maxPayloadBytes ?? 1024 * 1024;
    this.#coalesce = opts.coalesce ?? ((k) => k !== 'event');
    this.#droppable = opts.droppable ?? ((k) => k === 'event');
    const s = db.sql;
    this.#takeOld = s.prepare('DELETE FROM outbox WHERE kind = ? AND key = ? AND coalesce = 1 RETURNING pending_since');
    this.#insert = s.prepare(
      'INSERT INTO outbox (kind, key, coalesce, droppable, payload, bytes, created_at, pending_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id',
    );
    this.#totals = s.prepare('SELECT rows, bytes, dropped FROM outbox_totals WHERE id = 1');
    this.#victims = s.prepare('SELECT id, bytes FROM outbox WHERE droppable = 1 ORDER BY id LIMIT 256');
    this.#deleteId = s.prepare('DELETE FROM outbox WHERE id = ?');
    this.#countDropped = s.prepare('UPDATE outbox_totals SET dropped = dropped + ? WHERE id = 1');
    this.#pending = s.prepare('SELECT id, kind, key, payload, created_at, pending_since FROM outbox WHERE id > ? ORDER BY id LIMIT ?');
  }

  /**
   * Durably queues `payload` (JSON-serialisable) as a `kind` report about
   * `key` and returns its id; durable when this returns (or when the
   * enclosing transaction commits). For a coalescing kind, replaces the
   * pending value for (kind, key), which gets a new, larger id. Returns
   * undefined only when a droppable, non-coalescing report (an event) is
   * dropped because the outbox is full of reports that must be kept.
   * Throws STORE_INVALID_ARGUMENT for an empty kind/key, a payload JSON
   * cannot encode, or one over maxPayloadBytes.
   */
  put(kind            , key        , payload         )                     {
    if (typeof kind !== 'string' || kind === '' || typeof key !== 'string' || key === '') {
      throw new StoreError('STORE_INVALID_ARGUMENT', `outbox.put: kind and key must be non-empty strings, got ${JSON.stringify([kind, key])}.`);
    }
    let text                    ;
    try {
      text = JSON.stringify(payload);
    } catch (err) {
      throw new StoreError('STORE_INVALID_ARGUMENT', `outbox.put ${kind} ${key}: payload is not JSON-serialisable (${(err         ).message}).`, { cause: err });
    }
    if (text === undefined) throw new StoreError('STORE_INVALID_ARGUMENT', `outbox.put ${kind} ${key}: payload is not JSON-serialisable.`);
    const bytes = Buffer.byteLength(text);
    if (bytes > this.#maxPayload) {
      throw new StoreError('STORE_INVALID_ARGUMENT', `outbox.put ${kind} ${key}: payload is ${bytes} bytes, over the ${this.#maxPayload}-byte limit; split or trim it.`);
    }
    const coalesce = this.#coalesce(kind);
    const droppable = this.#droppable(kind);
    return this.db.transaction(() => {
      const now = this.db.now();
      const old = coalesce ? (this.#takeOld.get(kind, key)                                         ) : undefined;
      if (!this.#makeRoom(bytes) && droppable && !coalesce) {
        this.#countDropped.run(1);
        this.#warnOver(kind, 'Dropped report: outbox full of reports that are kept');
        return undefined;
      }
      const row = this.#insert.get(kind, key, coalesce ? 1 : 0, droppable ? 1 : 0, text, bytes, now, old?.pending_since ?? now)                  ;
      return row.id;
    });
  }

  /** Up to `limit` pending entries with id > `afterId` (default 0), oldest first. Read-only. */
  pending(limit        , afterId = 0)                {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new StoreError('STORE_INVALID_ARGUMENT', `outbox.pending: limit must be a positive integer, got ${limit}.`);
    return (this.#pending.all(afterId, limit)                    ).map((r) => ({
      id: r.id,
      kind: r.kind,
      key: r.key,
      payload: JSON.parse(r.payload)           ,
      createdAt: r.created_at,
      pendingSince: r.pending_since,
    }));
  }

  /**
   * Deletes exactly the entries with these ids (numbers or decimal strings,
   * as sent in `report.id`) and returns how many were deleted. Idempotent:
   * unknown, already acked, superseded or malformed ids are ignored.
   */
  ack(ids                           )         {
    return this.db.transaction(() => {
      let n = 0;
      for (const raw of ids) {
        const id = typeof raw === 'string' && /^[0-9]{1,16}$/.test(raw) ? Number(raw) : raw;
        if (typeof id === 'number' && Number.isSafeInteger(id)) n += Number(this.#deleteId.run(id).changes);
      }
      return n;
    });
  }

  /** Number of pending entries. */
  size()         {
    return this.#readTotals().rows;
  }

  /** Sum of pending payload sizes in bytes. */
  bytes()         {
    return this.#readTotals().bytes;
  }

  /** Reports dropped by the bound since the store was created (persistent counter). */
  dropped()         {
    return this.#readTotals().dropped;
  }

  /** Age of the oldest undelivered information (min `pendingSince`), 0 when empty. */
  oldestAgeMs(now         = this.db.now())         {
    const r = this.db.sql.prepare('SELECT MIN(pending_since) AS t FROM outbox').get()                        ;
    return r.t === null ? 0 : Math.max(0, now - r.t);
  }

  #readTotals()                                                   {
    return this.#totals.get()                                                    ;
  }

  /** Evicts oldest droppable rows until one more row of `bytes` fits; false if it still does not. */
  #makeRoom(bytes        )          {
    let t = this.#readTotals();
    const fits = () => t.rows + 1 <= this.#maxRows && t.bytes + bytes <= this.#maxBytes;
    if (fits()) {
      this.#overBound = false;
      return true;
    }
    let evicted = 0;
    while (!fits()) {
      const victims = this.#victims.all()                                        ;
      if (victims.length === 0) break;
      for (const v of victims) {
        this.#deleteId.run(v.id);
        evicted++;
        t = { ...t, rows: t.rows - 1, bytes: t.bytes - v.bytes };
        if (fits()) break;
      }
    }
    if (evicted > 0) {
      this.#countDropped.run(evicted);
      this.#warnOver('event', 'Dropped oldest reports: outbox full', evicted);
    }
    if (fits()) return true;
    this.#warnOver(undefined, 'Outbox over its bound with reports that are kept');
    return false;
  }

  // One warning per episode of being full, not one per put while offline for hours.
  #warnOver(kind                    , msg        , count = 1)       {
    if (this.#overBound) return;
    this.#overBound = true;
    this.db.log.warn(msg, { kind, count, maxRows: this.#maxRows, maxBytes: this.#maxBytes });
  }
}
