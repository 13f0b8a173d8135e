/**
 * Join, tokens and the certificate lifecycle, end to end over real HTTPS on
 * loopback: the cloud's bootstrap server (cloud/bootstrap) and the edge's
 * enrolment client and rotator (edge/identity). No cluster: tokens live in a
 * directory store, "node exists" is a set.
 *
 * Acceptance (issue 8, deliverables 2, 3, 7): valid, expired, wrong-pin and
 * reused token; single use under a race; re-running join; rotation at
 * 70-90 % of the life over /v1/renew; expiry while offline, then re-enrolment
 * keeping the local store.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { createCa, parseCertificate } from '../../lib/pki.ts';
import { parseJoinToken } from '../../lib/join-token.ts';
import {
  CertificateRotator, enrollNode, IdentityError, readRootConfig, readRootCredentials, rootFiles, rotationDeadline, writeRootToken, type Credentials, type RotationEvent,
} from '../../edge/identity/index.ts';
import { openEdgeStore } from '../../edge/store/store.ts';
import { DirPkiStore, DirTokenStore, ensureHubPki, mintToken, startBootstrapServer, type BootstrapServer, type EnsureResult } from './index.ts';

const log = createLogger({ level: process.env.OUTPOST_TEST_LOG === '1' ? 'debug' : 'error' });
const base = mkdtempSync(join(tmpdir(), 'outpost-join-'));
let pki: EnsureResult;
let tokens: DirTokenStore;
let server: BootstrapServer;
let cloud = '';
const registered = new Set<string>();
let serverNow: (() => Date) | undefined;
let n = 0;
const root = () => join(base, `node-${++n}`);

beforeAll(async () => {
  pki = await ensureHubPki(new DirPkiStore(join(base, 'cloud', 'pki')), { advertise: ['127.0.0.1'] });
  tokens = new DirTokenStore(join(base, 'cloud', 'tokens'));
  server = await startBootstrapServer({
    host: '127.0.0.1', port: 0, ca: pki.pki.ca, serving: pki.pki.serving, tokens, log, hub: { port: 10000, protocols: ['websocket', 'quic'] },
    nodeExists: (name) => registered.has(name), now: () => serverNow?.() ?? new Date(),
  });
  cloud = `127.0.0.1:${server.address.port}`;
});

afterAll(async () => {
  await server.close();
  rmSync(base, { recursive: true, force: true });
});

const token = async (o: { ttlMs?: number; nodeName?: string; now?: Date; caCertPem?: string } = {}) =>
  (await mintToken(tokens, { caCertPem: o.caCertPem ?? pki.pki.ca.certPem, ttlMs: o.ttlMs ?? 3_600_000, ...(o.nodeName ? { nodeName: o.nodeName } : {}), ...(o.now ? { now: o.now } : {}) })).token;

async function refusal(p: Promise<unknown>): Promise<IdentityError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(IdentityError);
  return err as IdentityError;
}

describe('join', () => {
  it('joins with a valid token: pinned CA, key made locally, CN system:node:<name> O system:nodes, one root directory', async () => {
    const dir = root();
    const r = await enrollNode({ root: dir, cloud, token: await token(), nodeName: 'edge-valid' });
    expect(r.status).toBe('joined');
    expect(readdirSync(dir).sort()).toEqual(['config.yaml', 'data', 'pki']);
    const cfg = readRootConfig(dir)!;
    expect(cfg).toMatchObject({ nodeName: 'edge-valid', cloud: { address: '127.0.0.1', caPin: pki.caPin, bootstrapPort: server.address.port, hubPort: 10000, protocol: 'auto' } });
    const creds = readRootCredentials(dir);
    const info = parseCertificate(creds.cert);
    expect(info).toMatchObject({ subjectCN: 'system:node:edge-valid', organization: ['system:nodes'], issuerCN: 'outpost-ca' });
    expect(new X509Certificate(creds.cert).checkPrivateKey((await import('node:crypto')).createPrivateKey(creds.key))).toBe(true);
    expect(creds.ca).toBe(pki.pki.ca.certPem);
    // the private key is only readable by the owner
    expect(readFileSync(join(dir, rootFiles.node)).length).toBeGreaterThan(0);
    expect((await import('node:fs')).statSync(join(dir, rootFiles.node)).mode & 0o077).toBe(0);
  });

  it('refuses an expired token and writes nothing', async () => {
    const dir = root();
    const t = await token({ ttlMs: 60_000, now: new Date(Date.now() - 120_000) });
    const err = await refusal(enrollNode({ root: dir, cloud, token: t, nodeName: 'edge-expired' }));
    expect(err.code).toBe('IDENTITY_REFUSED');
    expect(err.serverCode).toBe('BOOTSTRAP_TOKEN_EXPIRED');
    expect(err.message).toMatch(/expired at .*outpost gettoken/);
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses a CA whose pin differs from the token before sending anything, and the token stays unused', async () => {
    const other = await createCa({ commonName: 'someone-else', validityDays: 1 });
    const t = await token({ caCertPem: other.certPem });
    const before = server.issued.join;
    const dir = root();
    const err = await refusal(enrollNode({ root: dir, cloud, token: t, nodeName: 'edge-wrong-pin' }));
    expect(err.code).toBe('IDENTITY_CA_PIN_MISMATCH');
    expect(err.message).toMatch(/nothing was sent/);
    expect(server.issued.join).toBe(before);
    expect((await tokens.get(parseJoinToken(t).id))!.usedBy).toBeUndefined();
    expect(existsSync(dir)).toBe(false);
  });

  it('authorises exactly one certificate: a reused token is refused, and of two racing joins one wins', async () => {
    const t = await token();
    await enrollNode({ root: root(), cloud, token: t, nodeName: 'edge-first' });
    const dir = root();
    const err = await refusal(enrollNode({ root: dir, cloud, token: t, nodeName: 'edge-second' }));
    expect(err.serverCode).toBe('BOOTSTRAP_TOKEN_USED');
    expect(err.message).toMatch(/already used by node "edge-first"/);
    expect(existsSync(dir)).toBe(false);

    const race = await token();
    const results = await Promise.allSettled([0, 1, 2, 3].map((i) => enrollNode({ root: root(), cloud, token: race, nodeName: `edge-race-${i}` })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected')) expect(((r as PromiseRejectedResult).reason as IdentityError).serverCode).toBe('BOOTSTRAP_TOKEN_USED');
  });

  it('honours a token bound to a node name, and a registered name needs --force-reenroll', async () => {
    const bound = await token({ nodeName: 'edge-bound' });
    expect((await refusal(enrollNode({ root: root(), cloud, token: bound, nodeName: 'edge-other' }))).serverCode).toBe('BOOTSTRAP_TOKEN_NODE_MISMATCH');
    // the refused attempt did not burn it
    await enrollNode({ root: root(), cloud, token: bound, nodeName: 'edge-bound' });

    registered.add('edge-taken');
    const t = await token();
    const err = await refusal(enrollNode({ root: root(), cloud, token: t, nodeName: 'edge-taken' }));
    expect(err.serverCode).toBe('BOOTSTRAP_NODE_EXISTS');
    expect(err.message).toMatch(/--force-reenroll/);
    expect((await tokens.get(parseJoinToken(t).id))!.usedBy).toBeUndefined();
  });

  it('re-running join is a no-op for the same cloud and name, a clear error otherwise, and never touches a foreign directory', async () => {
    const dir = root();
    const t = await token();
    await enrollNode({ root: dir, cloud, token: t, nodeName: 'edge-rerun' });
    const before = readFileSync(join(dir, rootFiles.node), 'utf8');
    // same token (already used) and same name: nothing to do, no network
    const again = await enrollNode({ root: dir, cloud, token: t, nodeName: 'edge-rerun' });
    expect(again).toMatchObject({ status: 'already-joined', expired: false });
    expect(readFileSync(join(dir, rootFiles.node), 'utf8')).toBe(before);

    const otherName = await refusal(enrollNode({ root: dir, cloud, token: await token(), nodeName: 'edge-renamed' }));
    expect(otherName.code).toBe('IDENTITY_ROOT_CONFLICT');
    expect(otherName.message).toMatch(/outpost reset --edge --root/);
    const otherCa = await createCa({ commonName: 'other', validityDays: 1 });
    expect((await refusal(enrollNode({ root: dir, cloud, token: await token({ caCertPem: otherCa.certPem }), nodeName: 'edge-rerun' }))).code).toBe('IDENTITY_ROOT_CONFLICT');
    expect(readFileSync(join(dir, rootFiles.node), 'utf8')).toBe(before);

    const foreign = root();
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'precious.txt'), 'x');
    expect((await refusal(enrollNode({ root: foreign, cloud, token: await token(), nodeName: 'edge-foreign' }))).code).toBe('IDENTITY_ROOT_NOT_EMPTY');
    expect(readdirSync(foreign)).toEqual(['precious.txt']);

    // an existing empty directory (e.g. a mount point) is fine
    const empty = root();
    mkdirSync(empty);
    expect((await enrollNode({ root: empty, cloud, token: await token(), nodeName: 'edge-empty-dir' })).status).toBe('joined');
    expect(readdirSync(empty).sort()).toEqual(['config.yaml', 'data', 'pki']);
  });

  it('says which address is missing when the cloud certificate does not cover the dialled name', async () => {
    // "localhost" is a default SAN; a name that resolves to loopback but is not in the certificate:
    const err = await refusal(enrollNode({ root: root(), cloud, token: await token(), nodeName: 'edge-san', serverName: 'hub.example.test' }));
    expect(err.code).toBe('IDENTITY_SAN_MISMATCH');
    expect(err.message).toMatch(/--advertise-address hub\.example\.test/);
  });
});

describe('certificate lifecycle', () => {
  /** A manual clock and timer for the rotator. */
  function fakeTime(start: number) {
    const t = { now: start, timers: [] as { at: number; fn: () => void }[] };
    return {
      t,
      now: () => t.now,
      setTimer: (fn: () => void, ms: number) => {
        const e = { at: t.now + ms, fn };
        t.timers.push(e);
        return () => (t.timers = t.timers.filter((x) => x !== e));
      },
    };
  }

  it('puts the renewal deadline at 70-90 % of the life', () => {
    const nb = new Date('2026-01-01T00:00:00Z');
    const na = new Date('2026-01-11T00:00:00Z');
    expect(rotationDeadline(nb, na, () => 0).toISOString()).toBe('2026-01-08T00:00:00.000Z');
    expect(rotationDeadline(nb, na, () => 1).toISOString()).toBe('2026-01-10T00:00:00.000Z');
    expect(rotationDeadline(nb, na, () => 0.5).toISOString()).toBe('2026-01-09T00:00:00.000Z');
  });

  it('renews over /v1/renew with the current certificate before expiry, atomically, and hands the agent the new credentials', async () => {
    const dir = root();
    await enrollNode({ root: dir, cloud, token: await token(), nodeName: 'edge-rotate' });
    const initial = readRootCredentials(dir);
    const w = parseCertificate(initial.cert);
    const clock = fakeTime(Date.now());
    const events: [RotationEvent, Credentials][] = [];
    const rot = new CertificateRotator({
      root: dir, nodeName: 'edge-rotate', endpoint: { host: '127.0.0.1', port: server.address.port }, initial, log,
      onRotated: (c, how) => events.push([how, c]), now: clock.now, setTimer: clock.setTimer, random: () => 0.5,
    });
    const life = w.notAfter.getTime() - w.notBefore.getTime();
    expect(rot.deadline.getTime()).toBe(w.notBefore.getTime() + life * 0.8);
    rot.start();
    // the first timer is capped (1 h) and firing early renews nothing
    expect(clock.t.timers[0]!.at - clock.t.now).toBe(3_600_000);
    await rot.check();
    expect(events).toHaveLength(0);

    const renewsBefore = server.issued.renew;
    clock.t.now = w.notBefore.getTime() + life * 0.85;
    await rot.check();
    expect(server.issued.renew).toBe(renewsBefore + 1);
    expect(events.map((e) => e[0])).toEqual(['renewed']);
    const next = readRootCredentials(dir);
    expect(next.cert).toBe(events[0]![1].cert);
    expect(next.key).not.toBe(initial.key); // a new key each time
    expect(parseCertificate(next.cert).subjectCN).toBe('system:node:edge-rotate');
    const nw = parseCertificate(next.cert);
    expect(rot.deadline.getTime()).toBe(nw.notBefore.getTime() + (nw.notAfter.getTime() - nw.notBefore.getTime()) * 0.8);
    rot.stop();
  });

  it('retries a failed renewal (cloud unreachable) with backoff until it works', async () => {
    const dir = root();
    await enrollNode({ root: dir, cloud, token: await token(), nodeName: 'edge-offline-renew' });
    const initial = readRootCredentials(dir);
    const w = parseCertificate(initial.cert);
    const clock = fakeTime(w.notBefore.getTime() + (w.notAfter.getTime() - w.notBefore.getTime()) * 0.95);
    const events: RotationEvent[] = [];
    const rot = new CertificateRotator({
      root: dir, nodeName: 'edge-offline-renew', endpoint: { host: '127.0.0.1', port: 1 }, initial, log, // nothing listens on port 1
      onRotated: (_c, how) => events.push(how), now: clock.now, setTimer: clock.setTimer, random: () => 0,
    });
    rot.start();
    await rot.check();
    expect(events).toEqual([]);
    const retry = clock.t.timers.at(-1)!;
    expect(retry.at - clock.t.now).toBe(30_000);
    expect(readRootCredentials(dir).cert).toBe(initial.cert);
    rot.stop();
  });

  it('after expiry while offline: no token → says what to run; a fresh token in DIR/token → re-enrols itself and keeps the store', async () => {
    const dir = root();
    await enrollNode({ root: dir, cloud, token: await token(), nodeName: 'edge-expired-offline' });
    registered.add('edge-expired-offline');
    const store = openEdgeStore(join(dir, rootFiles.dataDir, 'edge.db'));
    store.objects.applyBatch([{ op: 'upsert', key: 'v1/ConfigMap/default/kept', rv: '7', body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kept', namespace: 'default' } }) }], { session: 's', seq: 1 });
    store.close();

    const initial = readRootCredentials(dir);
    const w = parseCertificate(initial.cert);
    const clock = fakeTime(w.notAfter.getTime() + 86_400_000); // a day past expiry
    const lines: string[] = [];
    const events: RotationEvent[] = [];
    const rot = new CertificateRotator({
      root: dir, nodeName: 'edge-expired-offline', endpoint: { host: '127.0.0.1', port: server.address.port }, initial,
      log: createLogger({ level: 'info', write: (l) => lines.push(l) }), onRotated: (_c, how) => events.push(how), now: clock.now, setTimer: clock.setTimer,
    });
    await rot.check();
    expect(events).toEqual([]);
    expect(lines.join('\n')).toMatch(/Node certificate expired.*outpost gettoken --node-name edge-expired-offline.*--force-reenroll/);

    writeRootToken(dir, await token({ nodeName: 'edge-expired-offline', ttlMs: 7 * 86_400_000 }));
    await rot.check();
    expect(events).toEqual(['reenrolled']);
    expect(existsSync(join(dir, rootFiles.token))).toBe(false); // used: removed
    const now = readRootCredentials(dir);
    expect(now.cert).not.toBe(initial.cert);
    expect(parseCertificate(now.cert).subjectCN).toBe('system:node:edge-expired-offline');
    const reopened = openEdgeStore(join(dir, rootFiles.dataDir, 'edge.db'));
    expect(reopened.objects.getRaw('v1/ConfigMap/default/kept')?.resourceVersion).toBe('7');
    reopened.close();
  });

  it('re-enrols an expired node with `join --force-reenroll` and a fresh token, keeping data/ (real TLS expiry)', async () => {
    const dir = root();
    // the server's clock says "365 days ago + 2 s": the 365-day certificate it issues expires 2 s from now
    serverNow = () => new Date(Date.now() - 365 * 86_400_000 + 2000);
    try {
      await enrollNode({ root: dir, cloud, token: await token(), nodeName: 'edge-real-expiry' });
    } finally {
      serverNow = undefined;
    }
    registered.add('edge-real-expiry');
    writeFileSync(join(dir, rootFiles.dataDir, 'marker'), 'local state');
    const expired = readRootCredentials(dir);
    await new Promise((r) => setTimeout(r, Math.max(0, parseCertificate(expired.cert).notAfter.getTime() - Date.now()) + 1200));

    // renewing with the expired certificate is refused by the TLS check
    const { requestRenew } = await import('../../edge/identity/client.ts');
    const { createCsr } = await import('../../lib/pki.ts');
    const err = await refusal(requestRenew({ host: '127.0.0.1', port: server.address.port }, expired, (await createCsr({ commonName: 'system:node:edge-real-expiry' })).csrPem));
    expect(err.serverCode).toBe('BOOTSTRAP_CLIENT_CERT_REQUIRED');
    expect(err.message).toMatch(/expired/);

    // a plain re-run says it is expired; --force-reenroll without reenroll-permission is refused by name; with it, works
    expect(await enrollNode({ root: dir, cloud, token: await token(), nodeName: 'edge-real-expiry' })).toMatchObject({ status: 'already-joined', expired: true });
    const r = await enrollNode({ root: dir, cloud, token: await token(), nodeName: 'edge-real-expiry', reenroll: true });
    expect(r.status).toBe('reenrolled');
    expect(r.notAfter!.getTime()).toBeGreaterThan(Date.now() + 86_000_000);
    expect(readFileSync(join(dir, rootFiles.dataDir, 'marker'), 'utf8')).toBe('local state');
  });
});
