/**
 * Time as a port: everything in controllers/runtime that waits or stamps takes
 * a Clock, so tests drive it with vitest fake timers (the system clock reads
 * the globals at call time, which is what `vi.useFakeTimers()` replaces).
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` after `ms`; returns a function that cancels it (idempotent). */
  setTimer(fn: () => void, ms: number): () => void;
}

/** Real time (reads the timer globals at call time, so vitest fake timers apply). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** Resolves after `ms` on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(resolve, ms));
}
