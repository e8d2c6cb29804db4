// Conditions derived from the drain status (Kubernetes API conventions): Progressing, Drained,
// Complete, Failed. lastTransitionTime only moves when a condition's status flips.
import type { CaptureDrainStatus, Condition } from '../api/capturedrain.js';
import { CONDITION_REASONS } from '../api/names.js';
import { setStatusCondition } from '../kube/conditions.js';

type Desired = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

function desired(s: CaptureDrainStatus): Desired[] {
  const phase = s.phase ?? 'Pending';
  const reason = s.reason ?? phase;
  const message = s.message ?? '';
  const terminal = phase === 'Completed' || phase === 'Failed';
  const drained = !!s.drainedTime;
  return [
    { type: 'Progressing', status: terminal ? 'False' : 'True', reason: terminal ? reason : phase, message },
    {
      type: 'Drained',
      status: drained ? 'True' : terminal ? 'False' : 'Unknown',
      reason: drained ? CONDITION_REASONS.countsZero : terminal ? reason : CONDITION_REASONS.inProgress,
      message: drained ? 'The capture holds no more maintainers, dispatchers or tables' : message,
    },
    {
      type: 'Complete',
      status: phase === 'Completed' ? 'True' : 'False',
      reason: phase === 'Completed' ? reason : CONDITION_REASONS.notCompleted,
      message: phase === 'Completed' ? message : '',
    },
    {
      type: 'Failed',
      status: phase === 'Failed' ? 'True' : 'False',
      reason: phase === 'Failed' ? reason : CONDITION_REASONS.notFailed,
      message: phase === 'Failed' ? message : '',
    },
  ];
}

export function computeConditions(s: CaptureDrainStatus, now: number, generation?: number): Condition[] {
  // setStatusCondition mutates in place: work on copies, the previous status stays untouched.
  const conditions: Condition[] = (s.conditions ?? []).map((c) => ({ ...c }));
  for (const d of desired(s)) {
    setStatusCondition(
      conditions,
      { ...d, ...(generation !== undefined ? { observedGeneration: generation } : {}) },
      new Date(now),
    );
  }
  return conditions;
}
