// Objects the cloud sent to this node, as received. The body is stored
// verbatim (the bytes of the `upsert` frame), so what the pod runtime reads
// after a restart is byte-for-byte what the cloud encoded, and the key → rv
// inventory is what the edge reports at resume (`hello.digest`).
//
// Unlike KubeEdge's metamanager (plain upsert of `<ns>/<type>/<name>` → JSON,
// no RV), each row carries its resourceVersion, re-applying an rv is a
// reported no-op, and a batch commits together with the session cursor, so an
// `ack` is only ever sent for what is on disk.
import { createHash } from 'node:crypto';
                                                 
                                              
import { StoreError } from './database.js';

/** A Kubernetes object as stored: at least apiVersion, kind and metadata.name. */
                             
                     
               
                                                                                                               
                       
 

/** One row of the object store, with the body bytes exactly as applied. */
                               
              
                     
               
                                       
                    
               
                          
                          
                   
                                                            
                    
 

/** One operation of {@link ObjectStore.applyBatch}, mirroring the `upsert` / `delete` frames. */
                                                                                                                           

/** Where this edge is in the cloud's stream: every op with seq <= `seq` of `session` is applied. */
                             
                  
              
 

/** What one apply did. `changed: false` means it was already so (same rv present, or key already absent). */
                              
              
                   
 

/** A committed change. `obj` is the parsed new object; `rv` the new (upsert) or last (delete) resourceVersion. */
                                                                                                                                     

/** Whole-inventory digest: any function of the key → rv entries that ignores their order. */
                                                                                

/**
 * A digest the store can keep up to date per change (O(1) per apply instead
 * of O(N) per `digest()`). Shape-compatible with edge/protocol's
 * `InventoryDigest`, so `() => new InventoryDigest()` plugs in directly.
 */
                                    
                                                                                            
                                                                                     
                
 

/** Options for {@link ObjectStore}. Give at most one of `digest` and `incrementalDigest`. */
                                     
                                                                                                         
                    
                                                                                                           
                                              
 

/**
 * Default inventory digest: sha256 over `key \t rv \n` lines sorted by key
 * (UTF-16 code unit order; keys are ASCII). Pure, order-independent.
 */
export function sortedLinesDigest(entries                                     )         {
  const sorted = [...entries].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const h = createHash('sha256');
  for (const [k, rv] of sorted) h.update(`${k}\t${rv}\n`);
  return h.digest('hex');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const CURSOR_META_KEY = 'sync.cursor';

function invalid(message        )             {
  return new StoreError('STORE_INVALID_OBJECT', message);
}

/** Parses and checks a body against its key; throws STORE_INVALID_OBJECT. */
function parseBody(key        , body            )             {
  let obj         ;
  try {
    obj = JSON.parse(utf8.decode(body));
  } catch (err) {
    throw new StoreError('STORE_INVALID_OBJECT', `Object ${key}: body is not UTF-8 JSON (${(err         ).message}); the cloud must send the object's JSON encoding.`, { cause: err });
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw invalid(`Object ${key}: body must be a JSON object.`);
  const o = obj                       ;
  const m = o.metadata;
  if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || typeof m !== 'object' || m === null || typeof m.name !== 'string') {
    throw invalid(`Object ${key}: body must have string apiVersion, kind and metadata.name.`);
  }
  const expected = `${o.apiVersion}/${o.kind}/${typeof m.namespace === 'string' ? m.namespace : ''}/${m.name}`;
  if (expected !== key) throw invalid(`Object ${key}: body is ${expected}; the key must be "apiVersion/Kind/namespace/name" of the body.`);
  return o              ;
}

               
              
                      
               
                    
               
                     
                           
                   
                     
 

const toStored = (r     )               => ({
  key: r.key,
  apiVersion: r.api_version,
  kind: r.kind,
  namespace: r.namespace,
  name: r.name,
  uid: r.uid ?? undefined,
  resourceVersion: r.resource_version,
  body: r.body,
  updatedAt: r.updated_at,
});

/** String key/value pairs kept with the store (node name, last session id, cert info). */
export class Meta {
           #get               ;
           #set               ;
           #del               ;
           #list               ;
  constructor(db          ) {
    this.#get = db.sql.prepare('SELECT value FROM meta WHERE key = ?');
    this.#set = db.sql.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    this.#del = db.sql.prepare('DELETE FROM meta WHERE key = ?');
    this.#list = db.sql.prepare('SELECT key, value FROM meta WHERE key >= ? AND key < ? ORDER BY key');
  }
  get(key        )                     {
    return (this.#get.get(key)                                 )?.value;
  }
  /** Durable once the (enclosing) transaction commits. */
  set(key        , value        )       {
    this.#set.run(key, value);
  }
  delete(key        )       {
    this.#del.run(key);
  }
  /** Every entry whose key starts with `prefix`, ordered by key (e.g. the pod records under `pods/`). */
  entries(prefix        )                                 {
    return (this.#list.all(prefix, `${prefix}\uffff`)                                    ).map((r) => [r.key, r.value]);
  }
}

/**
 * The node's copy of its cloud objects. All writes are idempotent and
 * atomic; change listeners run after commit. Not safe for two processes to
 * write at once (the agent is the only writer; `outpost doctor` only reads).
 */
export class ObjectStore {
           db          ;
           meta      ;
           #digestFn          ;
           #incFactory                                       ;
  #inc                               ;
  #memo                    ;
           #listeners = new Set                          ();
           #rvOf               ;
           #upsert               ;
           #delete               ;
           #get               ;
           #inventory               ;

  constructor(db          , opts                     = {}) {
    this.db = db;
    this.meta = new Meta(db);
    this.#digestFn = opts.digest ?? sortedLinesDigest;
    this.#incFactory = opts.incrementalDigest;
    const s = db.sql;
    this.#rvOf = s.prepare('SELECT resource_version AS rv FROM objects WHERE key = ?');
    this.#upsert = s.prepare(
      `INSERT INTO objects (key, api_version, kind, namespace, name, uid, resource_version, body, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET uid = excluded.uid, resource_version = excluded.resource_version,
         body = excluded.body, updated_at = excluded.updated_at`,
    );
    this.#delete = s.prepare('DELETE FROM objects WHERE key = ? RETURNING resource_version AS rv');
    this.#get = s.prepare('SELECT * FROM objects WHERE key = ?');
    this.#inventory = s.prepare('SELECT key, resource_version AS rv FROM objects');
  }

  /**
   * Stores `body` (the object's JSON bytes, kept verbatim) as version `rv` of
   * `key`. Idempotent: if `key` already has `rv` it is a no-op reporting
   * `changed: false`. Any other rv replaces the row (the cloud's seq order is
   * the authority; RVs are opaque). Throws STORE_INVALID_OBJECT when the body
   * is not a JSON object whose apiVersion/Kind/namespace/name form `key`;
   * nothing is written then.
   */
  applyUpsert(key        , rv        , body                     )              {
    return this.db.transaction(() => this.#applyUpsert(key, rv, body));
  }

  /** Removes `key`. Idempotent: `changed: false` when it was already absent. */
  applyDelete(key        )              {
    return this.db.transaction(() => this.#applyDelete(key));
  }

  /**
   * Applies `ops` in order and records `cursor`, all in one transaction:
   * either everything (ops and cursor) is durable when this returns, or, if
   * it throws, nothing is (cursor unchanged). So the caller acks
   * `cursor.seq` only after a successful return. The cursor is recorded as
   * given (the session owns seq ordering). Results are in op order.
   */
  applyBatch(ops                   , cursor            )                {
    if (typeof cursor?.session !== 'string' || !Number.isSafeInteger(cursor.seq) || cursor.seq < 0) {
      throw new StoreError('STORE_INVALID_ARGUMENT', `applyBatch: cursor must be {session: string, seq: non-negative integer}, got ${JSON.stringify(cursor)}.`);
    }
    return this.db.transaction(() => {
      const results                = [];
      for (const op of ops) results.push(op.op === 'upsert' ? this.#applyUpsert(op.key, op.rv, op.body) : this.#applyDelete(op.key));
      this.meta.set(CURSOR_META_KEY, JSON.stringify({ session: cursor.session, seq: cursor.seq }));
      return results;
    });
  }

  /** The cursor recorded by the last committed {@link applyBatch}, if any. */
  cursor()                         {
    const v = this.meta.get(CURSOR_META_KEY);
    return v === undefined ? undefined : (JSON.parse(v)              );
  }

  /**
   * After a full resume: deletes every object whose key is not in `keep` and
   * returns the removed keys (sorted). Idempotent. Call it inside
   * `db.transaction` together with the last `applyBatch` to make the resume
   * atomic.
   */
  pruneExcept(keep                  )           {
    const keepSet = new Set(keep);
    return this.db.transaction(() => {
      const removed = [...this.inventory().keys()].filter((k) => !keepSet.has(k)).sort();
      for (const k of removed) this.#applyDelete(k);
      return removed;
    });
  }

  /** The parsed object at `key`, or undefined. */
  get(key        )                         {
    const raw = this.getRaw(key);
    return raw && (JSON.parse(utf8.decode(raw.body))              );
  }

  /** The row at `key` with its body bytes as applied, or undefined. */
  getRaw(key        )                           {
    const r = this.#get.get(key)                   ;
    return r && toStored(r);
  }

  /** Parsed objects matching every given field (namespace '' = cluster-scoped), ordered by key. */
  list(filter                                                             = {})               {
    const where           = [];
    const args           = [];
    for (const [col, v] of [['api_version', filter.apiVersion], ['kind', filter.kind], ['namespace', filter.namespace]]         ) {
      if (v === undefined) continue;
      where.push(`${col} = ?`);
      args.push(v);
    }
    const rows = this.db.sql.prepare(`SELECT body FROM objects ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY key`).all(...args);
    return rows.map((r) => JSON.parse(utf8.decode((r                        ).body))              );
  }

  /** key → resourceVersion of everything stored (what `hello.inventory` carries). */
  inventory()                      {
    const inv = new Map                ();
    for (const r of this.#inventory.iterate()                                         ) inv.set(r.key, r.rv);
    return inv;
  }

  /** Number of stored objects. */
  count()         {
    return (this.db.sql.prepare('SELECT COUNT(*) AS n FROM objects').get()                 ).n;
  }

  /**
   * Digest of {@link inventory} with the configured function. Outside a
   * transaction it is cached (incremental: kept up to date per commit;
   * full: memoised until the next change); inside one it is recomputed and
   * includes the transaction's uncommitted changes.
   */
  digest()         {
    if (this.db.sql.isTransaction) return this.#incFactory ? this.#fold(this.#incFactory()).hex() : this.#digestFn(this.inventory());
    if (this.#incFactory) return (this.#inc ??= this.#fold(this.#incFactory())).hex();
    return (this.#memo ??= this.#digestFn(this.inventory()));
  }

  /** Calls `cb` after each committed change, in commit order. Returns an unsubscribe function. */
  onChange(cb                          )             {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  #fold(d                   )                    {
    for (const [k, rv] of this.inventory()) d.update(k, undefined, rv);
    return d;
  }

  #applyUpsert(key        , rv        , body                     )              {
    if (typeof key !== 'string' || typeof rv !== 'string' || rv === '') {
      throw new StoreError('STORE_INVALID_ARGUMENT', `applyUpsert: key and rv must be non-empty strings, got ${JSON.stringify([key, rv])}.`);
    }
    const old = (this.#rvOf.get(key)                              )?.rv;
    if (old === rv) return { key, changed: false };
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const obj = parseBody(key, bytes);
    const m = obj.metadata;
    const uid = typeof m.uid === 'string' ? m.uid : null;
    this.#upsert.run(key, obj.apiVersion, obj.kind, m.namespace ?? '', m.name, uid, rv, bytes, this.db.now());
    this.#changed({ type: 'upsert', key, rv, obj }, old, rv);
    return { key, changed: true };
  }

  #applyDelete(key        )              {
    const old = (this.#delete.get(key)                              )?.rv;
    if (old === undefined) return { key, changed: false };
    this.#changed({ type: 'delete', key, rv: old }, old, undefined);
    return { key, changed: true };
  }

  #changed(e             , oldRv                    , newRv                    )       {
    this.#memo = undefined;
    this.db.afterCommit(() => {
      this.#memo = undefined;
      this.#inc?.update(e.key, oldRv, newRv);
      for (const cb of this.#listeners) {
        try {
          cb(e);
        } catch (err) {
          // The change is committed; a failing listener must not hide it from the others or fail the apply.
          this.db.log.error('Failed object change listener', { key: e.key, type: e.type, err });
        }
      }
    });
  }
}
