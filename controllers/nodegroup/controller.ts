/**
 * The NodeGroup controller: gathers the group, every other group and the
 * Nodes from the shared caches, runs the pure plan, then executes it —
 * label patches guarded by JSON Patch `test` ops, evictions of pods pinned to
 * the group on nodes that left it, and one status write per pass. The
 * finalizer removes the group's labels from its nodes before the group goes.
 */
import type * as k8s from '@kubernetes/client-node';
import { NodeGroupGVK, type NodeGroup } from '../../api/index.ts';
import {
  collectionPath, isConflict, isNotFound, KubeApiError, patchStatus, withFinalizer,
  type Informer, type JsonPatchOp, type Manager, type ReconcileContext, type Request,
} from '../runtime/index.ts';
import {
  belongingToLabel, finalizerName, planNodeGroup, podsToEvict, selects,
  type NodeLabelPatch, type ObservedGroup, type ObservedNode,
} from './plan.ts';

export const controllerName = 'nodegroup';

/** RBAC this controller needs (rendered into config/rbac by hack/generate.ts later). */
export const rbac = [
  { apiGroups: ['apps.kubeedge.io'], resources: ['nodegroups'], verbs: ['get', 'list', 'watch', 'patch', 'update'] },
  { apiGroups: ['apps.kubeedge.io'], resources: ['nodegroups/status'], verbs: ['get', 'patch', 'update'] },
  { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list', 'delete'] },
];

function observeGroup(g: NodeGroup): ObservedGroup {
  return {
    name: g.metadata.name ?? '',
    ...(g.metadata.generation !== undefined ? { generation: g.metadata.generation } : {}),
    nodes: g.spec.nodes ?? [],
    matchLabels: Object.fromEntries(Object.entries(g.spec.matchLabels ?? {}).filter((e): e is [string, string] => e[1] !== undefined)),
    topologyEnabled: g.spec.topologyEnabled ?? false,
    conditions: (g.status?.conditions ?? []) as ObservedGroup['conditions'],
  };
}

function observeNode(n: k8s.V1Node): ObservedNode {
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status as ObservedNode['ready'] | undefined;
  return { name: n.metadata?.name ?? '', labels: n.metadata?.labels ?? {}, ...(ready ? { ready } : {}) };
}

const labelPath = (k: string) => `/metadata/labels/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;

/** JSON Patch for one planned label change; the `test` op makes two groups racing for a node safe. */
export function labelPatchOps(p: NodeLabelPatch, node: ObservedNode & { resourceVersion?: string; hasLabels: boolean }): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  if (p.expectBelongingTo !== undefined) ops.push({ op: 'test', path: labelPath(belongingToLabel), value: p.expectBelongingTo });
  else if (node.resourceVersion) ops.push({ op: 'test', path: '/metadata/resourceVersion', value: node.resourceVersion });
  if (!node.hasLabels) {
    ops.push({ op: 'add', path: '/metadata/labels', value: p.set });
    return ops;
  }
  for (const [k, v] of Object.entries(p.set)) ops.push({ op: 'add', path: labelPath(k), value: v });
  for (const k of p.remove) if (k in node.labels) ops.push({ op: 'remove', path: labelPath(k) });
  return ops;
}

/** Registers the NodeGroup controller with a manager. */
export function addNodeGroupController(mgr: Manager): void {
  const client = mgr.client!;
  const groups = mgr.informers.informerFor<NodeGroup>(collectionPath(NodeGroupGVK.apiVersion, NodeGroupGVK.plural));
  const nodes = mgr.informers.informerFor<k8s.V1Node>(collectionPath('v1', 'nodes'));

  const reconcile = async (req: Request, ctx: ReconcileContext) => {
    const group = groups.get(req.name);
    if (!group) return;
    return await withFinalizer(client, group, finalizerName, {
      apply: () => pass(group, ctx, false),
      cleanup: () => pass(group, ctx, true),
    });
  };

  const pass = async (group: NodeGroup, ctx: ReconcileContext, deleting: boolean) => {
    const observedNodes = nodes.list().map(observeNode);
    const plan = planNodeGroup({
      group: observeGroup(group),
      otherGroups: groups.list().filter((g) => g.metadata.name !== group.metadata.name && !g.metadata.deletionTimestamp).map(observeGroup),
      nodes: observedNodes,
      now: ctx.now,
      deleting,
    });
    for (const p of plan.labelPatches) {
      const n = nodes.get(p.node);
      if (!n) continue;
      const ops = labelPatchOps(p, { ...observeNode(n), resourceVersion: n.metadata?.resourceVersion, hasLabels: n.metadata?.labels !== undefined });
      try {
        await client.jsonPatch({ apiVersion: 'v1', kind: 'Node', name: p.node }, ops);
        ctx.log.info(Object.keys(p.set).length ? 'Labelled Node' : 'Unlabelled Node', { node: p.node, set: p.set, remove: p.remove });
      } catch (err) {
        // 422 from a failed `test` (someone else changed the node) or a conflict: retry with fresh caches.
        if (err instanceof KubeApiError && (err.statusCode === 422 || isConflict(err))) throw err;
        if (isNotFound(err)) continue;
        throw err;
      }
    }
    for (const node of plan.leavingNodes) {
      const pods = await client.list<k8s.V1Pod>(collectionPath('v1', 'pods'), { fieldSelector: `spec.nodeName=${node}` });
      const evict = podsToEvict(group.metadata.name ?? '', node, pods.items.map((p) => ({
        namespace: p.metadata?.namespace ?? '', name: p.metadata?.name ?? '', nodeName: p.spec?.nodeName, nodeSelector: p.spec?.nodeSelector,
      })));
      for (const p of evict) {
        try {
          await client.request('DELETE', `${collectionPath('v1', 'pods', p.namespace)}/${encodeURIComponent(p.name)}`);
          ctx.log.info('Evicted Pod', { namespace: p.namespace, name: p.name, node, reason: 'node left NodeGroup' });
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
    }
    if (!deleting) await patchStatus(client, NodeGroupGVK.apiVersion, NodeGroupGVK.kind, undefined, group.metadata.name ?? '', plan.status);
    // Node readiness is outside world state: look again periodically even without events.
    return deleting ? undefined : { requeueAfter: 5 * 60_000 };
  };

  // Any node change may affect the groups that select it or that labelled it.
  const groupsForNode = (n: k8s.V1Node): Request[] => {
    const observed = observeNode(n);
    return groups.list()
      .filter((g) => selects(observeGroup(g), observed) || observed.labels[belongingToLabel] === g.metadata.name)
      .map((g) => ({ name: g.metadata.name ?? '' }));
  };
  // A group change can free or claim nodes other groups compete for: requeue every group.
  const allGroups = (): Request[] => groups.list().map((g) => ({ name: g.metadata.name ?? '' }));

  mgr.controller({ name: controllerName, reconcile })
    .watches(groups as Informer<NodeGroup>, (g) => [{ name: g.metadata.name ?? '' }, ...allGroups()])
    .watches(nodes, groupsForNode);
}
