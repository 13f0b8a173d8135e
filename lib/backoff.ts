/**
 * Capped, jittered exponential backoff ("full jitter" between half and the
 * whole exponential step), used by watches, work queues and reconnect loops so
 * that a fleet that lost the cloud at once does not come back at once.
 */
export interface BackoffPolicy {
  /** First delay, ms. */
  initialMs: number;
  /** Upper bound, ms. */
  maxMs: number;
  /** Growth per failure (default 2). */
  factor?: number;
  /** Fraction of the step that is random, 0..1 (default 0.5). */
  jitter?: number;
}

/**
 * Delay before retry number `attempt` (0-based). Pure: `random` is injected
 * (defaults to Math.random) and returns a value in [0, 1).
 */
export function backoffDelay(p: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const factor = p.factor ?? 2;
  const jitter = p.jitter ?? 0.5;
  const step = Math.min(p.maxMs, p.initialMs * Math.pow(factor, Math.max(0, attempt)));
  return Math.round(step * (1 - jitter) + step * jitter * random());
}
