// Entry point: one call opens the file and wires the object store and the outbox to it.
import type { Database, DatabaseOptions } from './database.ts';
import { openDatabase } from './database.ts';
import type { ObjectStoreOptions } from './object-store.ts';
import { ObjectStore } from './object-store.ts';
import type { OutboxOptions } from './outbox.ts';
import { Outbox } from './outbox.ts';

/** The edge agent's local state: one SQLite file, one connection. */
export interface EdgeStore {
  db: Database;
  objects: ObjectStore;
  outbox: Outbox;
  /** Checkpoints and closes the file. Idempotent. */
  close(): void;
}

/**
 * Opens (or creates) the edge store at `path`. Throws the StoreErrors of
 * {@link openDatabase}; see README.md for what to do about each.
 */
export function openEdgeStore(path: string, opts: DatabaseOptions & { objects?: ObjectStoreOptions; outbox?: OutboxOptions } = {}): EdgeStore {
  const db = openDatabase(path, opts);
  return { db, objects: new ObjectStore(db, opts.objects), outbox: new Outbox(db, opts.outbox), close: () => db.close() };
}
