/**
 * The device twin: for every Device the cloud routed to this node, the
 * desired and reported value of each property and the device's connection
 * state, in SQLite (the edge store's file, tables of edge/devices/schema.ts),
 * mirrored in memory for reads.
 *
 * Inputs: Devices and DeviceModels arriving in the object store (onChange)
 * set the desired values the cloud wants; mappers and MQTT apps report
 * values and states, or set desired values locally. Writes are validated
 * synchronously (a bad value throws a DeviceError the caller answers with),
 * then queued and committed in one transaction per event-loop turn, so a
 * burst of thousands of reports costs a handful of fsyncs; the returned
 * promise resolves after the commit.
 *
 * Outputs: events (twin changes with the current delta, state changes,
 * membership) for the MQTT contract and the mappers, and upstream reports:
 * a full `device-twin` snapshot per device, put in the durable outbox at
 * most once per report cycle (the cloud writes status at most once per
 * cycle; edge/protocol/device-reports.ts), and a `device-state` snapshot per
 * state change. The outbox coalesces per device, so with the cloud away the
 * newest value of every property waits there, nothing older.
 */
import type { Device, DeviceModel } from '../../api/index.ts';
import type { StatementSync } from 'node:sqlite';
import type { EdgeStore } from '../store/store.ts';
import type { ChangeEvent, KubeObject } from '../store/object-store.ts';
import type { Logger } from '../../lib/log.ts';
import type { DeviceState, DeviceStateReport, DeviceTwinReport, TwinReport } from '../protocol/device-reports.ts';
import { checkRange, coerceValue, sameValue } from './coerce.ts';
import { DeviceError } from './errors.ts';
import type { MsgTwin, RawValue } from './payloads.ts';
import { migrateDeviceTables } from './schema.ts';
import { DEVICE_API_VERSION, deviceKey, modelKey, resolveDevice, type ResolvedDevice, type ResolvedProperty } from './spec.ts';

/** A stored twin value. `at` is when it was read or set, ms since the epoch. */
export interface TwinValue {
  value: string;
  metadata: Record<string, string>;
  at: number;
}

/** Desired and reported value of one property. */
export interface PropertyTwin {
  desired?: TwinValue;
  /** The spec value last taken from the cloud (a local desired value stays until it changes). */
  cloudDesired?: string;
  reported?: TwinValue;
}

export interface TwinChange {
  last: PropertyTwin | undefined;
  current: PropertyTwin | undefined;
}

/** What happened, after it is committed. */
export type TwinEvent =
  | { type: 'twins'; device: ResolvedDevice; changes: Map<string, TwinChange>; delta: Record<string, string>; desiredChanged: boolean }
  | { type: 'state'; device: ResolvedDevice; state: DeviceState; lastOnline?: string }
  | { type: 'membership'; added: ResolvedDevice[]; removed: ResolvedDevice[] }
  | { type: 'device'; device: ResolvedDevice };

/** One value to report or set: `value` is coerced to the property type. */
export interface ValueInput {
  name: string;
  value: RawValue['value'];
  /** When the value was read, ms since the epoch (default: now). */
  timestamp?: number;
}

export interface DeviceTwinOptions {
  store: EdgeStore;
  nodeName: string;
  log: Logger;
  /** Called after reports were put in the outbox (EdgeHub.notifyOutbox). */
  notifyOutbox: () => void;
  now?: () => number;
}

interface Entry {
  spec: ResolvedDevice;
  props: Map<string, PropertyTwin>;
  state: DeviceState;
  lastOnline?: string;
  seq: number;
  lastTwinPutAt: number;
  twinDirty: boolean;
  /** When a throttled snapshot is due (ms since the epoch); undefined when none waits. */
  putDueAt?: number;
}

interface Pending {
  apply: (tx: Tx) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** What one flush touched, for the events emitted after commit. */
interface Tx {
  changes: Map<string, Map<string, TwinChange>>;
  desiredChanged: Set<string>;
  states: Set<string>;
  added: ResolvedDevice[];
  removed: ResolvedDevice[];
  updated: Set<string>;
  upstreamTwin: Set<string>;
  puts: number;
}

const DEVICE_PREFIX = `${DEVICE_API_VERSION}/Device/`;
const MODEL_PREFIX = `${DEVICE_API_VERSION}/DeviceModel/`;

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

function clone(t: PropertyTwin | undefined): PropertyTwin | undefined {
  return t && { ...t, ...(t.desired ? { desired: { ...t.desired } } : {}), ...(t.reported ? { reported: { ...t.reported } } : {}) };
}

/** A twin as KubeEdge shows it to apps (dttype.MsgTwin). Pure. */
export function toMsgTwin(p: Pick<ResolvedProperty, 'type'> | undefined, t: PropertyTwin | undefined): MsgTwin {
  return {
    ...(t?.desired ? { expected: { value: t.desired.value, metadata: { timestamp: t.desired.at } } } : {}),
    ...(t?.reported ? { actual: { value: t.reported.value, metadata: { timestamp: t.reported.at } } } : {}),
    optional: false,
    metadata: { type: (p?.type ?? 'STRING').toLowerCase() },
  };
}

/**
 * Desired values the device does not show yet: ReadWrite properties whose
 * desired value differs (by type: "21" equals "21.0" for a FLOAT) from the
 * reported one. Pure.
 */
export function computeDelta(spec: ResolvedDevice, props: ReadonlyMap<string, PropertyTwin>): Record<string, string> {
  const delta: Record<string, string> = {};
  for (const p of spec.properties) {
    if (p.accessMode !== 'ReadWrite') continue;
    const t = props.get(p.name);
    if (t?.desired && !sameValue(p.type, t.desired.value, t.reported?.value)) delta[p.name] = t.desired.value;
  }
  return delta;
}

export class DeviceTwin {
  readonly #store: EdgeStore;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #notify: () => void;
  readonly nodeName: string;
  readonly #devices = new Map<string, Entry>();
  readonly #listeners = new Set<(e: TwinEvent) => void>();
  #queue: Pending[] = [];
  #flushScheduled = false;
  #putTimer: NodeJS.Timeout | undefined;
  #putTimerAt = Infinity;
  #unsubscribe: (() => void) | undefined;
  #stopped = false;
  #st!: Record<'upsertTwin' | 'deleteTwin' | 'deleteDeviceTwins' | 'upsertState' | 'deleteState', StatementSync>;
  /** Counters for tests, metrics and the benchmark. */
  readonly stats = { reported: 0, desiredSet: 0, twinPuts: 0, statePuts: 0, flushes: 0 };

  constructor(opts: DeviceTwinOptions) {
    this.#store = opts.store;
    this.#log = opts.log.child({ component: 'devicetwin' });
    this.#now = opts.now ?? Date.now;
    this.#notify = opts.notifyOutbox;
    this.nodeName = opts.nodeName;
  }

  /**
   * Creates the tables if needed, loads the twin, reconciles it with the
   * Devices in the store (devices deleted while the agent was down are
   * dropped, new desired values taken), re-queues snapshots that were
   * stored but not yet put upstream, and follows the store from then on.
   * Throws StoreError when the file cannot be migrated.
   */
  start(): void {
    const db = this.#store.db;
    migrateDeviceTables(db);
    const s = db.sql;
    this.#st = {
      upsertTwin: s.prepare(`INSERT INTO device_twin (device, property, desired, desired_meta, desired_at, cloud_desired, reported, reported_meta, reported_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device, property) DO UPDATE SET desired = excluded.desired, desired_meta = excluded.desired_meta,
        desired_at = excluded.desired_at, cloud_desired = excluded.cloud_desired, reported = excluded.reported, reported_meta = excluded.reported_meta,
        reported_at = excluded.reported_at`),
      deleteTwin: s.prepare('DELETE FROM device_twin WHERE device = ? AND property = ?'),
      deleteDeviceTwins: s.prepare('DELETE FROM device_twin WHERE device = ?'),
      upsertState: s.prepare(`INSERT INTO device_state (device, state, last_online, seq, twin_dirty, updated_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (device) DO UPDATE SET state = excluded.state, last_online = excluded.last_online, seq = excluded.seq,
        twin_dirty = excluded.twin_dirty, updated_at = excluded.updated_at`),
      deleteState: s.prepare('DELETE FROM device_state WHERE device = ?'),
    };
    this.#load();
    const tx = this.#emptyTx();
    db.transaction(() => {
      for (const obj of this.#store.objects.list({ apiVersion: DEVICE_API_VERSION, kind: 'Device' })) this.#applyDevice(obj as unknown as Device, tx);
      for (const id of [...this.#devices.keys()]) {
        const e = this.#devices.get(id)!;
        if (!this.#store.objects.getRaw(e.spec.key)) this.#removeDevice(id, tx);
      }
      // stored but never queued upstream (a crash between the two), or changed by the reconcile above
      for (const e of this.#devices.values()) if (e.twinDirty) this.#putTwin(e, tx);
    });
    // Membership at start is not news: apps ask with membership/get.
    tx.added = [];
    this.#afterCommit(tx);
    this.#unsubscribe = this.#store.objects.onChange((e) => this.#onStoreChange(e));
    this.#log.info('Started device twin', { devices: this.#devices.size });
  }

  /** Stops following the store; commits queued writes and throttled snapshots first. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#unsubscribe?.();
    this.#flush();
    const tx = this.#emptyTx();
    try {
      this.#store.db.transaction(() => {
        for (const e of this.#devices.values()) if (e.putDueAt !== undefined) this.#putTwin(e, tx);
      });
    } catch (err) {
      this.#log.warn('Left device twin snapshots for the next start', { err });
    }
    if (this.#putTimer) clearTimeout(this.#putTimer);
    this.#stopped = true;
    if (tx.puts) this.#notify();
  }

  /** Registers for events (after commit, in commit order). Returns an unsubscribe function. */
  onEvent(cb: (e: TwinEvent) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  devices(): ResolvedDevice[] {
    return [...this.#devices.values()].map((e) => e.spec);
  }

  device(id: string): ResolvedDevice | undefined {
    return this.#devices.get(id)?.spec;
  }

  /** The twin of every property of a device (copies). */
  twin(id: string): Map<string, PropertyTwin> | undefined {
    const e = this.#devices.get(id);
    if (!e) return undefined;
    return new Map([...e.props].map(([k, v]) => [k, clone(v)!]));
  }

  state(id: string): { state: DeviceState; lastOnline?: string } | undefined {
    const e = this.#devices.get(id);
    return e && { state: e.state, ...(e.lastOnline ? { lastOnline: e.lastOnline } : {}) };
  }

  /** See {@link computeDelta}. */
  delta(id: string): Record<string, string> {
    const e = this.#devices.get(id);
    return e ? computeDelta(e.spec, e.props) : {};
  }

  /**
   * Records values read from the device (`actual`) and/or desired values set
   * at the edge (`expected`), atomically for the whole call. Validates now
   * and throws DeviceError: TWIN_DEVICE_NOT_FOUND, TWIN_PROPERTY_NOT_FOUND,
   * TWIN_INVALID_VALUE (not the property type), TWIN_READ_ONLY (expected on
   * a ReadOnly property), TWIN_OUT_OF_RANGE (expected outside min/max).
   * Resolves with the updated twins once committed; rejects with
   * TWIN_STORE_FAILED (nothing was stored) or DEVICE_STOPPED.
   * Reporting a value equal to the stored one changes nothing.
   */
  update(id: string, input: { actual?: ValueInput[]; expected?: ValueInput[] }): Promise<Map<string, PropertyTwin>> {
    const e = this.#require(id);
    const now = this.#now();
    const byName = new Map(e.spec.properties.map((p) => [p.name, p]));
    const check = (list: ValueInput[] | undefined, expected: boolean) =>
      (list ?? []).map((v) => {
        const p = byName.get(v.name);
        if (!p) throw new DeviceError('TWIN_PROPERTY_NOT_FOUND', `device ${id} has no property ${v.name}; its properties are ${e.spec.properties.map((x) => x.name).join(', ') || 'none'}`);
        let value: string;
        try {
          value = coerceValue(p.type, v.value);
        } catch (err) {
          if (err instanceof DeviceError) throw new DeviceError(err.code, `property ${v.name}: ${err.message}`);
          throw err;
        }
        if (expected) {
          if (p.accessMode === 'ReadOnly') throw new DeviceError('TWIN_READ_ONLY', `property ${v.name} is ReadOnly in DeviceModel ${e.spec.modelName}; it has no desired value`);
          checkRange(p.type, value, p.minimum, p.maximum);
        }
        const at = typeof v.timestamp === 'number' && Number.isFinite(v.timestamp) && v.timestamp > 0 ? Math.trunc(v.timestamp) : now;
        return { p, value, at };
      });
    const actual = check(input.actual, false);
    const expected = check(input.expected, true);
    return this.#enqueue((tx) => {
      const entry = this.#devices.get(id);
      if (!entry) throw new DeviceError('TWIN_DEVICE_NOT_FOUND', `device ${id} was removed from node ${this.nodeName}`);
      const touched = new Map<string, PropertyTwin>();
      for (const { p, value, at } of expected) {
        const t = entry.props.get(p.name) ?? {};
        if (t.desired?.value === value) continue;
        this.#change(entry, p.name, { ...t, desired: { value, metadata: { timestamp: String(at), type: p.type.toLowerCase() }, at } }, tx);
        tx.desiredChanged.add(id);
        this.stats.desiredSet++;
      }
      for (const { p, value, at } of actual) {
        const t = entry.props.get(p.name) ?? {};
        this.stats.reported++;
        if (t.reported?.value === value) continue;
        this.#change(entry, p.name, { ...t, reported: { value, metadata: { timestamp: String(at), type: p.type.toLowerCase() }, at } }, tx);
      }
      for (const { p } of [...expected, ...actual]) touched.set(p.name, clone(entry.props.get(p.name)) ?? {});
      return touched;
    }) as Promise<Map<string, PropertyTwin>>;
  }

  /** Shorthand for update(id, {actual}). */
  report(id: string, values: ValueInput[]): Promise<Map<string, PropertyTwin>> {
    return this.update(id, { actual: values });
  }

  /**
   * Records the device's connection state (lastOnlineTime becomes now when
   * it is online/ok). Throws TWIN_DEVICE_NOT_FOUND; resolves after commit.
   * An unchanged offline/unknown state is not re-sent upstream; an online
   * one is (it refreshes lastOnlineTime).
   */
  setState(id: string, state: DeviceState): Promise<{ state: DeviceState; lastOnline?: string }> {
    this.#require(id);
    return this.#enqueue((tx) => {
      const e = this.#devices.get(id);
      if (!e) throw new DeviceError('TWIN_DEVICE_NOT_FOUND', `device ${id} was removed from node ${this.nodeName}`);
      const online = state === 'online' || state === 'ok';
      if (e.state !== state || online) {
        e.state = state;
        if (online) e.lastOnline = rfc3339(this.#now());
        this.#writeState(e);
        tx.states.add(id);
        if (e.spec.stateReport.reportToCloud) this.#putState(e, tx);
      }
      return { state: e.state, ...(e.lastOnline ? { lastOnline: e.lastOnline } : {}) };
    }) as Promise<{ state: DeviceState; lastOnline?: string }>;
  }

  #require(id: string): Entry {
    if (this.#stopped) throw new DeviceError('DEVICE_STOPPED', 'the device twin is stopped');
    const e = this.#devices.get(id);
    if (!e) throw new DeviceError('TWIN_DEVICE_NOT_FOUND', `no device ${id} on node ${this.nodeName}; devices are <namespace>/<name> of Devices whose spec.nodeName is this node`);
    return e;
  }

  #emptyTx(): Tx {
    return { changes: new Map(), desiredChanged: new Set(), states: new Set(), added: [], removed: [], updated: new Set(), upstreamTwin: new Set(), puts: 0 };
  }

  #enqueue(apply: (tx: Tx) => unknown): Promise<unknown> {
    if (this.#stopped) return Promise.reject(new DeviceError('DEVICE_STOPPED', 'the device twin is stopped'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ apply, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Commits every queued write in one transaction, then resolves them and emits events. */
  #flush(): void {
    this.#flushScheduled = false;
    const ops = this.#queue;
    this.#queue = [];
    if (ops.length === 0) return;
    this.stats.flushes++;
    const tx = this.#emptyTx();
    const results: { ok: boolean; v: unknown }[] = [];
    try {
      this.#store.db.transaction(() => {
        for (const op of ops) {
          // A DeviceError from one op (its device vanished) fails that op only.
          try {
            results.push({ ok: true, v: op.apply(tx) });
          } catch (err) {
            if (!(err instanceof DeviceError)) throw err;
            results.push({ ok: false, v: err });
          }
        }
        for (const id of tx.upstreamTwin) {
          const e = this.#devices.get(id);
          if (e) this.#maybePutTwin(e, tx);
        }
      });
    } catch (err) {
      this.#log.error('Failed to store device twin changes', { err, writes: ops.length });
      this.#reload();
      const e = new DeviceError('TWIN_STORE_FAILED', `the edge store refused the twin update (${err instanceof Error ? err.message : String(err)}); nothing was stored, retry`, { cause: err });
      for (const op of ops) op.reject(e);
      return;
    }
    ops.forEach((op, i) => (results[i]!.ok ? op.resolve(results[i]!.v) : op.reject(results[i]!.v)));
    this.#afterCommit(tx);
  }

  #afterCommit(tx: Tx): void {
    if (tx.puts) this.#notify();
    const events: TwinEvent[] = [];
    if (tx.added.length || tx.removed.length) events.push({ type: 'membership', added: tx.added, removed: tx.removed });
    for (const id of tx.updated) {
      const e = this.#devices.get(id);
      if (e) events.push({ type: 'device', device: e.spec });
    }
    for (const [id, changes] of tx.changes) {
      const e = this.#devices.get(id);
      if (e) events.push({ type: 'twins', device: e.spec, changes, delta: computeDelta(e.spec, e.props), desiredChanged: tx.desiredChanged.has(id) });
    }
    for (const id of tx.states) {
      const e = this.#devices.get(id);
      if (e) events.push({ type: 'state', device: e.spec, state: e.state, ...(e.lastOnline ? { lastOnline: e.lastOnline } : {}) });
    }
    for (const ev of events) {
      for (const l of this.#listeners) {
        try {
          l(ev);
        } catch (err) {
          this.#log.error('Failed device twin listener', { err, event: ev.type });
        }
      }
    }
  }

  /** Sets one property's twin in memory and on disk (inside the flush transaction). */
  #change(e: Entry, name: string, next: PropertyTwin | undefined, tx: Tx): void {
    const id = e.spec.id;
    let changes = tx.changes.get(id);
    if (!changes) tx.changes.set(id, (changes = new Map()));
    const before = changes.has(name) ? changes.get(name)!.last : clone(e.props.get(name));
    if (next) {
      e.props.set(name, next);
      this.#st.upsertTwin.run(
        id, name, next.desired?.value ?? null, next.desired ? JSON.stringify(next.desired.metadata) : null, next.desired?.at ?? null,
        next.cloudDesired ?? null, next.reported?.value ?? null, next.reported ? JSON.stringify(next.reported.metadata) : null, next.reported?.at ?? null,
      );
    } else {
      e.props.delete(name);
      this.#st.deleteTwin.run(id, name);
    }
    changes.set(name, { last: before, current: clone(next) });
    tx.upstreamTwin.add(id);
    if (!e.twinDirty) {
      e.twinDirty = true;
      this.#writeState(e);
    }
  }

  #writeState(e: Entry): void {
    this.#st.upsertState.run(e.spec.id, e.state, e.lastOnline ?? null, e.seq, e.twinDirty ? 1 : 0, this.#now());
  }

  /**
   * Puts a twin snapshot now, or marks it due: at most one per upstream
   * cycle per device, the cloud's write rate. Snapshots then arrive when the
   * cloud's slot for the device is open and are written at once, so a value
   * waits at most about one cycle (half on average); sending more often only
   * queues snapshots behind the device's next write slot.
   */
  #maybePutTwin(e: Entry, tx: Tx): void {
    if (!e.twinDirty) return;
    const due = e.lastTwinPutAt + e.spec.upstreamCycleMs;
    if (due <= this.#now()) {
      this.#putTwin(e, tx);
      return;
    }
    if (e.putDueAt === undefined) {
      e.putDueAt = due;
      this.#armPuts(due);
    }
  }

  /**
   * One timer for every throttled snapshot: when it fires, all snapshots due
   * by then go into the outbox in one transaction (one fsync for many
   * devices). While the store refuses, retried every second; twin_dirty keeps
   * them for the next start if the agent dies first.
   */
  #armPuts(at: number): void {
    if (this.#putTimer && this.#putTimerAt <= at) return;
    if (this.#putTimer) clearTimeout(this.#putTimer);
    this.#putTimerAt = at;
    this.#putTimer = setTimeout(() => this.#firePuts(), Math.max(0, Math.ceil(at - this.#now())));
    this.#putTimer.unref?.();
  }

  #firePuts(): void {
    this.#putTimer = undefined;
    this.#putTimerAt = Infinity;
    if (this.#stopped || !this.#store.db.isOpen) return;
    const now = this.#now();
    const due = [...this.#devices.values()].filter((e) => e.putDueAt !== undefined && e.putDueAt <= now + 1);
    const t = this.#emptyTx();
    try {
      this.#store.db.transaction(() => {
        for (const e of due) {
          if (e.twinDirty) this.#putTwin(e, t);
          else e.putDueAt = undefined;
        }
      });
    } catch (err) {
      this.#log.error('Failed to queue device twin reports; retrying', { err, devices: due.length });
      this.#armPuts(now + 1000);
      return;
    }
    let next = Infinity;
    for (const e of this.#devices.values()) if (e.putDueAt !== undefined && e.putDueAt < next) next = e.putDueAt;
    if (next !== Infinity) this.#armPuts(next);
    if (t.puts) this.#notify();
  }

  #putTwin(e: Entry, tx: Tx): void {
    e.putDueAt = undefined;
    const twins: TwinReport[] = [];
    for (const p of e.spec.properties) {
      if (!p.reportToCloud) continue;
      const t = e.props.get(p.name);
      if (!t?.reported && !t?.desired) continue;
      twins.push({
        propertyName: p.name,
        ...(t.reported ? { reported: { value: t.reported.value, metadata: t.reported.metadata } } : {}),
        ...(t.desired ? { observedDesired: { value: t.desired.value, metadata: t.desired.metadata } } : {}),
      });
    }
    e.seq++;
    const payload: DeviceTwinReport = {
      seq: e.seq,
      ...(e.spec.uid ? { uid: e.spec.uid } : {}),
      ...(e.spec.generation !== undefined ? { generation: e.spec.generation } : {}),
      twins,
    };
    this.#store.outbox.put('device-twin', e.spec.key, payload);
    e.twinDirty = false;
    e.lastTwinPutAt = this.#now();
    this.#writeState(e);
    tx.puts++;
    this.stats.twinPuts++;
  }

  #putState(e: Entry, tx: Tx): void {
    e.seq++;
    const payload: DeviceStateReport = {
      seq: e.seq,
      ...(e.spec.uid ? { uid: e.spec.uid } : {}),
      state: e.state,
      ...(e.lastOnline ? { lastOnlineTime: e.lastOnline } : {}),
    };
    this.#store.outbox.put('device-state', e.spec.key, payload);
    this.#writeState(e);
    tx.puts++;
    this.stats.statePuts++;
  }

  // ---- following the store ----

  #onStoreChange(ev: ChangeEvent): void {
    if (ev.key.startsWith(DEVICE_PREFIX)) {
      const [, , , ns, name] = ev.key.split('/') as [string, string, string, string, string];
      const id = `${ns}/${name}`;
      if (ev.type === 'upsert') {
        const obj = ev.obj;
        void this.#enqueue((tx) => this.#applyDevice(obj as unknown as Device, tx)).catch((err: unknown) => this.#log.error('Failed to apply Device', { err, device: id }));
      } else {
        void this.#enqueue((tx) => this.#removeDevice(id, tx)).catch((err: unknown) => this.#log.error('Failed to remove Device', { err, device: id }));
      }
    } else if (ev.key.startsWith(MODEL_PREFIX)) {
      const [, , , ns, name] = ev.key.split('/') as [string, string, string, string, string];
      void this.#enqueue((tx) => {
        for (const e of this.#devices.values()) {
          if (e.spec.namespace !== ns || e.spec.modelName !== name) continue;
          const obj = this.#store.objects.get(e.spec.key);
          if (obj) this.#applyDevice(obj as unknown as Device, tx);
        }
      }).catch((err: unknown) => this.#log.error('Failed to apply DeviceModel', { err, model: `${ns}/${name}` }));
    }
  }

  #model(namespace: string, name: string): DeviceModel | undefined {
    return name ? (this.#store.objects.get(modelKey(namespace, name)) as unknown as DeviceModel | undefined) : undefined;
  }

  /** Takes a Device (new or changed): resolves it, applies the cloud's desired values, drops removed properties. */
  #applyDevice(device: Device, tx: Tx): void {
    const spec = resolveDevice(device, this.#model(device.metadata.namespace ?? '', device.spec?.deviceModelRef?.name ?? ''));
    let e = this.#devices.get(spec.id);
    const isNew = !e;
    if (!e) {
      e = { spec, props: new Map(), state: 'unknown', seq: 0, lastTwinPutAt: 0, twinDirty: false };
      this.#devices.set(spec.id, e);
      this.#writeState(e);
      tx.added.push(spec);
    }
    const oldSpec = e.spec;
    e.spec = spec;
    const now = this.#now();
    for (const p of spec.properties) {
      const t = e.props.get(p.name) ?? {};
      const want = p.desired?.value;
      if (want !== undefined && t.cloudDesired !== want) {
        this.#change(e, p.name, { ...t, cloudDesired: want, desired: { value: want, metadata: { ...p.desired!.metadata, timestamp: String(now), type: p.type.toLowerCase() }, at: now } }, tx);
        tx.desiredChanged.add(spec.id);
      } else if (want === undefined && t.cloudDesired !== undefined) {
        // The cloud dropped its desired value: drop ours unless the edge set another since.
        const { cloudDesired: _c, ...rest } = t;
        void _c;
        const next = t.desired?.value === t.cloudDesired ? { ...(rest.reported ? { reported: rest.reported } : {}) } : rest;
        this.#change(e, p.name, next, tx);
        tx.desiredChanged.add(spec.id);
      }
    }
    const names = new Set(spec.properties.map((p) => p.name));
    for (const name of [...e.props.keys()]) if (!names.has(name)) this.#change(e, name, undefined, tx);
    const changed = isNew || oldSpec.generation !== spec.generation || oldSpec.uid !== spec.uid || JSON.stringify(oldSpec) !== JSON.stringify(spec);
    if (changed) {
      if (!isNew) tx.updated.add(spec.id);
      // The cloud learns which generation (and desired values) the edge applies.
      if (!e.twinDirty) {
        e.twinDirty = true;
        this.#writeState(e);
      }
      tx.upstreamTwin.add(spec.id);
    }
  }

  #removeDevice(id: string, tx: Tx): void {
    const e = this.#devices.get(id);
    if (!e) return;
    this.#devices.delete(id);
    this.#st.deleteDeviceTwins.run(id);
    this.#st.deleteState.run(id);
    tx.removed.push(e.spec);
  }

  /** Reads the tables into memory (entries for devices the store still has). */
  #load(): void {
    this.#devices.clear();
    const sql = this.#store.db.sql;
    const states = new Map<string, { state: string; last_online: string | null; seq: number; twin_dirty: number }>();
    for (const r of sql.prepare('SELECT device, state, last_online, seq, twin_dirty FROM device_state').all() as unknown as { device: string; state: string; last_online: string | null; seq: number; twin_dirty: number }[]) {
      states.set(r.device, r);
    }
    type Row = { device: string; property: string; desired: string | null; desired_meta: string | null; desired_at: number | null; cloud_desired: string | null; reported: string | null; reported_meta: string | null; reported_at: number | null };
    const rows = sql.prepare('SELECT * FROM device_twin').all() as unknown as Row[];
    const byDevice = new Map<string, Row[]>();
    for (const r of rows) {
      let l = byDevice.get(r.device);
      if (!l) byDevice.set(r.device, (l = []));
      l.push(r);
    }
    const ids = new Set([...states.keys(), ...byDevice.keys()]);
    for (const id of ids) {
      const [ns, name] = id.split('/') as [string, string];
      const obj = this.#store.objects.get(deviceKey(ns, name)) as KubeObject | undefined;
      const st = states.get(id);
      const spec = obj
        ? resolveDevice(obj as unknown as Device, this.#model(ns, (obj as unknown as Device).spec?.deviceModelRef?.name ?? ''))
        : resolveDevice({ apiVersion: DEVICE_API_VERSION, kind: 'Device', metadata: { namespace: ns, name }, spec: { deviceModelRef: { name: '' } } } as Device, undefined);
      const props = new Map<string, PropertyTwin>();
      for (const r of byDevice.get(id) ?? []) {
        props.set(r.property, {
          ...(r.desired !== null ? { desired: { value: r.desired, metadata: JSON.parse(r.desired_meta ?? '{}') as Record<string, string>, at: r.desired_at ?? 0 } } : {}),
          ...(r.cloud_desired !== null ? { cloudDesired: r.cloud_desired } : {}),
          ...(r.reported !== null ? { reported: { value: r.reported, metadata: JSON.parse(r.reported_meta ?? '{}') as Record<string, string>, at: r.reported_at ?? 0 } } : {}),
        });
      }
      this.#devices.set(id, {
        spec, props, state: (st?.state ?? 'unknown') as DeviceState, ...(st?.last_online ? { lastOnline: st.last_online } : {}),
        seq: st?.seq ?? 0, lastTwinPutAt: 0, twinDirty: st?.twin_dirty === 1,
      });
    }
  }

  /** After a failed transaction: memory may hold changes that were rolled back. */
  #reload(): void {
    try {
      this.#load();
    } catch (err) {
      this.#log.error('Failed to reload the device twin', { err });
      return;
    }
    // snapshots stored but not yet queued: queue them on the next tick
    for (const e of this.#devices.values()) {
      if (!e.twinDirty) continue;
      e.putDueAt = this.#now();
      this.#armPuts(e.putDueAt);
    }
  }
}
