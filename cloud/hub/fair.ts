/**
 * Fairness between edges for the hub's API-server writes. Every edge may
 * have up to its report window (256) of reports in flight; without a shared
 * bound, one flooding edge's writes crowd the API client and every other
 * edge's status waits behind them. FairScheduler runs at most `limit` writes
 * at once and, when writes are waiting, starts the next one from the next
 * node in round-robin order: a node with one waiting report gets the next
 * free slot whatever another node has queued.
 *
 * No timers and no I/O: the order is decided only by `run` calls and task
 * completions, so tests drive it deterministically.
 */
export class FairScheduler {
  readonly #limit: number;
  /**
   * node → its waiting tasks, FIFO; a node is in the map only while it has some, and the map's
   * insertion order is the round-robin order.
   */
  readonly #queues = new Map<string, (() => void)[]>();
  #running = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`FairScheduler limit must be a positive integer, got ${limit}`);
    this.#limit = limit;
  }

  /** Writes running now. */
  get running(): number {
    return this.#running;
  }

  /** Writes waiting for a slot, all nodes together. */
  get waiting(): number {
    let n = 0;
    for (const q of this.#queues.values()) n += q.length;
    return n;
  }

  /** Runs `task` for `node` when a slot is free and it is that node's turn. */
  run<T>(node: string, task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.#running++;
        let p: Promise<T>;
        try {
          p = task();
        } catch (err) {
          p = Promise.reject(err as Error);
        }
        p.then(resolve, reject).finally(() => {
          this.#running--;
          this.#pump();
        });
      };
      const q = this.#queues.get(node);
      if (q) q.push(start);
      else this.#queues.set(node, [start]);
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#running < this.#limit && this.#queues.size > 0) {
      // the first node in the map is the one whose turn it is; after it starts one task it
      // moves to the back (delete + set), so nodes take turns one task at a time
      const [node, q] = this.#queues.entries().next().value!;
      const start = q.shift()!;
      this.#queues.delete(node);
      if (q.length) this.#queues.set(node, q);
      start();
    }
  }
}
