import { describe, expect, it } from 'vitest';
import { transportContract } from './contract.ts';
import type { CloseInfo } from './link.ts';
import { memoryLinkPair } from './memory.ts';

transportContract('memory', async () => ({
  clientCn: 'edge-1',
  serverCn: 'cloudhub',
  async open(o = {}) {
    const pair = memoryLinkPair({ maxMessageBytes: { a: o.clientMaxMessageBytes ?? 16 << 20, b: o.serverMaxMessageBytes ?? 16 << 20 }, commonNames: { a: 'edge-1', b: 'cloudhub' }, stallTimeoutMs: o.stallTimeoutMs });
    return {
      client: pair.a,
      server: pair.b,
      stall: pair.stall,
      kill: pair.sever,
      async dispose() {
        pair.resume();
        await Promise.all([pair.a.close(), pair.b.close()]);
      },
    };
  },
}));

describe('memoryLinkPair', () => {
  it('delivers asynchronously, never inside send()', async () => {
    const { a, b } = memoryLinkPair();
    let got = 0;
    b.onFrame(() => got++);
    const p = a.send(new Uint8Array(1));
    expect(got).toBe(0);
    await p;
    await new Promise((r) => setImmediate(r));
    expect(got).toBe(1);
  });

  it('keeps messages that arrive before onFrame and hands them to the first callback', async () => {
    const { a, b } = memoryLinkPair();
    await a.send(new Uint8Array([1]));
    await a.send(new Uint8Array([2]));
    await new Promise((r) => setImmediate(r));
    const got: number[] = [];
    b.onFrame((f) => got.push(f[0]!));
    expect(got).toEqual([1, 2]);
  });

  it('copies on send, so the caller may reuse its buffer', async () => {
    const { a, b } = memoryLinkPair();
    const buf = new Uint8Array([1]);
    const got = new Promise<Uint8Array>((r) => b.onFrame(r));
    await a.send(buf);
    buf[0] = 9;
    expect((await got)[0]).toBe(1);
  });
});

describe('send-progress watchdog (SendWatchdog, injected clock)', () => {
  /** A clock whose intervals run only when the test advances it: no real time, no flakiness. */
  function manualClock() {
    let now = 0;
    const timers = new Map<number, { fn: () => void; ms: number; next: number }>();
    let id = 0;
    return {
      now: () => now,
      setInterval: (fn: () => void, ms: number) => (timers.set(++id, { fn, ms, next: now + ms }), id),
      clearInterval: (h: unknown) => void timers.delete(h as number),
      advance(ms: number) {
        const end = now + ms;
        for (;;) {
          const due = [...timers.values()].filter((t) => t.next <= end).sort((x, y) => x.next - y.next)[0];
          if (!due) break;
          now = due.next;
          due.next += due.ms;
          due.fn();
        }
        now = end;
      },
    };
  }

  it('fails the sender with TRANSPORT_SEND_STALLED after stallTimeoutMs without progress, tells the peer (1013), not earlier', async () => {
    const clock = manualClock();
    const pair = memoryLinkPair({ stallTimeoutMs: 10_000, clock });
    const infos = { a: undefined as CloseInfo | undefined, b: undefined as CloseInfo | undefined };
    pair.a.onClose((i) => (infos.a = i));
    pair.b.onClose((i) => (infos.b = i));
    pair.stall();
    void pair.a.send(new Uint8Array(10)).catch(() => {});
    clock.advance(9_000);
    await Promise.resolve();
    expect(pair.a.closed).toBe(false);
    clock.advance(2_500);
    await new Promise((r) => setImmediate(r));
    expect(infos.a).toMatchObject({ code: 1006, byPeer: true, error: { code: 'TRANSPORT_SEND_STALLED' } });
    expect(infos.b).toMatchObject({ code: 1013, byPeer: true, error: { code: 'TRANSPORT_SEND_STALLED' } });
  });

  it('never fires while the backlog drains, however slowly, or when nothing waits', async () => {
    const clock = manualClock();
    const pair = memoryLinkPair({ stallTimeoutMs: 10_000, clock });
    let got = 0;
    pair.b.onFrame(() => got++);
    clock.advance(60_000); // idle link, nothing queued
    for (let i = 0; i < 6; i++) {
      pair.stall();
      void pair.a.send(new Uint8Array(10));
      void pair.a.send(new Uint8Array(10));
      clock.advance(9_000); // stalled just under the limit...
      pair.resume(); // ...then one message gets through
      await new Promise((r) => setImmediate(r));
    }
    expect(got).toBe(12);
    expect(pair.a.closed || pair.b.closed).toBe(false);
  });

  it('is off with stallTimeoutMs 0', async () => {
    const clock = manualClock();
    const pair = memoryLinkPair({ stallTimeoutMs: 0, clock });
    pair.stall();
    void pair.a.send(new Uint8Array(10));
    clock.advance(3_600_000);
    await new Promise((r) => setImmediate(r));
    expect(pair.a.closed).toBe(false);
  });
});
