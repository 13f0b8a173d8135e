/**
 * Capped, jittered exponential backoff ("full jitter" between half and the
 * whole exponential step), used by watches, work queues and reconnect loops so
 * that a fleet that lost the cloud at once does not come back at once.
 */
                                
                         
                    
                         
                
                                        
                  
                                                                 
                  
 

/**
 * Delay before retry number `attempt` (0-based). Pure: `random` is injected
 * (defaults to Math.random) and returns a value in [0, 1).
 */
export function backoffDelay(p               , attempt        , random               = Math.random)         {
  const factor = p.factor ?? 2;
  const jitter = p.jitter ?? 0.5;
  const step = Math.min(p.maxMs, p.initialMs * Math.pow(factor, Math.max(0, attempt)));
  return Math.round(step * (1 - jitter) + step * jitter * random());
}
