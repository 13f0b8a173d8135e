/**
 * Cluster mode against the real control plane:
 * - `outpost init --dry-run`: the API server validates every object init
 *   would apply (CRDs, RBAC, webhook configurations, Deployment, Service);
 * - the hub PKI in a Secret: idempotent (the CA is kept across runs, the
 *   serving certificate re-issued for a new address), and replicas starting
 *   together settle on one CA;
 * - join tokens as Secrets: exactly one use under a race, and the "used"
 *   mark survives a restart of the cloud (a new bootstrap server refuses the
 *   token a previous one accepted).
 *
 * A real `outpost init` is not run here: its Deployment and Fail-policy
 * webhooks would act on the cluster every other test shares.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KubeClient } from '../../controllers/runtime/index.ts';
import { createLogger } from '../../lib/log.ts';
import { parseCertificate } from '../../lib/pki.ts';
import { parseJoinToken } from '../../lib/join-token.ts';
import { enrollNode, IdentityError } from '../../edge/identity/index.ts';
import { collectExpiredTokens, ensureHubPki, mintToken, SecretPkiStore, SecretTokenStore, startBootstrapServer } from '../../cloud/bootstrap/index.ts';
import { createNamespace, deleteNamespace, installCrds, kubeConfig, kubeconfigPath } from '../../test/support/kube.ts';
import { main } from '../main.ts';

const log = createLogger({ level: 'error' });
let ns = '';
let client: KubeClient;
let createdSystemNs = false;
const base = mkdtempSync(join(tmpdir(), 'outpost-cluster-int-'));

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('pki');
  client = new KubeClient(kubeConfig());
  // a server-side dry run of namespaced objects needs their namespace to exist
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  if (!(await core.readNamespace({ name: 'outpost-system' }).then(() => true, () => false))) {
    await core.createNamespace({ body: { metadata: { name: 'outpost-system' } } });
    createdSystemNs = true;
  }
});

afterAll(async () => {
  await deleteNamespace(ns);
  if (createdSystemNs) await deleteNamespace('outpost-system');
  rmSync(base, { recursive: true, force: true });
});

async function cli(argv: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    return { code: await main(argv), err };
  } finally {
    e.mockRestore();
  }
}

describe('outpost init (cluster mode)', () => {
  it('--dry-run: the API server accepts every object init would apply, webhooks included, and nothing changes', async () => {
    const r = await cli(['init', '--dry-run', '--webhooks', '--advertise-address', '192.0.2.10', '--kubeconfig', kubeconfigPath()]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/dry run passed for \d+ objects; nothing was changed/);
    const dep = await client.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'outpost-system', name: 'outpost-cloud' });
    expect(dep).toBeUndefined();
    expect(await client.get({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', name: 'outpost-validating' })).toBeUndefined();
  });
});

describe('hub PKI in a Secret', () => {
  it('keeps the CA across runs and re-issues the serving certificate only for a new address', async () => {
    const store = new SecretPkiStore(client, ns, 'hub-pki');
    const first = await ensureHubPki(store, { advertise: ['192.0.2.10'] });
    expect(first.created).toEqual({ ca: true, serving: true });
    const again = await ensureHubPki(store, { advertise: ['192.0.2.10'] });
    expect(again.created).toEqual({ ca: false, serving: false });
    expect(again.caPin).toBe(first.caPin);
    expect(again.pki.serving.certPem).toBe(first.pki.serving.certPem);
    const more = await ensureHubPki(store, { advertise: ['192.0.2.10', 'hub.example.test'] });
    expect(more.created).toEqual({ ca: false, serving: true });
    expect(more.caPin).toBe(first.caPin);
    expect(parseCertificate(more.pki.serving.certPem)).toMatchObject({ ips: expect.arrayContaining(['192.0.2.10', '127.0.0.1']), dnsNames: expect.arrayContaining(['hub.example.test', 'localhost']) });
  });

  it('replicas starting together settle on one CA', async () => {
    const results = await Promise.all([0, 1, 2].map(() => ensureHubPki(new SecretPkiStore(client, ns, 'race-pki'), { advertise: ['192.0.2.11'] })));
    expect(new Set(results.map((r) => r.caPin)).size).toBe(1);
    const stored = await new SecretPkiStore(client, ns, 'race-pki').load();
    expect((await import('../../lib/pki.ts')).caPin(stored!.ca.certPem)).toBe(results[0]!.caPin);
  });
});

describe('join tokens as Secrets', () => {
  it('one use under a race; expired ones are garbage-collected', async () => {
    const { pki } = await ensureHubPki(new SecretPkiStore(client, ns, 'tok-pki'), { advertise: [] });
    const store = new SecretTokenStore(client, ns);
    const { token } = await mintToken(store, { caCertPem: pki.ca.certPem, ttlMs: 60_000 });
    const id = parseJoinToken(token).id;
    const wins = await Promise.all([0, 1, 2, 3, 4].map((i) => store.consume(id, `node-${i}`, new Date())));
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect((await store.get(id))!.usedBy).toMatch(/^node-\d$/);

    const old = await mintToken(store, { caCertPem: pki.ca.certPem, ttlMs: 1000, now: new Date(Date.now() - 3 * 3_600_000) });
    expect(await collectExpiredTokens(store, new Date())).toBeGreaterThanOrEqual(1);
    expect(await store.get(old.record.id)).toBeUndefined();
    expect(await store.get(id)).toBeDefined();
  });

  it('a token used before a cloud restart is refused after it', async () => {
    const { pki } = await ensureHubPki(new SecretPkiStore(client, ns, 'restart-pki'), { advertise: ['127.0.0.1'] });
    const tokens = new SecretTokenStore(client, ns);
    const { token } = await mintToken(tokens, { caCertPem: pki.ca.certPem, ttlMs: 600_000 });
    const start = () => startBootstrapServer({ host: '127.0.0.1', port: 0, ca: pki.ca, serving: pki.serving, tokens: new SecretTokenStore(client, ns), log, hub: { port: 10000, protocols: ['websocket'] } });
    const first = await start();
    await enrollNode({ root: join(base, 'n1'), cloud: `127.0.0.1:${first.address.port}`, token, nodeName: 'restart-n1' });
    await first.close();
    const second = await start();
    try {
      const err = await enrollNode({ root: join(base, 'n2'), cloud: `127.0.0.1:${second.address.port}`, token, nodeName: 'restart-n2' }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(IdentityError);
      expect((err as IdentityError).serverCode).toBe('BOOTSTRAP_TOKEN_USED');
    } finally {
      await second.close();
    }
  });
});
