/**
 * Standard status conditions (metav1.Condition; KEP-1623) and the single
 * status write per reconcile pass.
 */
import type { KubeClient } from './client.ts';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition. `reason` is CamelCase; `lastTransitionTime` is RFC 3339. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export type ConditionInput = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

/** RFC 3339 at second precision, as metav1.Time serialises. */
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * Pure: returns a new list with condition `c.type` set (others unchanged, order
 * kept, new types appended). `lastTransitionTime` becomes `now` only when the
 * status changes or the condition is new; reason, message and
 * observedGeneration are always updated (apimachinery meta.SetStatusCondition).
 */
export function setCondition(conditions: readonly Condition[] | undefined, c: ConditionInput, now: Date, observedGeneration?: number): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((x) => x.type === c.type);
  const prev = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastTransitionTime: prev && prev.status === c.status ? prev.lastTransitionTime : rfc3339(now),
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

/** The condition of `type`, if present. */
export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True only when the condition exists with status "True". */
export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/** Pure: a new list without condition `type`. */
export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/**
 * Writes `status` with a JSON merge patch `{status}` to the `/status`
 * subresource (with the subresource enabled, as on every Outpost CRD, the
 * main resource ignores status). Idempotent. Merge patch keeps fields you
 * leave out, so set a field to null to clear it; lists such as `conditions`
 * are replaced whole. Throws KubeApiError (404 if the object is gone) for the
 * controller to retry. Call it once per pass, at the end.
 */
export async function patchStatus<S>(client: KubeClient, apiVersion: string, kind: string, namespace: string | undefined, name: string, status: S): Promise<unknown> {
  return client.mergePatch({ apiVersion, kind, namespace, name }, { status }, { subresource: 'status' });
}
