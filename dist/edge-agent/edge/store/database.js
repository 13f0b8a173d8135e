// The edge store's SQLite file: opening, pragmas, schema migrations,
// transactions and integrity checks. One file holds the object store, the
// outbox and the meta table, so an `applyBatch` and its cursor, or a resume's
// upserts and its prune, commit together.
//
// Durability choice (README.md "Durability"): WAL with synchronous=FULL by
// default. In WAL mode NORMAL already survives a killed process (the WAL is in
// the OS page cache before COMMIT returns) but not a power cut, which may
// roll back the last commits. The edge acks `seq` to the cloud and the pod
// runtime trusts a queued status report, so "committed" must mean "on disk":
// FULL costs one WAL fsync per transaction (≈0.25 ms here, 4k commits/s), and
// callers batch (applyBatch, one transaction per frame burst). NORMAL stays
// available for flash media where fsync latency or wear matters; the resume
// digest repairs the object store after a power cut, but outbox reports
// written just before it may be lost.
import { existsSync, statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { OutpostError } from '../../lib/errors.js';
                                               
import { silentLogger } from '../../lib/log.js';

/** Every code a {@link StoreError} can carry. Stable: listed in README.md, never renamed or reused. */
export const STORE_ERROR_CODES = [
  'STORE_NOT_DATABASE',
  'STORE_CORRUPT',
  'STORE_SCHEMA_TOO_NEW',
  'STORE_OPEN_FAILED',
  'STORE_BUSY',
  'STORE_CLOSED',
  'STORE_INVALID_OBJECT',
  'STORE_INVALID_ARGUMENT',
]         ;

/** A stable store error code; see README.md. */
                                                                

/** The only error class edge/store throws for its own failures. `path` names the database file when known. */
export class StoreError extends OutpostError                 {
           path                    ;
  constructor(code                , message        , options                                     ) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.path = options?.path;
  }
}

/** One schema step. Applied in its own transaction; never edited once released, only appended. */
                     
                  
              
 

const MIGRATIONS                       = [
  {
    version: 1,
    sql: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      CREATE TABLE objects (
        key TEXT PRIMARY KEY,
        api_version TEXT NOT NULL,
        kind TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        uid TEXT,
        resource_version TEXT NOT NULL,
        body BLOB NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX objects_by_kind ON objects (kind, api_version, namespace);
      CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        coalesce INTEGER NOT NULL,
        droppable INTEGER NOT NULL,
        payload TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        pending_since INTEGER NOT NULL
      ) STRICT;
      CREATE UNIQUE INDEX outbox_coalesce ON outbox (kind, key) WHERE coalesce = 1;
      CREATE INDEX outbox_droppable ON outbox (droppable, id);
      CREATE INDEX outbox_pending_since ON outbox (pending_since);
      -- Totals kept by triggers so bounds checks are O(1) and roll back with the transaction.
      CREATE TABLE outbox_totals (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        rows INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        dropped INTEGER NOT NULL
      ) STRICT;
      INSERT INTO outbox_totals VALUES (1, 0, 0, 0);
      CREATE TRIGGER outbox_ins AFTER INSERT ON outbox BEGIN
        UPDATE outbox_totals SET rows = rows + 1, bytes = bytes + NEW.bytes WHERE id = 1;
      END;
      CREATE TRIGGER outbox_del AFTER DELETE ON outbox BEGIN
        UPDATE outbox_totals SET rows = rows - 1, bytes = bytes - OLD.bytes WHERE id = 1;
      END;`,
  },
];

/** Newest schema version this build reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1] .version;

/** Options for {@link openDatabase}. */
                                  
                                                                                                  
                                  
                                                                                                     
                         
                                                                                                           
                        
                                                                        
                     
               
 

/** Result of {@link Database.integrityCheck}: `ok`, or the problems SQLite listed (at most 100). */
                                  
              
                     
 

// SQLite primary result codes (https://sqlite.org/rescode.html); extended codes keep them in the low byte.
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CORRUPT = 11;
const SQLITE_CANTOPEN = 14;
const SQLITE_NOTADB = 26;

const moveAside = (path        ) =>
  `Outpost never deletes it. Stop the agent, move the file aside together with its -wal and -shm files ` +
  `(e.g. mv ${path} ${path}.broken) and start again: the node fetches its objects from the cloud on the next ` +
  `connect; reports still queued in the old file are lost.`;

/**
 * Turns a node:sqlite error into a {@link StoreError} with an actionable
 * message; returns anything else (including StoreErrors) unchanged.
 */
export function translateSqliteError(err         , path        )          {
  const errcode = (err                                )?.errcode;
  if (typeof errcode !== 'number') return err;
  const msg = err instanceof Error ? err.message : String(err);
  switch (errcode & 0xff) {
    case SQLITE_NOTADB:
      return new StoreError('STORE_NOT_DATABASE', `Edge store ${path} is not a SQLite database (${msg}). ${moveAside(path)}`, { path, cause: err });
    case SQLITE_CORRUPT:
      return new StoreError('STORE_CORRUPT', `Edge store ${path} is corrupt (${msg}). ${moveAside(path)}`, { path, cause: err });
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return new StoreError('STORE_BUSY', `Edge store ${path} is locked by another process (${msg}). Is a second edge agent running on this node? Stop it and retry.`, { path, cause: err });
    case SQLITE_CANTOPEN:
      return new StoreError('STORE_OPEN_FAILED', `Cannot open edge store ${path} (${msg}). Check that the directory exists and is writable by the agent.`, { path, cause: err });
    default:
      return err;
  }
}

/**
 * An open edge store file. Single-process, synchronous (node:sqlite): every
 * method either completes or throws, and a throw inside {@link transaction}
 * leaves the file as it was before the transaction began.
 */
export class Database {
  /** The underlying connection, for the store modules in this folder. */
           sql              ;
           path        ;
           now              ;
           log        ;
  #afterCommit                    = [];
  #closed = false;

  /** Use {@link openDatabase}. */
  constructor(sql              , path        , now              , log        ) {
    this.sql = sql;
    this.path = path;
    this.now = now;
    this.log = log;
  }

  /** Schema version of the file (equals {@link SCHEMA_VERSION} once open). */
  get schemaVersion()         {
    return readSchemaVersion(this.sql);
  }

  /**
   * Runs `fn` in a `BEGIN IMMEDIATE` transaction (the write lock is taken up
   * front, so the transaction never fails half-way on a lock upgrade) and
   * commits; if `fn` throws, rolls back and rethrows. Nested calls join the
   * outer transaction: nothing commits until the outermost one does, and a
   * throw anywhere rolls back all of it. Callbacks queued with
   * {@link afterCommit} run after the outermost COMMIT and are dropped on
   * ROLLBACK. Returns what `fn` returns; `fn` must be synchronous.
   */
  transaction   (fn         )    {
    this.#assertOpen();
    if (this.sql.isTransaction) return fn();
    this.#exec('BEGIN IMMEDIATE');
    let result   ;
    try {
      result = fn();
      this.#exec('COMMIT');
    } catch (err) {
      // COMMIT itself can fail (disk full, I/O error): the transaction is then still open.
      if (this.sql.isTransaction) this.sql.exec('ROLLBACK');
      this.#afterCommit = [];
      throw translateSqliteError(err, this.path);
    }
    this.#flushAfterCommit();
    return result;
  }

  /**
   * Runs `cb` once the current transaction commits (dropped if it rolls
   * back), or right away when no transaction is open. Used for change
   * notifications, so listeners never see a change that did not persist. A
   * throwing callback is logged, not propagated: the data is committed.
   */
  afterCommit(cb            )       {
    this.#afterCommit.push(cb);
    if (!this.sql.isTransaction) this.#flushAfterCommit();
  }

  /**
   * `PRAGMA quick_check` (default: O(N), checks b-tree structure) or the full
   * `PRAGMA integrity_check` (also indexes vs tables; slower). Never throws
   * for corruption: reports it. For `outpost doctor`.
   */
  integrityCheck(mode                   = 'quick')                  {
    this.#assertOpen();
    let rows                                ;
    try {
      rows = this.sql.prepare(`PRAGMA ${mode === 'quick' ? 'quick_check' : 'integrity_check'}(100)`).all();
    } catch (err) {
      return { ok: false, problems: [err instanceof Error ? err.message : String(err)] };
    }
    const problems = rows.map((r) => String(Object.values(r)[0])).filter((s) => s !== 'ok');
    return { ok: problems.length === 0, problems };
  }

  /** Checkpoints the WAL into the main file and closes. Idempotent. */
  close()       {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.sql.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    } catch (err) {
      this.log.warn('Skipped WAL checkpoint on close', { path: this.path, err });
    }
    this.sql.close();
  }

  get isOpen()          {
    return !this.#closed;
  }

  #exec(sql        )       {
    try {
      this.sql.exec(sql);
    } catch (err) {
      throw translateSqliteError(err, this.path);
    }
  }

  #assertOpen()       {
    if (this.#closed) throw new StoreError('STORE_CLOSED', `Edge store ${this.path} is closed; open it again with openDatabase().`, { path: this.path });
  }

  #flushAfterCommit()       {
    const cbs = this.#afterCommit;
    this.#afterCommit = [];
    for (const cb of cbs) {
      try {
        cb();
      } catch (err) {
        this.log.error('Failed change listener', { path: this.path, err });
      }
    }
  }
}

function readSchemaVersion(sql              )         {
  const exists = sql.prepare(`SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'`).get();
  if (!exists) return 0;
  const row = sql.prepare('SELECT MAX(version) AS v FROM schema_version').get()                        ;
  return row.v ?? 0;
}

/**
 * Opens (creating if absent) the edge store at `path` and brings its schema
 * up to {@link SCHEMA_VERSION}. Idempotent across restarts. Throws
 * StoreError: STORE_NOT_DATABASE (the file is not SQLite), STORE_CORRUPT
 * (quick_check failed), STORE_SCHEMA_TOO_NEW (written by a newer agent),
 * STORE_OPEN_FAILED (directory missing or not writable), STORE_BUSY (another
 * process holds the write lock). Never deletes or rewrites a file it cannot
 * read: the message says how to move it aside.
 */
export function openDatabase(path        , opts                  = {})           {
  const log = opts.log ?? silentLogger;
  if (path !== ':memory:' && existsSync(path) && !statSync(path).isFile()) {
    throw new StoreError('STORE_OPEN_FAILED', `Edge store path ${path} exists but is not a regular file; point the agent at a file path.`, { path });
  }
  let sql              ;
  try {
    sql = new DatabaseSync(path, { timeout: opts.busyTimeoutMs ?? 5000 });
  } catch (err) {
    throw translateSqliteError(err, path);
  }
  try {
    // journal_mode is the first statement to read the header: a garbage file fails here with SQLITE_NOTADB.
    sql.exec('PRAGMA journal_mode = WAL');
    sql.exec(`PRAGMA synchronous = ${opts.synchronous ?? 'FULL'}`);
    // After a checkpoint, truncate a WAL that grew (e.g. a large resume) back to at most 8 MiB.
    sql.exec('PRAGMA journal_size_limit = 8388608');
    sql.exec('PRAGMA foreign_keys = ON');
    if (opts.checkOnOpen ?? true) {
      const rows = sql.prepare('PRAGMA quick_check(20)').all();
      const problems = rows.map((r) => String(Object.values(r)[0])).filter((s) => s !== 'ok');
      if (problems.length > 0) {
        const summary = problems.join('\n').split('\n').filter((l) => !l.startsWith('***')).slice(0, 3).join('; ');
        throw new StoreError('STORE_CORRUPT', `Edge store ${path} failed quick_check (${summary}). ${moveAside(path)}`, { path });
      }
    }
    migrate(sql, path, log, opts.now ?? Date.now);
  } catch (err) {
    sql.close();
    throw translateSqliteError(err, path);
  }
  return new Database(sql, path, opts.now ?? Date.now, log);
}

function migrate(sql              , path        , log        , now              )       {
  // BEGIN IMMEDIATE: two processes opening a fresh file at once cannot both migrate.
  sql.exec('BEGIN IMMEDIATE');
  try {
    sql.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT');
    const current = readSchemaVersion(sql);
    if (current > SCHEMA_VERSION) {
      throw new StoreError(
        'STORE_SCHEMA_TOO_NEW',
        `Edge store ${path} has schema version ${current}, but this agent understands up to ${SCHEMA_VERSION}: it was written by a newer Outpost. ` +
          `Run the newer agent, or move the file aside (with its -wal and -shm files) to start this one from the cloud.`,
        { path },
      );
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      sql.exec(m.sql);
      sql.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(m.version, now());
      log.info('Migrated edge store', { path, version: m.version });
    }
    sql.exec('COMMIT');
  } catch (err) {
    if (sql.isTransaction) sql.exec('ROLLBACK');
    throw err;
  }
}
