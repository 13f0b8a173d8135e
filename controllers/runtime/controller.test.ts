import type { KubernetesObject } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { Controller, generationChanged, ownerRequests, ownRequest, parseRequestKey, requestKey, type ControllerOptions, type Request } from './controller.ts';
import { TerminalError } from './errors.ts';
import { MemoryInformer } from './memory-informer.ts';

const obj = (name: string, extra: Partial<KubernetesObject['metadata']> = {}, namespace = 'ns'): KubernetesObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { namespace, name, resourceVersion: '1', generation: 1, ...extra },
});

let lines: Record<string, unknown>[];
let registry: Registry;
let stopAll: (() => Promise<void>)[];

beforeEach(() => {
  vi.useFakeTimers();
  lines = [];
  registry = new Registry();
  stopAll = [];
});
afterEach(async () => {
  for (const s of stopAll) await s();
  vi.useRealTimers();
});

/** A controller over one in-memory informer, with jitter-free 100 ms → 1 s backoff. */
function setup(reconcile: ControllerOptions['reconcile'], opts: Partial<ControllerOptions> = {}) {
  const informer = new MemoryInformer<KubernetesObject>();
  const log = createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const ctrl = new Controller({ name: 'test', reconcile, log, registry, backoff: { initialMs: 100, maxMs: 1000, jitter: 0 }, ...opts }).watches(informer);
  stopAll.push(() => ctrl.stop());
  return { informer, ctrl };
}

async function metric(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = await registry.getSingleMetric(name)?.get();
  return m?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

describe('Controller', () => {
  it('starts workers only after the watched caches synced', async () => {
    const seen: Request[] = [];
    const { informer, ctrl } = setup(async (req) => {
      seen.push(req);
    });
    informer.upsert(obj('a'));
    let started = false;
    void ctrl.start().then(() => (started = true));
    await vi.advanceTimersByTimeAsync(1000);
    expect(started).toBe(false);
    expect(seen).toEqual([]);
    informer.sync();
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toBe(true);
    expect(seen).toEqual([{ namespace: 'ns', name: 'a' }]);
  });

  it('fails start with CTRL_CACHE_SYNC_TIMEOUT when a cache never syncs', async () => {
    const { ctrl } = setup(async () => {}, { cacheSyncTimeoutMs: 5000 });
    const p = ctrl.start();
    const assertion = expect(p).rejects.toMatchObject({ code: 'CTRL_CACHE_SYNC_TIMEOUT' });
    await vi.advanceTimersByTimeAsync(5000);
    await assertion;
  });

  it('retries a throwing reconcile with growing, capped delay', async () => {
    const at: number[] = [];
    const { informer, ctrl } = setup(async () => {
      at.push(Date.now());
      throw new Error('boom');
    });
    const t0 = Date.now();
    informer.upsert(obj('a'));
    informer.sync();
    await ctrl.start();
    await vi.advanceTimersByTimeAsync(10_000);
    const gaps = at.map((t, i) => t - (i === 0 ? t0 : at[i - 1]!));
    expect(gaps.slice(0, 7)).toEqual([0, 100, 200, 400, 800, 1000, 1000]);
    expect(await metric('outpost_controller_reconcile_total', { controller: 'test', result: 'error' })).toBe(at.length);
    expect(await metric('outpost_workqueue_retries_total', { name: 'test' })).toBe(at.length);
  });

  it('does not retry a TerminalError, and counts it', async () => {
    let calls = 0;
    const { informer, ctrl } = setup(async () => {
      calls++;
      throw new TerminalError('spec.mode "x" is not supported');
    });
    informer.upsert(obj('a'));
    informer.sync();
    await ctrl.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toBe(1);
    expect(await metric('outpost_controller_terminal_reconcile_errors_total', { controller: 'test' })).toBe(1);
    expect(lines.find((l) => l.level === 'error')).toMatchObject({ controller: 'test', namespace: 'ns', name: 'a', err: { code: 'CTRL_TERMINAL' } });
    // a change enqueues it again
    informer.upsert(obj('a', { resourceVersion: '2' }));
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(2);
  });

  it('honours requeueAfter', async () => {
    const at: number[] = [];
    const { informer, ctrl } = setup(async () => {
      at.push(Date.now());
      return { requeueAfter: 5000 };
    });
    const t0 = Date.now();
    informer.upsert(obj('a'));
    informer.sync();
    await ctrl.start();
    await vi.advanceTimersByTimeAsync(12_000);
    expect(at.map((t) => t - t0)).toEqual([0, 5000, 10_000]);
    expect(await metric('outpost_controller_reconcile_total', { controller: 'test', result: 'requeue_after' })).toBe(3);
  });

  it('resets the backoff after a success', async () => {
    const outcomes = ['fail', 'fail', 'fail', 'ok', 'fail', 'ok'];
    const at: number[] = [];
    const { informer, ctrl } = setup(async () => {
      at.push(Date.now());
      const o = outcomes.shift();
      if (o === 'fail') throw new Error('transient');
      if (o === 'ok' && outcomes.length > 0) return { requeueAfter: 50 };
    });
    const t0 = Date.now();
    informer.upsert(obj('a'));
    informer.sync();
    await ctrl.start();
    await vi.advanceTimersByTimeAsync(5000);
    // fail, +100 fail, +200 fail, +400 ok, +50 fail, +100 (backoff restarted) ok
    expect(at.map((t) => t - t0)).toEqual([0, 100, 300, 700, 750, 850]);
  });

  it('lets the error policy make an error terminal', async () => {
    let calls = 0;
    const policyCalls: unknown[] = [];
    const { informer, ctrl } = setup(
      async () => {
        calls++;
        throw new Error('forbidden');
      },
      {
        errorPolicy: (err) => {
          policyCalls.push(err);
          return { retry: 'terminal' };
        },
      },
    );
    informer.upsert(obj('a'));
    informer.sync();
    await ctrl.start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(1);
    expect(policyCalls).toHaveLength(1);
  });

  it('never reconciles the same key concurrently; a change during reconcile runs it once more afterwards', async () => {
    let active = 0;
    let maxActive = 0;
    let calls = 0;
    let release!: () => void;
    const { informer, ctrl } = setup(
      async () => {
        calls++;
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise<void>((r) => (release = r));
        active--;
      },
      { concurrency: 4 },
    );
    informer.upsert(obj('a'));
    informer.sync();
    await ctrl.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(1);
    informer.upsert(obj('a', { resourceVersion: '2' }));
    informer.upsert(obj('a', { resourceVersion: '3' }));
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toBe(1);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(2);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(2);
    expect(maxActive).toBe(1);
  });

  it('reconciles different keys in parallel up to concurrency', async () => {
    let active = 0;
    let maxActive = 0;
    const { informer, ctrl } = setup(
      async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 100));
        active--;
      },
      { concurrency: 2 },
    );
    for (const n of ['a', 'b', 'c', 'd']) informer.upsert(obj(n));
    informer.sync();
    await ctrl.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(maxActive).toBe(2);
  });

  it('maps secondary objects to their owners, old and new', async () => {
    const seen: string[] = [];
    const { informer: primary, ctrl } = setup(async (req) => {
      seen.push(requestKey(req));
    });
    const children = new MemoryInformer<KubernetesObject>();
    children.sync();
    ctrl.watches(children, ownerRequests({ apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device' }));
    primary.sync();
    await ctrl.start();
    const owned = (owner: string) => obj('child', { ownerReferences: [{ apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device', name: owner, uid: 'u' }, { apiVersion: 'apps/v1', kind: 'Device', name: 'wrong-group', uid: 'v' }] });
    children.upsert(owned('d1'));
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual(['ns/d1']);
    children.upsert({ ...owned('d2'), metadata: { ...owned('d2').metadata, resourceVersion: '2' } });
    await vi.advanceTimersByTimeAsync(0);
    expect(seen.slice(1).sort()).toEqual(['ns/d1', 'ns/d2']);
  });

  it('drops events the predicate rejects', async () => {
    let calls = 0;
    const informer = new MemoryInformer<KubernetesObject>();
    const ctrl = new Controller({ name: 'gen', registry, log: createLogger({ write: () => {} }), reconcile: async () => void calls++ }).watches(informer, ownRequest, { predicate: generationChanged });
    stopAll.push(() => ctrl.stop());
    informer.sync();
    informer.upsert(obj('a'));
    await ctrl.start();
    await vi.advanceTimersByTimeAsync(0);
    informer.upsert(obj('a', { resourceVersion: '2' })); // status-only change
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(1);
    informer.upsert(obj('a', { resourceVersion: '3', generation: 2 }));
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(2);
  });

  it('gives each reconcile a child logger with controller, namespace, name and reconcileID', async () => {
    const { informer, ctrl } = setup(async (_req, ctx) => {
      ctx.log.info('Created ConfigMap');
    });
    informer.upsert(obj('a'));
    informer.upsert(obj('b'));
    informer.sync();
    await ctrl.start();
    await vi.advanceTimersByTimeAsync(0);
    const created = lines.filter((l) => l.msg === 'Created ConfigMap');
    expect(created).toHaveLength(2);
    expect(created[0]).toMatchObject({ controller: 'test', namespace: 'ns', name: 'a' });
    expect(created[0]!.reconcileID).toMatch(/^[0-9a-f-]{36}$/);
    expect(created[0]!.reconcileID).not.toBe(created[1]!.reconcileID);
  });

  it('logs a throwing map function instead of losing it', async () => {
    const { ctrl } = setup(async () => {});
    const other = new MemoryInformer<KubernetesObject>({ log: createLogger({ write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }) });
    other.sync();
    ctrl.watches(other, () => {
      throw new Error('map bug');
    });
    void ctrl.start();
    other.upsert(obj('x'));
    expect(lines.find((l) => l.msg === 'Informer event handler failed')).toMatchObject({ err: { message: 'map bug' }, event: 'add', key: 'ns/x' });
  });

  it('stop waits for in-flight reconciles and takes no new keys', async () => {
    let calls = 0;
    let finished = false;
    const { informer, ctrl } = setup(async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 1000));
      finished = true;
    });
    informer.upsert(obj('a'));
    informer.sync();
    await ctrl.start();
    await vi.advanceTimersByTimeAsync(0);
    let stopped = false;
    void ctrl.stop().then(() => (stopped = true));
    informer.upsert(obj('b'));
    await vi.advanceTimersByTimeAsync(999);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(finished && stopped).toBe(true);
    expect(calls).toBe(1);
  });
});

describe('request keys', () => {
  it('round-trip namespaced and cluster-scoped requests', () => {
    for (const r of [{ namespace: 'ns', name: 'a' }, { name: 'node-1' }]) expect(parseRequestKey(requestKey(r))).toEqual(r);
  });
});
