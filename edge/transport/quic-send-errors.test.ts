/**
 * Found by the chaos suite (docs/reliability.md, bug 2): a UDP send that the
 * kernel refuses with an errno @matrixai/quic does not list (EPERM from a
 * local firewall, ENOBUFS from a full qdisc) made the library throw from an
 * event handler, an uncaught exception that killed the whole process: the
 * edge agent on every network drop behind nftables, and the hub too. Such a
 * send is a lost datagram; QUIC's own recovery handles it.
 */
import * as dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { testPki } from './contract.ts';
import type { Link } from './link.ts';
import * as quic from './quic.ts';

const realSend = dgram.Socket.prototype.send;

afterEach(() => {
  dgram.Socket.prototype.send = realSend;
});

/**
 * Wraps UDP sends (before any socket exists: @matrixai/quic binds `send` at
 * socket start); while `failing` is set, every send fails with `code`, as
 * netfilter's DROP in OUTPUT makes sendmsg(2) fail with EPERM.
 */
function interceptSends(code: string): { failing: boolean; count: number } {
  const state = { failing: false, count: 0 };
  dgram.Socket.prototype.send = function (this: dgram.Socket, ...args: unknown[]) {
    if (!state.failing) return (realSend as (...a: unknown[]) => void).apply(this, args);
    const cb = args.at(-1);
    state.count++;
    const err = Object.assign(new Error(`send ${code}`), { code, errno: -1, syscall: 'send' });
    if (typeof cb === 'function') process.nextTick(cb, err);
    else process.nextTick(() => this.emit('error', err));
  } as typeof realSend;
  return state;
}

describe.each(['EPERM', 'ENOBUFS', 'EACCES'])('quic with UDP sends failing with %s', (code) => {
  it('loses the datagrams and recovers instead of crashing the process', async () => {
    const pki = await testPki();
    const failing = interceptSends(code);
    const listener = await quic.listen({ host: '127.0.0.1', port: 0, tls: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem } });
    const got: string[] = [];
    const server = new Promise<Link>((r) => listener.onLink((l) => {
      l.onFrame((f) => got.push(Buffer.from(f).toString()));
      r(l);
    }));
    const client = await quic.dial({ host: '127.0.0.1', port: listener.address.port, tls: { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem } });
    const serverLink = await server;
    try {
      failing.failing = true;
      const sent = client.send(new TextEncoder().encode('during'));
      void serverLink.send(new TextEncoder().encode('back')).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 1000));
      failing.failing = false;
      expect(failing.count).toBeGreaterThan(0);
      await sent;
      await client.send(new TextEncoder().encode('after'));
      await expect.poll(() => got, { timeout: 8000 }).toEqual(['during', 'after']);
      expect(client.closed).toBe(false);
    } finally {
      await client.close().catch(() => undefined);
      await listener.close();
    }
  });
});
