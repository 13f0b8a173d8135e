/**
 * ListWatchInformer and KubeClient against the real API server: the informer
 * lists and watches ConfigMaps in a fresh namespace and sees create, update and
 * delete (with the old object on update), label selectors filter at the
 * source, the cache outlives client-node 2.0.1's 30 s watch inactivity timeout,
 * and status patches really go to the /status subresource.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { createNamespace, deleteNamespace, kubeConfig } from '../../test/support/kube.ts';
import { collectionPath, KubeClient } from './client.ts';
import { SharedInformerFactory, type EventType } from './informer.ts';
import { patchStatus, setCondition } from './status.ts';

const log = createLogger({ level: 'warn' });
let ns = '';
let kc: k8s.KubeConfig;
let client: KubeClient;
let core: k8s.CoreV1Api;
let factory: SharedInformerFactory;

beforeAll(async () => {
  ns = await createNamespace('informer');
  kc = kubeConfig();
  client = new KubeClient(kc);
  core = kc.makeApiClient(k8s.CoreV1Api);
  factory = new SharedInformerFactory({ client, log });
});
afterAll(async () => {
  factory?.stop();
  await deleteNamespace(ns);
});

const value = (o: k8s.V1ConfigMap | undefined) => o?.data?.v;

describe('ListWatchInformer on ConfigMaps', () => {
  it('lists what exists, then sees create, update and delete', async () => {
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'pre' }, data: { v: '0' } } });
    const inf = factory.informerFor<k8s.V1ConfigMap>(collectionPath('v1', 'configmaps', ns));
    const events: [EventType, string, string | undefined, string | undefined][] = [];
    // kube-controller-manager adds kube-root-ca.crt to every namespace; look only at ours
    inf.onChange((t, o, old) => ['pre', 'a'].includes(o.metadata!.name!) && events.push([t, o.metadata!.name!, value(o), value(old)]));
    factory.start();
    await factory.waitForSync(30_000);
    // items of a list carry no apiVersion/kind; the factory fills them in
    expect(inf.get('pre', ns)).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', data: { v: '0' } });

    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'a' }, data: { v: '1' } } });
    await expect.poll(() => value(inf.get('a', ns))).toBe('1');

    await client.mergePatch({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' }, { data: { v: '2' } });
    await expect.poll(() => value(inf.get('a', ns))).toBe('2');

    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'a' });
    await expect.poll(() => inf.get('a', ns)).toBeUndefined();

    expect(events).toEqual([
      ['add', 'pre', '0', undefined],
      ['add', 'a', '1', undefined],
      ['update', 'a', '2', '1'],
      ['delete', 'a', '2', undefined],
    ]);
  });

  it('hands out one informer per (path, labelSelector) and filters by label at the source', async () => {
    const path = collectionPath('v1', 'configmaps', ns);
    expect(factory.informerFor(path, { labelSelector: 'app=x' })).toBe(factory.informerFor(path, { labelSelector: 'app=x' }));
    const inf = factory.informerFor<k8s.V1ConfigMap>(path, { labelSelector: 'app=x' });
    await inf.waitForSync(30_000); // started by the running factory
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'labelled', labels: { app: 'x' } } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'unlabelled' } } });
    await expect.poll(() => inf.get('labelled', ns)).toBeDefined();
    expect(inf.get('unlabelled', ns)).toBeUndefined();
  });

  it('keeps watching across a quiet period longer than the 30 s client-side inactivity timeout', { timeout: 90_000 }, async () => {
    const inf = factory.informerFor<k8s.V1ConfigMap>(collectionPath('v1', 'configmaps', ns));
    await new Promise((r) => setTimeout(r, 35_000));
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'after-quiet' }, data: { v: 'q' } } });
    await expect.poll(() => value(inf.get('after-quiet', ns)), { timeout: 10_000 }).toBe('q');
  });
});

describe('patchStatus', () => {
  it('writes the /status subresource (a plain patch of status is ignored there)', async () => {
    const name = `status-test-${ns}`;
    await client.create({ apiVersion: 'v1', kind: 'Node', metadata: { name } });
    try {
      const ref = { apiVersion: 'v1', kind: 'Node', name };
      await client.mergePatch(ref, { status: { capacity: { pods: '7' } } });
      expect((await client.get<k8s.V1Node>(ref))?.status?.capacity?.pods).toBeUndefined();

      const conditions = setCondition([], { type: 'OutpostTest', status: 'True', reason: 'Tested', message: 'from informer.int.test.ts' }, new Date());
      await patchStatus(client, 'v1', 'Node', undefined, name, { capacity: { pods: '7' }, conditions: conditions.map(({ observedGeneration: _, ...c }) => ({ ...c, lastHeartbeatTime: c.lastTransitionTime })) });
      const node = await client.get<k8s.V1Node>(ref);
      expect(node?.status?.capacity?.pods).toBe('7');
      expect(node?.status?.conditions?.find((c) => c.type === 'OutpostTest')?.reason).toBe('Tested');
    } finally {
      await client.request('DELETE', `/api/v1/nodes/${name}`).catch(() => undefined);
    }
  });
});
