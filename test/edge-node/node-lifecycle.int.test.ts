/**
 * Node lifecycle against a real control plane (issue "Edge node",
 * deliverable 1), on the dedicated fast cluster (test/support/fast-cluster.ts:
 * NotReady after 6 s of silence instead of 50 s):
 * - the agent registers its Node (edge role label, capacity/allocatable,
 *   addresses, nodeInfo, kubelet endpoint) and renews its Lease in
 *   kube-node-lease through the hub;
 * - the real kube-controller-manager marks the silent node NotReady and
 *   taints it unreachable, and Ready (untainted) again once it is back;
 * - while the cloud is unreachable the heartbeats coalesce in the outbox
 *   (one lease and one node status pending, not one per beat).
 */
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { edgeConfig, makePki, type TestPki } from '../../test/support/hub-fixture.ts';
import { keepNodeReady, useFastCluster, type FastCluster } from '../../test/support/fast-cluster.ts';
import { startCloud, defaultCloudConfig, type Cloud } from '../../cloud/cloud.ts';
import { startEdge, type EdgeAgent } from '../../edge/agent.ts';
import type { EdgeConfig } from '../../edge/config.ts';
import { kubeletVersion } from '../../edge/node/node-info.ts';

const log = createLogger({ level: process.env.OUTPOST_TEST_LOG === '1' ? 'debug' : 'warn' });
const run = Math.random().toString(36).slice(2, 7);
const nodeName = `edge-life-${run}`;

let fc: FastCluster;
let core: k8s.CoreV1Api;
let coord: k8s.CoordinationV1Api;
let pki: TestPki;
let cloud: Cloud | undefined;
let port = 0;
let agent: EdgeAgent | undefined;
let config: EdgeConfig;
let stopKeepalive: () => Promise<void>;

const startTheCloud = async () => {
  cloud = await startCloud({
    ...defaultCloudConfig, kubeconfig: fc.kubeconfig, leaderElect: false, healthPort: -1,
    hub: { host: '127.0.0.1', port, protocols: ['websocket'], tls: { ca: pki.ca.certPem, cert: pki.hub.cert, key: pki.hub.key }, heartbeatMs: 1000 },
  }, { log });
  port = cloud.hubAddresses.websocket!.port;
};

const readyOf = async () => (await core.readNode({ name: nodeName }).catch(() => undefined))?.status?.conditions?.find((c) => c.type === 'Ready');
const taintsOf = async () => ((await core.readNode({ name: nodeName })).spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).sort();

beforeAll(async () => {
  fc = await useFastCluster();
  core = fc.kubeConfig.makeApiClient(k8s.CoreV1Api);
  coord = fc.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
  stopKeepalive = await keepNodeReady(fc.kubeConfig, `keepalive-${run}`);
  pki = await makePki();
  await startTheCloud();
  config = { ...(await edgeConfig(pki, nodeName, port, 'websocket')), node: { ip: '127.0.0.1', heartbeatMs: 1000 }, pods: { runtime: 'process', criEndpoint: '' } };
}, 300_000);

afterAll(async () => {
  await agent?.stop();
  await cloud?.stop();
  await core?.deleteNode({ name: nodeName }).catch(() => undefined);
  await stopKeepalive?.();
  await fc?.release();
}, 120_000);

describe('edge node lifecycle', () => {
  it('registers the Node (edge role, capacity, addresses, nodeInfo, kubelet endpoint) and renews its Lease', async () => {
    agent = await startEdge(config, { log });
    await expect.poll(async () => (await readyOf())?.status, { timeout: 30_000 }).toBe('True');
    const n = await core.readNode({ name: nodeName });
    expect(n.metadata!.labels).toMatchObject({ 'node-role.kubernetes.io/edge': '', 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux' });
    expect(Number(n.status!.capacity!.cpu)).toBeGreaterThan(0);
    expect(n.status!.capacity!.memory).toMatch(/^\d+Ki$/);
    expect(n.status!.capacity!.pods).toBe('110');
    expect(n.status!.allocatable!.cpu).toBe(n.status!.capacity!.cpu);
    expect(n.status!.addresses).toEqual(expect.arrayContaining([{ type: 'InternalIP', address: '127.0.0.1' }, expect.objectContaining({ type: 'Hostname' })]));
    expect(n.status!.nodeInfo).toMatchObject({ kubeletVersion, operatingSystem: 'linux', containerRuntimeVersion: expect.stringMatching(/^outpost-process:\/\//) });
    expect(n.status!.nodeInfo!.kernelVersion).toBeTruthy();
    expect(n.status!.daemonEndpoints!.kubeletEndpoint!.Port).toBe(10350);
    expect(n.status!.conditions!.map((c) => c.type).sort()).toEqual(['DiskPressure', 'MemoryPressure', 'PIDPressure', 'Ready']);
    const lease = async () => (await coord.readNamespacedLease({ name: nodeName, namespace: 'kube-node-lease' }).catch(() => undefined))?.spec;
    await expect.poll(async () => (await lease())?.holderIdentity, { timeout: 10_000 }).toBe(nodeName);
    const first = String((await lease())!.renewTime);
    await expect.poll(async () => String((await lease())!.renewTime), { timeout: 10_000 }).not.toBe(first);
    expect((await lease())!.leaseDurationSeconds).toBe(40);
  });

  it('is marked NotReady and tainted unreachable by the kube-controller-manager when silent, and Ready again when back', async () => {
    await agent!.stop();
    agent = undefined;
    await expect.poll(async () => (await readyOf())?.status, { timeout: 60_000, interval: 500 }).toBe('Unknown');
    expect((await readyOf())!.reason).toBe('NodeStatusUnknown');
    await expect.poll(taintsOf, { timeout: 30_000, interval: 500 }).toEqual(expect.arrayContaining(['node.kubernetes.io/unreachable:NoExecute', 'node.kubernetes.io/unreachable:NoSchedule']));
    agent = await startEdge(config, { log });
    await expect.poll(async () => (await readyOf())?.status, { timeout: 30_000, interval: 500 }).toBe('True');
    await expect.poll(async () => (await taintsOf()).filter((t) => t.startsWith('node.kubernetes.io/unreachable')), { timeout: 30_000, interval: 500 }).toEqual([]);
  });

  it('coalesces heartbeats while the cloud is unreachable and is Ready again when it returns', async () => {
    await cloud!.stop();
    cloud = undefined;
    await new Promise((r) => setTimeout(r, 4000));
    const db = new DatabaseSync(join(config.dataDir, 'edge.db'), { readOnly: true });
    try {
      const count = (kind: string) => (db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE kind = ?').get(kind) as { n: number }).n;
      expect(count('lease')).toBe(1);
      expect(count('node-status')).toBeLessThanOrEqual(1);
    } finally {
      db.close();
    }
    expect(agent!.workloads.node!.heartbeats).toBeGreaterThanOrEqual(4);
    await expect.poll(async () => (await readyOf())?.status, { timeout: 60_000, interval: 500 }).toBe('Unknown');
    await startTheCloud();
    await expect.poll(async () => (await readyOf())?.status, { timeout: 30_000, interval: 500 }).toBe('True');
  });
});
