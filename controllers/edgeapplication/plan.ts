/**
 * EdgeApplication reconcile, as a pure plan: observed state in (the
 * EdgeApplication, existing NodeGroups, owned children from the cache, what
 * the API server serves, `now`), data out (`{apply, delete, status,
 * requeueAfter}`). No I/O, no clock.
 *
 * Rendering follows KubeEdge's EdgeApplication controller
 * (cloud/pkg/controllermanager/edgeapplication, kubeedge.md §1.5):
 * - each `apps/v1 Deployment` manifest gets one copy per target, named
 *   `<name>-<nodegroup>` or `<name>-ls-<hash>`, with the target's overriders
 *   applied (overriders.ts);
 * - each `v1 Service` gets `apps.kubeedge.io/service-topology: range-nodegroup`,
 *   so the edge proxies only route to endpoints in the caller's NodeGroup;
 * - anything else is applied once, as written;
 * - every child gets a controller ownerReference to the EdgeApplication (the
 *   API server's garbage collector deletes them with it), the label
 *   `apps.kubeedge.io/edgeapplication-name` (cache lookup) and the annotation
 *   `apps.kubeedge.io/last-applied-template` (the manifest it came from).
 *
 * Differences from KubeEdge, on purpose:
 * - A mistake (invalid overrider, unknown container, missing NodeGroup,
 *   malformed manifest) never aborts the pass: only the affected target or
 *   manifest is skipped, its existing child is kept, and the Degraded
 *   condition names the field. KubeEdge ignores some of these silently.
 * - The record of what was deployed (for garbage collection of removed
 *   manifests and targets) is `status.workloadStatus`, written once per pass,
 *   plus the owned Deployments and Services in the cache; KubeEdge keeps it in
 *   the `apps.kubeedge.io/last-contained-resources` annotation, which would
 *   need a second write to the EdgeApplication per pass.
 * - Available for a Deployment also requires the Deployment controller to have
 *   seen the latest spec and updated every replica (kstatus' rule), so a
 *   rollout in progress is not reported Available.
 */
import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { EdgeApplicationGVK, type EdgeApplication, type EdgeApplicationStatus, type ManifestCondition, type ManifestStatus, type Overriders, type ResourceIdentifier } from '../../api/index.ts';
import { setCondition, type Condition } from '../runtime/status.ts';
import { SpecError, type EdgeApplicationErrorCode } from './errors.ts';
import { childName, isObject, nodeSelectorRequirements, overrideDeployment, type JsonObject, type Placement } from './overriders.ts';

export const fieldManager = 'outpost-edgeapplication-controller';
/** On every child: the owning EdgeApplication's name (see `ownerLabelValue`). */
export const edgeApplicationLabel = 'apps.kubeedge.io/edgeapplication-name';
/** On every child: the manifest (JSON) it was rendered from, as KubeEdge does. */
export const lastAppliedTemplateAnnotation = 'apps.kubeedge.io/last-applied-template';
/** On every child: hash of everything we render, so an up-to-date child is not re-applied. */
export const renderedHashAnnotation = 'outpost.io/rendered-hash';
export const serviceTopologyAnnotation = 'apps.kubeedge.io/service-topology';
export const serviceTopologyRangeNodeGroup = 'range-nodegroup';
/** Templates above this size are not copied into the annotation (annotations are limited to 256 KiB in total). */
export const maxTemplateAnnotationBytes = 128 * 1024;
/** How soon to look again when a manifest's kind is not served (discovery is not watched). */
export const unknownKindRequeueMs = 60_000;

/** The kinds whose children the controller watches (and so can report on from the cache). */
export const watchedKinds = [
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments' },
  { apiVersion: 'v1', kind: 'Service', plural: 'services' },
] as const;

/** What discovery says about one apiVersion + kind. */
export interface KindInfo {
  /** Plural resource name, e.g. `deployments`. */
  resource: string;
  namespaced: boolean;
}

/** Key of `kinds` in PlanInput. */
export const kindKey = (apiVersion: string, kind: string): string => `${apiVersion}|${kind}`;

/** Names one object to delete. `uid`, when known, makes the delete a no-op if the name was reused. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
}

/** One problem found while planning, shown in the Degraded condition as `field: message`. */
export interface Issue {
  code: EdgeApplicationErrorCode;
  field: string;
  message: string;
}

/** One object in status.workloadStatus, with what the controller needs to report failures on it. */
export interface Workload {
  identifier: ResourceIdentifier;
  condition: ManifestCondition;
  ref: ObjectRef;
}

export interface PlanInput {
  app: EdgeApplication;
  /** Names of the NodeGroups that exist. */
  nodeGroups: Iterable<string>;
  /**
   * Cached Deployments and Services in the EdgeApplication's namespace that
   * carry its label; only those whose controller ownerReference is this
   * EdgeApplication (by uid) count as its children.
   */
  children: readonly k8s.KubernetesObject[];
  /** Discovery for every apiVersion/kind the manifests use (`kindKey`); a missing entry means not served. */
  kinds: ReadonlyMap<string, KindInfo>;
  now: Date;
}

export interface EdgeApplicationPlan {
  /** Complete objects for server-side apply, in manifest then target order. Children already up to date are left out. */
  apply: JsonObject[];
  /** Owned objects no longer rendered. */
  delete: ObjectRef[];
  status: EdgeApplicationStatus & { observedGeneration?: number; workloadStatus: ManifestStatus[]; conditions: Condition[] };
  requeueAfter?: number;
  /** Everything wrong with the spec (already in the Degraded condition), for logging. */
  issues: Issue[];
  /** The workloads in status, for `finishStatus`. */
  workloads: Workload[];
  /** The objects in `delete`, as workloads (a failed delete puts them back in status). */
  deleting: Workload[];
}

const manifestsField = 'spec.workloadTemplate.manifests';

const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '');
const versionOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.slice(apiVersion.indexOf('/') + 1) : apiVersion);
/** Identity across versions: group, kind, namespace, name. */
const objKey = (apiVersion: string, kind: string, namespace: string | undefined, name: string) => `${groupOf(apiVersion)}/${kind}/${namespace ?? ''}/${name}`;
const isDeployment = (apiVersion: unknown, kind: unknown) => apiVersion === 'apps/v1' && kind === 'Deployment';
const isService = (apiVersion: unknown, kind: unknown) => apiVersion === 'v1' && kind === 'Service';
const isWatched = (apiVersion: string, kind: string) => watchedKinds.some((w) => groupOf(w.apiVersion) === groupOf(apiVersion) && w.kind === kind);

/**
 * The label value that names the EdgeApplication on its children: its name,
 * or for names longer than a label value allows (63), a prefix plus a hash.
 */
export function ownerLabelValue(name: string): string {
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 10);
  return `${name.slice(0, 52).replace(/[^A-Za-z0-9]+$/, '')}-${hash}`;
}

/** JSON with object keys sorted, so equal objects hash equally. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isObject(v)) {
    return `{${Object.keys(v).filter((k) => v[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * True when every field of `want` has the same value in `have` (objects may
 * have more keys; arrays must match element by element). Used with the
 * rendered hash: the hash catches fields we stopped setting, the subset check
 * catches someone editing a field we set.
 */
export function isSubset(want: unknown, have: unknown): boolean {
  if (Array.isArray(want)) return Array.isArray(have) && want.length === have.length && want.every((w, i) => isSubset(w, have[i]));
  if (isObject(want)) return isObject(have) && Object.keys(want).every((k) => want[k] === undefined || isSubset(want[k], have[k]));
  return want === have;
}

/** The controller ownerReference the children carry. */
export function ownerReference(app: EdgeApplication): k8s.V1OwnerReference {
  return { apiVersion: EdgeApplicationGVK.apiVersion, kind: EdgeApplicationGVK.kind, name: app.metadata.name!, uid: app.metadata.uid!, controller: true, blockOwnerDeletion: true };
}

/** True when `obj`'s controller ownerReference is the EdgeApplication with `uid`. */
export function isOwnedBy(obj: k8s.KubernetesObject, uid: string | undefined): boolean {
  return !!uid && (obj.metadata?.ownerReferences ?? []).some((r) => r.uid === uid && r.controller === true);
}

interface Target {
  field: string;
  placement: Placement;
  overriders: Overriders | undefined;
}

/** Validates the targets once; returns the usable ones and, for the others, the issue and the placement (when known). */
function collectTargets(app: EdgeApplication, nodeGroups: Set<string>): { targets: Target[]; invalid: { issue: Issue; placement?: Placement }[] } {
  const scope = (isObject(app.spec?.workloadScope) ? app.spec.workloadScope : {}) as { targetNodeGroups?: unknown; targetNodeLabels?: unknown };
  const targets: Target[] = [];
  const invalid: { issue: Issue; placement?: Placement }[] = [];
  const seen = new Map<string, string>();
  const bad = (code: EdgeApplicationErrorCode, field: string, message: string, placement?: Placement) => invalid.push({ issue: { code, field, message }, ...(placement ? { placement } : {}) });

  const groups = Array.isArray(scope.targetNodeGroups) ? (scope.targetNodeGroups as unknown[]) : [];
  groups.forEach((t, i) => {
    const field = `spec.workloadScope.targetNodeGroups[${i}]`;
    const name = isObject(t) ? t.name : undefined;
    if (typeof name !== 'string' || !name) return bad('EDGEAPP_INVALID_TARGET', `${field}.name`, 'is required');
    const placement: Placement = { nodeGroup: name };
    const id = `group:${name}`;
    if (seen.has(id)) return bad('EDGEAPP_INVALID_TARGET', `${field}.name`, `NodeGroup "${name}" is already targeted by ${seen.get(id)}`);
    seen.set(id, field);
    if (!nodeGroups.has(name)) {
      return bad('EDGEAPP_INVALID_TARGET', `${field}.name`, `NodeGroup "${name}" does not exist; create it or remove the target (its Deployments are kept until then)`, placement);
    }
    targets.push({ field, placement, overriders: (t as { overriders?: Overriders }).overriders });
  });

  const labels = Array.isArray(scope.targetNodeLabels) ? (scope.targetNodeLabels as unknown[]) : [];
  labels.forEach((t, i) => {
    const field = `spec.workloadScope.targetNodeLabels[${i}]`;
    const labelSelector = isObject(t) ? t.labelSelector : undefined;
    try {
      nodeSelectorRequirements(labelSelector as never);
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      const e = err.under(field);
      return bad(e.code, e.field, e.message);
    }
    const placement: Placement = { labelSelector: labelSelector as never };
    const id = `labels:${childName('', placement)}`;
    if (seen.has(id)) return bad('EDGEAPP_INVALID_TARGET', `${field}.labelSelector`, `selects the same nodes as ${seen.get(id)}`);
    seen.set(id, field);
    targets.push({ field, placement, overriders: (t as { overriders?: Overriders }).overriders });
  });
  return { targets, invalid };
}

/** The manifest without server-set fields, ready to be rendered. */
function cleanManifest(m: JsonObject): JsonObject {
  const o = structuredClone(m);
  delete o.status;
  const meta = isObject(o.metadata) ? { ...o.metadata } : {};
  for (const k of ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink', 'ownerReferences', 'generateName']) delete meta[k];
  o.metadata = meta;
  return o;
}

/** Adds what every child carries: namespace, owner label, annotations, ownerReference, rendered hash. */
function finishChild(obj: JsonObject, app: EdgeApplication, template: string | undefined): JsonObject {
  const meta = obj.metadata as JsonObject;
  meta.namespace = app.metadata.namespace;
  meta.labels = { ...(isObject(meta.labels) ? meta.labels : {}), [edgeApplicationLabel]: ownerLabelValue(app.metadata.name!) };
  const annotations: JsonObject = { ...(isObject(meta.annotations) ? meta.annotations : {}) };
  delete annotations[renderedHashAnnotation];
  if (template !== undefined) annotations[lastAppliedTemplateAnnotation] = template;
  meta.annotations = annotations;
  meta.ownerReferences = [ownerReference(app)];
  annotations[renderedHashAnnotation] = createHash('sha256').update(canonicalJson(obj)).digest('hex').slice(0, 16);
  return obj;
}

function deploymentCondition(desired: JsonObject, cached: k8s.V1Deployment | undefined): ManifestCondition {
  if (!cached) return 'Processing';
  const spec = desired.spec as JsonObject | undefined;
  const want = typeof spec?.replicas === 'number' ? spec.replicas : 1;
  const st = cached.status ?? {};
  const current = (st.observedGeneration ?? 0) >= (cached.metadata?.generation ?? 0);
  const ready = (st.readyReplicas ?? 0) === want && (want === 0 || (st.updatedReplicas ?? 0) === want);
  return current && ready ? 'Available' : 'Processing';
}

const describe = (r: ObjectRef) => `${r.kind} ${r.name}`;

/**
 * The status conditions for `workloads` and `issues`: Available (every
 * workload available), Progressing (some are not yet), Degraded (something in
 * the spec or an API call failed; the message names each field).
 */
export function computeConditions(app: EdgeApplication, workloads: readonly Workload[], issues: readonly Issue[], now: Date): Condition[] {
  const gen = app.metadata.generation;
  const processing = workloads.filter((w) => w.condition === 'Processing');
  const n = workloads.length;
  const names = processing.slice(0, 10).map((w) => describe(w.ref)).join(', ') + (processing.length > 10 ? `, and ${processing.length - 10} more` : '');
  const waiting = `${processing.length} of ${n} workload(s) not yet available: ${names}`;
  let c = (app.status?.conditions ?? []) as Condition[];
  if (processing.length > 0) {
    c = setCondition(c, { type: 'Available', status: 'False', reason: 'WorkloadsProcessing', message: waiting }, now, gen);
    c = setCondition(c, { type: 'Progressing', status: 'True', reason: 'WorkloadsProcessing', message: waiting }, now, gen);
  } else if (n === 0 && issues.length > 0) {
    const message = 'No workload could be rendered; see the Degraded condition.';
    c = setCondition(c, { type: 'Available', status: 'False', reason: 'NoWorkloads', message }, now, gen);
    c = setCondition(c, { type: 'Progressing', status: 'False', reason: 'NoWorkloads', message }, now, gen);
  } else {
    const message = n === 0 ? 'The template renders no workloads.' : `All ${n} workload(s) available.`;
    c = setCondition(c, { type: 'Available', status: 'True', reason: n === 0 ? 'NoWorkloads' : 'WorkloadsAvailable', message }, now, gen);
    c = setCondition(c, { type: 'Progressing', status: 'False', reason: n === 0 ? 'NoWorkloads' : 'WorkloadsAvailable', message }, now, gen);
  }
  if (issues.length > 0) {
    const reason = issues[0]!.code === 'EDGEAPP_UNKNOWN_KIND' ? 'KindNotServed' : issues[0]!.code === 'EDGEAPP_APPLY_FAILED' ? 'ApplyFailed' : 'InvalidSpec';
    let message = '';
    let shown = 0;
    for (const i of issues) {
      const part = `${i.field}: ${i.message}`;
      if (message.length + part.length > 8000) break;
      message += (shown ? '; ' : '') + part;
      shown++;
    }
    if (shown < issues.length) message += `; and ${issues.length - shown} more`;
    c = setCondition(c, { type: 'Degraded', status: 'True', reason, message }, now, gen);
  } else {
    c = setCondition(c, { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'Every manifest and target was rendered and applied.' }, now, gen);
  }
  return c;
}

/**
 * Plans one reconcile of `input.app`. Pure and total: a broken spec never
 * throws, it becomes issues in the Degraded condition and skips only what it
 * affects. Idempotent: with the cache caught up, a second plan has nothing to
 * apply or delete and the same status.
 */
export function planEdgeApplication(input: PlanInput): EdgeApplicationPlan {
  const { app, children, kinds, now } = input;
  const ns = app.metadata.namespace!;
  const uid = app.metadata.uid;
  const nodeGroups = new Set(input.nodeGroups);
  const issues: Issue[] = [];
  const apply: JsonObject[] = [];
  const workloads: Workload[] = [];
  const rendered = new Set<string>();
  const keep = new Set<string>();
  let gcBlocked = false;
  let requeueAfter: number | undefined;

  const owned = new Map<string, k8s.KubernetesObject>();
  for (const ch of children) {
    if (!ch.apiVersion || !ch.kind || !ch.metadata?.name || !isOwnedBy(ch, uid)) continue;
    owned.set(objKey(ch.apiVersion, ch.kind, ch.metadata.namespace, ch.metadata.name), ch);
  }

  const { targets, invalid } = collectTargets(app, nodeGroups);
  for (const t of invalid) issues.push(t.issue);

  const manifests = Array.isArray(app.spec?.workloadTemplate?.manifests) ? (app.spec.workloadTemplate.manifests as unknown[]) : [];
  manifests.forEach((m, ordinal) => {
    const mField = `${manifestsField}[${ordinal}]`;
    if (!isObject(m)) {
      gcBlocked = true;
      return issues.push({ code: 'EDGEAPP_INVALID_MANIFEST', field: mField, message: 'must be a Kubernetes object with apiVersion, kind and metadata.name' });
    }
    const { apiVersion, kind } = m;
    const meta = isObject(m.metadata) ? m.metadata : {};
    if (typeof apiVersion !== 'string' || !apiVersion || typeof kind !== 'string' || !kind) {
      gcBlocked = true;
      return issues.push({ code: 'EDGEAPP_INVALID_MANIFEST', field: `${mField}.${typeof apiVersion !== 'string' || !apiVersion ? 'apiVersion' : 'kind'}`, message: 'is required' });
    }
    if (typeof meta.name !== 'string' || !meta.name) {
      gcBlocked = true;
      return issues.push({ code: 'EDGEAPP_INVALID_MANIFEST', field: `${mField}.metadata.name`, message: 'is required (generateName is not supported: children need stable names)' });
    }
    const name = meta.name;
    const deployment = isDeployment(apiVersion, kind);
    const names = deployment ? [...targets.map((t) => t.placement), ...invalid.flatMap((t) => (t.placement ? [t.placement] : []))].map((p) => childName(name, p)) : [name];
    const keepAll = () => names.forEach((n) => keep.add(objKey(apiVersion, kind, ns, n)));
    // Invalid targets: keep what they deployed before.
    for (const t of invalid) if (deployment && t.placement) keep.add(objKey(apiVersion, kind, ns, childName(name, t.placement)));

    if (meta.namespace !== undefined && meta.namespace !== ns) {
      keepAll();
      return issues.push({ code: 'EDGEAPP_INVALID_MANIFEST', field: `${mField}.metadata.namespace`,
        message: `"${String(meta.namespace)}" differs from the EdgeApplication's namespace "${ns}"; remove it (ownerReferences cannot cross namespaces)` });
    }
    const info = kinds.get(kindKey(apiVersion, kind));
    if (!info) {
      keepAll();
      requeueAfter = unknownKindRequeueMs;
      return issues.push({ code: 'EDGEAPP_UNKNOWN_KIND', field: `${mField}`, message: `kind ${kind} in ${apiVersion} is not served by the API server; install its CRD or fix apiVersion/kind` });
    }
    if (!info.namespaced) {
      keepAll();
      return issues.push({ code: 'EDGEAPP_INVALID_MANIFEST', field: `${mField}.kind`, message: `${kind} is cluster-scoped; an EdgeApplication can only own objects in its own namespace` });
    }
    let template: string | undefined = JSON.stringify(m);
    if (Buffer.byteLength(template) > maxTemplateAnnotationBytes) template = undefined;
    const base = cleanManifest(m);

    const emit = (obj: JsonObject, field: string) => {
      const objName = (obj.metadata as JsonObject).name as string;
      const key = objKey(apiVersion, kind, ns, objName);
      if (rendered.has(key)) {
        return issues.push({ code: 'EDGEAPP_INVALID_MANIFEST', field, message: `renders ${kind} "${objName}", which an earlier manifest or target already renders; rename one of them` });
      }
      rendered.add(key);
      const child = finishChild(obj, app, template);
      const cached = owned.get(key);
      const upToDate = !!cached && isSubset(child, cached);
      if (!upToDate) apply.push(child);
      const ref: ObjectRef = { apiVersion, kind, namespace: ns, name: objName };
      let condition: ManifestCondition = 'Available';
      if (deployment) condition = upToDate ? deploymentCondition(child, cached as k8s.V1Deployment) : 'Processing';
      else if (isWatched(apiVersion, kind)) condition = cached ? 'Available' : 'Processing';
      workloads.push({ identifier: identifier(ordinal, apiVersion, kind, info.resource, ns, objName), condition, ref });
    };

    if (deployment) {
      const ps = ((base.spec as JsonObject | undefined)?.template as JsonObject | undefined)?.spec;
      if (!isObject(ps) || !Array.isArray(ps.containers)) {
        keepAll();
        return issues.push({ code: 'EDGEAPP_INVALID_MANIFEST', field: `${mField}.spec.template.spec.containers`, message: 'is required in a Deployment' });
      }
      for (const t of targets) {
        try {
          emit(overrideDeployment(base, t.placement, t.overriders), t.field);
        } catch (err) {
          if (!(err instanceof SpecError)) throw err;
          keep.add(objKey(apiVersion, kind, ns, childName(name, t.placement)));
          const e = err.under(t.field);
          issues.push({ code: e.code, field: e.field, message: `${e.message} (in Deployment "${name}", ${mField}; this target keeps its current Deployment)` });
        }
      }
      return;
    }
    if (isService(apiVersion, kind)) {
      const md = base.metadata as JsonObject;
      md.annotations = { ...(isObject(md.annotations) ? md.annotations : {}), [serviceTopologyAnnotation]: serviceTopologyRangeNodeGroup };
    }
    emit(base, mField);
  });

  // Garbage collection: what we deployed before (status inventory + cache) and no longer render.
  const deleting: Workload[] = [];
  let keptForGc = 0;
  const inventory = new Map<string, { ref: ObjectRef; identifier: ResourceIdentifier; previous?: ManifestCondition }>();
  for (const ws of app.status?.workloadStatus ?? []) {
    const id = ws.identifier;
    if (!id?.kind || !id.name || !id.version) continue;
    const apiVersion = id.group ? `${id.group}/${id.version}` : id.version;
    inventory.set(objKey(apiVersion, id.kind, id.namespace || ns, id.name), {
      ref: { apiVersion, kind: id.kind, namespace: id.namespace || ns, name: id.name },
      identifier: id,
      ...(ws.conditions ? { previous: ws.conditions } : {}),
    });
  }
  for (const [key, ch] of owned) {
    const ref: ObjectRef = { apiVersion: ch.apiVersion!, kind: ch.kind!, namespace: ch.metadata!.namespace, name: ch.metadata!.name!, uid: ch.metadata!.uid };
    const prev = inventory.get(key);
    const resource = watchedKinds.find((w) => w.kind === ch.kind)?.plural ?? '';
    inventory.set(key, { ref, identifier: prev?.identifier ?? identifier(0, ref.apiVersion, ref.kind, resource, ref.namespace, ref.name), ...(prev?.previous ? { previous: prev.previous } : {}) });
  }
  for (const [key, item] of inventory) {
    if (rendered.has(key)) continue;
    if (gcBlocked || keep.has(key)) {
      // Still ours and still wanted once the spec is fixed: keep it and keep reporting it.
      const cached = owned.get(key);
      const condition: ManifestCondition = cached && isWatched(item.ref.apiVersion, item.ref.kind)
        ? (item.ref.kind === 'Deployment' ? deploymentCondition(cached as JsonObject, cached as k8s.V1Deployment) : 'Available')
        : (item.previous ?? 'Processing');
      workloads.push({ identifier: item.identifier, condition, ref: item.ref });
      if (!keep.has(key)) keptForGc++;
      continue;
    }
    // Watched kinds absent from the synced cache are already gone (or no longer ours).
    if (isWatched(item.ref.apiVersion, item.ref.kind) && !owned.has(key)) continue;
    deleting.push({ identifier: item.identifier, condition: 'Processing', ref: item.ref });
  }
  if (keptForGc > 0) {
    issues.push({ code: 'EDGEAPP_INVALID_MANIFEST', field: manifestsField, message: `garbage collection is paused (${keptForGc} object(s) kept) until every manifest has apiVersion, kind and metadata.name` });
  }

  return {
    apply,
    delete: deleting.map((w) => w.ref),
    status: statusFrom(app, workloads, issues, now),
    ...(requeueAfter !== undefined ? { requeueAfter } : {}),
    issues,
    workloads,
    deleting,
  };
}

function identifier(ordinal: number, apiVersion: string, kind: string, resource: string, namespace: string | undefined, name: string): ResourceIdentifier {
  const group = groupOf(apiVersion);
  return { ordinal, ...(group ? { group } : {}), version: versionOf(apiVersion), kind, resource, ...(namespace ? { namespace } : {}), name };
}

function statusFrom(app: EdgeApplication, workloads: readonly Workload[], issues: readonly Issue[], now: Date): EdgeApplicationPlan['status'] {
  return {
    ...(app.metadata.generation !== undefined ? { observedGeneration: app.metadata.generation } : {}),
    workloadStatus: workloads.map((w) => ({ identifier: w.identifier, conditions: w.condition })),
    conditions: computeConditions(app, workloads, issues, now),
  };
}

/** What went wrong while executing a plan: per object, the API server's message. */
export interface ExecutionFailures {
  apply: { ref: ObjectRef; message: string }[];
  delete: { ref: ObjectRef; message: string }[];
}

/**
 * The status to write after executing `plan`: objects whose apply failed are
 * Processing, objects whose delete failed stay in workloadStatus (so the next
 * pass deletes them again), and every failure is named in Degraded. Pure.
 */
export function finishStatus(app: EdgeApplication, plan: EdgeApplicationPlan, failures: ExecutionFailures, now: Date): EdgeApplicationPlan['status'] {
  if (failures.apply.length === 0 && failures.delete.length === 0) return plan.status;
  const sameRef = (a: ObjectRef, b: ObjectRef) => a.kind === b.kind && a.name === b.name && groupOf(a.apiVersion) === groupOf(b.apiVersion);
  const workloads = plan.workloads.map((w) => (failures.apply.some((f) => sameRef(f.ref, w.ref)) ? { ...w, condition: 'Processing' as const } : w));
  for (const f of failures.delete) {
    const w = plan.deleting.find((d) => sameRef(d.ref, f.ref));
    workloads.push(w ?? { identifier: identifier(0, f.ref.apiVersion, f.ref.kind, '', f.ref.namespace, f.ref.name), condition: 'Processing', ref: f.ref });
  }
  const issues: Issue[] = [
    ...failures.apply.map((f) => ({ code: 'EDGEAPP_APPLY_FAILED' as const, field: `${f.ref.kind} ${f.ref.name}`, message: `apply failed: ${f.message}` })),
    ...failures.delete.map((f) => ({ code: 'EDGEAPP_APPLY_FAILED' as const, field: `${f.ref.kind} ${f.ref.name}`, message: `delete failed: ${f.message}` })),
    ...plan.issues,
  ];
  return statusFrom(app, workloads, issues, now);
}
