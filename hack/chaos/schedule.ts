/**
 * The fault schedule of a chaos run: a pure function of the seed and the
 * topology, so `--seed S` replays the same faults at the same offsets. Each
 * event starts at `atMs` (from the start of the chaos phase) and is undone
 * `durationMs` later (an impairment lifted, a killed process restarted).
 * Events overlap freely: a partition may start during a delay window on the
 * same edge, a kill may hit an edge that is partitioned.
 */
import type { Prng } from './prng.ts';

export type FaultKind =
  | 'delay' // userspace relay: hold every chunk/datagram for delayMs ± jitterMs
  | 'loss' // nftables numgen: drop lossPct % of packets each way on the edge's veth
  | 'reorder' // relay: independent per-datagram delays (QUIC edges), jitter for TCP edges
  | 'bandwidth' // tbf on both ends of the edge's veth
  | 'partition' // nftables: drop everything on the edge's veth (no FIN, no RST)
  | 'link-down' // ip link set down on the edge's veth
  | 'partition-cloud' // nftables in the cloud namespace: every edge cut off at once
  | 'kill-edge' // kill -9 an edge agent, restart it after durationMs
  | 'kill-cloud'; // kill -9 the cloud (hub + controllers), restart it after durationMs

export const FAULT_KINDS: readonly FaultKind[] = ['delay', 'loss', 'reorder', 'bandwidth', 'partition', 'link-down', 'partition-cloud', 'kill-edge', 'kill-cloud'];

export interface FaultParams {
  delayMs?: number;
  jitterMs?: number;
  lossPct?: number;
  reorderPct?: number;
  rateKbit?: number;
}

export interface FaultEvent {
  index: number;
  atMs: number;
  kind: FaultKind;
  /** Target edge index; absent for cloud-wide faults. */
  edge?: number;
  durationMs: number;
  params: FaultParams;
}

export interface ScheduleOptions {
  /** How many fault events (the issue asks for at least 100 per run). */
  events: number;
  /** Transport of each edge (reordering is meaningful on QUIC's datagrams). */
  edges: readonly { protocol: 'websocket' | 'quic' }[];
  /** Mean gap between event starts (exponential inter-arrival). */
  meanGapMs: number;
  /** Edge indexes that are never killed (their memory is watched over the whole run). */
  protectedEdges?: readonly number[];
  /** Upper bound on cloud kills (they are the most expensive fault). */
  maxCloudKills?: number;
}

const WEIGHTS: Record<FaultKind, number> = {
  delay: 14, loss: 14, reorder: 9, bandwidth: 9, partition: 16, 'link-down': 8, 'partition-cloud': 5, 'kill-edge': 19, 'kill-cloud': 6,
};

/** Builds the schedule; events are sorted by start time. Pure. */
export function makeSchedule(rng: Prng, o: ScheduleOptions): FaultEvent[] {
  if (o.edges.length === 0) throw new Error('makeSchedule: no edges');
  const all = o.edges.map((_, i) => i);
  const killable = all.filter((i) => !(o.protectedEdges ?? []).includes(i));
  const quic = all.filter((i) => o.edges[i]!.protocol === 'quic');
  const maxCloudKills = o.maxCloudKills ?? Math.max(1, Math.floor(o.events / 40));
  let cloudKills = 0;
  const out: FaultEvent[] = [];
  let at = 0;
  for (let index = 0; index < o.events; index++) {
    at += Math.round(rng.exp(o.meanGapMs));
    let kind = rng.weighted(WEIGHTS);
    if (kind === 'kill-cloud' && cloudKills >= maxCloudKills) kind = 'partition-cloud';
    if (kind === 'kill-edge' && killable.length === 0) kind = 'partition';
    const e: FaultEvent = { index, atMs: at, kind, durationMs: 0, params: {} };
    switch (kind) {
      case 'delay':
        e.edge = rng.pick(all);
        e.durationMs = rng.int(3000, 15_000);
        e.params = { delayMs: rng.int(20, 400), jitterMs: rng.int(0, 100) };
        break;
      case 'loss':
        e.edge = rng.pick(all);
        e.durationMs = rng.int(3000, 15_000);
        e.params = { lossPct: rng.int(5, 40) };
        break;
      case 'reorder':
        e.edge = rng.pick(quic.length > 0 && rng.chance(0.8) ? quic : all);
        e.durationMs = rng.int(3000, 12_000);
        e.params = { delayMs: rng.int(5, 60), jitterMs: rng.int(20, 120), reorderPct: rng.int(20, 60) };
        break;
      case 'bandwidth':
        e.edge = rng.pick(all);
        e.durationMs = rng.int(4000, 15_000);
        e.params = { rateKbit: rng.pick([32, 64, 128, 256, 512]) };
        break;
      case 'partition':
        e.edge = rng.pick(all);
        // some shorter than the transports' dead-peer time (7 s), some longer than the hub's silence limit (15 s)
        e.durationMs = rng.pick([rng.int(1000, 6000), rng.int(8000, 14_000), rng.int(16_000, 25_000)]);
        break;
      case 'link-down':
        e.edge = rng.pick(all);
        e.durationMs = rng.int(2000, 12_000);
        break;
      case 'partition-cloud':
        e.durationMs = rng.int(2000, 12_000);
        break;
      case 'kill-edge':
        e.edge = rng.pick(killable);
        e.durationMs = rng.int(0, 6000);
        break;
      case 'kill-cloud':
        cloudKills++;
        e.durationMs = rng.int(0, 5000);
        break;
    }
    out.push(e);
  }
  return out;
}

/** When the last fault of the schedule is undone (ms from the start of the chaos phase). */
export function scheduleEndMs(events: readonly FaultEvent[]): number {
  return events.reduce((m, e) => Math.max(m, e.atMs + e.durationMs), 0);
}

/** Counts by kind, for the run summary. */
export function countByKind(events: readonly FaultEvent[]): Record<FaultKind, number> {
  const c = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  for (const e of events) c[e.kind]++;
  return c;
}
