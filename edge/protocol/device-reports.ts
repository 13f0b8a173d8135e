// Payloads of the `device-twin` and `device-state` reports (edge → cloud,
// inside a `report` frame). The frame codec checks only that a payload is a
// JSON object; these schemas are what the edge device twin writes and what
// the cloud's device status writer accepts, so the two cannot drift.
//
// Every report is a full, level-triggered snapshot of one Device (all its
// reported properties, or its connection state), never a delta: the edge
// outbox coalesces per (kind, key), so only the newest snapshot of a device
// is ever pending, and whatever subset of snapshots reaches the cloud, the
// newest one carries the newest value of every property. `seq` orders
// snapshots of one device across sessions and reconnects (it only grows,
// also across edge restarts).
import type { Field } from './schema.ts';
import { fail, int, list, map, obj, oneOf, opt, str } from './schema.ts';
import { ProtocolError } from './errors.ts';

/** Largest integer JSON carries exactly. */
const MAX_INT = Number.MAX_SAFE_INTEGER;

/** Device connection states (KubeEdge's set: reference/kubeedge.md §5.4). */
export const DEVICE_STATES = ['ok', 'online', 'offline', 'unhealthy', 'unknown'] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

/** A twin value with string metadata (devices.kubeedge.io TwinProperty). */
export interface TwinValueReport {
  /** The value, as a string whatever the property type. */
  value: string;
  /** E.g. `{timestamp: "<ms since epoch>", type: "int"}`. */
  metadata?: Record<string, string>;
}

/** One property of a `device-twin` snapshot (devices.kubeedge.io Twin). */
export interface TwinReport {
  propertyName: string;
  /** The value last read from the device, if any was read yet. */
  reported?: TwinValueReport;
  /** The desired value the edge holds and applies, if any. */
  observedDesired?: TwinValueReport;
}

/** Payload of a `device-twin` report: every twin of one Device. */
export interface DeviceTwinReport {
  /** Per-device snapshot counter; a larger seq is newer. Shared with device-state. */
  seq: number;
  /** metadata.uid of the Device the edge holds: a report for an older incarnation is dropped. */
  uid?: string;
  /** metadata.generation of the Device the edge has applied. */
  generation?: number;
  twins: TwinReport[];
}

/** Payload of a `device-state` report. */
export interface DeviceStateReport {
  seq: number;
  uid?: string;
  state: DeviceState;
  /** RFC 3339: when the device was last seen online. */
  lastOnlineTime?: string;
}

/** Twin property names: KubeEdge's twin key rule (dtcommon ValidateTwinKey), which Kubernetes-side names also meet. */
export const TWIN_NAME = /^[a-zA-Z0-9\-_.,:/@#]{1,128}$/;
/** At most this many characters in one twin value. */
export const MAX_TWIN_VALUE = 4096;
/** At most this many twins per device (the Device schema allows 256 properties). */
export const MAX_TWINS = 256;

const value = str(MAX_TWIN_VALUE, /^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$/, `a value of at most ${MAX_TWIN_VALUE} characters without control characters`);
const metaKey = str(63, /^[A-Za-z][A-Za-z0-9_.-]*$/, 'a metadata key (a letter, then letters, digits, "_", "." or "-"; at most 63)');
const metaValue = str(256, /^[^\x00-\x1f]*$/, 'a metadata value of at most 256 characters without control characters');
const twinValue = obj<TwinValueReport>({ value, metadata: opt(map(metaKey, metaValue, 16)) });
const uid = str(128, /^[A-Za-z0-9-]+$/, 'a uid');
const rfc3339 = str(64, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/, 'an RFC 3339 time');

function uniqueNames(f: Field<TwinReport[]>): Field<TwinReport[]> {
  return {
    optional: false,
    check: (v, path, ctx) => {
      const out = f.check(v, path, ctx);
      const seen = new Set<string>();
      for (const t of out) {
        if (seen.has(t.propertyName)) fail(`${path}`, `unique propertyNames (${JSON.stringify(t.propertyName)} repeats)`, v);
        seen.add(t.propertyName);
      }
      return out;
    },
  };
}

const twinReportSchema = obj<DeviceTwinReport>({
  seq: int(1, MAX_INT),
  uid: opt(uid),
  generation: opt(int(0, MAX_INT)),
  twins: uniqueNames(list(
    obj<TwinReport>({
      propertyName: str(128, TWIN_NAME, 'a property name (1..128 of A-Z a-z 0-9 - _ . , : / @ #)'),
      reported: opt(twinValue),
      observedDesired: opt(twinValue),
    }),
    0,
    MAX_TWINS,
  )),
});

const stateReportSchema = obj<DeviceStateReport>({
  seq: int(1, MAX_INT),
  uid: opt(uid),
  state: oneOf(DEVICE_STATES),
  lastOnlineTime: opt(rfc3339),
});

const ctx = { maxDepth: 16 };

/**
 * Validates an untrusted `device-twin` payload and returns a canonical copy.
 * Pure. Throws ProtocolError PROTO_INVALID_FIELD naming the field.
 */
export function validateDeviceTwinReport(payload: unknown): DeviceTwinReport {
  return twinReportSchema.check(payload, 'device-twin', ctx);
}

/**
 * Validates an untrusted `device-state` payload and returns a canonical copy.
 * Pure. Throws ProtocolError PROTO_INVALID_FIELD naming the field.
 */
export function validateDeviceStateReport(payload: unknown): DeviceStateReport {
  return stateReportSchema.check(payload, 'device-state', ctx);
}

/** True when `e` is the error the validators above throw. */
export function isInvalidDeviceReport(e: unknown): e is ProtocolError {
  return e instanceof ProtocolError;
}

/** Default cycle when a Device sets none: KubeEdge mappers report every second. */
export const DEFAULT_REPORT_CYCLE_MS = 1000;
/** Floor for any cycle, so a typo (a cycle in ms read as ns) cannot make a device spin. */
export const MIN_CYCLE_MS = 10;

/**
 * A cycle from a Device manifest, which KubeEdge mappers read as a Go
 * time.Duration (nanoseconds: 1000000000 is 1 s), in milliseconds. 0, absent
 * or invalid → `fallbackMs`; otherwise at least {@link MIN_CYCLE_MS}. Pure.
 */
export function cycleMs(nanoseconds: unknown, fallbackMs: number): number {
  if (typeof nanoseconds !== 'number' || !Number.isFinite(nanoseconds) || nanoseconds <= 0) return fallbackMs;
  return Math.max(MIN_CYCLE_MS, Math.round(nanoseconds / 1e6));
}

/** The parts of a Device spec that decide its report cycle. */
export interface ReportCycleSpec {
  properties?: { reportCycle?: number; reportToCloud?: boolean }[];
}

/**
 * How often one Device's twins go upstream and are written to its status:
 * the shortest reportCycle among its properties that report to the cloud
 * (KubeEdge: reportCycle, nanoseconds), else {@link DEFAULT_REPORT_CYCLE_MS};
 * never below `floorMs`. Both sides use it: the edge sends at most one
 * snapshot per cycle, the cloud writes status at most once per cycle. Pure.
 */
export function deviceReportCycleMs(spec: ReportCycleSpec | undefined, floorMs = 100): number {
  let best = Infinity;
  for (const p of spec?.properties ?? []) {
    if (p.reportToCloud === false) continue;
    const c = cycleMs(p.reportCycle, Infinity);
    if (c < best) best = c;
  }
  return Math.max(floorMs, Number.isFinite(best) ? best : DEFAULT_REPORT_CYCLE_MS);
}
