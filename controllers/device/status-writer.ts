/**
 * Writes device twins and states reported by edge nodes into Device status,
 * coalesced: however fast values change, the API server sees at most one
 * status write per device per report cycle (deviceReportCycleMs: the
 * shortest reportCycle of the Device's properties, default 1 s, floor
 * 100 ms). The first report after a quiet cycle is written at once; reports
 * arriving within the cycle wait for the next write and are merged into it
 * (each report is a full snapshot; the newest seq wins).
 *
 * A report is acknowledged (its promise resolves, CloudHub then acks it to
 * the edge, which deletes it from its outbox) only after the status write
 * that contains it, or a newer snapshot of the same device, succeeded. A
 * failed write rejects every report it carried; CloudHub retries them.
 *
 * Registered as the `device-twin` and `device-state` writer of
 * KubeReportHandler (cloud/hub/reports.ts, which already checked that the
 * reporting node is the Device's spec.nodeName). Runs on every replica that
 * serves the hub: it needs the caches, not leadership.
 */
import type { Device, DeviceStatus } from '../../api/index.ts';
import type { Report } from '../../edge/protocol/index.ts';
import { deviceReportCycleMs, validateDeviceStateReport, validateDeviceTwinReport } from '../../edge/protocol/device-reports.ts';
import type { Logger } from '../../lib/log.ts';
import { systemClock, type Clock } from '../runtime/clock.ts';
import { KubeApiError } from '../runtime/errors.ts';
import { mergeReport, planDeviceStatus, type EdgeView, type ObservedNode } from './plan.ts';

export interface DeviceStatusWriterOptions {
  /** The Device for a protocol key, from the informer cache. */
  device(key: string): Device | undefined;
  /** Readiness of a node, from the informer cache. */
  node(name: string): ObservedNode | undefined;
  /** Writes `status` through the status subresource (JSON merge patch). */
  patchStatus(ref: { namespace: string; name: string }, status: DeviceStatus): Promise<unknown>;
  log: Logger;
  clock?: Clock;
  /** Most status writes in flight at once across devices (default 32). */
  maxConcurrent?: number;
  /** Shortest cycle, whatever the Device says (default 100 ms). */
  floorMs?: number;
}

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface DeviceEntry {
  key: string;
  view: EdgeView | undefined;
  waiters: Waiter[];
  lastWriteAt: number;
  /** JSON of the last status written, to skip writes that change nothing. */
  lastWritten: string | undefined;
  /** Conditions last written: the cache may not show them yet, and their transition times must not move. */
  lastConditions: DeviceStatus['conditions'];
  cancelTimer: (() => void) | undefined;
  state: 'idle' | 'scheduled' | 'queued' | 'writing';
}

export class DeviceStatusWriter {
  readonly #o: DeviceStatusWriterOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #entries = new Map<string, DeviceEntry>();
  readonly #runQueue: DeviceEntry[] = [];
  #active = 0;
  #stopped = false;
  /** Counters for tests, metrics and the benchmark. */
  readonly stats = { reports: 0, writes: 0, skipped: 0, failed: 0, writeMsTotal: 0, writeMsMax: 0 };
  /** Status writes per device key (benchmark: writes per device per cycle). */
  readonly writesByDevice = new Map<string, number>();

  constructor(o: DeviceStatusWriterOptions) {
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    this.#log = o.log.child({ component: 'device-status' });
  }

  /**
   * The KubeReportHandler writer. Resolves once a status write containing
   * this report (or a newer snapshot) succeeded. Rejects with KubeApiError
   * 400 (payload invalid) or 404 (Device gone or recreated): permanent, the
   * edge drops the report; anything else is retried by the hub.
   */
  write = (_node: string, report: Report): Promise<void> => {
    if (this.#stopped) return Promise.reject(new Error('device status writer stopped'));
    this.stats.reports++;
    let merged: Parameters<typeof mergeReport>[1];
    try {
      merged = report.kind === 'device-twin'
        ? { kind: 'device-twin', payload: validateDeviceTwinReport(report.payload) }
        : { kind: 'device-state', payload: validateDeviceStateReport(report.payload) };
    } catch (err) {
      return Promise.reject(new KubeApiError(400, `invalid ${report.kind} report for ${report.key}: ${(err as Error).message}`, 'Invalid'));
    }
    const device = this.#o.device(report.key);
    if (!device) return Promise.reject(new KubeApiError(404, `${report.key} does not exist (any more)`, 'NotFound'));
    const uid = merged.payload.uid;
    if (uid && device.metadata.uid && uid !== device.metadata.uid) {
      return Promise.reject(new KubeApiError(404, `${report.key} was recreated (uid ${device.metadata.uid}, report for ${uid})`, 'NotFound'));
    }
    let e = this.#entries.get(report.key);
    if (!e) this.#entries.set(report.key, (e = { key: report.key, view: undefined, waiters: [], lastWriteAt: -Infinity, lastWritten: undefined, lastConditions: undefined, cancelTimer: undefined, state: 'idle' }));
    e.view = mergeReport(e.view, merged);
    const entry = e;
    return new Promise<void>((resolve, reject) => {
      entry.waiters.push({ resolve, reject });
      this.#schedule(entry);
    });
  };

  /** Drops what is known about a Device (it was deleted). Pending reports are rejected as NotFound. */
  forget(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    e.cancelTimer?.();
    this.#entries.delete(key);
    for (const w of e.waiters.splice(0)) w.reject(new KubeApiError(404, `${key} was deleted`, 'NotFound'));
  }

  /** Cancels timers; pending reports are rejected (retryable: the hub resends them later). */
  stop(): void {
    this.#stopped = true;
    for (const e of this.#entries.values()) {
      e.cancelTimer?.();
      for (const w of e.waiters.splice(0)) w.reject(new Error('device status writer stopped'));
    }
    this.#entries.clear();
    this.#runQueue.length = 0;
  }

  #cycleMs(e: DeviceEntry): number {
    return deviceReportCycleMs(this.#o.device(e.key)?.spec, this.#o.floorMs ?? 100);
  }

  #schedule(e: DeviceEntry): void {
    if (e.state !== 'idle' || e.waiters.length === 0 || this.#stopped) return;
    const wait = e.lastWriteAt + this.#cycleMs(e) - this.#clock.now();
    if (wait <= 0) {
      this.#enqueue(e);
      return;
    }
    e.state = 'scheduled';
    e.cancelTimer = this.#clock.setTimer(() => {
      e.cancelTimer = undefined;
      if (this.#entries.get(e.key) !== e) return;
      e.state = 'idle';
      this.#enqueue(e);
    }, wait);
  }

  #enqueue(e: DeviceEntry): void {
    e.state = 'queued';
    this.#runQueue.push(e);
    this.#drain();
  }

  #drain(): void {
    const max = this.#o.maxConcurrent ?? 32;
    while (this.#active < max && this.#runQueue.length > 0) {
      const e = this.#runQueue.shift()!;
      if (this.#entries.get(e.key) !== e) continue;
      this.#active++;
      void this.#flush(e).finally(() => {
        this.#active--;
        this.#drain();
      });
    }
  }

  async #flush(e: DeviceEntry): Promise<void> {
    e.state = 'writing';
    const waiters = e.waiters.splice(0);
    const device = this.#o.device(e.key);
    try {
      if (!device) throw new KubeApiError(404, `${e.key} does not exist (any more)`, 'NotFound');
      const current = e.lastConditions ? { ...device, status: { ...device.status, conditions: e.lastConditions } } : device;
      const status = planDeviceStatus({
        device: current, ...(e.view ? { edge: e.view } : {}),
        ...(device.spec?.nodeName ? { node: this.#o.node(device.spec.nodeName) } : {}),
        now: new Date(this.#clock.now()),
      });
      const json = JSON.stringify(status);
      if (json === e.lastWritten) {
        this.stats.skipped++;
      } else {
        const startedAt = this.#clock.now();
        await this.#o.patchStatus({ namespace: device.metadata.namespace ?? '', name: device.metadata.name ?? '' }, status);
        e.lastWritten = json;
        e.lastConditions = status.conditions;
        e.lastWriteAt = startedAt;
        this.stats.writes++;
        const ms = this.#clock.now() - startedAt;
        this.stats.writeMsTotal += ms;
        if (ms > this.stats.writeMsMax) this.stats.writeMsMax = ms;
        this.writesByDevice.set(e.key, (this.writesByDevice.get(e.key) ?? 0) + 1);
      }
      for (const w of waiters) w.resolve();
    } catch (err) {
      this.stats.failed++;
      if (err instanceof KubeApiError && err.statusCode === 404) this.#entries.delete(e.key);
      this.#log.debug('Failed to write Device status', { device: e.key, err });
      for (const w of waiters) w.reject(err);
    } finally {
      e.state = 'idle';
      this.#schedule(e);
    }
  }
}
