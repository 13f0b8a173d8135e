// Entry point: one call opens the file and wires the object store and the outbox to it.
                                                               
import { openDatabase } from './database.js';
                                                            
import { ObjectStore } from './object-store.js';
                                                 
import { Outbox } from './outbox.js';

/** The edge agent's local state: one SQLite file, one connection. */
                            
               
                       
                 
                                                     
                
 

/**
 * Opens (or creates) the edge store at `path`. Throws the StoreErrors of
 * {@link openDatabase}; see README.md for what to do about each.
 */
export function openEdgeStore(path        , opts                                                                             = {})            {
  const db = openDatabase(path, opts);
  return { db, objects: new ObjectStore(db, opts.objects), outbox: new Outbox(db, opts.outbox), close: () => db.close() };
}
