import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { electionDecision, LeaderElector, microTime, observeLease, type Lease, type StoppedLeadingReason } from './leader.ts';
import { MemoryLeaseStore } from './memory-lease-store.ts';

const lease = (holderIdentity: string | undefined, rv = '1', leaseDurationSeconds = 15): Lease => ({
  metadata: { name: 'l', namespace: 'ns', resourceVersion: rv },
  spec: { holderIdentity, leaseDurationSeconds },
});

describe('electionDecision', () => {
  const base = { identity: 'me', now: 100_000, observedAt: 100_000 };
  it('creates a missing Lease', () => {
    expect(electionDecision({ ...base, lease: undefined })).toEqual({ action: 'create' });
  });
  it('renews a Lease it holds, even if it looks expired', () => {
    expect(electionDecision({ ...base, lease: lease('me'), now: 10_000_000 })).toEqual({ action: 'renew' });
  });
  it('takes a released Lease (empty holder) at once', () => {
    expect(electionDecision({ ...base, lease: lease('') })).toEqual({ action: 'acquire' });
    expect(electionDecision({ ...base, lease: lease(undefined) })).toEqual({ action: 'acquire' });
  });
  it('waits while the holder’s Lease is fresh, measured from when we observed it', () => {
    expect(electionDecision({ ...base, lease: lease('other'), now: 114_999 })).toEqual({ action: 'wait', holder: 'other', expiresAt: 115_000 });
  });
  it('takes over once leaseDurationSeconds passed since the last observed change', () => {
    expect(electionDecision({ ...base, lease: lease('other'), now: 115_000 })).toEqual({ action: 'acquire' });
  });
});

describe('observeLease', () => {
  it('keeps the observation time while the resourceVersion is unchanged, and moves it on change', () => {
    const o1 = observeLease(undefined, lease('a', '5'), 1000);
    expect(o1).toEqual({ resourceVersion: '5', observedAt: 1000 });
    expect(observeLease(o1, lease('a', '5'), 9000)).toBe(o1);
    expect(observeLease(o1, lease('a', '6'), 9000)).toEqual({ resourceVersion: '6', observedAt: 9000 });
    expect(observeLease(o1, undefined, 9000)).toBeUndefined();
  });
});

describe('microTime', () => {
  it('formats with six fractional digits as metav1.MicroTime requires', () => {
    expect(microTime(Date.parse('2025-01-02T03:04:05.678Z'))).toBe('2025-01-02T03:04:05.678000Z');
  });
});

describe('LeaderElector', () => {
  let store: MemoryLeaseStore;
  let events: string[];
  const electors: LeaderElector[] = [];
  const elector = (identity: string, extra: { releaseOnStop?: boolean } = {}) => {
    const e = new LeaderElector({
      store,
      identity,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      random: () => 0,
      log: createLogger({ write: () => {} }),
      onStartedLeading: () => events.push(`${identity} started`),
      onStoppedLeading: (r: StoppedLeadingReason) => events.push(`${identity} stopped: ${r}`),
      ...extra,
    });
    electors.push(e);
    return e;
  };

  beforeEach(() => {
    vi.useFakeTimers();
    store = new MemoryLeaseStore();
    events = [];
  });
  afterEach(async () => {
    store.failing = false;
    for (const e of electors.splice(0)) await e.stop();
    vi.useRealTimers();
  });

  it('creates the Lease, leads, and renews every retryPeriod', async () => {
    const a = elector('a');
    a.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(a.isLeader()).toBe(true);
    expect(events).toEqual(['a started']);
    expect(store.lease?.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0 });
    const rv = store.lease!.metadata.resourceVersion;
    await vi.advanceTimersByTimeAsync(2000);
    expect(store.lease!.metadata.resourceVersion).not.toBe(rv);
    expect(store.lease!.spec!.renewTime).toBe(microTime(Date.now()));
  });

  it('a second candidate waits while the leader renews', async () => {
    const a = elector('a');
    const b = elector('b');
    a.start();
    await vi.advanceTimersByTimeAsync(0);
    b.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(a.isLeader()).toBe(true);
    expect(b.isLeader()).toBe(false);
    expect(events).toEqual(['a started']);
  });

  it('takes over within leaseDuration + retryPeriod after the leader dies without releasing', async () => {
    const a = elector('a', { releaseOnStop: false });
    const b = elector('b');
    a.start();
    await vi.advanceTimersByTimeAsync(0);
    b.start();
    await vi.advanceTimersByTimeAsync(10_000);
    const died = Date.now();
    await a.stop();
    expect(events).toEqual(['a started', 'a stopped: stopped']);
    await vi.advanceTimersByTimeAsync(14_000);
    expect(b.isLeader()).toBe(false);
    await vi.advanceTimersByTimeAsync(15_000 + 2 * 2_000 - 14_000);
    expect(b.isLeader()).toBe(true);
    expect(Date.now() - died).toBeLessThanOrEqual(15_000 + 2 * 2_000);
    expect(store.lease!.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it('releases on stop so the next candidate takes over within one retryPeriod', async () => {
    const a = elector('a');
    const b = elector('b');
    a.start();
    await vi.advanceTimersByTimeAsync(0);
    b.start();
    await vi.advanceTimersByTimeAsync(5_000);
    await a.stop();
    expect(store.lease!.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(b.isLeader()).toBe(true);
    expect(events).toEqual(['a started', 'a stopped: released', 'b started']);
  });

  it('gives up leadership when it cannot renew within renewDeadline, and stays stopped', async () => {
    const a = elector('a');
    a.start();
    await vi.advanceTimersByTimeAsync(0);
    store.failing = true;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(a.isLeader()).toBe(true);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(a.isLeader()).toBe(false);
    expect(events).toEqual(['a started', 'a stopped: lost']);
    store.failing = false;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(a.isLeader()).toBe(false);
  });

  it('steps down when it finds someone else holding the Lease', async () => {
    const a = elector('a');
    a.start();
    await vi.advanceTimersByTimeAsync(0);
    await store.update(store.lease!, { holderIdentity: 'intruder', leaseDurationSeconds: 15 });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(a.isLeader()).toBe(false);
    expect(events).toEqual(['a started', 'a stopped: lost']);
  });

  it('rejects timings that cannot work', () => {
    expect(() => new LeaderElector({ store, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(expect.objectContaining({ code: 'CTRL_INVALID_CONFIG' }));
  });
});
