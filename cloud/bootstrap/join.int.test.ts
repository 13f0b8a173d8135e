/**
 * Install → token → join → connect, against the real control plane
 * (issue 8, deliverables 1-3 and 7):
 *
 * - in process: the local cloud that `outpost init --local` prepares
 *   (prepareLocalCloud + localCloudConfig + startCloud), a token from
 *   `gettoken`'s mintJoinToken, `join`'s enrollNode, and the agent started
 *   from the root directory with one flag's worth of config
 *   (buildEdgeConfig({root})): it connects to CloudHub with the issued
 *   certificate and syncs a pod's ConfigMap; the agent renews its
 *   certificate over /v1/renew and reconnects with it, keeping its store; a
 *   node whose certificate expired while it was offline is refused by the
 *   hub, then re-enrols by itself with a token dropped into its root, keeping
 *   its store.
 * - as processes: `outpost cloud --state-dir`, `outpost gettoken`,
 *   `outpost join --no-start`, `outpost edge --root`, `outpost doctor` on
 *   both sides, and `outpost reset`.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { parseCertificate } from '../../lib/pki.ts';
import { createNamespace, deleteNamespace, installCrds, kubeConfig, kubeconfigPath } from '../../test/support/kube.ts';
import { exited, spawnOutpost } from '../../test/support/hub-fixture.ts';
import { startCloud, type Cloud } from '../cloud.ts';
import { startEdge, type EdgeAgent } from '../../edge/agent.ts';
import { buildEdgeConfig } from '../../edge/config.ts';
import { enrollNode, readRootCredentials, rootFiles, writeRootToken } from '../../edge/identity/index.ts';
import { objectKey } from '../hub/routing.ts';
import { localCloudConfig, prepareLocalCloud } from '../../cli/install/local.ts';
import { mintJoinToken } from '../../cli/install/token.ts';
import { freePort } from '../../lib/ports.ts';

const log = createLogger({ level: process.env.OUTPOST_TEST_LOG === '1' ? 'debug' : 'warn' });
const run = Math.random().toString(36).slice(2, 7);
const base = mkdtempSync(join(tmpdir(), 'outpost-join-int-'));
const stateDir = join(base, 'cloud');
let core: k8s.CoreV1Api;
let ns = '';
let cloud: Cloud;
let shiftMs = 0; // the bootstrap server's clock offset: issue certificates "in the past" so they expire soon
const agents: EdgeAgent[] = [];

beforeAll(async () => {
  await installCrds();
  core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  ns = await createNamespace('join');
  await prepareLocalCloud({ stateDir, advertise: ['127.0.0.1'], hubHost: '127.0.0.1', hubPort: 0, bootstrapPort: 0, healthPort: -1, kubeconfig: kubeconfigPath() });
  const cfg = await localCloudConfig(stateDir);
  cloud = await startCloud({ ...cfg, bootstrap: { ...cfg.bootstrap!, now: () => new Date(Date.now() + shiftMs) } }, { log });
});

afterAll(async () => {
  for (const a of agents) await a.stop().catch(() => undefined);
  await cloud?.stop();
  await deleteNamespace(ns);
  rmSync(base, { recursive: true, force: true });
});

const cmKey = (n: string) => objectKey('v1', 'ConfigMap', ns, n);

async function podWithConfig(node: string, name: string, data: Record<string, string>): Promise<void> {
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data } });
  await core.createNamespacedPod({
    namespace: ns,
    body: { metadata: { name }, spec: { nodeName: node, containers: [{ name: 'c', image: 'busybox:1.36' }], volumes: [{ name: 'cfg', configMap: { name } }] } },
  });
}

async function joinNode(node: string, opts: { ttlMs?: number } = {}): Promise<string> {
  const root = join(base, node);
  const t = await mintJoinToken({ stateDir, ttlMs: opts.ttlMs ?? 3_600_000 });
  const r = await enrollNode({ root, cloud: `127.0.0.1:${cloud.bootstrap!.address.port}`, token: t.token, nodeName: node });
  expect(r.status).toBe('joined');
  return root;
}

async function agentFrom(root: string, rotator: Record<string, unknown> = {}): Promise<EdgeAgent> {
  const a = await startEdge(buildEdgeConfig({ root }), { log, identity: { rotator } });
  agents.push(a);
  return a;
}

describe('join against the real control plane', () => {
  it('init --local + gettoken + join: the agent connects to CloudHub with the issued certificate and syncs', async () => {
    const node = `join-a-${run}`;
    const root = await joinNode(node);
    const a = await agentFrom(root);
    onTestFailed(() => console.error(`agent state ${a.hub.state}`));
    expect(parseCertificate(a.tls.cert)).toMatchObject({ subjectCN: `system:node:${node}`, organization: ['system:nodes'] });
    await expect.poll(() => cloud.hub!.session(node) !== undefined, { timeout: 20_000 }).toBe(true);
    await podWithConfig(node, 'a-config', { greeting: 'hello' });
    await expect.poll(() => (a.store.objects.get(cmKey('a-config')) as { data?: Record<string, string> } | undefined)?.data, { timeout: 20_000 }).toEqual({ greeting: 'hello' });
  });

  it('renews the certificate over /v1/renew at 70-90 % of its life and reconnects with it, keeping the store', async () => {
    const node = `join-rot-${run}`;
    const root = await joinNode(node);
    let fakeNow = Date.now();
    const a = await agentFrom(root, { now: () => fakeNow, random: () => 0.5 });
    await podWithConfig(node, 'rot-config', { v: '1' });
    await expect.poll(() => a.store.objects.getRaw(cmKey('rot-config')) !== undefined, { timeout: 20_000 }).toBe(true);
    const before = { cert: a.tls.cert, session: cloud.hub!.session(node)!.id, renewed: cloud.bootstrap!.issued.renew };
    const w = parseCertificate(before.cert);
    fakeNow = w.notBefore.getTime() + (w.notAfter.getTime() - w.notBefore.getTime()) * 0.85;
    await a.identity.rotator!.check();
    expect(cloud.bootstrap!.issued.renew).toBe(before.renewed + 1);
    expect(a.tls.cert).not.toBe(before.cert);
    expect(readRootCredentials(root).cert).toBe(a.tls.cert);
    // a new session, authenticated by the new certificate
    await expect.poll(() => cloud.hub!.session(node)?.id, { timeout: 20_000 }).not.toBe(before.session);
    expect(a.store.objects.getRaw(cmKey('rot-config'))).toBeDefined();
    await core.patchNamespacedConfigMap({ namespace: ns, name: 'rot-config', body: { data: { v: '2' } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await expect.poll(() => (a.store.objects.get(cmKey('rot-config')) as { data?: Record<string, string> } | undefined)?.data, { timeout: 20_000 }).toEqual({ v: '2' });
  });

  it('a node offline past its certificate\'s expiry is refused, then re-enrols with a fresh token and keeps its store', async () => {
    const node = `join-exp-${run}`;
    // certificates issued now expire in ~8 s (365-day validity, issued "365 days ago")
    shiftMs = -365 * 86_400_000 + 8000;
    let root: string;
    try {
      root = await joinNode(node);
    } finally {
      shiftMs = 0;
    }
    // online long enough to sync, but its renewals never get through (the link to the bootstrap port is down)
    const a = await agentFrom(root, { renew: () => Promise.reject(new Error('bootstrap port unreachable')) });
    await podWithConfig(node, 'exp-config', { kept: 'yes' });
    await expect.poll(() => a.store.objects.getRaw(cmKey('exp-config')) !== undefined, { timeout: 20_000 }).toBe(true);
    await a.stop();
    agents.splice(agents.indexOf(a), 1);
    const expiry = parseCertificate(readRootCredentials(root).cert).notAfter.getTime();
    await new Promise((r) => setTimeout(r, Math.max(0, expiry - Date.now()) + 1500));

    // back online with the expired certificate: no session
    const b = await agentFrom(root, { maxSleepMs: 500 });
    await new Promise((r) => setTimeout(r, 3000));
    expect(cloud.hub!.session(node)).toBeUndefined();
    expect(b.hub.state).not.toBe('synced');

    // the operator drops a fresh, node-bound token into the root: the agent re-enrols by itself
    const t = await mintJoinToken({ stateDir, ttlMs: 3_600_000, nodeName: node });
    writeRootToken(root, t.token);
    await expect.poll(() => cloud.hub!.session(node) !== undefined, { timeout: 30_000 }).toBe(true);
    expect(parseCertificate(b.tls.cert).notAfter.getTime()).toBeGreaterThan(Date.now() + 300 * 86_400_000);
    expect((b.store.objects.get(cmKey('exp-config')) as { data?: Record<string, string> }).data).toEqual({ kept: 'yes' });
    await expect.poll(() => b.hub.state, { timeout: 20_000 }).toBe('synced');
    expect(existsSync(join(root, rootFiles.token))).toBe(false);
  });
});

function outpost(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'outpost.js'), ...args], { env: { ...process.env, KUBECONFIG: kubeconfigPath(), OUTPOST_LOG_LEVEL: 'warn' } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('the outpost CLI end to end', () => {
  it('cloud --state-dir, gettoken, join --no-start, edge --root, doctor on both sides, reset', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-cli-'));
    const cloudDir = join(dir, 'cloud');
    const root = join(dir, 'edge');
    const node = `join-cli-${run}`;
    const [hubPort, bootstrapPort] = [await freePort(), await freePort()];
    const init = await outpost(['init', '--local', '--state-dir', cloudDir, '--advertise-address', '127.0.0.1', '--hub-port', String(hubPort), '--bootstrap-port', String(bootstrapPort), '--health-port', '0', '--no-start']);
    expect(init.code, init.stderr).toBe(0);
    // idempotent: a second init keeps the CA
    const again = await outpost(['init', '--local', '--state-dir', cloudDir, '--no-start']);
    expect(again.stderr).toMatch(/CA sha256:[0-9a-f]{64} \(kept\)/);
    const c = spawnOutpost(['cloud', '--state-dir', cloudDir]);
    let e: ReturnType<typeof spawnOutpost> | undefined;
    onTestFailed(() => console.error(`cloud:\n${c.logs().slice(-4000)}\nedge:\n${e?.logs().slice(-4000)}`));
    try {
      const tok = await outpost(['gettoken', '--state-dir', cloudDir, '--ttl', '10m']);
      expect(tok.code, tok.stderr).toBe(0);
      const token = tok.stdout.trim();
      expect(tok.stderr).toContain(`outpost join --cloud 127.0.0.1:${bootstrapPort} --token ${token}`);
      let j = { code: 1, stdout: '', stderr: '' };
      for (let i = 0; i < 50 && j.code !== 0; i++) {
        j = await outpost(['join', '--cloud', `127.0.0.1:${bootstrapPort}`, '--token', token, '--node-name', node, '--root', root, '--no-start']);
        if (j.code !== 0 && !/IDENTITY_UNREACHABLE/.test(j.stderr)) break;
        if (j.code !== 0) await new Promise((r) => setTimeout(r, 300)); // the cloud is still starting
      }
      expect(j.code, j.stderr).toBe(0);
      expect(j.stderr).toContain(`outpost edge --root ${root}`);
      const reused = await outpost(['join', '--cloud', `127.0.0.1:${bootstrapPort}`, '--token', token, '--node-name', `${node}-2`, '--root', join(dir, 'edge2'), '--no-start']);
      expect(reused.code).toBe(1);
      expect(reused.stderr).toMatch(/BOOTSTRAP_TOKEN_USED/);
      const noop = await outpost(['join', '--cloud', `127.0.0.1:${bootstrapPort}`, '--token', token, '--node-name', node, '--root', root, '--no-start']);
      expect(noop.code).toBe(0);
      expect(noop.stderr).toMatch(/already joined.*nothing to do/);

      e = spawnOutpost(['edge', '--root', root]);
      let doc = { code: 1, stdout: '', stderr: '' };
      for (let i = 0; i < 60 && doc.code !== 0; i++) {
        doc = await outpost(['doctor', '--edge', '--root', root]);
        if (doc.code !== 0 || !/ok\s+agent/.test(doc.stdout)) {
          doc.code = 1;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      expect(doc.code, doc.stdout).toBe(0);
      for (const check of ['config', 'certificate', 'bootstrap', 'clock skew', 'hub certificate', 'hub websocket', 'store', 'agent']) expect(doc.stdout).toMatch(new RegExp(`^ok\\s+${check}\\s`, 'm'));
      const cdoc = await outpost(['doctor', '--cloud', '--state-dir', cloudDir]);
      expect(cdoc.code, cdoc.stdout).toBe(0);
      for (const check of ['api server', 'crds', 'cloud', 'hub certificate', 'hub sans', 'bootstrap', 'hub websocket', 'join tokens']) expect(cdoc.stdout).toMatch(new RegExp(`^ok\\s+${check}\\s`, 'm'));

      const reset = await outpost(['reset', '--edge', '--root', root, '--force']);
      expect(reset.code, reset.stderr).toBe(0);
      await exited(e);
      expect(existsSync(root)).toBe(false);
    } finally {
      e?.kill('SIGTERM');
      c.kill('SIGTERM');
      await exited(c);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
