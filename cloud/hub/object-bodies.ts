/**
 * Encodes each object version once and shares the bytes across every session
 * that needs it (issue: "encode each object version once"). A bounded LRU
 * keyed by object key holding only the newest version's bytes, sized by
 * bytes: sessions always send the object as the informer has it now, so an
 * older version is never asked for again, and keeping one per
 * resourceVersion filled the whole budget with dead versions of objects that
 * churn (pod status, leases), retained memory that grew with the run
 * (docs/reliability.md, "Cloud RSS"). managedFields are dropped before
 * encoding: edges never use them and they are often the largest part.
 */
import { LRUCache } from 'lru-cache';
import { encodeObjectBody, type ObjectBody } from '../../edge/protocol/index.ts';

export interface EncodableObject {
  metadata?: { resourceVersion?: string; managedFields?: unknown };
  [k: string]: unknown;
}

export class ObjectBodies {
  readonly #cache: LRUCache<string, { rv: string; body: ObjectBody }>;
  #encodes = 0;

  /** `maxBytes`: total size of cached bodies (default 64 MiB). */
  constructor(maxBytes = 64 << 20) {
    this.#cache = new LRUCache({ maxSize: maxBytes, sizeCalculation: (e) => Math.max(1, e.body.byteLength) });
  }

  /**
   * Bytes for `obj` (whose key is `key`), encoding it only when the cache has
   * no bytes for its resourceVersion; a newer version replaces the older one.
   */
  get(key: string, obj: EncodableObject): ObjectBody {
    const rv = obj.metadata?.resourceVersion ?? '';
    const hit = this.#cache.get(key);
    if (hit && hit.rv === rv) return hit.body;
    const { managedFields: _drop, ...metadata } = obj.metadata ?? {};
    const body = encodeObjectBody({ ...obj, metadata });
    this.#encodes++;
    this.#cache.set(key, { rv, body });
    return body;
  }

  /** Bytes of encoded bodies held (for tests and metrics). */
  get bytes(): number {
    return this.#cache.calculatedSize;
  }

  /** How many times an object was serialised (for tests and metrics). */
  get encodes(): number {
    return this.#encodes;
  }
}
