/**
 * The cloud side's RBAC (config/rbac, from cloud/rbac.ts): generated files
 * are current, every rule a controller, the hub, the bootstrap server or the
 * webhooks declare is granted, and nothing more general is (no wildcard, no
 * cluster-admin, Secrets writable only where the controllers need them).
 */
import type * as k8s from '@kubernetes/client-node';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rbacManifestDrift } from '../hack/generate-rbac.ts';
import { rbac as nodeGroupRules } from '../controllers/nodegroup/controller.ts';
import { rbacRules as edgeApplicationRules } from '../controllers/edgeapplication/controller.ts';
import { rbac as deviceRules } from '../controllers/device/controller.ts';
import { webhookRbacRules } from '../webhooks/definitions.ts';
import { hubRbacRules, mergeRules, namespacedRbacRules, nodeLeaseRules, rbacObjects } from './rbac.ts';

type Role = { kind: string; metadata: { name: string; namespace?: string }; rules: k8s.V1PolicyRule[]; roleRef?: { name: string } };

function grants(rules: k8s.V1PolicyRule[], group: string, resource: string, verb: string): boolean {
  return rules.some((r) => (r.apiGroups ?? ['']).includes(group) && (r.resources ?? []).includes(resource) && r.verbs.includes(verb));
}

describe('cloud RBAC', () => {
  const objs = rbacObjects() as unknown as Role[];
  const role = (kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name)!;

  it('config/rbac is generated from cloud/rbac.ts (node hack/generate-rbac.ts)', () => {
    expect(rbacManifestDrift(resolve(import.meta.dirname, '..'))).toEqual([]);
  });

  it.each([
    ['ClusterRole', 'outpost-cloud', [nodeGroupRules, edgeApplicationRules, deviceRules, hubRbacRules]],
    ['ClusterRole', 'outpost-webhooks', [webhookRbacRules]],
    ['Role', 'outpost-cloud', [namespacedRbacRules]],
    ['Role', 'outpost-cloud-node-leases', [nodeLeaseRules]],
  ] as const)('%s %s grants every declared rule', (kind, name, sets) => {
    const r = role(kind, name).rules;
    for (const rule of sets.flat()) for (const g of rule.apiGroups ?? ['']) for (const res of rule.resources ?? []) for (const v of rule.verbs) {
      expect(grants(r, g, res, v), `${kind} ${name}: ${v} ${g}/${res}`).toBe(true);
    }
  });

  it('has no wildcard, no cluster-admin, no escalation verbs', () => {
    for (const o of objs) {
      for (const rule of o.rules ?? []) {
        expect([...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs]).not.toContain('*');
        expect(rule.verbs.filter((v) => ['escalate', 'bind', 'impersonate'].includes(v))).toEqual([]);
      }
      if (o.roleRef) expect(o.roleRef.name).not.toBe('cluster-admin');
    }
  });

  it('scopes leases: node heartbeats only in kube-node-lease, leader election only in the cloud namespace', () => {
    expect(grants(role('ClusterRole', 'outpost-cloud').rules, 'coordination.k8s.io', 'leases', 'get')).toBe(false);
    expect(role('Role', 'outpost-cloud-node-leases').metadata.namespace).toBe('kube-node-lease');
    expect(role('Role', 'outpost-cloud').metadata.namespace).toBe('outpost-system');
  });

  it('merges rules deterministically', () => {
    expect(mergeRules([{ apiGroups: [''], resources: ['b', 'a'], verbs: ['list', 'get'] }, { apiGroups: [''], resources: ['a'], verbs: ['watch'] }])).toEqual([
      { apiGroups: [''], resources: ['a'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['b'], verbs: ['get', 'list'] },
    ]);
  });
});
