// The device twin's tables, in the edge store's SQLite file but versioned on
// their own (`device_schema_version`), so the device module can evolve
// without touching edge/store's migration list and a node that never had a
// device never gets these tables. Same rules as edge/store: migrations are
// appended, never edited; each runs in one BEGIN IMMEDIATE transaction; a
// file newer than this build is refused.
                                                     
import { StoreError } from '../store/database.js';

                     
                  
              
 

const MIGRATIONS                       = [
  {
    version: 1,
    sql: `
      -- One row per (device, property): the desired value the edge applies and the value last read.
      -- device = '<namespace>/<name>'. cloud_desired = the spec value last taken from the cloud, so a
      -- desired value set locally over MQTT is kept until the cloud's value changes.
      CREATE TABLE device_twin (
        device TEXT NOT NULL,
        property TEXT NOT NULL,
        desired TEXT,
        desired_meta TEXT,
        desired_at INTEGER,
        cloud_desired TEXT,
        reported TEXT,
        reported_meta TEXT,
        reported_at INTEGER,
        PRIMARY KEY (device, property)
      ) STRICT;
      -- One row per device: connection state, when it was last online, and the snapshot counter
      -- (seq) of device-twin/device-state reports, which only grows. twin_dirty = 1 while a change
      -- is stored but its device-twin snapshot is not yet in the outbox (throttled): a restart
      -- queues the snapshot then, so no reported value is lost between the two writes.
      CREATE TABLE device_state (
        device TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        last_online TEXT,
        seq INTEGER NOT NULL,
        twin_dirty INTEGER NOT NULL DEFAULT 0,
        updated_at INTEGER NOT NULL
      ) STRICT;`,
  },
];

export const DEVICE_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1] .version;

/**
 * Brings the device tables up to {@link DEVICE_SCHEMA_VERSION}. Idempotent.
 * Throws StoreError STORE_SCHEMA_TOO_NEW when a newer agent wrote the file.
 */
export function migrateDeviceTables(db          )       {
  db.transaction(() => {
    const sql = db.sql;
    sql.exec('CREATE TABLE IF NOT EXISTS device_schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT');
    const current = (sql.prepare('SELECT MAX(version) AS v FROM device_schema_version').get()                        ).v ?? 0;
    if (current > DEVICE_SCHEMA_VERSION) {
      throw new StoreError(
        'STORE_SCHEMA_TOO_NEW',
        `Edge store ${db.path} has device schema version ${current}, but this agent understands up to ${DEVICE_SCHEMA_VERSION}: run the newer agent.`,
        { path: db.path },
      );
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      sql.exec(m.sql);
      sql.prepare('INSERT INTO device_schema_version (version, applied_at) VALUES (?, ?)').run(m.version, db.now());
      db.log.info('Migrated device tables', { path: db.path, version: m.version });
    }
  });
}
