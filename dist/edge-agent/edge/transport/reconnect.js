/**
 * The edge's reconnect loop: dial, hand the link to the session, wait for it
 * to close, wait a capped, jittered, exponentially growing delay, dial again
 * (aesthetics rule 34; kube-rs `DefaultBackoff`). Not MQTT.js's fixed 1 s
 * `reconnectPeriod`: when a hub restarts, a fleet that reconnects on the same
 * schedule arrives in one wave; jitter spreads the wave.
 *
 * Defaults: first retry after 200-400 ms, then 400-800, 800-1600 ... capped at
 * 15-30 s; a link that stayed up for 30 s resets the growth.
 */
import { backoffDelay,                    } from '../../lib/backoff.js';
                                               
                                                 

/** Time source and timers, injectable for tests. Defaults use the globals (so vi.useFakeTimers applies). */
                                 
                
                                                  
                                      
 

/** Options of {@link startReconnectLoop}. */
                                   
                                                                                                                 
                           
                                                                                         
                            
                                                                              
                                                                                                  
                                                                             
                         
                                                                                  
                        
                         
                                                
                        
               
 

/** A running loop. */
                                
                               
                                  
                                                                      
                           
                                                                       
                        
 

/** The default backoff of the edge's reconnect loop. */
export const RECONNECT_POLICY                          = Object.freeze({ initialMs: 400, maxMs: 30_000, factor: 2, jitter: 0.5 });

const globalClock                 = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h                  ),
};

/** Starts dialling at once and keeps a link open until stop(). */
export function startReconnectLoop(o                  )                {
  const clock = o.clock ?? globalClock;
  const policy = o.policy ?? RECONNECT_POLICY;
  const resetAfterMs = o.resetAfterMs ?? 30_000;
  let attempt = 0;
  let link                  ;
  let stopped = false;
  let wake                          ;
  let timer         ;

  const sleep = (ms        ) => new Promise      ((resolve) => {
    wake = resolve;
    timer = clock.setTimeout(resolve, ms);
  });
  const retry = async (info                                         ) => {
    const delayMs = backoffDelay(policy, attempt, o.random);
    attempt++;
    o.onRetry?.({ attempt, delayMs, ...info });
    o.log?.info('Scheduled reconnect', { attempt, delayMs, ...(info.error ? { error: info.error } : {}), ...(info.closed ? { code: info.closed.code, reason: info.closed.reason } : {}) });
    await sleep(delayMs);
  };

  const run = (async () => {
    while (!stopped) {
      let l      ;
      try {
        l = await o.connect();
      } catch (error) {
        if (!stopped) await retry({ error });
        continue;
      }
      if (stopped) {
        await l.close();
        break;
      }
      const upAt = clock.now();
      link = l;
      o.onLink?.(l);
      const closed = await new Promise           ((r) => l.onClose(r));
      link = undefined;
      if (clock.now() - upAt >= resetAfterMs) attempt = 0;
      if (!stopped) await retry({ closed });
    }
  })();

  return {
    get link() {
      return link;
    },
    get attempt() {
      return attempt;
    },
    async stop() {
      stopped = true;
      clock.clearTimeout(timer);
      wake?.();
      await link?.close(1000, 'edge stopping');
      await run;
    },
  };
}
