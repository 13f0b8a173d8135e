/**
 * The contract every Link implementation passes (STYLE.md "Shared contract
 * suites run against every implementation of a port"). A transport's test
 * file calls {@link transportContract} with a harness; {@link networkHarness}
 * builds one for a dial/listen pair over real loopback sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, issueCertificate, type CertificateAndKey } from '../../lib/pki.ts';
import type { CloseInfo, DialOptions, Link, Listener, ListenOptions } from './link.ts';
import { tcpRelay, udpRelay, type Relay } from './relay.ts';

/** A connected client/server pair under test. */
export interface ContractPair {
  client: Link;
  server: Link;
  /** Stops the network in both directions without closing anything. */
  stall(): void;
  /** Makes the peer disappear without a close (a black hole for network transports). */
  kill(): void;
  dispose(): Promise<void>;
}

/** What the suite needs from a transport. */
export interface ContractHarness {
  /** CNs of the certificates each side presents. */
  readonly clientCn: string;
  readonly serverCn: string;
  open(opts?: { clientMaxMessageBytes?: number; serverMaxMessageBytes?: number; stallTimeoutMs?: number }): Promise<ContractPair>;
  /** Dials with a bad client identity and returns the rejection (absent for transports without TLS). */
  dialRefused?(kind: 'wrong-ca' | 'no-cert'): Promise<unknown>;
  teardown?(): Promise<void>;
}

/** Test certificates: one CA, the hub's server cert, an edge client cert, and an edge cert from another CA. */
export interface TestPki {
  ca: CertificateAndKey;
  server: CertificateAndKey;
  client: CertificateAndKey;
  strangerClient: CertificateAndKey;
}

/** Creates {@link TestPki} (fresh keys each call, about 10 ms). */
export async function testPki(): Promise<TestPki> {
  const ca = await createCa({ commonName: 'outpost-test-ca', validityDays: 1 });
  const stranger = await createCa({ commonName: 'stranger-ca', validityDays: 1 });
  const leaf = async (c: CertificateAndKey, commonName: string, usage: 'server' | 'client') => {
    const r = await issueCertificate({ ca: c, commonName, usage, validityDays: 1, ...(usage === 'server' ? { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] } : {}) });
    return { certPem: r.certPem, keyPem: r.keyPem! };
  };
  return { ca, server: await leaf(ca, 'cloudhub', 'server'), client: await leaf(ca, 'edge-1', 'client'), strangerClient: await leaf(stranger, 'edge-1', 'client') };
}

/** A dial/listen pair as exported by websocket.ts and quic.ts. */
export interface NetworkTransport {
  dial(o: DialOptions): Promise<Link>;
  listen(o: ListenOptions): Promise<Listener>;
}

/**
 * A harness over real loopback sockets: one listener per pair, the client
 * dials through a relay (TCP or UDP) that kill()/stall() black-hole.
 */
export function networkHarness(t: NetworkTransport, relayKind: 'tcp' | 'udp', pki: TestPki): ContractHarness {
  const host = '127.0.0.1';
  const common = { closeTimeoutMs: 500 };
  return {
    clientCn: 'edge-1',
    serverCn: 'cloudhub',
    async open(opts = {}) {
      const listener = await t.listen({ ...common, host, port: 0, tls: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem }, maxMessageBytes: opts.serverMaxMessageBytes, stallTimeoutMs: opts.stallTimeoutMs });
      const relay: Relay = await (relayKind === 'tcp' ? tcpRelay : udpRelay)({ host, port: listener.address.port });
      const accepted = new Promise<Link>((r) => listener.onLink(r));
      const client = await t.dial({ ...common, host, port: relay.port, serverName: 'localhost', tls: { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem }, maxMessageBytes: opts.clientMaxMessageBytes, stallTimeoutMs: opts.stallTimeoutMs });
      const server = await accepted;
      return {
        client,
        server,
        stall: () => relay.blackhole(),
        kill: () => relay.blackhole(),
        async dispose() {
          await Promise.all([client.close(), server.close()]);
          await listener.close();
          await relay.close();
        },
      };
    },
    async dialRefused(kind) {
      const listener = await t.listen({ ...common, host, port: 0, tls: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem } });
      let accepted = 0;
      listener.onLink(() => accepted++);
      try {
        const id = kind === 'wrong-ca' ? pki.strangerClient : undefined;
        const link = await t.dial({ ...common, host, port: listener.address.port, serverName: 'localhost', connectTimeoutMs: 5000, tls: { ca: pki.ca.certPem, cert: id?.certPem, key: id?.keyPem } });
        await link.close();
        return new Error(`dial with ${kind} succeeded`);
      } catch (err) {
        expect(accepted).toBe(0);
        return err;
      } finally {
        await listener.close();
      }
    },
  };
}

const closed = (l: Link) => new Promise<CloseInfo>((r) => l.onClose(r));

/** Resolves with the first `n` frames `l` receives. */
function collect(l: Link, n: number): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  return new Promise((resolve) => {
    if (n === 0) resolve(got);
    l.onFrame((f) => {
      got.push(f);
      if (got.length === n) resolve(got);
    });
  });
}

function pattern(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

const numbered = (i: number) => new TextEncoder().encode(`message ${i}`);

/**
 * Registers the contract suite for one transport. `setup` runs once in
 * beforeAll. Slow tests (dead peer, backpressure, send stall) take up to ~10 s.
 */
export function transportContract(name: string, setup: () => Promise<ContractHarness>): void {
  describe(`Link contract: ${name}`, () => {
    let h: ContractHarness;
    beforeAll(async () => {
      h = await setup();
    });
    afterAll(async () => {
      await h?.teardown?.();
    });

    for (const dir of ['client→server', 'server→client'] as const) {
      it(`delivers 0 B to 1 MiB messages intact and in order, ${dir}`, async () => {
        const p = await h.open();
        try {
          const [from, to] = dir === 'client→server' ? [p.client, p.server] : [p.server, p.client];
          const sizes = [0, 1, 4, 1000, 65_536, 1024 * 1024, 0, 3];
          const got = collect(to, sizes.length);
          await Promise.all(sizes.map((s, i) => from.send(pattern(s, i))));
          const frames = await got;
          expect(frames.map((f) => f.byteLength)).toEqual(sizes);
          frames.forEach((f, i) => expect(Buffer.from(f).equals(Buffer.from(pattern(sizes[i]!, i)))).toBe(true));
          expect(frames[0]).toBeInstanceOf(Uint8Array);
        } finally {
          await p.dispose();
        }
      }, 20_000);

      it(`delivers 1000 small messages in order, ${dir}`, async () => {
        const p = await h.open();
        try {
          const [from, to] = dir === 'client→server' ? [p.client, p.server] : [p.server, p.client];
          const got = collect(to, 1000);
          for (let i = 0; i < 1000; i++) void from.send(numbered(i));
          const frames = await got;
          expect(frames.map((f) => new TextDecoder().decode(f))).toEqual(Array.from({ length: 1000 }, (_, i) => `message ${i}`));
        } finally {
          await p.dispose();
        }
      }, 20_000);
    }

    it('rejects an oversize send with TRANSPORT_MESSAGE_TOO_LARGE and stays usable', async () => {
      const p = await h.open({ clientMaxMessageBytes: 1024 });
      try {
        await expect(p.client.send(new Uint8Array(1025))).rejects.toMatchObject({ code: 'TRANSPORT_MESSAGE_TOO_LARGE' });
        const got = collect(p.server, 1);
        await p.client.send(pattern(1024, 7));
        expect((await got)[0]!.byteLength).toBe(1024);
        expect(p.client.closed).toBe(false);
      } finally {
        await p.dispose();
      }
    });

    it('closes with 1009 when the peer sends more than this side accepts', async () => {
      const p = await h.open({ serverMaxMessageBytes: 1024 });
      try {
        const [s, c] = [closed(p.server), closed(p.client)];
        await p.client.send(new Uint8Array(4096)).catch(() => {});
        const si = await s;
        expect(si).toMatchObject({ code: 1009, error: { code: 'TRANSPORT_MESSAGE_TOO_LARGE' } });
        expect(await c).toMatchObject({ code: 1009, byPeer: true, error: { code: 'TRANSPORT_MESSAGE_TOO_LARGE' } });
      } finally {
        await p.dispose();
      }
    }, 10_000);

    for (const side of ['client', 'server'] as const) {
      it(`propagates close(code, reason) from the ${side}, after the messages sent before it`, async () => {
        const p = await h.open();
        try {
          const [closer, other] = side === 'client' ? [p.client, p.server] : [p.server, p.client];
          const got = collect(other, 100);
          const [ci, oi] = [closed(closer), closed(other)];
          for (let i = 0; i < 100; i++) void closer.send(numbered(i));
          const t0 = performance.now();
          await closer.close(4001, `bye from ${side}`);
          // close() is bounded by closeTimeoutMs (2 s); allow scheduling slack on a loaded 2-core machine
          expect(performance.now() - t0).toBeLessThan(6000);
          expect((await got).length).toBe(100);
          expect(await oi).toEqual({ code: 4001, reason: `bye from ${side}`, byPeer: true });
          expect(await ci).toEqual({ code: 4001, reason: `bye from ${side}`, byPeer: false });
          expect(closer.closed && other.closed).toBe(true);
          await expect(closer.send(new Uint8Array(1))).rejects.toMatchObject({ code: 'TRANSPORT_CLOSED' });
          await expect(other.send(new Uint8Array(1))).rejects.toMatchObject({ code: 'TRANSPORT_CLOSED' });
          await closer.close(); // idempotent
        } finally {
          await p.dispose();
        }
      });
    }

    it('clips a long close reason to 123 UTF-8 bytes on a character boundary', async () => {
      const p = await h.open();
      try {
        const oi = closed(p.server);
        const long = 'é'.repeat(100); // 200 bytes
        await p.client.close(4002, long);
        const { reason } = await oi;
        expect(long.startsWith(reason) && Buffer.byteLength(reason) <= 123 && reason.length >= 61).toBe(true);
      } finally {
        await p.dispose();
      }
    });

    it('rejects close codes outside 1000 and 4000-4999', async () => {
      const p = await h.open();
      try {
        await expect(p.client.close(1006)).rejects.toMatchObject({ code: 'TRANSPORT_INVALID_ARGUMENT' });
        expect(p.client.closed).toBe(false);
      } finally {
        await p.dispose();
      }
    });

    it('shows each side the certificate CN of the other', async () => {
      const p = await h.open();
      try {
        expect(p.server.peer.commonName).toBe(h.clientCn);
        expect(p.client.peer.commonName).toBe(h.serverCn);
        expect(p.server.peer.remoteAddress).toMatch(/:\d+$|^memory$/);
      } finally {
        await p.dispose();
      }
    });

    for (const kind of ['wrong-ca', 'no-cert'] as const) {
      it(`refuses a client with ${kind === 'wrong-ca' ? 'a certificate from another CA' : 'no certificate'}`, async (ctx) => {
        if (!h.dialRefused) return ctx.skip();
        expect(await h.dialRefused(kind)).toMatchObject({ code: 'TRANSPORT_TLS_FAILED' });
      }, 10_000);
    }

    it('notices a peer that vanished (no FIN, no RST) within 10 s, on both sides', async () => {
      const p = await h.open();
      try {
        const [c, s] = [closed(p.client), closed(p.server)];
        const t0 = performance.now();
        p.kill();
        const ms = async (x: Promise<CloseInfo>) => ((await x), performance.now() - t0);
        const [ct, st] = await Promise.all([ms(c), ms(s)]);
        console.info(`[${name}] dead peer noticed after ${Math.round(ct)} ms (client), ${Math.round(st)} ms (server)`);
        expect(await c).toMatchObject({ code: 1006, byPeer: true, error: { code: 'TRANSPORT_PEER_DEAD' } });
        expect(await s).toMatchObject({ code: 1006, byPeer: true, error: { code: 'TRANSPORT_PEER_DEAD' } });
        expect(Math.max(ct, st)).toBeLessThan(10_000);
      } finally {
        await p.dispose();
      }
    }, 15_000);

    it('applies backpressure: sends to a stalled peer stop resolving, bufferedAmount shows the backlog', async () => {
      const p = await h.open();
      try {
        p.stall();
        const chunk = new Uint8Array(64 * 1024);
        let resolved = 0;
        let stalledSend: Promise<void> | undefined;
        // Await each send, as a well-behaved producer does; stop at the first one that hangs.
        for (let i = 0; i < 1024 && !stalledSend; i++) {
          const s = p.client.send(chunk);
          const hung = await Promise.race([s.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 500))]);
          if (hung) stalledSend = s.catch(() => {});
          else resolved++;
        }
        console.info(`[${name}] send() stalled after ${resolved} × 64 KiB, bufferedAmount ${p.client.bufferedAmount}`);
        expect(stalledSend).toBeDefined();
        expect(resolved * chunk.byteLength).toBeLessThan(48 * 1024 * 1024);
        expect(p.client.bufferedAmount).toBeGreaterThan(0);
        expect(p.client.bufferedAmount).toBeLessThan(32 * 1024 * 1024);
      } finally {
        await p.dispose();
      }
    }, 20_000);

    it('fails a link whose sends make no progress with TRANSPORT_SEND_STALLED after stallTimeoutMs', async () => {
      // 1500 ms: well below deadAfterMs (7000), so the stall, not the dead peer, is what closes the link.
      const stallTimeoutMs = 1500;
      const p = await h.open({ stallTimeoutMs });
      try {
        const c = closed(p.client);
        p.stall();
        const t0 = performance.now();
        const chunk = new Uint8Array(64 * 1024);
        for (let i = 0; i < 1024 && !p.client.closed; i++) {
          const s = p.client.send(chunk);
          s.catch(() => {});
          if (await Promise.race([s.then(() => false, () => true), new Promise<boolean>((r) => setTimeout(() => r(true), 200))])) break;
        }
        const info = await c;
        const ms = performance.now() - t0;
        console.info(`[${name}] send stall noticed after ${Math.round(ms)} ms (stallTimeoutMs ${stallTimeoutMs})`);
        expect(info).toMatchObject({ code: 1006, byPeer: true, error: { code: 'TRANSPORT_SEND_STALLED' } });
        // the watchdog samples every stallTimeoutMs / 4, so it may count from one sample before t0
        expect(ms).toBeGreaterThanOrEqual(stallTimeoutMs * 0.7);
        expect(ms).toBeLessThan(6500);
        await expect(p.client.send(new Uint8Array(1))).rejects.toMatchObject({ code: 'TRANSPORT_CLOSED' });
      } finally {
        await p.dispose();
      }
    }, 20_000);
  });
}
