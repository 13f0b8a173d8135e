/**
 * The cloud side's RBAC, derived from what its parts declare they use:
 * each controller exports its rules (`rbac` / `rbacRules`), the webhooks
 * export `webhookRbacRules`, and the hub's and bootstrap server's are listed
 * here next to the code that needs them. hack/generate-rbac.ts renders
 * config/rbac/ from this module; a unit test fails when they drift. No
 * wildcard, no cluster-admin.
 */
import type * as k8s from '@kubernetes/client-node';
import { rbac as nodeGroupRules } from '../controllers/nodegroup/controller.ts';
import { rbacRules as edgeApplicationRules } from '../controllers/edgeapplication/controller.ts';
import { rbac as deviceRules } from '../controllers/device/controller.ts';
import { webhookRbacRules } from '../webhooks/definitions.ts';

/**
 * CloudHub (cloud/hub): one watch per routed kind (informer-sources.ts:
 * nodes, pods, configmaps, secrets, devices, devicemodels), and the report
 * writes of reports.ts: register/patch its Node and Node status, node Leases
 * in kube-node-lease, pod status and the pod deletion after a graceful stop,
 * Events. Secrets are read cluster-wide because pods on edge nodes mount them
 * (KubeEdge's cloudcore has the same grant).
 */
export const hubRbacRules: k8s.V1PolicyRule[] = [
  { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
  { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'delete'] },
  { apiGroups: [''], resources: ['pods/status'], verbs: ['patch'] },
  { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  { apiGroups: ['devices.kubeedge.io'], resources: ['devices', 'devicemodels'], verbs: ['get', 'list', 'watch'] },
];

/** Node heartbeats (reports.ts `lease`): only in kube-node-lease, so a Role there. */
export const nodeLeaseRules: k8s.V1PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'patch'] },
];

/**
 * Namespaced (the cloud's own namespace): leader election on a Lease
 * (controllers/runtime/leader.ts: get, create, update), the hub PKI Secret
 * and one Secret per join token (cloud/bootstrap: create, read, mark used
 * with a JSON patch, garbage-collect).
 */
export const namespacedRbacRules: k8s.V1PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'] },
];

export const cloudNamespace = 'outpost-system';
export const cloudServiceAccount = 'outpost-cloud';

/** Merges rules with the same apiGroups and resources (verbs united), sorted: deterministic output. */
export function mergeRules(...sets: readonly (readonly k8s.V1PolicyRule[])[]): k8s.V1PolicyRule[] {
  const byKey = new Map<string, { apiGroups: string[]; resource: string; verbs: Set<string> }>();
  for (const rule of sets.flat()) {
    for (const group of rule.apiGroups ?? ['']) {
      for (const resource of rule.resources ?? []) {
        const key = `${group}\u0000${resource}`;
        const e = byKey.get(key) ?? { apiGroups: [group], resource, verbs: new Set<string>() };
        for (const v of rule.verbs) e.verbs.add(v);
        byKey.set(key, e);
      }
    }
  }
  // group resources of one apiGroup that ended with the same verbs into one rule
  const grouped = new Map<string, k8s.V1PolicyRule>();
  for (const e of [...byKey.values()].sort((a, b) => `${a.apiGroups[0]}/${a.resource}`.localeCompare(`${b.apiGroups[0]}/${b.resource}`))) {
    const verbs = [...e.verbs].sort();
    const key = `${e.apiGroups[0]}\u0000${verbs.join(',')}`;
    const r = grouped.get(key);
    if (r) r.resources!.push(e.resource);
    else grouped.set(key, { apiGroups: e.apiGroups, resources: [e.resource], verbs });
  }
  return [...grouped.values()];
}

/** Every object of config/rbac, in order. */
export function rbacObjects(ns = cloudNamespace): k8s.KubernetesObject[] {
  const labels = { 'app.kubernetes.io/name': 'outpost', 'app.kubernetes.io/component': 'cloud' };
  const subject = [{ kind: 'ServiceAccount', name: cloudServiceAccount, namespace: ns }];
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: cloudServiceAccount, namespace: ns, labels } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'outpost-cloud', labels }, rules: mergeRules(nodeGroupRules, edgeApplicationRules, deviceRules, hubRbacRules) } as k8s.V1ClusterRole,
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'outpost-cloud', labels }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'outpost-cloud' }, subjects: subject } as k8s.V1ClusterRoleBinding,
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'outpost-webhooks', labels }, rules: mergeRules(webhookRbacRules) } as k8s.V1ClusterRole,
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'outpost-webhooks', labels }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'outpost-webhooks' }, subjects: subject } as k8s.V1ClusterRoleBinding,
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'outpost-cloud', namespace: ns, labels }, rules: mergeRules(namespacedRbacRules) } as k8s.V1Role,
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'outpost-cloud', namespace: ns, labels }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'outpost-cloud' }, subjects: subject } as k8s.V1RoleBinding,
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'outpost-cloud-node-leases', namespace: 'kube-node-lease', labels }, rules: mergeRules(nodeLeaseRules) } as k8s.V1Role,
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'outpost-cloud-node-leases', namespace: 'kube-node-lease', labels }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'outpost-cloud-node-leases' }, subjects: subject } as k8s.V1RoleBinding,
  ];
}
