import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialAuto, type AutoMemo } from './auto.ts';
import { testPki, type TestPki } from './contract.ts';
import { TransportError } from './errors.ts';
import type { Link, Listener } from './link.ts';
import * as quic from './quic.ts';
import * as websocket from './websocket.ts';

describe('dialAuto', () => {
  let pki: TestPki;
  let wsl: Listener;
  let ql: Listener | undefined;
  const links: Link[] = [];
  const opts = () => ({ host: '127.0.0.1', port: wsl.address.port, serverName: 'localhost', tls: { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem } });

  beforeAll(async () => {
    pki = await testPki();
    const tls = { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem };
    wsl = await websocket.listen({ host: '127.0.0.1', port: 0, tls });
    wsl.onLink((l) => links.push(l));
  });
  afterAll(async () => {
    await Promise.all(links.map((l) => l.close()));
    await ql?.close();
    await wsl.close();
  });

  it('uses QUIC when the hub answers on UDP with the same port number', async () => {
    ql = await quic.listen({ host: '127.0.0.1', port: wsl.address.port, tls: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem } });
    ql.onLink((l) => links.push(l));
    const t0 = performance.now();
    const { link, reason } = await dialAuto({ ...opts(), protocol: 'auto' });
    console.info(`[auto] quic chosen in ${Math.round(performance.now() - t0)} ms`);
    expect([link.protocol, reason]).toEqual(['quic', 'using quic']);
    links.push(link);
    await ql.close();
    ql = undefined;
  });

  it('falls back to WebSocket within a few seconds when nothing answers on UDP', async () => {
    const memo: AutoMemo = {};
    const t0 = performance.now();
    const { link, reason } = await dialAuto({ ...opts(), protocol: 'auto', memo });
    const ms = performance.now() - t0;
    console.info(`[auto] websocket fallback after ${Math.round(ms)} ms: ${reason}`);
    links.push(link);
    expect(link.protocol).toBe('websocket');
    expect(reason).toMatch(/^using websocket: no QUIC answer from 127\.0\.0\.1:\d+\/udp within 2000 ms/);
    expect(ms).toBeLessThan(4000);
    // The next reconnect skips QUIC while the failure is fresh.
    const again = await dialAuto({ ...opts(), protocol: 'auto', memo });
    links.push(again.link);
    expect(again.reason).toMatch(/^using websocket: no QUIC answer .* s ago; next QUIC try in \d+ s$/);
  });

  it('falls back to WebSocket when the QUIC native module is missing', async () => {
    const loadQuic = () => Promise.reject(new TransportError('TRANSPORT_QUIC_UNAVAILABLE', 'simulated missing binding'));
    const { link, reason } = await dialAuto({ ...opts(), protocol: 'auto', loadQuic });
    links.push(link);
    expect(link.protocol).toBe('websocket');
    expect(reason).toBe(`using websocket: QUIC native module unavailable on ${process.platform}-${process.arch}`);
  });

  it('never falls back when a protocol is pinned', async () => {
    await expect(dialAuto({ ...opts(), protocol: 'quic', connectTimeoutMs: 500 })).rejects.toMatchObject({ code: 'TRANSPORT_CONNECT_TIMEOUT' });
    const { link, reason } = await dialAuto({ ...opts(), protocol: 'websocket' });
    links.push(link);
    expect([link.protocol, reason]).toEqual(['websocket', 'using websocket: configured (--hub-protocol websocket)']);
    await expect(dialAuto({ ...opts(), protocol: 'udp' as never })).rejects.toMatchObject({ code: 'TRANSPORT_INVALID_ARGUMENT' });
  });

  it('names both failures when nothing works', async () => {
    const err = await dialAuto({ ...opts(), port: 1, protocol: 'auto', quicConnectTimeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TRANSPORT_CONNECT_FAILED' });
    expect((err as Error).message).toMatch(/ECONNREFUSED.*before that: no QUIC answer/);
  });
});
