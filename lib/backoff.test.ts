import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.ts';

describe('backoffDelay', () => {
  const p = { initialMs: 100, maxMs: 1000 };
  it('grows exponentially and is capped', () => {
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(p, a, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
  it('jitters within [half, whole] of the step by default', () => {
    expect(backoffDelay(p, 2, () => 0)).toBe(200);
    expect(backoffDelay(p, 2, () => 0.999)).toBeLessThanOrEqual(400);
  });
  it('spreads a fleet: 1000 first retries are not all the same', () => {
    const delays = new Set(Array.from({ length: 1000 }, () => backoffDelay({ initialMs: 300, maxMs: 30_000 }, 0)));
    expect(delays.size).toBeGreaterThan(100);
  });
});
