import { describe, expect, it } from 'vitest';
import { CrashLoopBackoff } from './backoff.ts';

describe('CrashLoopBackoff (the kubelet\'s)', () => {
  it('restarts at once the first time, then waits 10 s, 20 s, 40 s … up to 5 min after each finish', () => {
    let now = 1_000_000;
    const b = new CrashLoopBackoff({ initialMs: 10_000, maxMs: 300_000, now: () => now });
    expect(b.check('p/c', now)).toBeUndefined(); // first crash: restart now
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      const finishedAt = now;
      const w = b.check('p/c', finishedAt)!;
      waits.push(w.until - finishedAt);
      now = w.until;
      expect(b.check('p/c', finishedAt)).toBeUndefined(); // due: restarts and doubles
    }
    expect(waits).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  });

  it('does not hold back a container that ran longer than its backoff', () => {
    let now = 0;
    const b = new CrashLoopBackoff({ initialMs: 10_000, maxMs: 300_000, now: () => now });
    b.check('k', 0);
    now = 15_000; // ran 15 s, then crashed at 15 s: now - finishedAt = 0 < 10 s → waits
    expect(b.check('k', 15_000)).toEqual({ until: 25_000, backoffMs: 10_000 });
    now = 40_000; // a crash that finished 30 s ago is past the backoff
    expect(b.check('k', 10_000)).toBeUndefined();
  });

  it('forgets a key untouched for twice the maximum, and per pod on reset', () => {
    let now = 0;
    const b = new CrashLoopBackoff({ initialMs: 1000, maxMs: 4000, now: () => now });
    b.check('u1/a', 0);
    now = 500;
    expect(b.check('u1/a', 500)).toBeDefined();
    now = 10_000; // > 2 × 4 s since the last update
    expect(b.check('u1/a', 10_000)).toBeUndefined();
    b.resetPrefix('u1/');
    expect(b.check('u1/a', 10_000)).toBeUndefined();
  });
});
