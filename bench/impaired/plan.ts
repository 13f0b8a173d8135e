/**
 * Flags of `bench/hub-impaired.ts` → an impairment plan. Pure: no I/O, every
 * bad value throws an ImpairedPlanError that names the flag, what was wrong
 * and what to pass instead.
 */

export class ImpairedPlanError extends Error {
  readonly code = 'BENCH_INVALID_FLAG';
  override name = 'ImpairedPlanError';
}

export interface ImpairedPlan {
  edges: number;
  protocol: 'websocket' | 'quic';
  /** Packet loss in percent, applied independently in each direction (nftables on the edge's veth). */
  lossPct: number;
  /** One-way delay in each direction (the tunnel relay), so RTT = 2 × delayMs. */
  delayMs: number;
  /** Fan-out rounds per object size. */
  rounds: number;
  /** Size of the large ConfigMap's data. */
  largeBytes: number;
  /** Simultaneous dials while connecting the edges. */
  concurrency: number;
  /** Give-up time of each phase (connect, one fan-out round, resume). */
  phaseTimeoutMs: number;
  json: boolean;
  /** Also write the JSON object to this file. */
  out: string | undefined;
}

export type ImpairedFlags = Partial<Record<'edges' | 'protocol' | 'loss' | 'delay-ms' | 'rounds' | 'large-kib' | 'concurrency' | 'phase-timeout-s' | 'out', string>> & { json?: boolean };

function num(flag: string, v: string | undefined, fallback: number, o: { min: number; max: number; integer?: boolean; unit?: string }): number {
  if (v === undefined) return fallback;
  const n = v.trim() === '' ? NaN : Number(v);
  const unit = o.unit ? ` ${o.unit}` : '';
  if (!Number.isFinite(n) || (o.integer && !Number.isInteger(n)) || n < o.min || n > o.max) {
    throw new ImpairedPlanError(`--${flag} must be ${o.integer ? 'an integer' : 'a number'} from ${o.min} to ${o.max}${unit}, got "${v}"`);
  }
  return n;
}

/** Flags → plan (defaults: 20 edges, ws, no loss, no delay, 3 rounds, 256 KiB, 180 s per phase). Throws ImpairedPlanError. */
export function impairedPlan(f: ImpairedFlags): ImpairedPlan {
  const p = f.protocol ?? 'ws';
  const protocol = p === 'quic' ? 'quic' : p === 'ws' || p === 'websocket' ? 'websocket' : undefined;
  if (!protocol) throw new ImpairedPlanError(`--protocol must be ws or quic, got "${p}"`);
  const lossPct = num('loss', f.loss?.replace(/%$/, ''), 0, { min: 0, max: 50, unit: '(percent per direction; 0 = none)' });
  // nftables' `numgen random mod 100 < N` drops whole percents only
  if (!Number.isInteger(lossPct)) throw new ImpairedPlanError(`--loss must be a whole percent (nftables drops in steps of 1 %), got "${f.loss}"`);
  return {
    // the tunnel carries every edge over one path, so the limit is the machine, not addresses
    edges: num('edges', f.edges, 20, { min: 1, max: 2000, integer: true }),
    protocol,
    lossPct,
    delayMs: num('delay-ms', f['delay-ms'], 0, { min: 0, max: 2000, integer: true, unit: 'ms one way' }),
    rounds: num('rounds', f.rounds, 3, { min: 1, max: 100, integer: true }),
    largeBytes: num('large-kib', f['large-kib'], 256, { min: 1, max: 8192, integer: true, unit: 'KiB (the edge frame limit is 16 MiB)' }) * 1024,
    concurrency: num('concurrency', f.concurrency, 100, { min: 1, max: 1000, integer: true }),
    phaseTimeoutMs: num('phase-timeout-s', f['phase-timeout-s'], 180, { min: 5, max: 3600, integer: true, unit: 's' }) * 1000,
    json: f.json === true,
    out: f.out,
  };
}

/** Nearest-rank percentile (p in 0..100) of `xs`; null for none. */
export function percentile(xs: readonly number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
