// The coalescing writer with a manual clock and an in-memory status port:
// at most one write per device per cycle, acks only after the write that
// carries the report, failures rejected for the hub to retry.
import { describe, expect, it } from 'vitest';
import type { Device, DeviceStatus } from '../../api/index.ts';
import type { Report } from '../../edge/protocol/index.ts';
import { silentLogger } from '../../lib/log.ts';
import type { Clock } from '../runtime/clock.ts';
import { KubeApiError } from '../runtime/errors.ts';
import { DeviceStatusWriter } from './status-writer.ts';

class ManualClock implements Clock {
  t = 1_000_000;
  timers: { at: number; fn: () => void; live: boolean }[] = [];
  now = () => this.t;
  setTimer = (fn: () => void, ms: number) => {
    const timer = { at: this.t + ms, fn, live: true };
    this.timers.push(timer);
    return () => (timer.live = false);
  };
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const next = this.timers.filter((x) => x.live && x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.t = next.at;
      next.live = false;
      next.fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

const KEY = 'devices.kubeedge.io/v1beta1/Device/plant/pump-1';
const device = (cycleNs = 500e6): Device => ({
  apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device',
  metadata: { namespace: 'plant', name: 'pump-1', uid: 'u1', generation: 1 },
  spec: { deviceModelRef: { name: 'm' }, nodeName: 'edge-1', properties: [{ name: 'temperature', reportCycle: cycleNs }] },
});
let id = 0;
const twin = (seq: number, value: string, uid = 'u1'): Report => ({
  type: 'report', id: String(++id), kind: 'device-twin', key: KEY, payload: { seq, uid, twins: [{ propertyName: 'temperature', reported: { value } }] },
});

function setup(o: { fail?: () => unknown; dev?: Device | undefined } = {}) {
  const clock = new ManualClock();
  const writes: { at: number; status: DeviceStatus }[] = [];
  let dev: Device | undefined = 'dev' in o ? o.dev : device();
  let pending: (() => void) | undefined;
  let hold = false;
  const writer = new DeviceStatusWriter({
    device: (k) => (k === KEY ? dev : undefined),
    node: () => ({ ready: 'True' }),
    patchStatus: async (_ref, status) => {
      if (hold) await new Promise<void>((r) => (pending = r));
      const err = o.fail?.();
      if (err) throw err;
      writes.push({ at: clock.now(), status });
    },
    log: silentLogger,
    clock,
  });
  return {
    clock, writes, writer,
    setDevice: (d: Device | undefined) => (dev = d),
    hold: () => (hold = true),
    release: () => {
      hold = false;
      pending?.();
    },
  };
}

function track(p: Promise<void>): { done: boolean; err: unknown } {
  const s = { done: false, err: undefined as unknown };
  p.then(() => (s.done = true), (e: unknown) => (s.err = e));
  return s;
}

const value = (s: DeviceStatus) => s.twins?.[0]?.reported?.value;

describe('DeviceStatusWriter', () => {
  it('writes the first report at once and coalesces the rest of the cycle into one write', async () => {
    const { clock, writes, writer } = setup();
    const first = track(writer.write('edge-1', twin(1, 'a')));
    await flush();
    expect(writes.map((w) => value(w.status))).toEqual(['a']);
    expect(first.done).toBe(true);
    const rest = Array.from({ length: 100 }, (_, i) => track(writer.write('edge-1', twin(2 + i, `v${i}`))));
    await clock.advance(499);
    expect(writes).toHaveLength(1);
    expect(rest.some((r) => r.done)).toBe(false); // not acked before the write that carries them
    await clock.advance(1);
    expect(writes.map((w) => value(w.status))).toEqual(['a', 'v99']);
    expect(rest.every((r) => r.done)).toBe(true);
    expect(writes[1]!.at - writes[0]!.at).toBe(500);
    expect(writer.writesByDevice.get(KEY)).toBe(2);
  });

  it('ignores an older snapshot resent after a reconnect, and skips writes that change nothing', async () => {
    const { clock, writes, writer } = setup();
    await writer.write('edge-1', twin(5, 'new'));
    const old = track(writer.write('edge-1', twin(3, 'old')));
    await clock.advance(500);
    expect(old.done).toBe(true);
    expect(writes.map((w) => value(w.status))).toEqual(['new']);
    expect(writer.stats.skipped).toBe(1);
  });

  it('rejects every report of a failed write (the hub retries) and writes them on the retry', async () => {
    let failing = true;
    const { clock, writes, writer } = setup({ fail: () => (failing ? new KubeApiError(500, 'etcd hiccup', 'InternalError') : undefined) });
    const a = track(writer.write('edge-1', twin(1, 'x')));
    await flush();
    expect((a.err as KubeApiError).statusCode).toBe(500);
    failing = false;
    const retry = track(writer.write('edge-1', twin(1, 'x')));
    await clock.advance(1);
    expect(retry.done).toBe(true);
    expect(writes.map((w) => value(w.status))).toEqual(['x']);
  });

  it('reports arriving during a write wait for the next cycle', async () => {
    const s = setup();
    s.hold();
    const a = track(s.writer.write('edge-1', twin(1, 'a')));
    await flush();
    const b = track(s.writer.write('edge-1', twin(2, 'b')));
    s.release();
    await flush();
    expect(a.done).toBe(true);
    expect(b.done).toBe(false);
    await s.clock.advance(500);
    expect(b.done).toBe(true);
    expect(s.writes.map((w) => value(w.status))).toEqual(['a', 'b']);
  });

  it('refuses invalid payloads with 400 and reports for a recreated or deleted Device with 404 (permanent)', async () => {
    const s = setup();
    const bad = await s.writer.write('edge-1', { type: 'report', id: 'b', kind: 'device-twin', key: KEY, payload: { seq: 'x' } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(KubeApiError);
    expect((bad as KubeApiError).statusCode).toBe(400);
    const recreated = await s.writer.write('edge-1', twin(1, 'a', 'other-uid')).catch((e: unknown) => e);
    expect((recreated as KubeApiError).statusCode).toBe(404);
    s.setDevice(undefined);
    const gone = await s.writer.write('edge-1', twin(1, 'a')).catch((e: unknown) => e);
    expect((gone as KubeApiError).statusCode).toBe(404);
  });

  it('forgets a deleted Device and rejects its pending reports as NotFound', async () => {
    const { writer } = setup();
    await writer.write('edge-1', twin(1, 'a'));
    const p = track(writer.write('edge-1', twin(2, 'b')));
    writer.forget(KEY);
    await flush();
    expect((p.err as KubeApiError).statusCode).toBe(404);
  });

  it('merges state and twin reports of one device into one write', async () => {
    const { clock, writes, writer } = setup();
    await writer.write('edge-1', twin(1, 'a'));
    void writer.write('edge-1', twin(2, 'b'));
    void writer.write('edge-1', { type: 'report', id: 's', kind: 'device-state', key: KEY, payload: { seq: 3, state: 'online', lastOnlineTime: '2026-03-01T10:00:00Z' } });
    await clock.advance(500);
    expect(writes).toHaveLength(2);
    expect(writes[1]!.status).toMatchObject({ state: 'online', lastOnlineTime: '2026-03-01T10:00:00Z', twins: [{ reported: { value: 'b' } }] });
    expect(writes[1]!.status.conditions?.find((c) => c.type === 'Online')?.status).toBe('True');
  });
});
