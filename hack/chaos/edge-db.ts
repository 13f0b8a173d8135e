/**
 * Read-side access to a chaos edge's SQLite store from the harness process:
 * inventory and outbox size while the agent runs (a second, read-only
 * connection; WAL lets it read without blocking the writer), and the
 * integrity check and the `chaos.expect.*` rows once the agent is dead.
 */
import { existsSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';

export const EXPECT_PREFIX = 'chaos.expect.';
/** Meta keys of the chaos edge's twin driver: the newest value it published / the edge acknowledged, per device. */
export const TWIN_SENT = 'chaos.twin.sent.';
export const TWIN_ACKED = 'chaos.twin.acked.';

export interface EdgeDbSnapshot {
  inventory: Map<string, string>;
  outboxRows: number;
  outboxDropped: number;
  /** Devices whose twin changed but whose device-twin snapshot is not queued yet (throttled). */
  twinsDirty: number;
}

function withDb<T>(path: string, readOnly: boolean, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path, { readOnly, timeout: 5000 });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** What the edge holds now; undefined while its store does not exist yet. */
export function snapshot(path: string): EdgeDbSnapshot | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return withDb(path, true, (db) => {
      const inventory = new Map<string, string>();
      for (const r of db.prepare('SELECT key, resource_version AS rv FROM objects').all() as { key: string; rv: string }[]) inventory.set(r.key, r.rv);
      const t = db.prepare('SELECT rows, dropped FROM outbox_totals WHERE id = 1').get() as { rows: number; dropped: number } | undefined;
      const hasTwins = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'device_state'").get() !== undefined;
      const dirty = hasTwins ? (db.prepare('SELECT COUNT(*) AS n FROM device_state WHERE twin_dirty = 1').get() as { n: number }).n : 0;
      return { inventory, outboxRows: t?.rows ?? 0, outboxDropped: t?.dropped ?? 0, twinsDirty: dirty };
    });
  } catch {
    return undefined; // mid-creation (schema not there yet)
  }
}

/**
 * `PRAGMA integrity_check` on a store whose agent is not running (opening
 * read-write replays the WAL a kill -9 left, as the agent's own restart would).
 */
export function integrityCheck(path: string): { ok: boolean; problems: string[] } {
  if (!existsSync(path)) return { ok: true, problems: [] };
  return withDb(path, false, (db) => {
    const rows = db.prepare('PRAGMA integrity_check').all() as { integrity_check: string }[];
    const problems = rows.map((r) => r.integrity_check).filter((m) => m !== 'ok');
    return { ok: problems.length === 0, problems };
  });
}

/**
 * The meta key under which the chaos edge records `payload` as the newest
 * value of (kind, key). Events do not coalesce, so each keeps its own row
 * (by its metadata.name).
 */
export function expectKey(kind: string, key: string, payload: unknown): string {
  const name = kind === 'event' ? `|${(payload as { metadata?: { name?: string } } | undefined)?.metadata?.name ?? ''}` : '';
  return `${EXPECT_PREFIX}${kind}|${key}${name}`;
}

export interface Expectation {
  kind: string;
  key: string;
  payload: unknown;
}

/** The newest value of every report the edge queued (one per coalescing (kind, key); every event). */
export function expectations(path: string): Expectation[] {
  return withDb(path, true, (db) => (db.prepare('SELECT key, value FROM meta WHERE key LIKE ?').all(`${EXPECT_PREFIX}%`) as { key: string; value: string }[]).map((r) => {
    const [kind, key] = r.key.slice(EXPECT_PREFIX.length).split('|') as [string, string];
    return { kind, key, payload: JSON.parse(r.value) as unknown };
  }));
}

/** Reports still queued in the outbox (durable, not yet acknowledged by the cloud). */
export function pendingReports(path: string): Expectation[] {
  return withDb(path, true, (db) => (db.prepare('SELECT kind, key, payload FROM outbox ORDER BY id').all() as { kind: string; key: string; payload: string }[])
    .map((r) => ({ kind: r.kind, key: r.key, payload: JSON.parse(r.payload) as unknown })));
}

export interface DeviceTwinRow {
  /** `<namespace>/<name>` */
  device: string;
  property: string;
  desired: string | null;
  reported: string | null;
}

/** The edge's device twin (empty when the node never had a device). */
export function deviceTwins(path: string): DeviceTwinRow[] {
  return withDb(path, true, (db) => {
    if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'device_twin'").get() === undefined) return [];
    return db.prepare('SELECT device, property, desired, reported FROM device_twin ORDER BY device, property').all() as unknown as DeviceTwinRow[];
  });
}

/** Meta rows under `prefix`, the prefix removed (e.g. the twin driver's sent/acked values by device). */
export function metaEntries(path: string, prefix: string): Map<string, string> {
  return withDb(path, true, (db) => new Map((db.prepare('SELECT key, value FROM meta WHERE key >= ? AND key < ?').all(prefix, `${prefix}\uffff`) as { key: string; value: string }[])
    .map((r) => [r.key.slice(prefix.length), r.value])));
}
