/**
 * The edge's reconnect loop: dial, hand the link to the session, wait for it
 * to close, wait a capped, jittered, exponentially growing delay, dial again
 * (aesthetics rule 34; kube-rs `DefaultBackoff`). Not MQTT.js's fixed 1 s
 * `reconnectPeriod`: when a hub restarts, a fleet that reconnects on the same
 * schedule arrives in one wave; jitter spreads the wave.
 *
 * Defaults: first retry after 200-400 ms, then 400-800, 800-1600 ... capped at
 * 15-30 s; a link that stayed up for 30 s resets the growth.
 */
import { backoffDelay, type BackoffPolicy } from '../../lib/backoff.ts';
import type { Logger } from '../../lib/log.ts';
import type { CloseInfo, Link } from './link.ts';

/** Time source and timers, injectable for tests. Defaults use the globals (so vi.useFakeTimers applies). */
export interface ReconnectClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Options of {@link startReconnectLoop}. */
export interface ReconnectOptions {
  /** Opens one link (for example `() => dialAuto(...).then((r) => r.link)`); a rejection is a failed attempt. */
  connect(): Promise<Link>;
  /** Called with each new link before the loop waits for it to close. Must not throw. */
  onLink?(link: Link): void;
  /** Called before each wait, with why the previous link or attempt ended. */
  onRetry?(info: { attempt: number; delayMs: number; error?: unknown; closed?: CloseInfo }): void;
  /** Default `{ initialMs: 400, maxMs: 30_000, factor: 2, jitter: 0.5 }`. */
  policy?: BackoffPolicy;
  /** A link that stayed open this long resets the backoff (default 30 000 ms). */
  resetAfterMs?: number;
  clock?: ReconnectClock;
  /** Uniform in [0, 1); default Math.random. */
  random?: () => number;
  log?: Logger;
}

/** A running loop. */
export interface ReconnectLoop {
  /** The open link, if any. */
  readonly link: Link | undefined;
  /** Failed attempts (and short-lived links) since the last reset. */
  readonly attempt: number;
  /** Stops retrying and closes the open link with 1000. Idempotent. */
  stop(): Promise<void>;
}

/** The default backoff of the edge's reconnect loop. */
export const RECONNECT_POLICY: Readonly<BackoffPolicy> = Object.freeze({ initialMs: 400, maxMs: 30_000, factor: 2, jitter: 0.5 });

const globalClock: ReconnectClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Starts dialling at once and keeps a link open until stop(). */
export function startReconnectLoop(o: ReconnectOptions): ReconnectLoop {
  const clock = o.clock ?? globalClock;
  const policy = o.policy ?? RECONNECT_POLICY;
  const resetAfterMs = o.resetAfterMs ?? 30_000;
  let attempt = 0;
  let link: Link | undefined;
  let stopped = false;
  let wake: (() => void) | undefined;
  let timer: unknown;

  const sleep = (ms: number) => new Promise<void>((resolve) => {
    wake = resolve;
    timer = clock.setTimeout(resolve, ms);
  });
  const retry = async (info: { error?: unknown; closed?: CloseInfo }) => {
    const delayMs = backoffDelay(policy, attempt, o.random);
    attempt++;
    o.onRetry?.({ attempt, delayMs, ...info });
    o.log?.info('Scheduled reconnect', { attempt, delayMs, ...(info.error ? { error: info.error } : {}), ...(info.closed ? { code: info.closed.code, reason: info.closed.reason } : {}) });
    await sleep(delayMs);
  };

  const run = (async () => {
    while (!stopped) {
      let l: Link;
      try {
        l = await o.connect();
      } catch (error) {
        if (!stopped) await retry({ error });
        continue;
      }
      if (stopped) {
        await l.close();
        break;
      }
      const upAt = clock.now();
      link = l;
      o.onLink?.(l);
      const closed = await new Promise<CloseInfo>((r) => l.onClose(r));
      link = undefined;
      if (clock.now() - upAt >= resetAfterMs) attempt = 0;
      if (!stopped) await retry({ closed });
    }
  })();

  return {
    get link() {
      return link;
    },
    get attempt() {
      return attempt;
    },
    async stop() {
      stopped = true;
      clock.clearTimeout(timer);
      wake?.();
      await link?.close(1000, 'edge stopping');
      await run;
    },
  };
}
