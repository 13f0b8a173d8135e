/**
 * NodeGroup membership, as a pure plan (no I/O, `now` passed in).
 *
 * Semantics follow KubeEdge's apps.kubeedge.io/v1alpha1 NodeGroup:
 * - members = nodes listed in spec.nodes ∪ nodes matching spec.matchLabels
 *   (empty or absent matchLabels selects nothing);
 * - members carry the label `apps.kubeedge.io/belonging-to=<group>` (and
 *   `topology.kubernetes.io/zone=<group>` when spec.topologyEnabled);
 * - a node belongs to at most one group: if another group that still selects
 *   the node already labelled it, this group reports selectionStatus Failed
 *   ("node X has already belonged to NodeGroup Y") instead of taking it;
 * - nodes listed by name but missing are reported Failed / "node does not exist";
 * - when a node leaves the group its labels are removed and pods on it that
 *   pin the group through nodeSelector are deleted (evicted).
 * On top of KubeEdge: status.conditions (Ready), observedGeneration, member counts.
 */
import { setCondition, type Condition } from '../runtime/status.ts';

export const belongingToLabel = 'apps.kubeedge.io/belonging-to';
export const zoneLabel = 'topology.kubernetes.io/zone';
export const finalizerName = 'apps.kubeedge.io/nodegroup-controller';

export interface ObservedNode {
  name: string;
  labels: Record<string, string>;
  /** The Node's Ready condition status, if any. */
  ready?: 'True' | 'False' | 'Unknown';
}

export interface ObservedGroup {
  name: string;
  generation?: number;
  nodes?: string[];
  matchLabels?: Record<string, string>;
  topologyEnabled?: boolean;
  conditions?: Condition[];
}

export interface ObservedPod {
  namespace: string;
  name: string;
  nodeName?: string;
  nodeSelector?: Record<string, string>;
}

export interface NodeStatus {
  nodeName: string;
  readyStatus: 'Ready' | 'NotReady' | 'Unknown';
  selectionStatus: 'Succeeded' | 'Failed';
  selectionStatusReason?: string;
}

/**
 * A label change on one node. `expect` is the value the label had when
 * observed (undefined = absent): the controller turns it into a JSON Patch
 * `test` op so two groups racing for one node cannot both win.
 */
export interface NodeLabelPatch {
  node: string;
  set: Record<string, string>;
  remove: string[];
  expectBelongingTo: string | undefined;
}

export interface NodeGroupPlan {
  labelPatches: NodeLabelPatch[];
  /** Nodes that leave the group in this pass: pods pinned to the group on them are evicted (see podsToEvict). */
  leavingNodes: string[];
  status: {
    observedGeneration?: number;
    /** Members selected successfully (printer column "Members"). */
    memberCount: number;
    /** Members whose Node is Ready (printer column "Ready"). */
    readyMemberCount: number;
    nodeStatuses: NodeStatus[];
    conditions: Condition[];
  };
}

/** True when `group` selects `node` (by name or by matchLabels). */
export function selects(group: ObservedGroup, node: ObservedNode): boolean {
  if (group.nodes?.includes(node.name)) return true;
  const ml = group.matchLabels ?? {};
  const keys = Object.keys(ml);
  return keys.length > 0 && keys.every((k) => node.labels[k] === ml[k]);
}

function readyStatus(n: ObservedNode): NodeStatus['readyStatus'] {
  return n.ready === 'True' ? 'Ready' : n.ready === 'False' ? 'NotReady' : 'Unknown';
}

/**
 * Plans one reconcile of `group`. `otherGroups` are every other NodeGroup
 * (used to decide whether an existing belonging-to label is still valid).
 * `deleting` plans the cleanup for a group being deleted: every label it set
 * is removed and nothing is claimed.
 */
export function planNodeGroup(input: {
  group: ObservedGroup;
  otherGroups: ObservedGroup[];
  nodes: ObservedNode[];
  now: Date;
  deleting?: boolean;
}): NodeGroupPlan {
  const { group, otherGroups, nodes, now } = input;
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const others = new Map(otherGroups.map((g) => [g.name, g]));
  const labelPatches: NodeLabelPatch[] = [];
  const nodeStatuses: NodeStatus[] = [];
  const leaving = new Set<string>();

  const candidates = input.deleting ? [] : nodes.filter((n) => selects(group, n));
  const members = new Set<string>();
  for (const n of candidates) {
    const owner = n.labels[belongingToLabel];
    const ownerGroup = owner !== undefined && owner !== group.name ? others.get(owner) : undefined;
    if (ownerGroup && selects(ownerGroup, n)) {
      nodeStatuses.push({ nodeName: n.name, readyStatus: readyStatus(n), selectionStatus: 'Failed',
        selectionStatusReason: `node ${n.name} has already belonged to NodeGroup ${owner}` });
      continue;
    }
    members.add(n.name);
    nodeStatuses.push({ nodeName: n.name, readyStatus: readyStatus(n), selectionStatus: 'Succeeded' });
    const set: Record<string, string> = {};
    const remove: string[] = [];
    if (owner !== group.name) set[belongingToLabel] = group.name;
    if (group.topologyEnabled && n.labels[zoneLabel] !== group.name) set[zoneLabel] = group.name;
    if (!group.topologyEnabled && owner === group.name && n.labels[zoneLabel] === group.name) remove.push(zoneLabel);
    if (Object.keys(set).length || remove.length) labelPatches.push({ node: n.name, set, remove, expectBelongingTo: owner });
  }
  if (!input.deleting) {
    for (const name of group.nodes ?? []) {
      if (!byName.has(name)) {
        nodeStatuses.push({ nodeName: name, readyStatus: 'Unknown', selectionStatus: 'Failed', selectionStatusReason: 'node does not exist' });
      }
    }
  }
  // Nodes still labelled for this group that are no longer members leave it.
  for (const n of nodes) {
    if (n.labels[belongingToLabel] !== group.name || members.has(n.name)) continue;
    leaving.add(n.name);
    const remove = [belongingToLabel, ...(n.labels[zoneLabel] === group.name ? [zoneLabel] : [])];
    labelPatches.push({ node: n.name, set: {}, remove, expectBelongingTo: group.name });
  }

  nodeStatuses.sort((a, b) => a.nodeName.localeCompare(b.nodeName));
  const failed = nodeStatuses.filter((s) => s.selectionStatus === 'Failed');
  const notReady = nodeStatuses.filter((s) => s.selectionStatus === 'Succeeded' && s.readyStatus !== 'Ready');
  const ready = failed.length === 0 && notReady.length === 0;
  const reason = failed.length > 0 ? 'SelectionFailed' : notReady.length > 0 ? 'MembersNotReady' : members.size === 0 ? 'NoMembers' : 'AllMembersReady';
  const message = failed.length > 0
    ? `${failed.length} node(s) could not be selected: ${failed.map((f) => `${f.nodeName} (${f.selectionStatusReason})`).join('; ')}`
    : notReady.length > 0
      ? `${notReady.length} of ${members.size} member node(s) not ready: ${notReady.map((s) => s.nodeName).join(', ')}`
      : `${members.size} member node(s), all ready`;
  const conditions = setCondition(group.conditions ?? [], { type: 'Ready', status: ready ? 'True' : 'False', reason, message }, now, group.generation);

  return {
    labelPatches,
    leavingNodes: [...leaving].sort(),
    status: {
      ...(group.generation !== undefined ? { observedGeneration: group.generation } : {}),
      memberCount: members.size,
      readyMemberCount: nodeStatuses.filter((s) => s.selectionStatus === 'Succeeded' && s.readyStatus === 'Ready').length,
      nodeStatuses,
      conditions,
    },
  };
}

/** Pods on `node` that pin `group` through nodeSelector: evicted when the node leaves the group (KubeEdge semantics). */
export function podsToEvict(group: string, node: string, pods: ObservedPod[]): { namespace: string; name: string }[] {
  return pods
    .filter((p) => p.nodeName === node && p.nodeSelector?.[belongingToLabel] === group)
    .map((p) => ({ namespace: p.namespace, name: p.name }));
}
