import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSION, StoreError, openDatabase } from './database.ts';
import { openEdgeStore } from './store.ts';
import { tempDbPaths } from './testdata/tmp.ts';

const newPath = tempDbPaths();

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return (err as StoreError).code;
  }
  return undefined;
}

describe('openDatabase', () => {
  it('creates the schema once, in WAL mode with synchronous=FULL and a busy timeout', () => {
    const path = newPath();
    const db = openDatabase(path, { busyTimeoutMs: 1234 });
    expect(db.schemaVersion).toBe(SCHEMA_VERSION);
    const pragma = (p: string) => Object.values(db.sql.prepare(`PRAGMA ${p}`).get()!)[0];
    expect(pragma('journal_mode')).toBe('wal');
    expect(pragma('synchronous')).toBe(2); // FULL
    expect(pragma('busy_timeout')).toBe(1234);
    db.close();
    const again = openDatabase(path, { synchronous: 'NORMAL' });
    expect(Object.values(again.sql.prepare('PRAGMA synchronous').get()!)[0]).toBe(1);
    expect(again.sql.prepare('SELECT COUNT(*) AS n FROM schema_version').get()).toEqual({ n: SCHEMA_VERSION });
    again.close();
  });

  it('refuses a file written by a newer schema, and leaves it untouched', () => {
    const path = newPath();
    openDatabase(path).close();
    const raw = new DatabaseSync(path);
    raw.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, 0)').run(SCHEMA_VERSION + 1);
    raw.close();
    const err = (() => {
      try {
        openDatabase(path);
      } catch (e) {
        return e as StoreError;
      }
    })();
    expect(err?.code).toBe('STORE_SCHEMA_TOO_NEW');
    expect(err?.message).toMatch(/newer Outpost.*move the file aside/s);
    const check = new DatabaseSync(path);
    expect(check.prepare('SELECT MAX(version) AS v FROM schema_version').get()).toEqual({ v: SCHEMA_VERSION + 1 });
    check.close();
  });

  it('refuses a file that is not SQLite with STORE_NOT_DATABASE and never modifies it', () => {
    const path = newPath();
    const garbage = Buffer.from('this is not a database, just some bytes\n'.repeat(200));
    writeFileSync(path, garbage);
    let err: StoreError | undefined;
    try {
      openDatabase(path);
    } catch (e) {
      err = e as StoreError;
    }
    expect(err).toBeInstanceOf(StoreError);
    expect(err!.code).toBe('STORE_NOT_DATABASE');
    expect(err!.path).toBe(path);
    expect(err!.message).toContain(`mv ${path} ${path}.broken`);
    expect(err!.message).toMatch(/never deletes/);
    expect(readFileSync(path).equals(garbage)).toBe(true);
  });

  it('refuses a SQLite file with corrupt pages with STORE_CORRUPT', () => {
    const path = newPath();
    const s = openEdgeStore(path);
    for (let i = 0; i < 200; i++) {
      s.objects.applyUpsert(`v1/ConfigMap/ns/c${i}`, '1', JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${i}`, namespace: 'ns' }, data: { x: 'y'.repeat(300) } }));
    }
    s.close();
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(3 * 4096, 0xab), 0, 3 * 4096, 2 * 4096); // keep page 1 (header + schema)
    closeSync(fd);
    expect(codeOf(() => openDatabase(path))).toBe('STORE_CORRUPT');
    // doctor can still look at it without the open-time check, and sees the damage.
    const db = openDatabase(path, { checkOnOpen: false });
    const r = db.integrityCheck('full');
    expect(r.ok).toBe(false);
    expect(r.problems.length).toBeGreaterThan(0);
    db.close();
  });

  it('reports paths it cannot open with STORE_OPEN_FAILED', () => {
    const path = newPath();
    mkdirSync(join(dirname(path), 'a-dir'));
    expect(codeOf(() => openDatabase(join(dirname(path), 'a-dir')))).toBe('STORE_OPEN_FAILED');
    expect(codeOf(() => openDatabase(join(dirname(path), 'missing', 'edge.db')))).toBe('STORE_OPEN_FAILED');
  });

  it('reports a write lock held by another process as STORE_BUSY after busy_timeout', () => {
    const path = newPath();
    const db = openDatabase(path, { busyTimeoutMs: 50 });
    const other = new DatabaseSync(path);
    other.exec('BEGIN IMMEDIATE');
    expect(codeOf(() => db.transaction(() => db.sql.exec(`INSERT INTO meta VALUES ('a', 'b')`)))).toBe('STORE_BUSY');
    other.exec('ROLLBACK');
    other.close();
    db.transaction(() => db.sql.exec(`INSERT INTO meta VALUES ('a', 'b')`));
    db.close();
  });
});

describe('Database', () => {
  it('transaction commits, rolls back on throw, joins nested calls and runs afterCommit only on commit', () => {
    const db = openDatabase(newPath());
    const count = () => (db.sql.prepare('SELECT COUNT(*) AS n FROM meta').get() as { n: number }).n;
    const seen: string[] = [];
    expect(() =>
      db.transaction(() => {
        db.sql.exec(`INSERT INTO meta VALUES ('a', '1')`);
        db.afterCommit(() => seen.push('a'));
        db.transaction(() => db.sql.exec(`INSERT INTO meta VALUES ('b', '1')`));
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(count()).toBe(0);
    expect(seen).toEqual([]);
    const r = db.transaction(() => {
      db.sql.exec(`INSERT INTO meta VALUES ('a', '1')`);
      db.afterCommit(() => seen.push('outer'));
      db.transaction(() => db.afterCommit(() => seen.push('inner')));
      expect(seen).toEqual([]);
      return 42;
    });
    expect(r).toBe(42);
    expect(count()).toBe(1);
    expect(seen).toEqual(['outer', 'inner']);
    expect(db.integrityCheck()).toEqual({ ok: true, problems: [] });
    expect(db.integrityCheck('full')).toEqual({ ok: true, problems: [] });
    db.close();
    db.close();
    expect(codeOf(() => db.transaction(() => 1))).toBe('STORE_CLOSED');
  });
});
