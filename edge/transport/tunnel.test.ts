import { describe, expect, it } from 'vitest';
import { decode, encode } from '../protocol/index.ts';
import { TunnelMux, type TunnelMsg, type TunnelStream } from './tunnel.ts';

/** Two muxes wired back to back through the real frame codec; `hold` queues frames instead of delivering them. */
function pair(opts: { window?: number } = {}) {
  const wire = { toEdge: [] as TunnelMsg[], toCloud: [] as TunnelMsg[], hold: false };
  const m: { cloud?: TunnelMux; edge?: TunnelMux } = {};
  const deliver = (to: () => TunnelMux, q: TunnelMsg[], dir: 'up' | 'down') => (m: TunnelMsg) => {
    const copy = decode(encode(m), { direction: dir }) as TunnelMsg;
    if (wire.hold) q.push(copy);
    else queueMicrotask(() => to().receive(copy));
  };
  const cloud = (m.cloud = new TunnelMux({ send: deliver(() => m.edge!, wire.toEdge, 'down'), bufferedAmount: () => 0, ...opts }));
  const edge = (m.edge = new TunnelMux({ send: deliver(() => m.cloud!, wire.toCloud, 'up'), bufferedAmount: () => 0, ...opts }));
  const accepted: TunnelStream[] = [];
  edge.onStream = (s) => {
    edge.accept(s);
    accepted.push(s);
  };
  return { cloud, edge, accepted, wire };
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('TunnelMux', () => {
  it('carries bytes both ways with half-close, then frees the stream', async () => {
    const { cloud, edge, accepted } = pair();
    const s = cloud.open('/', [['x-client-cn', 'apiserver']]);
    s.write('GET /healthz HTTP/1.1\r\n\r\n');
    s.end();
    await tick();
    const e = accepted[0]!;
    expect(e.head).toEqual({ method: 'CONNECT', path: '/', headers: [['x-client-cn', 'apiserver']] });
    let got = '';
    e.on('data', (d: Buffer) => (got += d.toString()));
    await new Promise((r) => e.once('end', r));
    expect(got).toBe('GET /healthz HTTP/1.1\r\n\r\n');
    e.end('HTTP/1.1 200 OK\r\n\r\nok');
    let back = '';
    s.on('data', (d: Buffer) => (back += d.toString()));
    await new Promise((r) => s.once('end', r));
    expect(back).toBe('HTTP/1.1 200 OK\r\n\r\nok');
    await tick();
    expect(cloud.size).toBe(0);
    expect(edge.size).toBe(0);
  });

  it('never has more than the window in flight while the reader does not read', async () => {
    const { cloud, accepted } = pair({ window: 64 * 1024 });
    const s = cloud.open('/');
    await tick();
    const e = accepted[0]!;
    e.pause();
    let written = 0;
    const chunk = Buffer.alloc(16 * 1024, 1);
    // a follow-logs source: keeps writing while write() says so
    const pump = () => {
      while (written < 4 << 20 && s.write(chunk)) written += chunk.length;
    };
    s.on('drain', pump);
    pump();
    await tick(50);
    // credit stops once the reader's buffer is over its highWaterMark: at most window + highWaterMark + one write
    expect(e.readableLength).toBeLessThanOrEqual(64 * 1024 + e.readableHighWaterMark + chunk.length);
    expect(written).toBeLessThan(512 * 1024);
    let got = 0;
    e.on('data', (d: Buffer) => (got += d.length));
    e.resume();
    await expect.poll(() => got, { timeout: 5000 }).toBeGreaterThanOrEqual(1 << 20);
  });

  it('a refused stream errors on the opener', async () => {
    const { cloud, edge } = pair();
    edge.onStream = (s) => edge.refuse(s, 404, 'no such node');
    const s = cloud.open('/');
    const err = await new Promise<Error>((r) => s.once('error', r));
    expect(err.message).toBe('no such node');
  });

  it('destroying one side resets the other; closeAll destroys every stream', async () => {
    const { cloud, edge, accepted } = pair();
    const a = cloud.open('/');
    const b = cloud.open('/');
    await tick();
    const errs: string[] = [];
    accepted[0]!.on('error', (e) => errs.push(e.message));
    a.destroy();
    await tick();
    expect(accepted[0]!.destroyed).toBe(true);
    expect(errs[0]).toMatch(/reset/);
    b.on('error', () => undefined);
    cloud.closeAll('session closed');
    expect(b.destroyed).toBe(true);
    accepted[1]!.on('error', () => undefined);
    edge.closeAll();
    expect(accepted[1]!.destroyed).toBe(true);
  });

  it('ignores frames for unknown streams', () => {
    const { cloud } = pair();
    expect(() => cloud.receive({ type: 'response', id: 77, end: false, body: new Uint8Array(3) })).not.toThrow();
  });
});
