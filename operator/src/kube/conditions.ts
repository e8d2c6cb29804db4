// Port of apimachinery's pkg/api/meta/conditions.go. Conditions are a list keyed by `type`.
// lastTransitionTime changes only when status changes; reason, message and observedGeneration are
// always brought up to date. Functions mutate the given array in place, like the Go originals.
import { rfc3339 } from './time.js';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition as plain JSON. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/** A condition to set; lastTransitionTime defaults to now when the status transitions. */
export type ConditionInput = Omit<Condition, 'lastTransitionTime'> & { lastTransitionTime?: string };

/** meta.SetStatusCondition. Returns true when anything changed. */
export function setStatusCondition(
  conditions: Condition[],
  input: ConditionInput,
  now: Date = new Date(),
): boolean {
  const existing = findCondition(conditions, input.type);
  if (!existing) {
    const added: Condition = {
      type: input.type,
      status: input.status,
      lastTransitionTime: input.lastTransitionTime || rfc3339(now),
      reason: input.reason,
      message: input.message,
    };
    if (input.observedGeneration !== undefined) added.observedGeneration = input.observedGeneration;
    conditions.push(added);
    return true;
  }
  let changed = false;
  if (existing.status !== input.status) {
    existing.status = input.status;
    existing.lastTransitionTime = input.lastTransitionTime || rfc3339(now);
    changed = true;
  }
  if (existing.reason !== input.reason) {
    existing.reason = input.reason;
    changed = true;
  }
  if (existing.message !== input.message) {
    existing.message = input.message;
    changed = true;
  }
  if (existing.observedGeneration !== input.observedGeneration) {
    if (input.observedGeneration === undefined) delete existing.observedGeneration;
    else existing.observedGeneration = input.observedGeneration;
    changed = true;
  }
  return changed;
}

/** meta.RemoveStatusCondition. Returns true when a condition was removed. */
export function removeStatusCondition(conditions: Condition[], type: string): boolean {
  const i = conditions.findIndex((c) => c.type === type);
  if (i < 0) return false;
  conditions.splice(i, 1);
  return true;
}

/** meta.FindStatusCondition. */
export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** meta.IsStatusConditionTrue. */
export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/** meta.IsStatusConditionFalse. */
export function isConditionFalse(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'False';
}

/** meta.IsStatusConditionPresentAndEqual. */
export function isConditionPresentAndEqual(
  conditions: readonly Condition[] | undefined,
  type: string,
  status: ConditionStatus,
): boolean {
  return findCondition(conditions, type)?.status === status;
}
