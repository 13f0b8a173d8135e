/**
 * NodeGroup (apps.kubeedge.io/v1alpha1) rules that need the other NodeGroups
 * and the Nodes. KubeEdge has no NodeGroup webhook: a node claimed by two
 * groups silently stays in the first (status selectionStatus Failed).
 */
import { isDeepStrictEqual } from 'node:util';
import type * as k8s from '@kubernetes/client-node';
import type { NodeGroup } from '../../api/index.ts';
import { verdict, type ValidateInput, type ValidationResult, type Violation } from '../admission.ts';

const dnsSubdomainRe = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelNameRe = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Why `key` is not a valid label key, or undefined when it is. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !dnsSubdomainRe.test(prefix))) return 'its prefix must be a DNS subdomain like example.com';
  if (name.length === 0 || name.length > 63 || !labelNameRe.test(name)) return 'its name must be 1-63 letters, digits, "-", "_" or "." and start and end with a letter or digit';
  return undefined;
}

/** Why `value` is not a valid label value, or undefined when it is. */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  return value.length <= 63 && labelNameRe.test(value) ? undefined : 'use at most 63 letters, digits, "-", "_" or "." starting and ending with a letter or digit';
}

/** True when some node could carry both label sets: no key has two different values. */
function selectorsOverlap(a: Record<string, string | undefined>, b: Record<string, string | undefined>): boolean {
  return Object.entries(a).every(([k, v]) => !(k in b) || b[k] === v);
}

const matches = (node: k8s.V1Node, sel: Record<string, string | undefined>): boolean =>
  Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => node.metadata?.labels?.[k] === v);

/**
 * Validates a NodeGroup. Denies a node listed by name that another NodeGroup
 * also lists by name, node names that are not DNS subdomains, and invalid
 * matchLabels. Warns (does not deny) when a listed node does not exist yet,
 * when a listed node is selected by another group's matchLabels, and when
 * the matchLabels could select nodes another group selects: label overlap
 * depends on node labels that change at any time. An UPDATE that leaves the
 * spec unchanged is always allowed. Pure apart from `lookups`.
 */
export function validateNodeGroup(input: ValidateInput<NodeGroup>): ValidationResult {
  const { operation, object: group, oldObject, lookups } = input;
  if ((operation !== 'CREATE' && operation !== 'UPDATE') || !group?.spec) return verdict([]);
  if (operation === 'UPDATE' && (group.metadata?.deletionTimestamp || isDeepStrictEqual(group.spec, oldObject?.spec))) return verdict([]);
  const self = group.metadata?.name;
  const others = lookups.nodeGroups().filter((g) => g.metadata?.name !== self && !g.metadata?.deletionTimestamp);
  const out: Violation[] = [];
  const warnings: string[] = [];
  const matchLabels = group.spec.matchLabels ?? {};

  (group.spec.nodes ?? []).forEach((node, i) => {
    const field = `spec.nodes[${i}]`;
    if (node.length > 253 || !dnsSubdomainRe.test(node)) {
      out.push({ code: 'NODEGROUP_NODE_NAME_INVALID', field, message: `"${node}" is not a valid node name; use the node's name as kubectl get nodes shows it (lower case letters, digits, "-" and ".")` });
      return;
    }
    const owner = others.find((g) => g.spec?.nodes?.includes(node));
    if (owner) {
      out.push({ code: 'NODEGROUP_NODE_CLAIMED', field, message: `node "${node}" is already listed by NodeGroup "${owner.metadata?.name}"; remove it from one of the two groups (a node belongs to at most one NodeGroup)` });
      return;
    }
    const n = lookups.node(node);
    if (!n) {
      warnings.push(`${field}: node "${node}" does not exist yet; it joins the group when it registers`);
      return;
    }
    const selector = others.find((g) => matches(n, g.spec?.matchLabels ?? {}));
    if (selector) warnings.push(`${field}: node "${node}" is also selected by the matchLabels of NodeGroup "${selector.metadata?.name}"; it stays in whichever group claimed it first`);
  });

  for (const [key, value] of Object.entries(matchLabels)) {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) out.push({ code: 'NODEGROUP_LABEL_INVALID', field: `spec.matchLabels`, message: `"${key}" is not a valid label key: ${keyProblem}` });
    const valueProblem = typeof value === 'string' ? labelValueProblem(value) : undefined;
    if (valueProblem) out.push({ code: 'NODEGROUP_LABEL_INVALID', field: `spec.matchLabels.${key}`, message: `"${value}" is not a valid label value; ${valueProblem}` });
  }
  if (Object.keys(matchLabels).length > 0) {
    for (const g of others) {
      const theirs = g.spec?.matchLabels ?? {};
      if (Object.keys(theirs).length === 0 || !selectorsOverlap(matchLabels, theirs)) continue;
      warnings.push(`spec.matchLabels: a node labelled ${JSON.stringify({ ...theirs, ...matchLabels })} would match NodeGroup "${g.metadata?.name}" too and stay in whichever group claims it first; make the selectors differ in one label`);
    }
  }
  if ((group.spec.nodes ?? []).length === 0 && Object.keys(matchLabels).length === 0) {
    warnings.push('spec: the NodeGroup selects no node; list nodes in spec.nodes or set spec.matchLabels');
  }
  return verdict(out, warnings);
}
