/**
 * Least privilege, proven: the cloud runs as the ServiceAccount of
 * config/rbac (a TokenRequest token, no other grant) with its controllers,
 * leader election in outpost-system, CloudHub and the bootstrap endpoint
 * with Secret-backed join tokens, and an edge node joins, connects and
 * syncs — with no "forbidden" anywhere in the cloud's logs. A controller or
 * hub path that needs a permission nobody declared fails here.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { createLogger } from '../lib/log.ts';
import { KubeClient } from '../controllers/runtime/index.ts';
import { createNamespace, deleteNamespace, installCrds, kubeConfig } from '../test/support/kube.ts';
import { applyAll } from '../cli/apply-manifests.ts';
import { startEdge, type EdgeAgent } from '../edge/agent.ts';
import { buildEdgeConfig } from '../edge/config.ts';
import { enrollNode } from '../edge/identity/index.ts';
import { defaultCloudConfig, startCloud, type Cloud } from './cloud.ts';
import { DirPkiStore, ensureHubPki, mintToken, SecretTokenStore } from './bootstrap/index.ts';
import { objectKey } from './hub/routing.ts';
import { cloudNamespace, cloudServiceAccount, rbacObjects } from './rbac.ts';

const lines: string[] = [];
const log = createLogger({ level: 'info', write: (l) => lines.push(l) });
const dir = mkdtempSync(join(tmpdir(), 'outpost-rbac-int-'));
const node = `rbac-${Math.random().toString(36).slice(2, 7)}`;
let ns = '';
let cloud: Cloud | undefined;
let agent: EdgeAgent | undefined;

beforeAll(async () => {
  await installCrds();
  const admin = kubeConfig();
  const core = admin.makeApiClient(k8s.CoreV1Api);
  if (!(await core.readNamespace({ name: cloudNamespace }).then(() => true, () => false))) await core.createNamespace({ body: { metadata: { name: cloudNamespace } } });
  await applyAll(admin, rbacObjects());
  ns = await createNamespace('rbac');
});

afterAll(async () => {
  await agent?.stop();
  await cloud?.stop();
  await deleteNamespace(ns);
  rmSync(dir, { recursive: true, force: true });
});

/** A kubeconfig that authenticates as the cloud's ServiceAccount only. */
async function serviceAccountKubeconfig(): Promise<string> {
  const admin = kubeConfig();
  const tr = await admin.makeApiClient(k8s.CoreV1Api).createNamespacedServiceAccountToken({
    name: cloudServiceAccount, namespace: cloudNamespace, body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = admin.getCurrentCluster()!;
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...cluster, name: 'c' }], users: [{ name: 'outpost-cloud', token: tr.status!.token }],
    contexts: [{ name: 'sa', cluster: 'c', user: 'outpost-cloud' }], currentContext: 'sa',
  });
  const path = join(dir, 'sa.kubeconfig');
  writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
  return path;
}

describe('the cloud under config/rbac', () => {
  it('runs controllers, leader election, hub and bootstrap, and an edge joins and syncs, with no forbidden request', async () => {
    onTestFailed(() => console.error(lines.filter((l) => /forbidden|403|error/i.test(l)).slice(-30).join('\n')));
    const kubeconfig = await serviceAccountKubeconfig();
    // the token really is limited: reading RBAC objects is not in config/rbac
    const sa = new KubeClient((() => {
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(kubeconfig);
      return kc;
    })());
    await expect(sa.request('GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles')).rejects.toMatchObject({ statusCode: 403 });

    const { pki } = await ensureHubPki(new DirPkiStore(join(dir, 'pki')), { advertise: ['127.0.0.1'] });
    cloud = await startCloud({
      ...defaultCloudConfig, kubeconfig, leaderElect: true, leaderElectionNamespace: cloudNamespace, leaderElectionName: `outpost-rbac-${node}`,
      leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500, healthPort: -1, identity: `rbac-test-${process.pid}`,
      hub: { host: '127.0.0.1', port: 0, protocols: ['websocket'], tls: { ca: pki.ca.certPem, cert: pki.serving.certPem, key: pki.serving.keyPem } },
      bootstrap: { host: '127.0.0.1', port: 0, ca: pki.ca, serving: pki.serving, tokens: { kind: 'secrets', namespace: cloudNamespace } },
    }, { log });

    // `outpost gettoken` runs as an admin; the cloud (the SA) reads and marks the token
    const { token } = await mintToken(new SecretTokenStore(new KubeClient(kubeConfig()), cloudNamespace), { caCertPem: pki.ca.certPem, ttlMs: 600_000 });
    const root = join(dir, 'edge');
    await enrollNode({ root, cloud: `127.0.0.1:${cloud.bootstrap!.address.port}`, token, nodeName: node });
    agent = await startEdge(buildEdgeConfig({ root, hubProtocol: 'websocket' }), { log });

    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'cfg' }, data: { a: 'b' } } });
    await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'p' }, spec: { nodeName: node, containers: [{ name: 'c', image: 'busybox:1.36' }], volumes: [{ name: 'v', configMap: { name: 'cfg' } }] } } });
    await expect.poll(() => agent!.store.objects.getRaw(objectKey('v1', 'ConfigMap', ns, 'cfg')) !== undefined, { timeout: 30_000 }).toBe(true);
    // leader election worked under the Role in outpost-system
    const lease = await new KubeClient(kubeConfig()).get<{ spec: { holderIdentity?: string } }>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: cloudNamespace, name: `outpost-rbac-${node}` });
    expect(lease?.spec.holderIdentity).toBe(`rbac-test-${process.pid}`);
    expect(lines.filter((l) => /forbidden|HTTP 403/i.test(l))).toEqual([]);
  });
});
