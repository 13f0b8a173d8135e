/**
 * Offline autonomy for pods, as KubeEdge's `mutateofflinemigration.kubeedge.io`
 * webhook does it (cloud/pkg/admissioncontroller): a pod labelled
 * `app-offline.kubeedge.io=autonomy` tolerates its node becoming unreachable
 * forever, so the node lifecycle controller never evicts it while the edge
 * node is offline. Outpost also tolerates not-ready (an edge node that
 * reconnects without its kubelet reporting ready would otherwise evict too).
 */
import type * as k8s from '@kubernetes/client-node';

/** The label (and value) that asks for offline autonomy, as in KubeEdge. */
export const offlineLabel = 'app-offline.kubeedge.io';
export const offlineValue = 'autonomy';

/** The taints the node lifecycle controller puts on an unreachable or not-ready node. */
export const offlineTaintKeys = ['node.kubernetes.io/unreachable', 'node.kubernetes.io/not-ready'] as const;

/**
 * Returns a copy of `pod` whose tolerations for the unreachable and not-ready
 * taints are `{key, operator: Exists, effect: NoExecute}` without
 * tolerationSeconds (any existing toleration for those keys is replaced, as
 * KubeEdge does, including the 300 s the DefaultTolerationSeconds plugin
 * adds). Pods without the label come back unchanged. Idempotent.
 */
export function defaultPod(pod: k8s.V1Pod): k8s.V1Pod {
  if (pod.metadata?.labels?.[offlineLabel] !== offlineValue || !pod.spec) return pod;
  const out = structuredClone(pod);
  const keep = (out.spec!.tolerations ?? []).filter((t) => !(offlineTaintKeys as readonly string[]).includes(t.key ?? ''));
  out.spec!.tolerations = [...keep, ...offlineTaintKeys.map((key) => ({ key, operator: 'Exists', effect: 'NoExecute' }))];
  return out;
}
