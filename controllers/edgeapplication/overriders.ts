/**
 * KubeEdge EdgeApplication overriders, applied to one apps/v1 Deployment
 * manifest for one target (a NodeGroup or a node label selector). Pure: each
 * function takes a copy and returns it, or throws SpecError naming the field.
 *
 * Order follows KubeEdge (cloud/pkg/controllermanager/edgeapplication
 * overridemanager): Name, Replicas, Image, NodeSelector, Command, Args, Env,
 * Resources; within a list, overriders run in list order, each on the result
 * of the previous one.
 *
 * Where KubeEdge silently ignores a mistake (a containerName that matches no
 * container, a predicate path that is not an image, a tag that is neither a
 * tag nor a digest) we report it instead: the target is skipped and the
 * EdgeApplication's Degraded condition names the field.
 */
import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { CommandArgsOverrider, EnvOverrider, ImageOverrider, LabelSelector, Overriders, ResourcesOverrider } from '../../api/index.ts';
import { SpecError } from './errors.ts';
import { formatImage, ImageReferenceError, isValidDigest, isValidRegistry, isValidRepository, isValidTag, parseImage, type ImageReference } from './image-reference.ts';

/** The label KubeEdge's NodeGroup controller puts on member nodes. */
export const belongingToLabel = 'apps.kubeedge.io/belonging-to';

export type { CommandArgsOverrider, EnvOverrider, ImageOverrider, LabelSelector, Overriders, ResourcesOverrider };

/** Where one copy of a Deployment runs. */
export type Placement = { nodeGroup: string } | { labelSelector: LabelSelector };

export type JsonObject = Record<string, unknown>;

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The label selector's identity for naming: its requirements as
 * `key=value` (matchLabels) and `key operator (v1,v2)` (matchExpressions,
 * values sorted), sorted and joined with ",". Equal selectors written in a
 * different order give the same string.
 */
export function canonicalLabelSelector(sel: LabelSelector): string {
  const parts = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort();
    parts.push(values.length ? `${e.key} ${e.operator} (${values.join(',')})` : `${e.key} ${e.operator}`);
  }
  return parts.sort().join(',');
}

/** First 4 bytes of sha256(canonicalLabelSelector(sel)), as 8 lower-case hex digits. */
export function labelSelectorHash(sel: LabelSelector): string {
  return createHash('sha256').update(canonicalLabelSelector(sel)).digest('hex').slice(0, 8);
}

/** KubeEdge's name for the copy of Deployment `name`: `<name>-<nodegroup>` or `<name>-ls-<hash>`. */
export function childName(name: string, placement: Placement): string {
  return 'nodeGroup' in placement ? `${name}-${placement.nodeGroup}` : `${name}-ls-${labelSelectorHash(placement.labelSelector)}`;
}

const nodeSelectorOperators = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

/**
 * The label selector as node selector requirements (matchLabels become `In`
 * with one value, sorted by key; then matchExpressions in order). Throws
 * SpecError (field relative to the target, `labelSelector…`) for an empty
 * selector or a malformed expression.
 */
export function nodeSelectorRequirements(selector: LabelSelector | undefined): k8s.V1NodeSelectorRequirement[] {
  const sel = selector as LabelSelector;
  if (!isObject(selector)) throw new SpecError('EDGEAPP_INVALID_TARGET', 'labelSelector', 'is required');
  const out: k8s.V1NodeSelectorRequirement[] = Object.keys(sel.matchLabels ?? {})
    .sort()
    .map((key) => ({ key, operator: 'In', values: [sel.matchLabels![key]!] }));
  (sel.matchExpressions ?? []).forEach((e, i) => {
    const field = `labelSelector.matchExpressions[${i}]`;
    if (!e || typeof e.key !== 'string' || !e.key) throw new SpecError('EDGEAPP_INVALID_TARGET', `${field}.key`, 'is required');
    if (!nodeSelectorOperators.has(e.operator)) {
      throw new SpecError('EDGEAPP_INVALID_TARGET', `${field}.operator`, `"${e.operator}" is not a label selector operator; use In, NotIn, Exists or DoesNotExist`);
    }
    const values = e.values ?? [];
    if ((e.operator === 'In' || e.operator === 'NotIn') && values.length === 0) {
      throw new SpecError('EDGEAPP_INVALID_TARGET', `${field}.values`, `must not be empty when operator is ${e.operator}`);
    }
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && values.length > 0) {
      throw new SpecError('EDGEAPP_INVALID_TARGET', `${field}.values`, `must be empty when operator is ${e.operator}`);
    }
    out.push(values.length ? { key: e.key, operator: e.operator, values: [...values] } : { key: e.key, operator: e.operator });
  });
  if (out.length === 0) {
    // An empty nodeSelectorTerm matches no node at all, so this would never schedule.
    throw new SpecError('EDGEAPP_INVALID_TARGET', 'labelSelector', 'must have matchLabels or matchExpressions (an empty selector matches no node)');
  }
  return out;
}

// ---- helpers over the Deployment's pod template ------------------------------------------

type Container = k8s.V1Container;

function podSpec(deployment: JsonObject, field: string): JsonObject {
  const spec = (deployment.spec as JsonObject | undefined)?.template as JsonObject | undefined;
  const ps = spec?.spec;
  if (!isObject(ps)) throw new SpecError('EDGEAPP_INVALID_OVERRIDER', field, 'the Deployment manifest has no spec.template.spec to override');
  return ps;
}

function containerList(ps: JsonObject, list: 'containers' | 'initContainers'): Container[] {
  const v = ps[list];
  return Array.isArray(v) ? (v.filter(isObject) as unknown as Container[]) : [];
}

/** The container (or init container) named `name`; throws naming `field` when there is none. */
function findContainer(deployment: JsonObject, name: unknown, field: string): Container {
  const ps = podSpec(deployment, field);
  const all = [...containerList(ps, 'containers'), ...containerList(ps, 'initContainers')];
  const c = all.find((x) => x.name === name);
  if (!c) {
    const names = all.map((x) => x.name).join(', ') || 'none';
    throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.containerName`, `no container named "${String(name)}" in the Deployment (containers: ${names})`);
  }
  return c;
}

const imagePathRe = /^\/spec\/template\/spec\/(containers|initContainers)\/(0|[1-9][0-9]*)\/image$/;

// ---- Replicas -----------------------------------------------------------------------------

/** Sets spec.replicas. */
export function applyReplicas(deployment: JsonObject, replicas: unknown, field = 'replicas'): JsonObject {
  if (replicas === undefined || replicas === null) return deployment;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw new SpecError('EDGEAPP_INVALID_OVERRIDER', field, `must be a non-negative integer, got ${JSON.stringify(replicas)}`);
  }
  const d = structuredClone(deployment);
  d.spec = { ...(isObject(d.spec) ? d.spec : {}), replicas };
  return d;
}

// ---- Image --------------------------------------------------------------------------------

/**
 * Applies one image overrider to one image string. Operators, as in KubeEdge:
 * `add` appends the value to the component (`nginx` + Tag add `-alpine` on
 * `nginx:1.25` gives `nginx:1.25-alpine`; Registry add `.cn` on
 * `registry.k8s.io/pause` gives `registry.k8s.io.cn/pause`), `replace` sets it,
 * `remove` drops it. The Tag component is the tag, or the digest when there is
 * no tag; a value that looks like a digest (`sha256:…`) sets the digest.
 */
export function overrideImage(image: string, o: ImageOverrider, field = 'imageOverriders[0]'): string {
  let ref: ImageReference;
  try {
    ref = parseImage(image);
  } catch (err) {
    if (err instanceof ImageReferenceError) throw new SpecError('EDGEAPP_INVALID_OVERRIDER', field, `cannot override ${err.message}`);
    throw err;
  }
  const op = o.operator;
  if (op !== 'add' && op !== 'remove' && op !== 'replace') {
    throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.operator`, `"${String(op)}" is not an operator; use add, remove or replace`);
  }
  const value = o.value ?? '';
  if (op !== 'remove' && !value) throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.value`, `is required when operator is ${op}`);
  const bad = (what: string, v: string): never => {
    throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.value`, `${op} ${JSON.stringify(o.value)} would make the ${what} "${v}", which is not valid in an image reference`);
  };
  const next = { ...ref };
  switch (o.component) {
    case 'Registry': {
      next.registry = op === 'add' ? ref.registry + value : op === 'replace' ? value : '';
      if (next.registry && !isValidRegistry(next.registry)) bad('registry', next.registry);
      break;
    }
    case 'Repository': {
      if (op === 'remove') {
        throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.operator`, `remove on the Repository would leave image "${image}" without a name; use replace`);
      }
      next.repository = op === 'add' ? ref.repository + value : value;
      if (!isValidRepository(next.repository)) bad('repository', next.repository);
      break;
    }
    case 'Tag': {
      if (op === 'remove') {
        next.tag = '';
        next.digest = '';
        break;
      }
      const v = op === 'add' ? (ref.tag || ref.digest) + value : value;
      if (isValidDigest(v)) {
        next.digest = v;
        next.tag = '';
      } else if (isValidTag(v)) {
        next.tag = v;
        next.digest = '';
      } else {
        bad('tag or digest', v);
      }
      break;
    }
    default:
      throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.component`, `"${String(o.component)}" is not a component; use Registry, Repository or Tag`);
  }
  return formatImage(next);
}

/**
 * Applies `overriders` in order. With a predicate, its path must be a JSON
 * pointer to an existing container's image,
 * `/spec/template/spec/containers/<N>/image` (or `initContainers`); without
 * one, every container's image is overridden.
 */
export function applyImageOverriders(deployment: JsonObject, overriders: ImageOverrider[] | undefined, prefix = 'imageOverriders'): JsonObject {
  if (!overriders?.length) return deployment;
  const d = structuredClone(deployment);
  overriders.forEach((o, i) => {
    const field = `${prefix}[${i}]`;
    if (!isObject(o)) throw new SpecError('EDGEAPP_INVALID_OVERRIDER', field, 'must be an object');
    const ps = podSpec(d, field);
    const targets: Container[] = [];
    if (o.predicate !== undefined) {
      const path = o.predicate?.path;
      const m = typeof path === 'string' ? imagePathRe.exec(path) : null;
      if (!m) {
        throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.predicate.path`,
          `${JSON.stringify(path)} does not point at a container image; use a JSON pointer like /spec/template/spec/containers/0/image`);
      }
      const list = containerList(ps, m[1] as 'containers' | 'initContainers');
      const c = list[Number(m[2])];
      if (!c) throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.predicate.path`, `"${path}" points past the end of ${m[1]} (the Deployment has ${list.length})`);
      targets.push(c);
    } else {
      targets.push(...containerList(ps, 'containers'));
    }
    for (const c of targets) {
      if (typeof c.image !== 'string') {
        throw new SpecError('EDGEAPP_INVALID_OVERRIDER', field, `container "${c.name}" has no image to override`);
      }
      c.image = overrideImage(c.image, o, field);
    }
  });
  return d;
}

// ---- NodeSelector -------------------------------------------------------------------------

/**
 * Pins the pods to the placement: a NodeGroup adds the nodeSelector
 * `apps.kubeedge.io/belonging-to=<group>` (kept alongside the manifest's own
 * nodeSelector); a label selector adds its requirements as
 * requiredDuringSchedulingIgnoredDuringExecution nodeAffinity, ANDed into every
 * existing nodeSelectorTerm (terms are ORed, so adding a term would widen).
 */
export function applyPlacement(deployment: JsonObject, placement: Placement): JsonObject {
  const d = structuredClone(deployment);
  const ps = podSpec(d, 'nodeGroup' in placement ? 'name' : 'labelSelector');
  if ('nodeGroup' in placement) {
    ps.nodeSelector = { ...(isObject(ps.nodeSelector) ? ps.nodeSelector : {}), [belongingToLabel]: placement.nodeGroup };
    return d;
  }
  const reqs = nodeSelectorRequirements(placement.labelSelector);
  const affinity = (isObject(ps.affinity) ? ps.affinity : (ps.affinity = {})) as JsonObject;
  const nodeAffinity = (isObject(affinity.nodeAffinity) ? affinity.nodeAffinity : (affinity.nodeAffinity = {})) as JsonObject;
  const required = (isObject(nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution)
    ? nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
    : (nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = {})) as JsonObject;
  const terms = Array.isArray(required.nodeSelectorTerms) ? (required.nodeSelectorTerms as k8s.V1NodeSelectorTerm[]) : [];
  required.nodeSelectorTerms = terms.length === 0
    ? [{ matchExpressions: reqs }]
    : terms.map((t) => ({ ...t, matchExpressions: [...(t.matchExpressions ?? []), ...reqs] }));
  return d;
}

// ---- Command / Args -----------------------------------------------------------------------

/**
 * The common frame of per-container overriders: no overriders → the input
 * unchanged; else a copy, and `apply` called for each overrider with its
 * container (found by containerName) and its field path for errors.
 */
function forEachContainerOverrider<O extends { containerName?: string }>(deployment: JsonObject, overriders: O[] | undefined, prefix: string,
  apply: (o: O, c: Container, field: string) => void): JsonObject {
  if (!overriders?.length) return deployment;
  const d = structuredClone(deployment);
  overriders.forEach((o, i) => {
    const field = `${prefix}[${i}]`;
    if (!isObject(o)) throw new SpecError('EDGEAPP_INVALID_OVERRIDER', field, 'must be an object');
    apply(o, findContainer(d, o.containerName, field), field);
  });
  return d;
}

/** `add` appends the values to the container's command (or args); `remove` drops every item equal to one of them. */
export function applyCommandArgsOverriders(deployment: JsonObject, which: 'command' | 'args', overriders: CommandArgsOverrider[] | undefined,
  prefix = `${which}Overriders`): JsonObject {
  return forEachContainerOverrider(deployment, overriders, prefix, (o, c, field) => {
    const values = o.value ?? [];
    if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) {
      throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.value`, 'must be a list of strings');
    }
    const current = c[which] ?? [];
    let next: string[];
    if (o.operator === 'add') {
      if (values.length === 0) throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.value`, 'must not be empty when operator is add');
      next = [...current, ...values];
    } else if (o.operator === 'remove') {
      next = current.filter((x) => !values.includes(x));
    } else {
      throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.operator`, `"${String(o.operator)}" is not an operator for ${which}; use add or remove`);
    }
    if (next.length) c[which] = next;
    else delete c[which];
  });
}

// ---- Env ----------------------------------------------------------------------------------

/**
 * By env var name: `add` appends vars that the container does not have yet,
 * `replace` swaps vars it has, `remove` drops vars by name (absent ones are
 * fine). Adding an existing name or replacing a missing one is an error,
 * because the result would be ambiguous (the API server keys env by name).
 */
export function applyEnvOverriders(deployment: JsonObject, overriders: EnvOverrider[] | undefined, prefix = 'envOverriders'): JsonObject {
  return forEachContainerOverrider(deployment, overriders, prefix, (o, c, field) => {
    const values = o.value ?? [];
    if (!Array.isArray(values)) throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.value`, 'must be a list of env vars');
    values.forEach((v, j) => {
      if (!isObject(v) || typeof v.name !== 'string' || !v.name) throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.value[${j}].name`, 'is required');
    });
    let env = [...(c.env ?? [])];
    const has = (name: string) => env.some((e) => e.name === name);
    switch (o.operator) {
      case 'add':
        if (values.length === 0) throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.value`, 'must not be empty when operator is add');
        values.forEach((v, j) => {
          if (has(v.name)) throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.value[${j}].name`, `container "${c.name}" already has env ${v.name}; use operator replace`);
          env.push(structuredClone(v));
        });
        break;
      case 'replace':
        values.forEach((v, j) => {
          if (!has(v.name)) throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.value[${j}].name`, `container "${c.name}" has no env ${v.name} to replace; use operator add`);
          env = env.map((e) => (e.name === v.name ? structuredClone(v) : e));
        });
        break;
      case 'remove': {
        const names = new Set(values.map((v) => v.name));
        env = env.filter((e) => !names.has(e.name));
        break;
      }
      default:
        throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.operator`, `"${String(o.operator)}" is not an operator; use add, remove or replace`);
    }
    if (env.length) c.env = env;
    else delete c.env;
  });
}

// ---- Resources ----------------------------------------------------------------------------

/** Replaces the container's resources (requests, limits, claims) with the value. */
export function applyResourcesOverriders(deployment: JsonObject, overriders: ResourcesOverrider[] | undefined, prefix = 'resourcesOverriders'): JsonObject {
  return forEachContainerOverrider(deployment, overriders, prefix, (o, c, field) => {
    if (!isObject(o.value)) throw new SpecError('EDGEAPP_INVALID_OVERRIDER', `${field}.value`, 'must be a ResourceRequirements object (limits, requests)');
    c.resources = structuredClone(o.value);
  });
}

// ---- all of them --------------------------------------------------------------------------

/**
 * Renders the copy of `deployment` for one target, in KubeEdge's order: Name,
 * Replicas, Image, NodeSelector, Command, Args, Env, Resources. Pure; throws
 * SpecError with a field relative to the target (`overriders.…`, `name`,
 * `labelSelector.…`) for the first invalid overrider.
 */
export function overrideDeployment(deployment: JsonObject, placement: Placement, overriders: Overriders | undefined): JsonObject {
  if (overriders !== undefined && overriders !== null && !isObject(overriders)) {
    throw new SpecError('EDGEAPP_INVALID_OVERRIDER', 'overriders', 'must be an object');
  }
  const o: Overriders = overriders ?? {};
  let d = structuredClone(deployment);
  const meta = isObject(d.metadata) ? d.metadata : (d.metadata = {});
  meta.name = childName(String(meta.name), placement);
  try {
    d = applyReplicas(d, o.replicas);
    d = applyImageOverriders(d, o.imageOverriders);
    d = applyPlacement(d, placement);
    d = applyCommandArgsOverriders(d, 'command', o.commandOverriders);
    d = applyCommandArgsOverriders(d, 'args', o.argsOverriders);
    d = applyEnvOverriders(d, o.envOverriders);
    d = applyResourcesOverriders(d, o.resourcesOverriders);
  } catch (err) {
    // Placement errors are already relative to the target; overrider errors get `overriders.`.
    if (err instanceof SpecError && err.code === 'EDGEAPP_INVALID_OVERRIDER') throw err.under('overriders');
    throw err;
  }
  return d;
}
