/**
 * The real client-node ListWatch inside ListWatchInformer, with the server
 * side scripted at the list/watch boundary: proves the restart-after-any-error
 * policy, resume from the last resourceVersion, relist on 410, and sync
 * detection. Against a real API server: informer.int.test.ts.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import type { ListResult } from './client.ts';
import { ListWatchInformer, withTypeMeta, type EventType, type WatchFn } from './informer.ts';

const cm = (name: string, rv: string, data = ''): KubernetesObject & { data: { v: string } } => ({ metadata: { namespace: 'ns', name, resourceVersion: rv }, data: { v: data } });
const httpError = (statusCode: number) => Object.assign(new Error(`HTTP ${statusCode}`), { statusCode });

type Callback = Parameters<WatchFn>[2];
type Done = Parameters<WatchFn>[3];

/** Scripted API server: each list/watch call takes the next step. */
function fakeServer() {
  const lists: (() => Promise<ListResult<KubernetesObject>>)[] = [];
  const watches: ((cb: Callback, done: Done) => void)[] = [];
  const listCalls: number[] = [];
  const watchCalls: Record<string, unknown>[] = [];
  const list = () => {
    listCalls.push(Date.now());
    const step = lists.shift();
    return step ? step() : Promise.reject(httpError(503));
  };
  const watch: WatchFn = async (_path, query, cb, done) => {
    watchCalls.push(query);
    const step = watches.shift();
    // deliver after the request "opened", as a real stream would
    if (step) queueMicrotask(() => step(cb, done));
    return new AbortController();
  };
  return { lists, watches, listCalls, watchCalls, list, watch };
}

let lines: Record<string, unknown>[];
let informers: ListWatchInformer<KubernetesObject>[];
beforeEach(() => {
  vi.useFakeTimers();
  lines = [];
  informers = [];
});
afterEach(() => {
  for (const i of informers) i.stop();
  vi.useRealTimers();
});

function make(server: ReturnType<typeof fakeServer>) {
  const inf = new ListWatchInformer<KubernetesObject>({
    path: '/api/v1/namespaces/ns/configmaps',
    list: server.list,
    watch: server.watch,
    random: () => 0, // backoff = half the step: 400, 800, 1600 … ms
    log: createLogger({ write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }),
  });
  informers.push(inf);
  return inf;
}

describe('ListWatchInformer', () => {
  it('syncs after the first list and delivers events with the old object on update', async () => {
    const s = fakeServer();
    s.lists.push(async () => ({ metadata: { resourceVersion: '10' }, items: [cm('a', '5', 'x')] }));
    s.watches.push((cb) => {
      cb('MODIFIED', cm('a', '11', 'y'));
      cb('ADDED', cm('b', '12'));
      cb('DELETED', cm('a', '13', 'y'));
    });
    const inf = make(s);
    const seen: [EventType, string, string | undefined][] = [];
    inf.onChange((t, o, old) => seen.push([t, `${o.metadata?.name}@${o.metadata?.resourceVersion}`, old?.metadata?.resourceVersion]));
    expect(inf.hasSynced()).toBe(false);
    inf.start();
    await inf.waitForSync(1000);
    expect(inf.get('a', 'ns')).toMatchObject({ data: { v: 'x' } });
    expect(s.watchCalls[0]).toMatchObject({ resourceVersion: '10', allowWatchBookmarks: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual([
      ['add', 'a@5', undefined],
      ['update', 'a@11', '5'],
      ['add', 'b@12', undefined],
      ['delete', 'a@13', undefined],
    ]);
    expect(inf.list().map((o) => o.metadata?.name)).toEqual(['b']);
  });

  it('restarts with backoff after a non-410 watch error and resumes from the last resourceVersion', async () => {
    const s = fakeServer();
    s.lists.push(async () => ({ metadata: { resourceVersion: '10' }, items: [] }));
    s.watches.push((cb, done) => {
      cb('ADDED', cm('a', '11'));
      done(httpError(500));
    });
    s.watches.push((_cb, done) => done(httpError(500)));
    const inf = make(s);
    inf.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.watchCalls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(399);
    expect(s.watchCalls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.watchCalls).toHaveLength(2);
    expect(s.watchCalls[1]).toMatchObject({ resourceVersion: '11' });
    // second failure soon after: the delay doubles
    await vi.advanceTimersByTimeAsync(799);
    expect(s.watchCalls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.watchCalls).toHaveLength(3);
    expect(s.listCalls).toHaveLength(1);
    expect(inf.get('a', 'ns')).toBeDefined();
    expect(lines.filter((l) => l.msg === 'Watch failed; restarting informer').map((l) => l.delayMs)).toEqual([400, 800]);
  });

  it('keeps retrying a failing first list, then syncs', async () => {
    const s = fakeServer();
    s.lists.push(() => Promise.reject(httpError(503)));
    s.lists.push(() => Promise.reject(new Error('connect ECONNREFUSED')));
    s.lists.push(async () => ({ metadata: { resourceVersion: '3' }, items: [cm('a', '2')] }));
    const inf = make(s);
    inf.start();
    await vi.advanceTimersByTimeAsync(400 + 800);
    expect(s.listCalls).toHaveLength(3);
    expect(inf.hasSynced()).toBe(true);
  });

  it('relists on 410 Gone and reports objects that vanished as deleted', async () => {
    const s = fakeServer();
    s.lists.push(async () => ({ metadata: { resourceVersion: '10' }, items: [cm('a', '5'), cm('b', '6')] }));
    s.watches.push((cb, done) => {
      cb('ERROR', { code: 410, reason: 'Expired' });
      done(null);
    });
    s.lists.push(async () => ({ metadata: { resourceVersion: '20' }, items: [cm('b', '6')] }));
    const inf = make(s);
    const deleted: string[] = [];
    inf.onChange((t, o) => t === 'delete' && deleted.push(o.metadata!.name!));
    inf.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.listCalls).toHaveLength(2);
    expect(deleted).toEqual(['a']);
    expect(s.watchCalls.at(-1)).toMatchObject({ resourceVersion: '20' });
  });

  it('resets the backoff after a healthy run', async () => {
    const s = fakeServer();
    s.lists.push(async () => ({ metadata: { resourceVersion: '1' }, items: [] }));
    s.watches.push((_cb, done) => done(httpError(500)));
    s.watches.push((_cb, done) => setTimeout(() => done(httpError(500)), 121_000));
    const inf = make(s);
    inf.start();
    await vi.advanceTimersByTimeAsync(400 + 121_000);
    expect(lines.filter((l) => l.msg === 'Watch failed; restarting informer').map((l) => l.delayMs)).toEqual([400, 400]);
  });

  it('turns a watch that throws before connecting (e.g. failed credential plugin) into a restart', async () => {
    const s = fakeServer();
    s.lists.push(async () => ({ metadata: { resourceVersion: '1' }, items: [] }));
    let calls = 0;
    const inf = new ListWatchInformer<KubernetesObject>({
      path: '/x',
      list: s.list,
      watch: async () => {
        calls++;
        throw new Error('exec plugin failed');
      },
      random: () => 0,
      log: createLogger({ write: () => {} }),
    });
    informers.push(inf);
    inf.start();
    await vi.advanceTimersByTimeAsync(400 + 800);
    expect(calls).toBe(3);
  });

  it('does not restart after stop, and rejects waitForSync on timeout', async () => {
    const s = fakeServer();
    const inf = make(s);
    inf.start();
    const sync = expect(inf.waitForSync(1000)).rejects.toMatchObject({ code: 'CTRL_CACHE_SYNC_TIMEOUT' });
    await vi.advanceTimersByTimeAsync(1000);
    await sync;
    inf.stop();
    const before = s.listCalls.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.listCalls.length).toBe(before);
  });

  it('says the CRDs are missing when the API server does not serve the resource (404), in the log and the sync timeout', async () => {
    const s = fakeServer();
    const notServed = () => Promise.reject(Object.assign(new Error('HTTP-Code: 404 Message: Unknown API Status Code!'), { code: 404 }));
    s.lists.push(notServed, notServed);
    const inf = make(s);
    inf.start();
    const sync = expect(inf.waitForSync(1000)).rejects.toThrow(/does not serve .*HTTP 404.*install the CRDs: `outpost init`/);
    await vi.advanceTimersByTimeAsync(1000);
    await sync;
    expect(lines.find((l) => l.level === 'error')?.msg).toMatch(/Resource not served.*install the CRDs/);
  });

  it('logs a throwing handler and keeps delivering to the others', async () => {
    const s = fakeServer();
    s.lists.push(async () => ({ metadata: { resourceVersion: '1' }, items: [cm('a', '1')] }));
    const inf = make(s);
    const got: string[] = [];
    inf.onChange(() => {
      throw new Error('handler bug');
    });
    inf.onChange((_t, o) => got.push(o.metadata!.name!));
    inf.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(got).toEqual(['a']);
    expect(lines.find((l) => l.msg === 'Informer event handler failed')).toMatchObject({ err: { message: 'handler bug' }, key: 'ns/a' });
  });
});

describe('withTypeMeta', () => {
  it('fills apiVersion and kind of list items from the list', () => {
    const out = withTypeMeta({ apiVersion: 'v1', kind: 'ConfigMapList', items: [cm('a', '1')] } as ListResult<KubernetesObject>);
    expect(out.items[0]).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } });
  });
});
