/**
 * CloudHub ↔ EdgeHub against the real control plane, on both transports
 * (issue "CloudHub and EdgeHub", deliverables 3-6):
 * - a pod bound to an edge node and its ConfigMap/Secret arrive in the edge
 *   store; a pod on another node never does;
 * - disconnect, make 50 creates/updates/deletes, reconnect: the store
 *   converges and the bytes sent follow the 50 changes, not the routed set;
 * - kill -9 the edge and the cloud mid-stream: everything converges, and
 *   reports written while the cloud was down reach the API server;
 * - a hostile edge with a valid certificate of its own cannot read or write node B's objects.
 */
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { createNamespace, deleteNamespace, installCrds, kubeConfig, kubeconfigPath } from '../../test/support/kube.ts';
import { edgeConfig, exited, makePki, spawnOutpost, type TestPki } from '../../test/support/hub-fixture.ts';
import { startCloud, defaultCloudConfig, type Cloud } from '../cloud.ts';
import { startEdge, type EdgeAgent } from '../../edge/agent.ts';
import { openEdgeStore } from '../../edge/store/store.ts';
import { decode, encode, type Msg } from '../../edge/protocol/index.ts';
import { objectKey } from './routing.ts';

const log = createLogger({ level: process.env.OUTPOST_TEST_LOG === '1' ? 'debug' : 'warn' });
let core: k8s.CoreV1Api;
let pki: TestPki;

beforeAll(async () => {
  await installCrds();
  core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  pki = await makePki();
});

const cmKey = (ns: string, n: string) => objectKey('v1', 'ConfigMap', ns, n);
const podKey = (ns: string, n: string) => objectKey('v1', 'Pod', ns, n);

/** What the API server says node `node` should have in namespace `ns`: key → rv. */
async function truth(ns: string, node: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const pods = (await core.listNamespacedPod({ namespace: ns })).items.filter((p) => p.spec?.nodeName === node);
  const cms = new Map((await core.listNamespacedConfigMap({ namespace: ns })).items.map((c) => [c.metadata!.name!, c.metadata!.resourceVersion!]));
  const secrets = new Map((await core.listNamespacedSecret({ namespace: ns })).items.map((c) => [c.metadata!.name!, c.metadata!.resourceVersion!]));
  for (const p of pods) {
    out.set(podKey(ns, p.metadata!.name!), p.metadata!.resourceVersion!);
    for (const v of p.spec?.volumes ?? []) {
      // the ServiceAccount admission plugin adds a projected kube-root-ca.crt ConfigMap
      for (const cm of [v.configMap?.name, ...(v.projected?.sources ?? []).map((s) => s.configMap?.name)]) {
        if (cm && cms.has(cm)) out.set(cmKey(ns, cm), cms.get(cm)!);
      }
      for (const s of [v.secret?.secretName, ...(v.projected?.sources ?? []).map((x) => x.secret?.name)]) {
        if (s && secrets.has(s)) out.set(objectKey('v1', 'Secret', ns, s), secrets.get(s)!);
      }
    }
  }
  return out;
}

/** The edge store's inventory restricted to namespace `ns`. */
function inventoryIn(inv: Map<string, string>, ns: string): Map<string, string> {
  return new Map([...inv].filter(([k]) => k.split('/').at(-2) === ns));
}

const podOn = (ns: string, name: string, node: string, cms: string[] = [], secrets: string[] = []): k8s.V1Pod => ({
  metadata: { name, namespace: ns },
  spec: {
    nodeName: node,
    containers: [{ name: 'c', image: 'busybox:1.36' }],
    volumes: [
      ...cms.map((c, i) => ({ name: `cm${i}`, configMap: { name: c, optional: true } })),
      ...secrets.map((s, i) => ({ name: `s${i}`, secret: { secretName: s, optional: true } })),
    ],
  },
});

describe.each(['websocket', 'quic'] as const)('hub over %s', (protocol) => {
  const run = `${protocol === 'quic' ? 'q' : 'w'}${Math.random().toString(36).slice(2, 6)}`;
  const nodeA = `edge-a-${run}`;
  const nodeB = `edge-b-${run}`;
  let ns = '';
  let cloud: Cloud;
  let port = 0;
  const agents: EdgeAgent[] = [];

  beforeAll(async () => {
    ns = await createNamespace(`hub-${run}`);
    cloud = await startCloud({
      ...defaultCloudConfig, kubeconfig: kubeconfigPath(), leaderElect: false, healthPort: -1,
      hub: { host: '127.0.0.1', port: 0, protocols: [protocol], tls: { ca: pki.ca.certPem, cert: pki.hub.cert, key: pki.hub.key }, heartbeatMs: 1000 },
    }, { log });
    port = cloud.hubAddresses[protocol]!.port;
  });

  afterAll(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    await cloud?.stop();
    await deleteNamespace(ns);
  });

  const startAgent = async (node: string, dataDir?: string) => {
    const a = await startEdge(await edgeConfig(pki, node, port, protocol, dataDir), { log });
    agents.push(a);
    return a;
  };

  it('delivers a pod and its ConfigMap and Secret to its node only', async () => {
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'app-config' }, data: { k: 'v' } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'app-secret' }, stringData: { password: 'x' } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'b-config' }, data: { k: 'b' } } });
    await core.createNamespacedPod({ namespace: ns, body: podOn(ns, 'app', nodeA, ['app-config'], ['app-secret']) });
    await core.createNamespacedPod({ namespace: ns, body: podOn(ns, 'other', nodeB, ['b-config']) });
    const a = await startAgent(nodeA);
    const want = await truth(ns, nodeA);
    expect([...want.keys()].sort()).toEqual([cmKey(ns, 'app-config'), cmKey(ns, 'kube-root-ca.crt'), objectKey('v1', 'Pod', ns, 'app'), objectKey('v1', 'Secret', ns, 'app-secret')].sort());
    await expect.poll(() => Object.fromEntries(inventoryIn(a.store.objects.inventory(), ns)), { timeout: 20_000 }).toEqual(Object.fromEntries(await truth(ns, nodeA)));
    expect(a.store.objects.get(podKey(ns, 'other'))).toBeUndefined();
    expect(a.store.objects.get(cmKey(ns, 'b-config'))).toBeUndefined();
    expect((a.store.objects.get(cmKey(ns, 'app-config')) as { data?: Record<string, string> }).data).toEqual({ k: 'v' });
    await expect.poll(() => a.hub.state, { timeout: 5000 }).toBe('synced');
  });

  it('after a disconnect with 50 changes, resends only the changes', async () => {
    // 150 unchanged ConfigMaps of ~2 KiB routed to node A (about 300 KiB), plus 40 that will change.
    const filler = 'x'.repeat(2048);
    const names = Array.from({ length: 190 }, (_, i) => `bulk-${i}`);
    for (const n of names.slice(0, 170)) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: n }, data: { filler } } });
    await core.createNamespacedPod({ namespace: ns, body: podOn(ns, 'bulk', nodeA, names) });
    const a = agents[0]!;
    await expect.poll(async () => inventoryIn(a.store.objects.inventory(), ns).size, { timeout: 30_000 }).toBe((await truth(ns, nodeA)).size);
    // Disconnect and change 50 things while away: 20 creates, 20 updates, 10 deletes.
    const dataDir = a.config.dataDir;
    await a.stop();
    agents.splice(agents.indexOf(a), 1);
    for (const n of names.slice(170, 190)) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: n }, data: { v: 'new' } } });
    for (const n of names.slice(0, 20)) await core.replaceNamespacedConfigMap({ namespace: ns, name: n, body: { metadata: { name: n }, data: { v: 'changed' } } });
    for (const n of names.slice(20, 30)) await core.deleteNamespacedConfigMap({ namespace: ns, name: n });
    const b = await startAgent(nodeA, dataDir);
    const want = await truth(ns, nodeA);
    await expect.poll(() => Object.fromEntries(inventoryIn(b.store.objects.inventory(), ns)), { timeout: 30_000 }).toEqual(Object.fromEntries(want));
    await expect.poll(() => b.hub.state, { timeout: 10_000 }).toBe('synced');
    const sent = cloud.hub!.session(nodeA)!.bytesSent;
    // 40 small upserts + 10 tombstones + welcome/sync-done: a few KiB; the unchanged 140 × 2 KiB would be ~300 KiB.
    expect(sent).toBeLessThan(40 * 1024);
    expect(sent).toBeGreaterThan(0);
  });

  it('a reconnect with nothing changed costs under 1 KB', async () => {
    const a = agents.find((x) => x.config.nodeName === nodeA)!;
    const dataDir = a.config.dataDir;
    await a.stop();
    agents.splice(agents.indexOf(a), 1);
    const b = await startAgent(nodeA, dataDir);
    await expect.poll(() => b.hub.state, { timeout: 10_000 }).toBe('synced');
    expect(cloud.hub!.session(nodeA)!.bytesSent).toBeLessThan(1024);
  });

  it('converges after the edge is killed (kill -9) mid-stream', async () => {
    const node = `edge-k-${run}`;
    const n = await pki.node(node);
    const dataDir = join(pki.dir, `data-${node}`);
    const args = ['edge', '--node-name', node, '--hub', `127.0.0.1:${port}`, '--hub-protocol', protocol, '--data-dir', dataDir,
      '--ca-file', pki.caFile, '--cert-file', n.certFile, '--key-file', n.keyFile];
    const names = Array.from({ length: 120 }, (_, i) => `k-${i}`);
    await core.createNamespacedPod({ namespace: ns, body: podOn(ns, 'killme', node, names) });
    let child = spawnOutpost(args);
    const writes = (async () => {
      for (const nm of names) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: nm }, data: { filler: 'y'.repeat(4096) } } });
    })();
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGKILL');
    await exited(child);
    await writes;
    child = spawnOutpost(args);
    const want = await truth(ns, node);
    await expect.poll(() => cloud.hub!.session(node)?.framesSent ?? 0, { timeout: 20_000 }).toBeGreaterThan(0);
    // wait until the hub has nothing left to send, then stop the agent and read its store
    await expect.poll(async () => {
      const s = cloud.hub!.session(node);
      return s !== undefined && s.closed === false;
    }, { timeout: 20_000 }).toBe(true);
    await new Promise((r) => setTimeout(r, 3000));
    child.kill('SIGTERM');
    await exited(child);
    const store = openEdgeStore(join(dataDir, 'edge.db'));
    // The agent runs the pod and reports its status, so the Pod's resourceVersion keeps moving:
    // compare the ConfigMaps exactly and the Pod by presence.
    const configMaps = (m: Map<string, string>) => Object.fromEntries([...m].filter(([k]) => k.includes('/ConfigMap/')));
    try {
      expect(store.db.integrityCheck('full')).toEqual({ ok: true, problems: [] });
      const inv = inventoryIn(store.objects.inventory(), ns);
      expect(configMaps(inv)).toEqual(configMaps(want));
      expect(inv.has(podKey(ns, 'killme'))).toBe(true);
    } finally {
      store.close();
    }
  });

  it('refuses a hostile edge: a node with a valid certificate cannot read or write node B\'s objects', async () => {
    const mod = protocol === 'websocket' ? await import('../../edge/transport/websocket.ts') : await import('../../edge/transport/quic.ts');
    if (!(await core.readNamespacedPod({ namespace: ns, name: 'other' }).catch(() => undefined))) {
      await core.createNamespacedPod({ namespace: ns, body: podOn(ns, 'other', nodeB) });
    }
    // a node with a valid certificate of its own (not A: A's agent is still connected and would replace this session)
    const hostileNode = `edge-h-${run}`;
    const a = await pki.node(hostileNode);
    const link = await mod.dial({ host: '127.0.0.1', port, tls: { ca: pki.ca.certPem, cert: a.cert, key: a.key } });
    const frames: Msg[] = [];
    const send = (m: Msg) => link.send(encode(m));
    link.onFrame((f) => {
      const m = decode(f, { direction: 'down' });
      frames.push(m);
      if (m.type === 'upsert' || m.type === 'delete') void send({ type: 'ack', seq: m.seq });
    });
    await send({ type: 'hello', versions: [1], caps: [], agent: 'hostile/1', window: 100, digest: '0'.repeat(64), inventory: {} });
    await expect.poll(() => frames.some((f) => f.type === 'sync-done'), { timeout: 10_000 }).toBe(true);
    // it received nothing of node B (it has no objects of its own)
    const keys = frames.filter((f) => f.type === 'upsert').map((f) => (f as { key: string }).key);
    expect(keys).not.toContain(podKey(ns, 'other'));
    expect(keys).not.toContain(cmKey(ns, 'b-config'));
    // writes about node B and B's pod are refused for good
    await send({ type: 'report', id: '1', kind: 'node-status', key: objectKey('v1', 'Node', '', nodeB), payload: { conditions: [] } });
    await send({ type: 'report', id: '2', kind: 'pod-status', key: podKey(ns, 'other'), payload: { status: { phase: 'Failed' } } });
    await send({ type: 'report', id: '3', kind: 'lease', key: objectKey('coordination.k8s.io/v1', 'Lease', 'kube-node-lease', nodeB), payload: {} });
    await expect.poll(() => frames.filter((f) => f.type === 'report-ack').flatMap((f) => (f as { rejected: { id: string; code: string }[] }).rejected), { timeout: 10_000 })
      .toEqual(expect.arrayContaining([{ id: '1', code: 'Forbidden', message: expect.any(String) }, { id: '2', code: 'Forbidden', message: expect.any(String) }, { id: '3', code: 'Forbidden', message: expect.any(String) }]));
    expect((await core.readNamespacedPod({ namespace: ns, name: 'other' })).status?.phase).not.toBe('Failed');
    await link.close();
  });
});

describe('cloud killed mid-stream', () => {
  it('the edge reconnects to a restarted cloud, converges, and its offline reports reach the API server', async () => {
    const run = Math.random().toString(36).slice(2, 6);
    const ns = await createNamespace(`hubkill-${run}`);
    const node = `edge-c-${run}`;
    const port = 20000 + Math.floor(Math.random() * 20000);
    const cloudArgs = ['cloud', '--kubeconfig', kubeconfigPath(), '--leader-elect', 'false', '--health-port', '-1', '--hub-host', '127.0.0.1',
      '--hub-port', String(port), '--hub-protocols', 'websocket', '--hub-ca-file', pki.caFile, '--hub-cert-file', pki.hubCertFile, '--hub-key-file', pki.hubKeyFile];
    let cloudProc = spawnOutpost(cloudArgs);
    onTestFailed(() => console.error(`cloud logs:\n${cloudProc.logs().split('\n').slice(-30).join('\n')}`));
    const agent = await startEdge(await edgeConfig(pki, node, port, 'websocket'), { log });
    try {
      const names = Array.from({ length: 60 }, (_, i) => `c-${i}`);
      await core.createNamespacedPod({ namespace: ns, body: podOn(ns, 'p', node, names) });
      const writes = (async () => {
        for (const nm of names.slice(0, 40)) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: nm }, data: { v: 'z'.repeat(2048) } } });
      })();
      await expect.poll(() => agent.hub.state, { timeout: 30_000 }).toBe('synced');
      cloudProc.kill('SIGKILL');
      await exited(cloudProc);
      await writes;
      for (const nm of names.slice(40)) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: nm }, data: { v: 'late' } } });
      // while the cloud is down the edge keeps accepting reports in its durable outbox
      agent.store.outbox.put('node-register', objectKey('v1', 'Node', '', node), { metadata: { labels: { 'outpost.io/test': run } } });
      agent.hub.notifyOutbox();
      await expect.poll(() => agent.hub.state, { timeout: 10_000 }).not.toBe('synced');
      cloudProc = spawnOutpost(cloudArgs);
      const want = await truth(ns, node);
      await expect.poll(() => Object.fromEntries(inventoryIn(agent.store.objects.inventory(), ns)), { timeout: 60_000 }).toEqual(Object.fromEntries(want));
      await expect.poll(async () => (await core.readNode({ name: node }).catch(() => undefined))?.metadata?.labels?.['outpost.io/test'], { timeout: 30_000 }).toBe(run);
      expect(agent.store.outbox.size()).toBe(0);
    } finally {
      await agent.stop();
      cloudProc.kill('SIGKILL');
      await core.deleteNode({ name: node }).catch(() => undefined);
      await deleteNamespace(ns);
    }
  });
});
