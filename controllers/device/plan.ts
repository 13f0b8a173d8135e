/**
 * Device status, as a pure plan (no I/O, `now` passed in): what the edge
 * last reported (twins, connection state, last online time) merged into the
 * Device's status subresource, with standard conditions:
 *
 * - `Online`: True when the mapper reports the device online/ok, False when
 *   offline/unhealthy, Unknown when nothing was reported, the Device is not
 *   bound to a node, or its node is not Ready (the last report may be stale).
 * - `Synced`: True when the edge holds every desired value of the spec
 *   (each twin's observedDesired equals spec.properties[].desired), False
 *   while some are on their way (for example to a node that is away).
 *
 * KubeEdge v1beta1 status fields (twins, state, lastOnlineTime) keep their
 * meaning; conditions and observedGeneration are Outpost additions.
 */
import type { Device, DeviceStatus, Twin } from '../../api/index.ts';
import type { DeviceStateReport, DeviceTwinReport } from '../../edge/protocol/device-reports.ts';
import { setCondition, type Condition } from '../runtime/status.ts';

/** What the edge has reported about one Device, newest snapshot per kind (by seq). */
export interface EdgeView {
  twinSeq: number;
  twins?: Twin[];
  /** Device generation the edge applied when it sent `twins`. */
  generation?: number;
  stateSeq: number;
  state?: string;
  lastOnlineTime?: string;
}

/** Readiness of the Device's node, from the Node's Ready condition. */
export interface ObservedNode {
  ready?: 'True' | 'False' | 'Unknown';
}

/**
 * Folds one validated report into the view: a snapshot replaces the previous
 * one of its kind only when its seq is larger (older snapshots resent after a
 * reconnect are ignored). Pure; returns a new view.
 */
export function mergeReport(view: EdgeView | undefined, r: { kind: 'device-twin'; payload: DeviceTwinReport } | { kind: 'device-state'; payload: DeviceStateReport }): EdgeView {
  const v: EdgeView = view ? { ...view } : { twinSeq: 0, stateSeq: 0 };
  if (r.kind === 'device-twin') {
    if (r.payload.seq <= v.twinSeq) return v;
    v.twinSeq = r.payload.seq;
    v.twins = r.payload.twins.map((t) => ({
      propertyName: t.propertyName,
      ...(t.reported ? { reported: { value: t.reported.value, ...(t.reported.metadata ? { metadata: { ...t.reported.metadata } } : {}) } } : {}),
      ...(t.observedDesired ? { observedDesired: { value: t.observedDesired.value, ...(t.observedDesired.metadata ? { metadata: { ...t.observedDesired.metadata } } : {}) } } : {}),
    }));
    if (r.payload.generation !== undefined) v.generation = r.payload.generation;
    else delete v.generation;
    return v;
  }
  if (r.payload.seq <= v.stateSeq) return v;
  v.stateSeq = r.payload.seq;
  v.state = r.payload.state;
  if (r.payload.lastOnlineTime !== undefined) v.lastOnlineTime = r.payload.lastOnlineTime;
  return v;
}

function onlineCondition(device: Device, state: string | undefined, lastOnline: string | undefined, node: ObservedNode | undefined): Pick<Condition, 'type' | 'status' | 'reason' | 'message'> {
  const nodeName = device.spec?.nodeName;
  const since = lastOnline ? ` (last online ${lastOnline})` : '';
  if (!nodeName) return { type: 'Online', status: 'Unknown', reason: 'NotAssigned', message: 'spec.nodeName is empty: the Device is not sent to any node' };
  if (node && node.ready !== 'True') {
    return { type: 'Online', status: 'Unknown', reason: 'NodeNotReady', message: `node ${nodeName} is not Ready; last reported state: ${state ?? 'none'}${since}` };
  }
  switch (state) {
    case 'online':
    case 'ok':
      return { type: 'Online', status: 'True', reason: 'DeviceOnline', message: `the mapper on ${nodeName} reports the device ${state}` };
    case 'offline':
      return { type: 'Online', status: 'False', reason: 'DeviceOffline', message: `the mapper on ${nodeName} cannot reach the device${since}` };
    case 'unhealthy':
      return { type: 'Online', status: 'False', reason: 'DeviceUnhealthy', message: `the mapper on ${nodeName} reports the device unhealthy${since}` };
    default:
      return { type: 'Online', status: 'Unknown', reason: 'StateUnknown', message: state ? `the mapper reports state ${state}` : `no state reported by ${nodeName} yet` };
  }
}

function syncedCondition(device: Device, twins: Twin[] | undefined): Pick<Condition, 'type' | 'status' | 'reason' | 'message'> {
  const byName = new Map((twins ?? []).map((t) => [t.propertyName, t]));
  const pending: string[] = [];
  let wanted = 0;
  for (const p of device.spec?.properties ?? []) {
    const want = p.desired?.value;
    if (want === undefined) continue;
    wanted++;
    if (byName.get(p.name)?.observedDesired?.value !== want) pending.push(p.name);
  }
  const node = device.spec?.nodeName;
  if (pending.length > 0) {
    return {
      type: 'Synced', status: 'False', reason: 'DesiredPending',
      message: node ? `waiting for node ${node} to take the desired value of ${pending.join(', ')}` : `desired values of ${pending.join(', ')} wait for spec.nodeName`,
    };
  }
  return { type: 'Synced', status: 'True', reason: 'DesiredObserved', message: wanted ? `node ${node} holds all ${wanted} desired value(s)` : 'no desired values' };
}

/**
 * The Device's whole status: twins, state and lastOnlineTime from `edge`
 * when given (else as currently in status), conditions recomputed (their
 * lastTransitionTime kept while their status holds), observedGeneration.
 * Pure and deterministic for equal inputs.
 */
export function planDeviceStatus(input: { device: Device; edge?: EdgeView; node?: ObservedNode; now: Date }): DeviceStatus {
  const { device, edge, node, now } = input;
  const cur = device.status ?? {};
  const twins = edge?.twins ?? cur.twins;
  const state = edge?.state ?? cur.state;
  const lastOnlineTime = edge?.lastOnlineTime ?? cur.lastOnlineTime;
  const gen = device.metadata?.generation;
  let conditions = (cur.conditions ?? []) as Condition[];
  conditions = setCondition(conditions, onlineCondition(device, state, lastOnlineTime, node), now, gen);
  conditions = setCondition(conditions, syncedCondition(device, twins), now, gen);
  return {
    ...(twins ? { twins } : {}),
    ...(state !== undefined ? { state } : {}),
    ...(lastOnlineTime !== undefined ? { lastOnlineTime } : {}),
    ...(gen !== undefined ? { observedGeneration: gen } : {}),
    conditions,
  };
}

/** The part of a status the periodic reconciler owns (it never writes twins: the edge's writer does). */
export function conditionsPatch(status: DeviceStatus): Pick<DeviceStatus, 'observedGeneration' | 'conditions'> {
  return { ...(status.observedGeneration !== undefined ? { observedGeneration: status.observedGeneration } : {}), conditions: status.conditions ?? [] };
}

/** Whether `next` differs from `cur` in what `conditionsPatch` writes. Pure. */
export function conditionsChanged(cur: DeviceStatus | undefined, next: DeviceStatus): boolean {
  return JSON.stringify(conditionsPatch(cur ?? {})) !== JSON.stringify(conditionsPatch(next));
}
