/**
 * What one edge node has, what it should have, and what to send next: the
 * downstream half of a CloudHub session as a pure state machine (no I/O, no
 * timers). It replaces KubeEdge's per-(node, object) ObjectSync records and
 * stop-and-wait resends (reference/kubeedge.md §4) with:
 *
 * - `acked`: key → resourceVersion the edge has durably applied (cumulative
 *   acks), kept in memory across reconnects, with an incremental digest so a
 *   reconnect whose digest matches costs no inventory transfer at all;
 * - `pending`: keys that may differ (insertion-ordered, deduplicated). The
 *   version to send is read from the cache at send time, so only the newest
 *   version of an object is ever sent (coalescing for free);
 * - a window of unacknowledged frames instead of one message in flight.
 *
 * Zero API-server writes: all delivery bookkeeping lives here.
 */
import { InventoryDigest } from '../../edge/protocol/index.ts';

/** What the edge should hold for a key right now; undefined = it must not have the key. */
export type DesiredLookup = (key: string) => { rv: string } | undefined;

/** One downstream operation, before it gets a seq and bytes. */
export type SyncOp = { op: 'upsert'; seq: number; key: string; rv: string } | { op: 'delete'; seq: number; key: string; rv?: string; reason: 'deleted' | 'unassigned' };

interface InFlight {
  key: string;
  /** rv the edge will hold after applying; null = deleted. */
  rv: string | null;
}

export class NodeSync {
  readonly #acked = new Map<string, string>();
  readonly #digest = new InventoryDigest();
  readonly #pending = new Set<string>();
  readonly #inflight = new Map<number, InFlight>();
  /** key → seq of its newest in-flight op. */
  readonly #inflightByKey = new Map<string, number>();
  /**
   * Keys this hub process sent to the node. A tombstone says `deleted` only
   * for these: for a key the node merely claimed in its inventory it always
   * says `unassigned`, so a node cannot learn whether an object it was never
   * given exists (the reason is informational; the edge drops the key either way).
   */
  readonly #delivered = new Set<string>();
  #nextSeq = 1;

  /** Hex digest of the acknowledged inventory (what the edge has for sure). */
  get digest(): string {
    return this.#digest.hex();
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  get inflightCount(): number {
    return this.#inflight.size;
  }

  /** Highest seq handed out so far (0 before the first). */
  get lastSeq(): number {
    return this.#nextSeq - 1;
  }

  /**
   * Starts a new session. `edgeInventory` is what the edge reported (or
   * undefined when the edge's digest matched ours, so our acked map is
   * already right). Sequence numbers restart at 1 and nothing is in flight.
   * `routed` are the keys the node should have; every key that may differ is
   * marked pending. Returns how many keys are pending.
   */
  resume(routed: Iterable<string>, edgeInventory?: ReadonlyMap<string, string>): number {
    this.#inflight.clear();
    this.#inflightByKey.clear();
    this.#pending.clear();
    this.#nextSeq = 1;
    if (edgeInventory) {
      for (const [k, rv] of [...this.#acked]) if (edgeInventory.get(k) !== rv) this.#setAcked(k, null);
      for (const [k, rv] of edgeInventory) this.#setAcked(k, rv);
    }
    for (const k of routed) this.#pending.add(k);
    for (const k of this.#acked.keys()) this.#pending.add(k);
    return this.#pending.size;
  }

  /** The object behind `key` may have changed (or its routing did). Idempotent. */
  markDirty(key: string): void {
    this.#pending.add(key);
  }

  #edgeRv(key: string): string | null {
    const seq = this.#inflightByKey.get(key);
    if (seq !== undefined) return this.#inflight.get(seq)!.rv;
    return this.#acked.get(key) ?? null;
  }

  /**
   * Takes pending keys, in order, and returns the operations to send, never
   * exceeding `window` unacknowledged frames. Keys whose edge copy is already
   * current are dropped silently. `isDeleted(key)` tells a tombstone's reason
   * (for keys this hub delivered; see #delivered).
   */
  next(desired: DesiredLookup, window: number, isDeleted: (key: string) => boolean = () => true): SyncOp[] {
    const out: SyncOp[] = [];
    for (const key of this.#pending) {
      if (this.#inflight.size >= window) break;
      this.#pending.delete(key);
      const want = desired(key);
      const have = this.#edgeRv(key);
      if (want && want.rv !== have) {
        const seq = this.#nextSeq++;
        this.#track(seq, { key, rv: want.rv });
        this.#delivered.add(key);
        out.push({ op: 'upsert', seq, key, rv: want.rv });
      } else if (!want && have !== null) {
        const seq = this.#nextSeq++;
        this.#track(seq, { key, rv: null });
        const reason = this.#delivered.delete(key) && isDeleted(key) ? 'deleted' : 'unassigned';
        out.push({ op: 'delete', seq, key, rv: have, reason });
      }
    }
    return out;
  }

  #track(seq: number, f: InFlight): void {
    this.#inflight.set(seq, f);
    this.#inflightByKey.set(f.key, seq);
  }

  #setAcked(key: string, rv: string | null): void {
    const old = this.#acked.get(key);
    if (old === (rv ?? undefined)) return;
    if (old !== undefined) this.#digest.remove(key, old);
    if (rv === null) {
      this.#acked.delete(key);
    } else {
      this.#acked.set(key, rv);
      this.#digest.add(key, rv);
    }
  }

  /**
   * Cumulative ack: every frame with seq <= `seq` is applied durably. Acks for
   * seqs never sent are ignored (returns false: the edge is confused or hostile).
   */
  ack(seq: number): boolean {
    if (seq > this.lastSeq) return false;
    for (const [s, f] of this.#inflight) {
      if (s > seq) break; // Map iterates in insertion order, which is seq order
      this.#inflight.delete(s);
      if (this.#inflightByKey.get(f.key) === s) this.#inflightByKey.delete(f.key);
      this.#setAcked(f.key, f.rv);
    }
    return true;
  }

  /** What the edge has acknowledged (for tests and diagnostics). */
  acked(): ReadonlyMap<string, string> {
    return this.#acked;
  }
}
