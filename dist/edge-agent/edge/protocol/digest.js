// Inventory digest: XOR over all entries of sha256(key "\t" rv), as 64 hex
// digits. Order-independent by construction, and incremental: adding and
// removing an entry are the same XOR, so the hub keeps one running digest per
// node and updates it in O(1) per acked change instead of rehashing the map.
// Keys and resourceVersions never contain a tab (see key.ts and the rv
// schema), so "key\trv" is unambiguous. The empty inventory digests to 64
// zeros.
//
// XOR-of-hashes is not collision-resistant against someone who chooses the
// entries (a generalised-birthday attack can forge equal digests). That is
// acceptable here: the digest only decides whether the cloud trusts its own
// record of what this (authenticated) edge holds, so a forger can only
// confuse its own sync; a mismatch just costs a full inventory.
import { createHash } from 'node:crypto';
import { keyProblem } from './key.js';
import { ProtocolError } from './errors.js';

const RV = /^[\x21-\x7e]{1,64}$/;

function entryHash(key        , rv        )         {
  const problem = keyProblem(key);
  if (problem !== undefined) throw new ProtocolError('PROTO_INVALID_FIELD', `inventory key: expected ${problem}`, { field: 'key' });
  if (!RV.test(rv)) throw new ProtocolError('PROTO_INVALID_FIELD', `inventory rv for ${key}: expected 1..64 printable ASCII characters`, { field: 'rv' });
  return createHash('sha256').update(`${key}\t${rv}`).digest();
}

/**
 * A running inventory digest. `add` and `remove` are the same XOR: callers
 * must remove only entries they added (remove the old rv before adding the
 * new one). Throws ProtocolError PROTO_INVALID_FIELD for a malformed key or rv.
 */
export class InventoryDigest {
           #acc = new Uint8Array(32);

  /** Folds one key → rv entry in. */
  add(key        , rv        )       {
    const h = entryHash(key, rv);
    for (let i = 0; i < 32; i++) this.#acc[i]  ^= h[i] ;
    return this;
  }

  /** Folds one previously added entry out. */
  remove(key        , rv        )       {
    return this.add(key, rv);
  }

  /** Replaces `oldRv` (undefined: the key was absent) with `newRv` (undefined: the key is gone). */
  update(key        , oldRv                    , newRv                    )       {
    if (oldRv !== undefined) this.remove(key, oldRv);
    if (newRv !== undefined) this.add(key, newRv);
    return this;
  }

  /** The digest as sent in `hello.digest`. */
  hex()         {
    return Buffer.from(this.#acc).toString('hex');
  }
}

/** Digest of a whole inventory (same value as adding every entry to an {@link InventoryDigest}). Pure. */
export function inventoryDigest(inventory                                                                )         {
  const d = new InventoryDigest();
  const entries = inventory instanceof Map ? inventory.entries() : Object.entries(inventory);
  for (const [key, rv] of entries) d.add(key, rv);
  return d.hex();
}
