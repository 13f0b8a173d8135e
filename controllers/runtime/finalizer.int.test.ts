/**
 * withFinalizer against the real API server, on ConfigMaps: the four states,
 * and the conflict safety of the JSON Patch `test` ops (a stale view can
 * neither add a duplicate finalizer nor remove someone else's).
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, deleteNamespace, kubeConfig } from '../../test/support/kube.ts';
import { KubeClient } from './client.ts';
import { KubeApiError } from './errors.ts';
import { addFinalizerPatch, removeFinalizerPatch, withFinalizer } from './finalizer.ts';

const F = 'outpost.io/test-cleanup';
let ns = '';
let client: KubeClient;

beforeAll(async () => {
  ns = await createNamespace('finalizer');
  client = new KubeClient(kubeConfig());
});
afterAll(async () => {
  await deleteNamespace(ns);
});

const ref = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name });
const read = async (name: string) => (await client.get<k8s.V1ConfigMap>(ref(name)))!;
const create = (name: string, finalizers?: string[]) => client.create<k8s.V1ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, finalizers } });

describe('withFinalizer', () => {
  it('adds, applies, cleans up and removes', async () => {
    await create('life');
    const calls: string[] = [];
    const handlers = {
      apply: async () => void calls.push('apply'),
      cleanup: async () => void calls.push('cleanup'),
    };
    await withFinalizer(client, await read('life'), F, handlers); // add
    expect((await read('life')).metadata?.finalizers).toEqual([F]);
    await withFinalizer(client, await read('life'), F, handlers); // apply
    await client.request('DELETE', `/api/v1/namespaces/${ns}/configmaps/life`);
    const deleting = await read('life');
    expect(deleting.metadata?.deletionTimestamp).toBeDefined();
    await withFinalizer(client, deleting, F, handlers); // cleanup + remove
    expect(calls).toEqual(['apply', 'cleanup']);
    await expect.poll(() => client.get(ref('life'))).toBeUndefined();
  });

  it('keeps the finalizer while cleanup asks to be requeued', async () => {
    await create('slow', [F]);
    await client.request('DELETE', `/api/v1/namespaces/${ns}/configmaps/slow`);
    const r = await withFinalizer(client, await read('slow'), F, { apply: async () => {}, cleanup: async () => ({ requeueAfter: 1000 }) });
    expect(r).toEqual({ requeueAfter: 1000 });
    expect((await read('slow')).metadata?.finalizers).toEqual([F]);
    await withFinalizer(client, await read('slow'), F, { apply: async () => {}, cleanup: async () => {} });
    await expect.poll(() => client.get(ref('slow'))).toBeUndefined();
  });

  it('refuses to add from a stale view, whether the list was absent or present', async () => {
    await create('race-absent');
    const staleAbsent = await read('race-absent');
    await client.jsonPatch(ref('race-absent'), addFinalizerPatch(staleAbsent, 'other.io/x'));
    await expect(client.jsonPatch(ref('race-absent'), addFinalizerPatch(staleAbsent, F))).rejects.toBeInstanceOf(KubeApiError);

    await create('race-present', ['a.io/x']);
    const stalePresent = await read('race-present');
    await client.jsonPatch(ref('race-present'), addFinalizerPatch(stalePresent, F));
    await expect(client.jsonPatch(ref('race-present'), addFinalizerPatch(stalePresent, F))).rejects.toBeInstanceOf(KubeApiError);
    expect((await read('race-present')).metadata?.finalizers).toEqual(['a.io/x', F]);
    await client.mergePatch(ref('race-present'), { metadata: { finalizers: null } });
    await client.mergePatch(ref('race-absent'), { metadata: { finalizers: null } });
  });

  it('refuses to remove by a stale index', async () => {
    await create('race-remove', ['a.io/x', F]);
    const stale = await read('race-remove');
    await client.jsonPatch(ref('race-remove'), removeFinalizerPatch(stale, 'a.io/x')); // now [F] at index 0
    await expect(client.jsonPatch(ref('race-remove'), removeFinalizerPatch(stale, F))).rejects.toBeInstanceOf(KubeApiError);
    expect((await read('race-remove')).metadata?.finalizers).toEqual([F]);
    await client.jsonPatch(ref('race-remove'), removeFinalizerPatch(await read('race-remove'), F));
  });
});
