/**
 * The EdgeApplication controller: gathers observed state from caches, runs the
 * pure plan (plan.ts) and executes it: server-side apply of every child that
 * is not up to date (one field manager, force), deletion of children no longer
 * rendered, and one status write per pass to the /status subresource.
 *
 * Watches: EdgeApplications (primary); Deployments and Services labelled
 * `apps.kubeedge.io/edgeapplication-name` (mapped to their controller owner);
 * NodeGroups (mapped to every EdgeApplication that targets the group, since a
 * target only renders once its NodeGroup exists).
 */
import { isDeepStrictEqual } from 'node:util';
import type * as k8s from '@kubernetes/client-node';
import { EdgeApplicationGVK, NodeGroupGVK, type EdgeApplication, type NodeGroup } from '../../api/index.ts';
import { hasCode, OutpostError } from '../../lib/errors.ts';
import {
  collectionPath,
  isNotFound,
  KubeApiError,
  ownerRequests,
  type Controller,
  type Informer,
  type KubeClient,
  type Manager,
  type ReconcileContext,
  type ReconcileResult,
  type Request,
} from '../runtime/index.ts';
import type { EdgeApplicationErrorCode } from './errors.ts';
import { isObject, type JsonObject } from './overriders.ts';
import {
  edgeApplicationLabel,
  fieldManager,
  finishStatus,
  isOwnedBy,
  kindKey,
  ownerLabelValue,
  planEdgeApplication,
  watchedKinds,
  type ExecutionFailures,
  type KindInfo,
  type ObjectRef,
} from './plan.ts';

export const controllerName = 'edgeapplication';

/** What this controller needs from the API server; other kinds in manifests need their own grants. */
export const rbacRules: k8s.V1PolicyRule[] = [
  { apiGroups: [EdgeApplicationGVK.group], resources: [EdgeApplicationGVK.plural], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [EdgeApplicationGVK.group], resources: [`${EdgeApplicationGVK.plural}/status`], verbs: ['get', 'patch', 'update'] },
  // blockOwnerDeletion on children needs update on the owner's finalizers subresource.
  { apiGroups: [EdgeApplicationGVK.group], resources: [`${EdgeApplicationGVK.plural}/finalizers`], verbs: ['update'] },
  { apiGroups: [NodeGroupGVK.group], resources: [NodeGroupGVK.plural], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'] },
  { apiGroups: [''], resources: ['services', 'configmaps', 'secrets'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'] },
];

/** A pass applied or deleted only part of what it planned; the status names each failure. Retried with backoff. */
export class EdgeApplicationError extends OutpostError<EdgeApplicationErrorCode> {}

export interface EdgeApplicationControllerOptions {
  /** Only EdgeApplications (and children) in this namespace; default all namespaces. */
  namespace?: string;
  /** Keys reconciled in parallel; default 2. */
  concurrency?: number;
}

/** The caches the reconciler reads. */
export interface EdgeApplicationCaches {
  apps: Informer<EdgeApplication>;
  deployments: Informer<k8s.V1Deployment>;
  services: Informer<k8s.V1Service>;
  nodeGroups: Informer<NodeGroup>;
}

/** EdgeApplications that target NodeGroup `name` (spec.workloadScope.targetNodeGroups[].name). */
export function appsTargeting(apps: readonly EdgeApplication[], name: string | undefined): Request[] {
  return apps
    .filter((a) => a.spec?.workloadScope?.targetNodeGroups?.some((t) => t?.name === name))
    .map((a) => ({ namespace: a.metadata.namespace!, name: a.metadata.name! }));
}

/**
 * Registers the EdgeApplication controller with `mgr` (which must have a
 * kubeConfig) and returns it; it starts with the manager.
 */
export function addEdgeApplicationController(mgr: Manager, opts: EdgeApplicationControllerOptions = {}): Controller {
  const client = mgr.client;
  if (!client) throw new EdgeApplicationError('EDGEAPP_APPLY_FAILED', 'The EdgeApplication controller needs a Manager with a kubeConfig.');
  const ns = opts.namespace;
  const byLabel = { labelSelector: edgeApplicationLabel };
  const caches: EdgeApplicationCaches = {
    apps: mgr.informers.informerFor<EdgeApplication>(collectionPath(EdgeApplicationGVK.apiVersion, EdgeApplicationGVK.plural, ns)),
    deployments: mgr.informers.informerFor<k8s.V1Deployment>(collectionPath('apps/v1', 'deployments', ns), byLabel),
    services: mgr.informers.informerFor<k8s.V1Service>(collectionPath('v1', 'services', ns), byLabel),
    nodeGroups: mgr.informers.informerFor<NodeGroup>(collectionPath(NodeGroupGVK.apiVersion, NodeGroupGVK.plural)),
  };
  const toOwner = ownerRequests({ apiVersion: EdgeApplicationGVK.apiVersion, kind: EdgeApplicationGVK.kind, controllerOnly: true });
  return mgr
    .controller({ name: controllerName, concurrency: opts.concurrency ?? 2, reconcile: (req, ctx) => reconcileEdgeApplication(client, caches, req, ctx) })
    .watches(caches.apps)
    .watches(caches.deployments, toOwner)
    .watches(caches.services, toOwner)
    // Only a NodeGroup appearing or disappearing changes what renders; its status does not.
    .watches(caches.nodeGroups, (g) => appsTargeting(caches.apps.list(), g.metadata?.name), { predicate: (type) => type !== 'update' });
}

/** Discovery for every apiVersion/kind in the manifests; kinds the server does not serve are left out. */
async function discoverKinds(client: KubeClient, app: EdgeApplication): Promise<Map<string, KindInfo>> {
  const kinds = new Map<string, KindInfo>();
  for (const m of app.spec?.workloadTemplate?.manifests ?? []) {
    if (!isObject(m) || typeof m.apiVersion !== 'string' || typeof m.kind !== 'string' || !m.apiVersion || !m.kind) continue;
    const key = kindKey(m.apiVersion, m.kind);
    if (kinds.has(key)) continue;
    try {
      const r = await client.resourceFor(m.apiVersion, m.kind);
      kinds.set(key, { resource: r.plural, namespaced: r.namespaced });
    } catch (err) {
      // Not served: the plan reports it. A 404 is an API group that does not exist at all.
      if (hasCode(err, 'CTRL_UNKNOWN_KIND') || isNotFound(err)) continue;
      throw err;
    }
  }
  return kinds;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Server-side apply of one complete object, owning every field we set (force). */
async function serverSideApply(client: KubeClient, obj: JsonObject): Promise<void> {
  const md = obj.metadata as { name: string; namespace?: string };
  const path = await client.pathFor({ apiVersion: obj.apiVersion as string, kind: obj.kind as string, namespace: md.namespace, name: md.name });
  await client.request('PATCH', path, { body: obj, contentType: 'application/apply-patch+yaml', query: { fieldManager, force: 'true' } });
}

/**
 * Deletes `ref` if it is still the EdgeApplication's: with a known uid the
 * delete has a uid precondition; otherwise the object is read first and only
 * deleted when its controller ownerReference is `ownerUid`. Gone already is
 * success. Returns what happened, for the log.
 */
async function deleteOwned(client: KubeClient, ref: ObjectRef, ownerUid: string): Promise<'deleted' | 'gone' | 'not-owned'> {
  let uid = ref.uid;
  try {
    if (!uid) {
      const obj = await client.get<k8s.KubernetesObject>({ ...ref });
      if (!obj) return 'gone';
      if (!isOwnedBy(obj, ownerUid)) return 'not-owned';
      uid = obj.metadata?.uid;
    }
    await client.request('DELETE', await client.pathFor(ref), {
      body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions: { uid } },
    });
    return 'deleted';
  } catch (err) {
    if (isNotFound(err) || hasCode(err, 'CTRL_UNKNOWN_KIND')) return 'gone';
    // 409 on a uid precondition: the name now belongs to a different object, which is not ours.
    if (err instanceof KubeApiError && err.statusCode === 409) return 'not-owned';
    throw err;
  }
}

/**
 * One pass for `req`. Idempotent. Throws (retry with backoff) when discovery,
 * an apply or a delete failed, after writing a status that names the failure;
 * a broken spec is not thrown: it is in the Degraded condition and waits for
 * a spec change.
 */
export async function reconcileEdgeApplication(client: KubeClient, caches: EdgeApplicationCaches, req: Request, ctx: ReconcileContext): Promise<ReconcileResult> {
  const { log, now } = ctx;
  const app = caches.apps.get(req.name, req.namespace);
  // Gone or going: the garbage collector deletes the children through their ownerReferences.
  if (!app || app.metadata.deletionTimestamp) return {};
  const ns = app.metadata.namespace!;
  const label = ownerLabelValue(app.metadata.name!);
  const mine = (o: k8s.KubernetesObject) => o.metadata?.labels?.[edgeApplicationLabel] === label;
  const withKind = (o: k8s.KubernetesObject, i: number) => ({ ...o, apiVersion: o.apiVersion ?? watchedKinds[i]!.apiVersion, kind: o.kind ?? watchedKinds[i]!.kind });
  const children = [
    ...caches.deployments.list(ns).filter(mine).map((o) => withKind(o, 0)),
    ...caches.services.list(ns).filter(mine).map((o) => withKind(o, 1)),
  ];
  const plan = planEdgeApplication({
    app,
    nodeGroups: caches.nodeGroups.list().map((g) => g.metadata?.name ?? ''),
    children,
    kinds: await discoverKinds(client, app),
    now,
  });
  if (plan.issues.length) log.info('Found problems in EdgeApplication spec', { issues: plan.issues.map((i) => `${i.field}: ${i.message}`) });

  const failures: ExecutionFailures = { apply: [], delete: [] };
  for (const obj of plan.apply) {
    const md = obj.metadata as { name: string; namespace: string };
    const ref: ObjectRef = { apiVersion: obj.apiVersion as string, kind: obj.kind as string, namespace: md.namespace, name: md.name };
    try {
      await serverSideApply(client, obj);
      // Kinds we do not watch are applied every pass (usually a no-op on the server): log those quietly.
      const watched = watchedKinds.some((w) => w.apiVersion === ref.apiVersion && w.kind === ref.kind);
      (watched ? log.info : log.debug)(`Applied ${ref.kind}`, { namespace: ref.namespace, name: ref.name });
    } catch (err) {
      log.warn(`Failed to apply ${ref.kind}`, { namespace: ref.namespace, name: ref.name, err });
      failures.apply.push({ ref, message: message(err) });
    }
  }
  for (const ref of plan.delete) {
    try {
      const result = await deleteOwned(client, ref, app.metadata.uid!);
      if (result === 'deleted') log.info(`Deleted ${ref.kind}`, { namespace: ref.namespace, name: ref.name });
      else log.debug(`Skipped deleting ${ref.kind}`, { namespace: ref.namespace, name: ref.name, reason: result });
    } catch (err) {
      log.warn(`Failed to delete ${ref.kind}`, { namespace: ref.namespace, name: ref.name, err });
      failures.delete.push({ ref, message: message(err) });
    }
  }

  const status = finishStatus(app, plan, failures, now);
  const current = { observedGeneration: app.status?.observedGeneration, workloadStatus: app.status?.workloadStatus ?? [], conditions: app.status?.conditions ?? [] };
  const next = { observedGeneration: status.observedGeneration, workloadStatus: status.workloadStatus, conditions: status.conditions };
  if (!isDeepStrictEqual(current, next)) {
    try {
      await client.mergePatch({ apiVersion: EdgeApplicationGVK.apiVersion, kind: EdgeApplicationGVK.kind, namespace: ns, name: app.metadata.name! }, { status: next },
        { subresource: 'status', fieldManager });
    } catch (err) {
      if (isNotFound(err)) return {}; // deleted meanwhile
      throw err;
    }
  }
  const failed = failures.apply.length + failures.delete.length;
  if (failed > 0) {
    throw new EdgeApplicationError('EDGEAPP_APPLY_FAILED', `${failed} API call(s) failed for EdgeApplication ${ns}/${app.metadata.name}; see its Degraded condition. Retrying.`);
  }
  return plan.requeueAfter !== undefined ? { requeueAfter: plan.requeueAfter } : {};
}
