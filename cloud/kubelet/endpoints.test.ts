/**
 * The kubelet endpoint without a control plane: a real CloudHub and EdgeHubs
 * over in-memory links, edge/kubelet answering, HTTPS from a test client
 * standing in for the API server. Proves port → node routing, client
 * certificate checks, port exhaustion and the Node address rewrite.
 */
import { mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryLinkPair } from '../../edge/transport/index.ts';
import { openEdgeStore } from '../../edge/store/store.ts';
import { EdgeHub } from '../../edge/hub/edge-hub.ts';
import { attachKubelet } from '../../edge/kubelet/index.ts';
import { decode, encode, InventoryDigest, type Msg, type Report } from '../../edge/protocol/index.ts';
import type { KubeClient } from '../../controllers/runtime/index.ts';
import { silentLogger } from '../../lib/log.ts';
import { createCa, issueCertificate } from '../../lib/pki.ts';
import { CloudHub } from '../hub/hub.ts';
import { MemorySources } from '../hub/memory-sources.ts';
import { KubeletEndpoints, nodeStatusPatch, parsePortRange, rewriteRegistration } from './endpoints.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('configuration and Node patches', () => {
  it('parses port ranges and refuses bad ones with a message', () => {
    expect(parsePortRange('10350-10850')).toEqual([10350, 10850]);
    expect(parsePortRange(' 9000-9000 ')).toEqual([9000, 9000]);
    for (const bad of ['10350', '10850-10350', '0-10', '1-70000', 'a-b']) expect(() => parsePortRange(bad)).toThrow(/10350-10850/);
  });

  it('points the registration at the cloud and keeps the edge addresses in an annotation', () => {
    const report: Report = {
      type: 'report', id: '1', kind: 'node-register', key: 'v1/Node//n1',
      payload: {
        metadata: { labels: { a: 'b' }, annotations: { x: 'y' } },
        status: { addresses: [{ type: 'InternalIP', address: '10.1.2.3' }, { type: 'Hostname', address: 'pi' }], daemonEndpoints: { kubeletEndpoint: { Port: 10350 } }, capacity: { cpu: '4' } },
      },
    };
    const out = rewriteRegistration(report, '192.0.2.10', 10400).payload as { metadata: { annotations: Record<string, string> }; status: Record<string, unknown> };
    expect(out.status).toEqual({ ...nodeStatusPatch('192.0.2.10', 10400), capacity: { cpu: '4' } });
    expect(out.status.addresses).toEqual([{ type: 'InternalIP', address: '192.0.2.10' }]);
    expect(out.metadata.annotations).toEqual({ x: 'y', 'outpost.io/edge-addresses': JSON.stringify([{ type: 'InternalIP', address: '10.1.2.3' }, { type: 'Hostname', address: 'pi' }]) });
  });

  it('refuses an advertise address that is not an IP and a client CA that is not PEM', () => {
    const client = {} as KubeClient;
    expect(() => new KubeletEndpoints({ host: '127.0.0.1', advertiseAddress: 'cloud.example', portRange: [1, 2], clientCa: '-----BEGIN CERTIFICATE-----' }, { client, log: silentLogger })).toThrow(/must be an IP/);
    expect(() => new KubeletEndpoints({ host: '127.0.0.1', advertiseAddress: '127.0.0.1', portRange: [1, 2], clientCa: 'nope' }, { client, log: silentLogger })).toThrow(/PEM/);
  });
});

describe('routing and authentication', () => {
  async function setup(ports: number, extra: { releaseAfterMs?: number } = {}) {
    const clientCa = await createCa({ commonName: 'kube-client-ca', validityDays: 1 });
    const apiserver = await issueCertificate({ ca: clientCa, commonName: 'kube-apiserver-kubelet-client', organization: ['system:masters'], usage: 'client', validityDays: 1 });
    const otherCa = await createCa({ commonName: 'other-ca', validityDays: 1 });
    const stranger = await issueCertificate({ ca: otherCa, commonName: 'kube-apiserver-kubelet-client', usage: 'client', validityDays: 1 });
    const hub = new CloudHub({ sources: new MemorySources(), log: silentLogger, reports: { handle: async () => ({ ok: true }) } });
    const patched: string[] = [];
    // the Node does not exist here: the endpoint's status patch is recorded and otherwise ignored
    const client = { mergePatch: async (ref: { name: string }) => void patched.push(ref.name) } as unknown as KubeClient;
    const base = 30000 + Math.floor(Math.random() * 20000);
    const kubelet = new KubeletEndpoints({ host: '127.0.0.1', advertiseAddress: '127.0.0.1', portRange: [base, base + ports - 1], clientCa: clientCa.certPem, ...extra }, { client, log: silentLogger });
    await kubelet.start(hub);
    cleanups.push(async () => {
      await kubelet.close();
      await hub.close();
    });
    const dir = mkdtempSync(join(tmpdir(), 'kubelet-ep-'));
    const edge = (node: string) => {
      const store = openEdgeStore(join(dir, `${node}.db`), { objects: { incrementalDigest: () => new InventoryDigest() } });
      const e = new EdgeHub({
        store, log: silentLogger, backoff: { initialMs: 20, maxMs: 100 },
        dial: async () => {
          const { a, b } = memoryLinkPair({ commonNames: { a: 'hub', b: `system:node:${node}` } });
          hub.attach(a);
          return b;
        },
      });
      const k = attachKubelet(e, { nodeName: node, store, log: silentLogger, pods: () => undefined });
      e.start();
      let stopped = false;
      const stop = async () => {
        if (stopped) return;
        stopped = true;
        k.stop();
        await e.stop();
        store.close();
      };
      cleanups.push(stop);
      return { stop };
    };
    const get = (port: number, path: string, cert?: { certPem: string; keyPem?: string }) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path, rejectUnauthorized: false, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).on('error', reject).end();
    });
    return { kubelet, hub, edge, get, apiserver, stranger, patched };
  }

  it('routes each port to its node over that node\'s session', async () => {
    const t = await setup(4);
    t.edge('n1');
    t.edge('n2');
    await expect.poll(async () => (await t.kubelet.endpoint('n1'))?.port).toBeDefined();
    await expect.poll(async () => (await t.kubelet.endpoint('n2'))?.port).toBeDefined();
    const p1 = (await t.kubelet.endpoint('n1'))!.port;
    const p2 = (await t.kubelet.endpoint('n2'))!.port;
    expect(p1).not.toBe(p2);
    const s1 = await t.get(p1, '/stats/summary', t.apiserver);
    const s2 = await t.get(p2, '/stats/summary', t.apiserver);
    expect(JSON.parse(s1.body).node.nodeName).toBe('n1');
    expect(JSON.parse(s2.body).node.nodeName).toBe('n2');
    expect(await t.get(p1, '/healthz', t.apiserver)).toEqual({ status: 200, body: 'ok' });
    expect((await t.get(p1, '/containerLogs/ns/pod/c', t.apiserver)).status).toBe(404);
    expect(t.patched.sort()).toEqual(['n1', 'n2']);
  });

  it('refuses a client certificate from another CA, and no certificate', async () => {
    const t = await setup(2);
    t.edge('n1');
    await expect.poll(async () => (await t.kubelet.endpoint('n1'))?.port).toBeDefined();
    const port = (await t.kubelet.endpoint('n1'))!.port;
    await expect(t.get(port, '/healthz', t.stranger)).rejects.toThrow();
    await expect(t.get(port, '/healthz')).rejects.toThrow();
    expect((await t.get(port, '/healthz', t.apiserver)).status).toBe(200);
  });

  it('refuses tunnel streams an edge tries to open toward the cloud', async () => {
    const t = await setup(1);
    const pair = memoryLinkPair({ commonNames: { b: 'system:node:hostile' } });
    t.hub.attach(pair.a);
    const got: Msg[] = [];
    pair.b.onFrame((f) => got.push(decode(f, { direction: 'down' })));
    await pair.b.send(encode({ type: 'hello', versions: [1], caps: [], agent: 't', window: 8, digest: '0'.repeat(64), inventory: {} }));
    await pair.b.send(encode({ type: 'request', id: 7, method: 'CONNECT', path: '/', headers: [], end: false, body: new Uint8Array() }));
    await expect.poll(() => got.find((m) => m.type === 'response')).toMatchObject({ type: 'response', id: 7, status: 403, end: true });
  });

  it('answers 503 for a node whose session is gone, and refuses nodes beyond the port range', async () => {
    const t = await setup(1);
    const n1 = t.edge('n1');
    await expect.poll(async () => (await t.kubelet.endpoint('n1'))?.port).toBeDefined();
    const port = (await t.kubelet.endpoint('n1'))!.port;
    t.edge('n2');
    await expect.poll(() => t.hub.connectedNodes).toBe(2);
    expect(await t.kubelet.endpoint('n2')).toBeUndefined(); // KUBELET_PORTS_EXHAUSTED, logged
    await n1.stop();
    await expect.poll(async () => (await t.get(port, '/healthz', t.apiserver).catch(() => ({ status: 0, body: '' }))).status).toBe(503);
  });

  it('gives a port back once the node stayed away for releaseAfterMs, for the next node to use', async () => {
    const t = await setup(1, { releaseAfterMs: 100 });
    const n1 = t.edge('n1');
    await expect.poll(async () => (await t.kubelet.endpoint('n1'))?.port).toBeDefined();
    const port = (await t.kubelet.endpoint('n1'))!.port;
    await n1.stop();
    await expect.poll(async () => await t.kubelet.endpoint('n1')).toBeUndefined();
    t.edge('n2');
    await expect.poll(async () => (await t.kubelet.endpoint('n2'))?.port).toBe(port);
    expect(JSON.parse((await t.get(port, '/stats/summary', t.apiserver)).body).node.nodeName).toBe('n2');
  });
});
