/**
 * Encodes each object version once and shares the bytes across every session
 * that needs it (issue: "encode each object version once"). A bounded LRU
 * keyed by (key, resourceVersion), sized by bytes. managedFields are dropped
 * before encoding: edges never use them and they are often the largest part.
 */
import { LRUCache } from 'lru-cache';
import { encodeObjectBody, type ObjectBody } from '../../edge/protocol/index.ts';

export interface EncodableObject {
  metadata?: { resourceVersion?: string; managedFields?: unknown };
  [k: string]: unknown;
}

export class ObjectBodies {
  readonly #cache: LRUCache<string, ObjectBody>;
  #encodes = 0;

  /** `maxBytes`: total size of cached bodies (default 64 MiB). */
  constructor(maxBytes = 64 << 20) {
    this.#cache = new LRUCache({ maxSize: maxBytes, sizeCalculation: (b) => Math.max(1, b.byteLength) });
  }

  /** Bytes for `obj` (whose key is `key`), encoding it only on a cache miss. */
  get(key: string, obj: EncodableObject): ObjectBody {
    const id = `${key}\n${obj.metadata?.resourceVersion ?? ''}`;
    let body = this.#cache.get(id);
    if (!body) {
      const { managedFields: _drop, ...metadata } = obj.metadata ?? {};
      body = encodeObjectBody({ ...obj, metadata });
      this.#encodes++;
      this.#cache.set(id, body);
    }
    return body;
  }

  /** How many times an object was serialised (for tests and metrics). */
  get encodes(): number {
    return this.#encodes;
  }
}
