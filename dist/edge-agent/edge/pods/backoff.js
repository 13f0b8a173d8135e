/**
 * Crash-loop backoff, as the kubelet does it (pkg/kubelet/kuberuntime
 * `doBackOff` on client-go's flowcontrol.Backoff): the first restart after a
 * failure is immediate and arms a backoff of `initialMs`; each later restart
 * waits until `finishedAt + backoff`, then doubles it, up to `maxMs`. An entry
 * untouched for 2 × maxMs is forgotten (the container ran fine for a while),
 * so the next failure starts over at `initialMs`. Kubelet defaults: 10 s and
 * 5 min. Pure apart from the injected clock; in memory (lost on agent restart,
 * like the kubelet's).
 */
                                          
                    
                
                     
 

export const kubeletBackoff                                    = Object.freeze({ initialMs: 10_000, maxMs: 300_000 });

export class CrashLoopBackoff {
           #o                                   ;
           #entries = new Map                                                   ();

  constructor(opts                          = kubeletBackoff) {
    this.#o = { now: Date.now, ...opts };
  }

  /**
   * For a container of `key` that finished at `finishedAt`: undefined when it
   * may restart now (and the backoff is advanced), else the time it may
   * restart and the current backoff (for the CrashLoopBackOff message).
   */
  check(key        , finishedAt        )                                                   {
    const now = this.#o.now();
    const e = this.#gc(key, now);
    if (e && now - finishedAt < e.backoffMs) return { until: finishedAt + e.backoffMs, backoffMs: e.backoffMs };
    this.#entries.set(key, { backoffMs: e ? Math.min(e.backoffMs * 2, this.#o.maxMs) : this.#o.initialMs, lastUpdate: now });
    return undefined;
  }

  /** Forgets `key` (pod deleted). */
  reset(key        )       {
    this.#entries.delete(key);
  }

  /** Forgets every key that starts with `prefix`. */
  resetPrefix(prefix        )       {
    for (const k of this.#entries.keys()) if (k.startsWith(prefix)) this.#entries.delete(k);
  }

  #gc(key        , now        )                                                        {
    const e = this.#entries.get(key);
    if (e && now - e.lastUpdate > 2 * this.#o.maxMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }
}
