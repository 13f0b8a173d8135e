import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryLinkPair, type MemoryPair } from './memory.ts';
import { startReconnectLoop } from './reconnect.ts';
import { TransportError } from './errors.ts';

/** A deterministic uniform generator (mulberry32). */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const refused = () => Promise.reject(new TransportError('TRANSPORT_CONNECT_FAILED', 'refused'));

describe('startReconnectLoop', () => {
  beforeEach(() => void vi.useFakeTimers({ now: 0 }));
  afterEach(() => void vi.useRealTimers());

  it('grows the delay exponentially up to the cap', async () => {
    const attempts: number[] = [];
    const loop = startReconnectLoop({ connect: () => (attempts.push(Date.now()), refused()), random: () => 0.5 });
    await vi.advanceTimersByTimeAsync(200_000);
    await loop.stop();
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    // random 0.5 → 75 % of each step: 400 × 2^n, capped at 30 s.
    expect(gaps.slice(0, 10)).toEqual([300, 600, 1200, 2400, 4800, 9600, 19_200, 22_500, 22_500, 22_500]);
    expect(attempts[0]).toBe(0);
  });

  it('keeps each delay within its jitter band', async () => {
    for (const r of [0, 0.999999]) {
      const attempts: number[] = [];
      const loop = startReconnectLoop({ connect: () => (attempts.push(Date.now()), refused()), random: () => r });
      await vi.advanceTimersByTimeAsync(200_000);
      await loop.stop();
      const gaps = attempts.slice(1, 4).map((t, i) => t - attempts[i]!);
      expect(gaps).toEqual(r === 0 ? [200, 400, 800] : [400, 800, 1600]);
    }
  });

  it('spreads 1000 edges that lost the hub at once (no thundering herd)', async () => {
    const firstRetry: number[] = [];
    const random = seeded(42);
    const loops = Array.from({ length: 1000 }, () => {
      let n = 0;
      return startReconnectLoop({ connect: () => (++n === 2 && firstRetry.push(Date.now()), refused()), random });
    });
    await vi.advanceTimersByTimeAsync(500);
    await Promise.all(loops.map((l) => l.stop()));
    expect(firstRetry).toHaveLength(1000);
    expect(Math.min(...firstRetry)).toBeGreaterThanOrEqual(200);
    expect(Math.max(...firstRetry)).toBeLessThanOrEqual(400);
    // Spread over the whole band: no 10 ms slot holds more than 10 % of the fleet, every 20 ms slot is used.
    const slots = new Map<number, number>();
    for (const t of firstRetry) slots.set(Math.floor(t / 10), (slots.get(Math.floor(t / 10)) ?? 0) + 1);
    expect(Math.max(...slots.values())).toBeLessThan(100);
    for (let t = 200; t < 400; t += 20) expect(firstRetry.some((x) => x >= t && x < t + 20)).toBe(true);
  });

  it('resets the backoff after a link stayed up for resetAfterMs, not before', async () => {
    const pairs: MemoryPair[] = [];
    const delays: number[] = [];
    const loop = startReconnectLoop({
      connect: async () => {
        const p = memoryLinkPair();
        pairs.push(p);
        return p.a;
      },
      onRetry: ({ delayMs }) => delays.push(delayMs),
      random: () => 0.5,
      resetAfterMs: 30_000,
    });
    await vi.advanceTimersByTimeAsync(1);
    // Three short-lived links: the delay grows.
    for (let i = 0; i < 3; i++) {
      pairs.at(-1)!.sever();
      await vi.advanceTimersByTimeAsync(5000);
    }
    expect(delays).toEqual([300, 600, 1200]);
    expect(loop.attempt).toBe(3);
    // One that stayed up 31 s: back to the first step.
    await vi.advanceTimersByTimeAsync(31_000);
    pairs.at(-1)!.sever();
    await vi.advanceTimersByTimeAsync(1);
    expect(delays.at(-1)).toBe(300);
    expect(loop.link).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1000);
    expect(loop.link).toBe(pairs.at(-1)!.a);
    const stopping = loop.stop();
    await vi.advanceTimersByTimeAsync(10); // memory links deliver the close on a (fake) setImmediate
    await stopping;
  });

  it('stop() closes the open link with 1000 and ends the loop', async () => {
    const p = memoryLinkPair();
    let connects = 0;
    const loop = startReconnectLoop({ connect: async () => (connects++, p.a) });
    await vi.advanceTimersByTimeAsync(1);
    const closed = new Promise((r) => p.b.onClose(r));
    const stopping = loop.stop();
    await vi.advanceTimersByTimeAsync(10);
    await stopping;
    expect(await closed).toMatchObject({ code: 1000, byPeer: true });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(connects).toBe(1);
  });
});
