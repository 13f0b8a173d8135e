/**
 * Finalizers for cleanup outside the API server (edge state, MQTT topics,
 * device registrations), after kube-rs kube-runtime/src/finalizer.rs. Children
 * inside the cluster are garbage-collected through ownerReferences instead.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { JsonPatchOp, KubeClient } from './client.ts';
import type { ReconcileResult } from './controller.ts';
import { ControllerError } from './errors.ts';

/**
 * The four states:
 *  - `add`:     not present, not deleting → add the finalizer, then wait for the change event;
 *  - `apply`:   present, not deleting     → normal reconcile;
 *  - `cleanup`: present, deleting         → clean up, then remove the finalizer;
 *  - `done`:    not present, deleting     → nothing left to do.
 */
export type FinalizerAction = 'add' | 'apply' | 'cleanup' | 'done';

/** Pure: which of the four states `obj` is in for `finalizer`. */
export function finalizerAction(obj: KubernetesObject, finalizer: string): FinalizerAction {
  const present = obj.metadata?.finalizers?.includes(finalizer) ?? false;
  const deleting = Boolean(obj.metadata?.deletionTimestamp);
  if (deleting) return present ? 'cleanup' : 'done';
  return present ? 'apply' : 'add';
}

/**
 * JSON Patch that appends `finalizer`, guarded by a `test` of the whole list as
 * we saw it: if anyone changed the list meanwhile the patch fails (HTTP 422) and
 * the next pass retries with fresh data. The API server does not deduplicate
 * finalizers, so without the test two racing adds would both land. When the
 * field is absent we test it against null, which the API server's JSON Patch
 * implementation accepts for a missing path (kube-rs does the same).
 */
export function addFinalizerPatch(obj: KubernetesObject, finalizer: string): JsonPatchOp[] {
  const current = obj.metadata?.finalizers;
  if (current === undefined) {
    return [
      { op: 'test', path: '/metadata/finalizers', value: null },
      { op: 'add', path: '/metadata/finalizers', value: [finalizer] },
    ];
  }
  return [
    { op: 'test', path: '/metadata/finalizers', value: current },
    { op: 'add', path: '/metadata/finalizers/-', value: finalizer },
  ];
}

/**
 * JSON Patch that removes `finalizer` by index, guarded by a `test` that the
 * index still holds our name, so a concurrent removal of another finalizer can
 * never make us delete the wrong entry. Empty when the finalizer is absent.
 */
export function removeFinalizerPatch(obj: KubernetesObject, finalizer: string): JsonPatchOp[] {
  const i = obj.metadata?.finalizers?.indexOf(finalizer) ?? -1;
  if (i < 0) return [];
  const path = `/metadata/finalizers/${i}`;
  return [
    { op: 'test', path, value: finalizer },
    { op: 'remove', path },
  ];
}

export interface FinalizerHandlers<T> {
  /** Normal reconcile of a live object. */
  apply(obj: T): Promise<ReconcileResult>;
  /**
   * Cleanup of a deleting object. Resolve with `{}` when cleanup is complete
   * (the finalizer is then removed); resolve with `{requeueAfter}` when it is
   * still in progress (the finalizer stays); throw to retry with backoff.
   * Must be idempotent: it can run again after a crash or a failed removal.
   */
  cleanup(obj: T): Promise<ReconcileResult>;
}

/**
 * Runs one reconcile step for `obj` (taken from the cache) under `finalizer`;
 * meant to be the single top-level step of a reconciler.
 *
 * Guarantees: `cleanup` has completed before the finalizer is removed; the
 * finalizer is added before `apply` ever runs; add and remove are
 * conflict-safe JSON Patches (a conflict throws, and the controller retries).
 * Assumptions: `obj` carries apiVersion and kind (objects from
 * SharedInformerFactory informers always do). Caveats: after `add` this
 * returns without calling `apply`; the patch's watch event brings the object back.
 */
export async function withFinalizer<T extends KubernetesObject>(client: KubeClient, obj: T, finalizer: string, handlers: FinalizerHandlers<T>): Promise<ReconcileResult> {
  if (!obj.apiVersion || !obj.kind || !obj.metadata?.name) {
    throw new ControllerError('CTRL_INVALID_OBJECT', `withFinalizer needs apiVersion, kind and metadata.name on the object (got ${obj.apiVersion}/${obj.kind} "${obj.metadata?.name}"); pass the object as the cache holds it.`);
  }
  const ref = { apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name };
  switch (finalizerAction(obj, finalizer)) {
    case 'add':
      await client.jsonPatch(ref, addFinalizerPatch(obj, finalizer));
      return {};
    case 'apply':
      return handlers.apply(obj);
    case 'cleanup': {
      const result = await handlers.cleanup(obj);
      if (result?.requeueAfter) return result;
      await client.jsonPatch(ref, removeFinalizerPatch(obj, finalizer));
      return {};
    }
    case 'done':
      return {};
  }
}
