/**
 * EdgeApplication (apps.kubeedge.io/v1alpha1) rules that need to look inside
 * the manifests or at NodeGroups. KubeEdge has no EdgeApplication webhook: a
 * container name or image path that matches nothing is silently ignored, so
 * the override just does not happen. Our controller reports those mistakes
 * in a condition (controllers/edgeapplication); this webhook reports them
 * before anything is stored.
 */
import { isDeepStrictEqual } from 'node:util';
import type * as k8s from '@kubernetes/client-node';
import type { EdgeApplication, Overriders } from '../../api/index.ts';
import { isObject, nameList, verdict, type JsonObject, type ValidateInput, type ValidationResult, type Violation } from '../admission.ts';
import { applyEdgePolicy, edgePolicy, podSpecFindings } from '../pod/validate.ts';

const imagePathRe = /^\/spec\/template\/spec\/(containers|initContainers)\/(0|[1-9][0-9]*)\/image$/;
// OCI distribution reference grammar (github.com/distribution/reference regexp.go), as the controller uses it.
const tagRe = /^[\w][\w.-]{0,127}$/;
const digestRe = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const pathComponent = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const repositoryRe = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const registryRe = new RegExp(`^(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);

interface DeploymentInfo {
  name: string;
  containers: string[];
  initContainers: string[];
  spec: k8s.V1PodSpec;
}

const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '');

function manifestViolations(manifests: unknown[], namespace: string, deployments: DeploymentInfo[]): Violation[] {
  const out: Violation[] = [];
  const seen = new Map<string, number>();
  manifests.forEach((m, i) => {
    const field = `spec.workloadTemplate.manifests[${i}]`;
    if (!isObject(m)) return void out.push({ code: 'EDGEAPP_MANIFEST_INVALID', field, message: 'is not an object; write a Kubernetes object with apiVersion, kind and metadata.name' });
    const meta = isObject(m.metadata) ? m.metadata : undefined;
    if (!meta || typeof meta.name !== 'string' || meta.name === '') {
      return void out.push({ code: 'EDGEAPP_MANIFEST_INVALID', field: `${field}.metadata.name`, message: 'is required; give every manifest a fixed name (generateName is not supported because the generated objects need stable names)' });
    }
    if (meta.namespace !== undefined && meta.namespace !== namespace) {
      out.push({ code: 'EDGEAPP_MANIFEST_NAMESPACE', field: `${field}.metadata.namespace`, message: `"${String(meta.namespace)}" differs from the EdgeApplication's namespace "${namespace}"; remove it (generated objects live in the EdgeApplication's namespace)` });
    }
    const key = `${groupOf(String(m.apiVersion))}/${String(m.kind)}/${meta.name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      out.push({ code: 'EDGEAPP_MANIFEST_DUPLICATE', field: `${field}.metadata.name`, message: `${String(m.kind)} "${meta.name}" is already defined by manifests[${first}]; rename one of them` });
    } else seen.set(key, i);
    if (m.apiVersion === 'apps/v1' && m.kind === 'Deployment') {
      const spec = isObject(m.spec) && isObject(m.spec.template) && isObject(m.spec.template.spec) ? (m.spec.template.spec as unknown as k8s.V1PodSpec) : undefined;
      const names = (list: unknown) => (Array.isArray(list) ? list.filter(isObject).map((c) => String(c.name)) : []);
      if (!spec || names(spec.containers).length === 0) {
        out.push({ code: 'EDGEAPP_MANIFEST_INVALID', field: `${field}.spec.template.spec.containers`, message: `Deployment "${meta.name}" has no containers; add at least one under spec.template.spec.containers` });
        return;
      }
      deployments.push({ name: meta.name, containers: names(spec.containers), initContainers: names(spec.initContainers), spec });
    }
  });
  return out;
}

function overriderViolations(o: Overriders, field: string, deployments: DeploymentInfo[]): Violation[] {
  const out: Violation[] = [];
  const byContainer = [
    ...(o.envOverriders ?? []).map((x, i) => ({ name: x.containerName, at: `envOverriders[${i}]` })),
    ...(o.commandOverriders ?? []).map((x, i) => ({ name: x.containerName, at: `commandOverriders[${i}]` })),
    ...(o.argsOverriders ?? []).map((x, i) => ({ name: x.containerName, at: `argsOverriders[${i}]` })),
    ...(o.resourcesOverriders ?? []).map((x, i) => ({ name: x.containerName, at: `resourcesOverriders[${i}]` })),
  ];
  for (const { name, at } of byContainer) {
    const d = deployments.find((x) => !x.containers.includes(name) && !x.initContainers.includes(name));
    if (d) {
      out.push({
        code: 'EDGEAPP_OVERRIDER_CONTAINER', field: `${field}.${at}.containerName`,
        message: `Deployment "${d.name}" has no container "${name}" (it has ${nameList([...d.containers, ...d.initContainers])}); use one of those names`,
      });
    }
  }
  (o.imageOverriders ?? []).forEach((x, i) => {
    const at = `${field}.imageOverriders[${i}]`;
    const path = x.predicate?.path;
    if (path !== undefined) {
      const m = imagePathRe.exec(path);
      if (!m) {
        out.push({ code: 'EDGEAPP_IMAGE_PATH_INVALID', field: `${at}.predicate.path`, message: `"${path}" does not point at a container image; use a JSON pointer like /spec/template/spec/containers/0/image` });
      } else {
        const list = m[1] as 'containers' | 'initContainers';
        const d = deployments.find((dep) => Number(m[2]) >= dep[list].length);
        if (d) {
          out.push({
            code: 'EDGEAPP_IMAGE_PATH_MISSING', field: `${at}.predicate.path`,
            message: `"${path}" points past the ${list} of Deployment "${d.name}" (it has ${d[list].length}); use an index below ${d[list].length}`,
          });
        }
      }
    }
    if (x.operator !== 'replace' || x.value === undefined) return;
    const ok = x.component === 'Tag' ? tagRe.test(x.value) || digestRe.test(x.value) : x.component === 'Registry' ? registryRe.test(x.value) : repositoryRe.test(x.value);
    if (!ok) {
      const example = x.component === 'Tag' ? '"1.27" or "sha256:<hex>"' : x.component === 'Registry' ? '"registry.example.com:5000"' : '"library/nginx"';
      out.push({ code: 'EDGEAPP_IMAGE_VALUE_INVALID', field: `${at}.value`, message: `"${x.value}" is not a valid image ${x.component.toLowerCase()}; use a value like ${example}` });
    }
  });
  return out;
}

/**
 * Validates an EdgeApplication: every manifest has metadata.name, stays in
 * the EdgeApplication's namespace and is unique; every Deployment has
 * containers; overriders name containers that exist in every Deployment
 * (KubeEdge overrides each Deployment); image predicates point at an existing
 * `/spec/template/spec/(init)containers/N/image`; replaced image components
 * are valid. Warns when a target NodeGroup does not exist (GitOps may create
 * it later), when overriders have no Deployment to act on, and about edge best
 * practices in Deployment templates (denials in `outpost.io/edge-policy=enforce`
 * namespaces). An UPDATE that leaves the spec unchanged is always allowed.
 * Pure apart from `lookups`.
 */
export function validateEdgeApplication(input: ValidateInput<EdgeApplication>): ValidationResult {
  const { operation, object: app, oldObject, lookups } = input;
  if ((operation !== 'CREATE' && operation !== 'UPDATE') || !app?.spec) return verdict([]);
  if (operation === 'UPDATE' && (app.metadata?.deletionTimestamp || isDeepStrictEqual(app.spec, oldObject?.spec))) return verdict([]);
  const namespace = input.namespace || app.metadata?.namespace || '';
  const manifests: unknown[] = app.spec.workloadTemplate?.manifests ?? [];
  const deployments: DeploymentInfo[] = [];
  const out = manifestViolations(manifests, namespace, deployments);
  const warnings: string[] = [];
  const scope = app.spec.workloadScope ?? {};
  const targets = [
    ...(scope.targetNodeGroups ?? []).map((t, i) => ({ field: `spec.workloadScope.targetNodeGroups[${i}]`, overriders: t.overriders })),
    ...(scope.targetNodeLabels ?? []).map((t, i) => ({ field: `spec.workloadScope.targetNodeLabels[${i}]`, overriders: t.overriders })),
  ];
  for (const t of targets) {
    if (!t.overriders) continue;
    out.push(...overriderViolations(t.overriders, `${t.field}.overriders`, deployments));
    if (deployments.length === 0 && !isDeepStrictEqual(t.overriders, {})) {
      warnings.push(`${t.field}.overriders: only apps/v1 Deployments are overridden and the manifests have none; remove the overriders or add the Deployment`);
    }
  }
  (scope.targetNodeGroups ?? []).forEach((t, i) => {
    if (!lookups.nodeGroup(t.name)) warnings.push(`spec.workloadScope.targetNodeGroups[${i}].name: NodeGroup "${t.name}" does not exist yet; nothing is deployed for it until it is created`);
  });
  if (targets.length === 0) warnings.push('spec.workloadScope: no targetNodeGroups or targetNodeLabels, so nothing is deployed; add a target');
  if (out.length > 0) return verdict(out, warnings);

  // Every target pins the Deployments to edge nodes, so the edge best practices apply to the templates.
  // A container whose limits every target sets through resourcesOverriders needs none in the template.
  const limitsSetFor = new Set(deployments.flatMap((d) => [...d.containers, ...d.initContainers]).filter((c) => targets.length > 0 && targets.every((t) =>
    (t.overriders?.resourcesOverriders ?? []).some((r) => r.containerName === c && r.value?.limits?.cpu !== undefined && r.value?.limits?.memory !== undefined))));
  const findings = manifests.flatMap((m, i) => {
    const d = isObject(m) && m.apiVersion === 'apps/v1' && m.kind === 'Deployment' ? deployments.find((x) => x.name === (m.metadata as JsonObject).name) : undefined;
    return d ? podSpecFindings(d.spec, `spec.workloadTemplate.manifests[${i}].spec.template.spec`, { limitsSetFor }) : [];
  });
  return applyEdgePolicy(findings, edgePolicy(lookups, namespace), warnings);
}
