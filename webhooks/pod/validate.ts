/**
 * Edge best practices for pods that run on edge nodes, and for the pod
 * templates of Deployments, StatefulSets and DaemonSets. An edge node is
 * often offline, small and shared, so four things that are merely untidy in
 * a data centre break it: no resource limits, images that must be pulled on
 * every start, privileged containers, and writable hostPath mounts.
 *
 * They are admission warnings (kubectl and Argo CD show them) unless the
 * namespace carries `outpost.io/edge-policy=enforce`, which turns them into
 * denials; `outpost.io/edge-policy=off` silences them.
 */
import { isDeepStrictEqual } from 'node:util';
import type * as k8s from '@kubernetes/client-node';
import { describe, isObject, verdict, type JsonObject, type ValidateInput, type ValidationResult, type Violation } from '../admission.ts';
import { edgeNodeLabel } from '../device/validate.ts';
import type { Lookups } from '../lookups.ts';

/** Namespace label that selects the policy: `warn` (default), `enforce` or `off`. */
export const edgePolicyLabel = 'outpost.io/edge-policy';
/** The label KubeEdge's NodeGroup controller puts on member nodes. */
export const belongingToLabel = 'apps.kubeedge.io/belonging-to';

/** What a namespace does with edge best-practice findings. */
export type EdgePolicy = 'warn' | 'enforce' | 'off';

/** The policy of `namespace` from its label; `warn` when unset or unknown. */
export function edgePolicy(lookups: Lookups, namespace: string): EdgePolicy {
  const v = lookups.namespace(namespace)?.metadata?.labels?.[edgePolicyLabel];
  return v === 'enforce' || v === 'off' ? v : 'warn';
}

const edgeKeys = new Set([edgeNodeLabel, belongingToLabel]);

/**
 * True when the pod spec is bound to an edge node (nodeName of a node labelled
 * node-role.kubernetes.io/edge) or selects edge nodes (nodeSelector or
 * required node affinity on node-role.kubernetes.io/edge or
 * apps.kubeedge.io/belonging-to).
 */
export function isEdgeBound(spec: k8s.V1PodSpec, lookups: Lookups): boolean {
  if (spec.nodeName && lookups.node(spec.nodeName)?.metadata?.labels?.[edgeNodeLabel] !== undefined) return true;
  if (Object.keys(spec.nodeSelector ?? {}).some((k) => edgeKeys.has(k))) return true;
  const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  return terms.some((t) => (t.matchExpressions ?? []).some((e) => edgeKeys.has(e.key) && (e.operator === 'In' || e.operator === 'Exists')));
}

/** `nginx`, `nginx:latest` → true; `nginx:1.27`, `nginx@sha256:…` → false. */
export function isMutableImage(image: string): boolean {
  if (image.includes('@')) return false;
  const last = image.slice(image.lastIndexOf('/') + 1);
  const colon = last.indexOf(':');
  return colon < 0 || last.slice(colon + 1) === 'latest';
}

/** Suggests a pinned form of a mutable image for a message: `nginx:latest` → `nginx:<version>`. */
const pinned = (image: string) => `${image.replace(/:latest$/, '')}:<version>`;

/**
 * Edge best-practice findings for one pod spec; `at` is the field path of the
 * spec (`spec`, or `spec.template.spec`). Options let a caller skip checks that
 * something else satisfies (EdgeApplication overriders).
 */
export function podSpecFindings(spec: k8s.V1PodSpec, at: string, opts: { limitsSetFor?: ReadonlySet<string> } = {}): Violation[] {
  const out: Violation[] = [];
  const hostPaths = new Map((spec.volumes ?? []).filter((v) => v.hostPath).map((v) => [v.name, v.hostPath!.path]));
  for (const list of ['initContainers', 'containers'] as const) {
    (spec[list] ?? []).forEach((c, i) => {
      const field = `${at}.${list}[${i}]`;
      const limits = c.resources?.limits ?? {};
      const missing = ['cpu', 'memory'].filter((r) => limits[r] === undefined);
      if (missing.length > 0 && !opts.limitsSetFor?.has(c.name)) {
        out.push({ code: 'EDGE_NO_LIMITS', field: `${field}.resources.limits`, message: `container "${c.name}" sets no ${missing.join(' and ')} limit; set limits.cpu and limits.memory so one workload cannot starve the edge node` });
      }
      const policy = c.imagePullPolicy ?? (c.image && isMutableImage(c.image) ? 'Always' : 'IfNotPresent');
      if (c.image && isMutableImage(c.image) && policy === 'Always') {
        out.push({ code: 'EDGE_MUTABLE_IMAGE', field: `${field}.image`, message: `"${c.image}" is pulled on every start (imagePullPolicy Always), which fails while the edge node is offline; pin a version like "${pinned(c.image)}" and use imagePullPolicy IfNotPresent` });
      }
      if (c.securityContext?.privileged) {
        out.push({ code: 'EDGE_PRIVILEGED', field: `${field}.securityContext.privileged`, message: `container "${c.name}" is privileged; remove privileged and add only the capabilities it needs under securityContext.capabilities.add` });
      }
      (c.volumeMounts ?? []).forEach((m, j) => {
        if (hostPaths.has(m.name) && !m.readOnly) {
          out.push({ code: 'EDGE_HOSTPATH_WRITABLE', field: `${field}.volumeMounts[${j}]`, message: `hostPath volume "${m.name}" (${hostPaths.get(m.name)}) is mounted read-write; set readOnly: true, or use a local PersistentVolume for data the pod writes` });
        }
      });
    });
  }
  return out;
}

/**
 * Applies the namespace policy to findings: warnings (`warn`), a denial
 * (`enforce`) or nothing (`off`).
 */
export function applyEdgePolicy(findings: Violation[], policy: EdgePolicy, warnings: string[] = []): ValidationResult {
  if (policy === 'off' || findings.length === 0) return verdict([], warnings);
  if (policy === 'warn') return verdict([], [...warnings, ...findings.map(describe)]);
  return verdict(findings.map((f) => ({ ...f, message: `${f.message} (namespace label ${edgePolicyLabel}=enforce)` })), warnings);
}

/** Where the pod spec of a workload kind sits. */
export function podSpecOf(obj: JsonObject): { spec: k8s.V1PodSpec; at: string } | undefined {
  const spec = isObject(obj.spec) ? obj.spec : undefined;
  if (!spec) return undefined;
  if (obj.kind === 'Pod') return { spec: spec as unknown as k8s.V1PodSpec, at: 'spec' };
  const tmpl = isObject(spec.template) && isObject(spec.template.spec) ? spec.template.spec : undefined;
  return tmpl ? { spec: tmpl as unknown as k8s.V1PodSpec, at: 'spec.template.spec' } : undefined;
}

/**
 * Validates a Pod, Deployment, StatefulSet or DaemonSet against the edge best
 * practices when it runs on (or selects) edge nodes. An UPDATE that leaves the
 * pod spec unchanged, or of an object being deleted, is always allowed.
 * Pure apart from `lookups`.
 */
export function validateEdgeWorkload(input: ValidateInput<JsonObject>): ValidationResult {
  const { operation, object, oldObject, lookups } = input;
  if ((operation !== 'CREATE' && operation !== 'UPDATE') || !object) return verdict([]);
  const found = podSpecOf(object);
  if (!found) return verdict([]);
  if (operation === 'UPDATE') {
    const meta = isObject(object.metadata) ? object.metadata : {};
    if (meta.deletionTimestamp || (oldObject && isDeepStrictEqual(found.spec, podSpecOf(oldObject)?.spec))) return verdict([]);
  }
  if (!isEdgeBound(found.spec, lookups)) return verdict([]);
  const namespace = input.namespace || ((object.metadata as JsonObject | undefined)?.namespace as string | undefined) || '';
  return applyEdgePolicy(podSpecFindings(found.spec, found.at), edgePolicy(lookups, namespace));
}
