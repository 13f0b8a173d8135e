// Unit tests of the chaos harness's pure parts and its relay (loopback only).
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { Prng } from '../../hack/chaos/prng.ts';
import { countByKind, makeSchedule, scheduleEndMs } from '../../hack/chaos/schedule.ts';
import { edgeRules, nftScript } from '../../hack/chaos/netns.ts';
import { DelayRelay } from '../../hack/chaos/relay.ts';
import { expectedInventory, referencedNames, type ApiSnapshot } from './expected.ts';
import { deepSubset } from './chaos.ts';

describe('seeded schedule', () => {
  const edges = [{ protocol: 'websocket' as const }, { protocol: 'websocket' as const }, { protocol: 'quic' as const }];
  it('is a pure function of the seed', () => {
    const a = makeSchedule(new Prng(7).fork('faults'), { events: 200, edges, meanGapMs: 1000, protectedEdges: [0] });
    const b = makeSchedule(new Prng(7).fork('faults'), { events: 200, edges, meanGapMs: 1000, protectedEdges: [0] });
    const c = makeSchedule(new Prng(8).fork('faults'), { events: 200, edges, meanGapMs: 1000, protectedEdges: [0] });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('has every kind, never kills a protected edge, bounds cloud kills, and sorts by start', () => {
    const s = makeSchedule(new Prng(1), { events: 400, edges, meanGapMs: 1000, protectedEdges: [0], maxCloudKills: 3 });
    const counts = countByKind(s);
    for (const [k, n] of Object.entries(counts)) expect(n, k).toBeGreaterThan(0);
    expect(counts['kill-cloud']).toBeLessThanOrEqual(3);
    expect(s.filter((e) => e.kind === 'kill-edge').every((e) => e.edge !== 0)).toBe(true);
    expect(s.map((e) => e.atMs)).toEqual([...s.map((e) => e.atMs)].sort((x, y) => x - y));
    expect(scheduleEndMs(s)).toBeGreaterThanOrEqual(s.at(-1)!.atMs);
  });
});

describe('nftables rules', () => {
  it('drops everything for a partition, a share for loss, and removes the table when idle', () => {
    expect(edgeRules('oe1', { partition: true, linkDown: false, lossPct: 30, rateKbit: 0 })).toEqual({ input: ['iifname "oe1" drop'], output: ['oifname "oe1" drop'] });
    expect(edgeRules('oe1', { partition: false, linkDown: false, lossPct: 10, rateKbit: 0 }).output).toEqual(['oifname "oe1" numgen random mod 100 < 10 drop']);
    expect(nftScript({ input: [], output: [] })).toBe('table inet outpost_chaos\ndelete table inet outpost_chaos\n');
  });
});

describe('expected routing set (independent of cloud/hub/routing.ts)', () => {
  it('collects every kind of reference, and only objects that exist', () => {
    const spec = {
      volumes: [{ configMap: { name: 'a' } }, { secret: { secretName: 's1' } }, { projected: { sources: [{ configMap: { name: 'b' } }, { secret: { name: 's2' } }] } }],
      containers: [{ env: [{ valueFrom: { configMapKeyRef: { name: 'c' } } }, { valueFrom: { secretKeyRef: { name: 's3' } } }], envFrom: [{ configMapRef: { name: 'd' } }, { secretRef: { name: 's4' } }] }],
      initContainers: [{ envFrom: [{ configMapRef: { name: 'e' } }] }],
      imagePullSecrets: [{ name: 's5' }],
    };
    const r = referencedNames(spec);
    expect([...r.configMaps].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect([...r.secrets].sort()).toEqual(['s1', 's2', 's3', 's4', 's5']);
    const o = (name: string, rv: string, extra: object = {}) => ({ metadata: { name, namespace: 'ns', resourceVersion: rv }, ...extra });
    const snap: ApiSnapshot = {
      nodes: new Map([['n1', { metadata: { name: 'n1', resourceVersion: '1' } }]]),
      podsByNode: new Map([['n1', [o('p', '2', { spec })]]]),
      configMaps: new Map([['ns/a', o('a', '3')]]),
      secrets: new Map([['ns/s5', o('s5', '4')]]),
      devices: [o('d', '5', { spec: { nodeName: 'n1', deviceModelRef: { name: 'm' } } }), o('other', '6', { spec: { nodeName: 'n2' } })],
      deviceModels: new Map([['ns/m', o('m', '7')]]),
    };
    expect(Object.fromEntries(expectedInventory('n1', snap))).toEqual({
      'v1/Node//n1': '1', 'v1/Pod/ns/p': '2', 'v1/ConfigMap/ns/a': '3', 'v1/Secret/ns/s5': '4',
      'devices.kubeedge.io/v1beta1/Device/ns/d': '5', 'devices.kubeedge.io/v1beta1/DeviceModel/ns/m': '7',
    });
  });
});

describe('deepSubset', () => {
  it('matches objects as subsets and arrays exactly', () => {
    expect(deepSubset({ a: 1, b: { c: [1, 2] } }, { a: 1, x: 2, b: { c: [1, 2], d: 1 } })).toBeUndefined();
    expect(deepSubset({ b: { c: [1] } }, { b: { c: [1, 2] } })).toMatch(/\.b\.c/);
    expect(deepSubset({ a: null }, {})).toBeUndefined();
    expect(deepSubset({ a: 'x' }, { a: 'y' })).toMatch(/\.a/);
  });
});

describe('delaying relay (loopback)', () => {
  it('TCP: holds data for the delay and never reorders it; counts bytes both ways', async () => {
    const echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const relay = new DelayRelay({ listenHost: '127.0.0.1', tcpPort: 0, target: { host: '127.0.0.1', tcpPort: (echo.address() as net.AddressInfo).port } });
    await relay.start();
    relay.set({ delayMs: 50, jitterMs: 40 });
    const c = net.connect(relay.tcpPort, '127.0.0.1');
    await new Promise((r) => c.once('connect', r));
    let got = '';
    c.on('data', (d) => (got += d.toString()));
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) c.write(`${i},`);
    const want = Array.from({ length: 50 }, (_, i) => `${i},`).join('');
    await expect.poll(() => got).toBe(want);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(95); // 50 ms each way
    expect(relay.stats()).toMatchObject({ bytesUp: want.length, bytesDown: want.length, tcpConnections: 1 });
    c.destroy();
    await relay.close();
    echo.close();
  });

  it('UDP: with reorderPct, datagrams overtake each other', async () => {
    const echo = dgram.createSocket('udp4');
    echo.on('message', (m, from) => echo.send(m, from.port, from.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    const relay = new DelayRelay({ listenHost: '127.0.0.1', tcpPort: 0, udpPort: 0, target: { host: '127.0.0.1', tcpPort: 1, udpPort: echo.address().port }, random: (() => { const p = new Prng(3); return () => p.next(); })() });
    await relay.start();
    relay.set({ delayMs: 5, jitterMs: 60, reorderPct: 50 });
    const c = dgram.createSocket('udp4');
    await new Promise<void>((r) => c.bind(0, '127.0.0.1', r));
    const got: number[] = [];
    c.on('message', (m) => got.push(Number(m.toString())));
    for (let i = 0; i < 100; i++) c.send(String(i), relay.udpPort, '127.0.0.1');
    await expect.poll(() => got.length, { timeout: 5000 }).toBe(100);
    expect(got).not.toEqual([...got].sort((x, y) => x - y));
    expect([...got].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    c.close();
    await relay.close();
    echo.close();
  });
});
