import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue } from './queue.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const noJitter = { initialMs: 100, maxMs: 5 * 60_000, jitter: 0 };

describe('WorkQueue', () => {
  it('stores a pending key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
  });

  it('never hands out a key that is being processed; re-queues it on done', async () => {
    const q = new WorkQueue();
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(0);
    const second = q.get();
    q.add('b');
    expect(await second).toBe('b'); // the waiting worker gets b, not a second a
    q.done('a');
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('does not re-queue a key on done when it was not added meanwhile', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.done((await q.get())!);
    expect(q.len()).toBe(0);
  });

  it('hands keys to waiting workers in order', async () => {
    const q = new WorkQueue();
    const w1 = q.get();
    const w2 = q.get();
    q.add('a');
    q.add('b');
    expect([await w1, await w2]).toEqual(['a', 'b']);
  });

  it('rate-limits per key with exponential growth up to the cap', async () => {
    const q = new WorkQueue({ backoff: noJitter });
    const delays = Array.from({ length: 14 }, () => q.addRateLimited('a'));
    expect(delays.slice(0, 5)).toEqual([100, 200, 400, 800, 1600]);
    expect(delays.at(-1)).toBe(300_000);
    expect(Math.max(...delays)).toBe(300_000);
    expect(q.numRequeues('a')).toBe(14);
    // other keys have their own count
    expect(q.addRateLimited('b')).toBe(100);
  });

  it('adds a rate-limited key only after its delay', async () => {
    const q = new WorkQueue({ backoff: noJitter });
    q.addRateLimited('a');
    q.addRateLimited('a'); // 200 ms, but the earlier 100 ms add wins
    await vi.advanceTimersByTimeAsync(99);
    expect(q.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(q.len()).toBe(1);
  });

  it('jitters the default backoff within [step/2, step]', () => {
    for (const r of [0, 0.5, 0.999]) {
      const q = new WorkQueue({ random: () => r });
      const d = Array.from({ length: 4 }, () => q.addRateLimited('k'));
      const steps = [100, 200, 400, 800];
      d.forEach((x, i) => {
        expect(x).toBeGreaterThanOrEqual(steps[i]! / 2);
        expect(x).toBeLessThanOrEqual(steps[i]!);
      });
    }
  });

  it('forget resets the backoff', () => {
    const q = new WorkQueue({ backoff: noJitter });
    q.addRateLimited('a');
    q.addRateLimited('a');
    q.addRateLimited('a');
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
    expect(q.addRateLimited('a')).toBe(100);
  });

  it('addAfter: the earlier of two delayed adds wins, and the key is added once', async () => {
    const q = new WorkQueue();
    q.addAfter('a', 1000);
    q.addAfter('a', 500);
    q.addAfter('a', 800);
    await vi.advanceTimersByTimeAsync(499);
    expect(q.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(q.len()).toBe(1);
    q.done((await q.get())!);
    await vi.advanceTimersByTimeAsync(1000);
    expect(q.len()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('addAfter with a non-positive delay adds now', () => {
    const q = new WorkQueue();
    q.addAfter('a', 0);
    expect(q.len()).toBe(1);
  });

  it('shutDown releases waiting workers, drops pending and delayed keys, and ignores later adds', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.addAfter('later', 1000);
    q.shutDown();
    expect(await waiting).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
    q.add('x');
    q.addRateLimited('y');
    expect(q.len()).toBe(0);
    expect(await q.get()).toBeUndefined();
    expect(q.isShuttingDown()).toBe(true);
  });

  it('lets in-flight keys finish after shutDown without re-queueing them', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a');
    q.shutDown();
    q.done(key!);
    expect(q.len()).toBe(0);
    expect(q.processing()).toBe(0);
  });

  it('reports depth, adds and retries to the metric hooks', async () => {
    const depth: number[] = [];
    let added = 0;
    let retried = 0;
    const q = new WorkQueue({ backoff: noJitter, metrics: { depth: (n) => depth.push(n), added: () => added++, retried: () => retried++ } });
    q.add('a');
    q.add('a');
    q.add('b');
    expect(added).toBe(2);
    expect(depth.at(-1)).toBe(2);
    await q.get();
    expect(depth.at(-1)).toBe(1);
    q.addRateLimited('c');
    expect(retried).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(depth.at(-1)).toBe(2);
    expect(added).toBe(3);
  });

  it('property: never two workers on one key, and every added key is processed after its last add', async () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('add' as const), k: fc.constantFrom('a', 'b', 'c') }),
      fc.record({ t: fc.constant('get' as const) }),
      fc.record({ t: fc.constant('done' as const), i: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const q = new WorkQueue();
        const inFlight: string[] = [];
        const needs = new Set<string>(); // added since it was last handed out
        const take = async () => {
          const k = (await q.get())!;
          expect(inFlight).not.toContain(k);
          inFlight.push(k);
          needs.delete(k);
        };
        for (const o of ops) {
          if (o.t === 'add') {
            q.add(o.k);
            needs.add(o.k);
          } else if (o.t === 'get' && q.len() > 0) {
            await take();
          } else if (o.t === 'done' && inFlight.length > 0) {
            const [k] = inFlight.splice(o.i % inFlight.length, 1);
            q.done(k!);
          }
        }
        // drain: finish everything, then every key that still needed work must come out
        while (inFlight.length > 0 || q.len() > 0) {
          while (inFlight.length > 0) q.done(inFlight.pop()!);
          while (q.len() > 0) await take();
        }
        expect([...needs]).toEqual([]);
      }),
    );
  });
});
