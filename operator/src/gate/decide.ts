// The pod-termination gate's decision: may this DELETE or eviction of a capture pod go ahead?
// Pure: the webhook handler (and the unprotected-delete watcher) gather the facts, this decides.
// Order matters: what can be told from the request and the pod alone comes first, so the
// common "not ours" answers need no API reads (quickDecision), and whole-namespace or
// whole-StatefulSet deletions are never held, whatever the drain says.
import type { PodAction, Trigger } from '../api/capturedrain.js';
import { podDrainName, type PodDrainState } from '../drain/contract.js';
import { MANAGED_LABEL, SKIP_ANNOTATION, STATEFULSET_CONTROLLER } from '../api/names.js';
import { podOrdinal, type Pod } from '../kube/objects.js';

export type GateOperation = 'Delete' | 'Evict';

export interface StatefulSetFacts {
  name: string;
  uid?: string;
  deleting: boolean;
  replicas: number;
}

export interface DrainFacts {
  name: string;
  state: PodDrainState;
  phase?: string;
  podAction?: PodAction;
  reason?: string;
  message?: string;
  /** The drain released the pod, but its container restarted since: a new capture to drain. */
  captureRestarted?: boolean;
}

export interface GateRequest {
  operation: GateOperation;
  dryRun: boolean;
  /** userInfo.username of the request. */
  username: string;
  /** DeleteOptions.preconditions.uid (an eviction's deleteOptions, or the delete's options). */
  preconditionUid?: string;
  /** The pod: the DELETE's oldObject, or the live pod for an eviction; undefined when not found. */
  pod: Pod | undefined;
}

export interface GateFacts extends GateRequest {
  namespaceTerminating: boolean;
  /** The controlling StatefulSet: undefined when the pod has none, 'gone' when it no longer exists. */
  statefulSet: StatefulSetFacts | 'gone' | undefined;
  /** The drain for this pod incarnation, if any. */
  drain: DrainFacts | undefined;
  /** Set when one of the API reads failed or timed out: the other facts are incomplete. */
  lookupError?: string;
}

export type AllowReason =
  | 'PodNotFound'
  | 'Unmanaged'
  | 'Skip'
  | 'Terminating'
  | 'NotRunning'
  | 'StalePrecondition'
  | 'NamespaceTerminating'
  | 'StatefulSetDeleted'
  | 'Drained';

export type DenyReason = 'DrainStarted' | 'Draining' | 'DrainHeld' | 'LookupFailed';

export type GateDecision =
  | { allowed: true; reason: AllowReason; message: string }
  | {
      allowed: false;
      reason: DenyReason;
      /** HTTP status the API server returns to the client. */
      code: number;
      message: string;
      /** Set when no drain exists yet: the caller creates it (unless dry-run). */
      startDrain?: { name: string; trigger: Trigger; podAction: PodAction };
    };

const allow = (reason: AllowReason, message: string): GateDecision => ({ allowed: true, reason, message });

/** The decision when the request and the pod alone settle it; undefined when API reads are needed. */
export function quickDecision(req: GateRequest): GateDecision | undefined {
  const pod = req.pod;
  if (!pod) return allow('PodNotFound', 'pod not found');
  const id = `${pod.metadata.namespace}/${pod.metadata.name}`;
  if (pod.metadata.labels?.[MANAGED_LABEL] !== 'true')
    return allow('Unmanaged', `${id} is not a managed capture pod`);
  if (pod.metadata.annotations?.[SKIP_ANNOTATION] === 'true')
    return allow('Skip', `${id} has ${SKIP_ANNOTATION}=true: not drained`);
  if (pod.metadata.deletionTimestamp) return allow('Terminating', `${id} is already terminating`);
  // A pod that is not running has no capture process to drain (Pending, Failed, Succeeded).
  if (pod.status?.phase && pod.status.phase !== 'Running')
    return allow('NotRunning', `${id} is ${pod.status.phase}: nothing to drain`);
  // A request for another incarnation fails its precondition in the API server anyway.
  if (req.preconditionUid && req.preconditionUid !== pod.metadata.uid)
    return allow('StalePrecondition', `precondition UID ${req.preconditionUid} is not the live ${id}`);
  return undefined;
}

/** Which trigger and podAction a drain started by this request gets (see the shared contract). */
export function drainIntent(
  req: GateRequest,
  statefulSet: StatefulSetFacts | undefined,
): { trigger: Trigger; podAction: PodAction } {
  // kubectl drain retries the eviction; PodDisruptionBudgets still apply to it then.
  if (req.operation === 'Evict') return { trigger: 'Eviction', podAction: 'None' };
  if (req.username === STATEFULSET_CONTROLLER) {
    // The StatefulSet controller retries its own delete; it passes once the pod is drained.
    const ordinal = statefulSet ? podOrdinal(req.pod!.metadata.name!, statefulSet.name) : undefined;
    const scaleIn = statefulSet !== undefined && ordinal !== undefined && ordinal >= statefulSet.replicas;
    return { trigger: scaleIn ? 'ScaleIn' : 'RollingUpdate', podAction: 'None' };
  }
  // A user's delete: denied now, completed by the operator once drained.
  return { trigger: 'PodDeletion', podAction: 'Delete' };
}

export function decide(f: GateFacts): GateDecision {
  const quick = quickDecision(f);
  if (quick) return quick;
  const pod = f.pod!;
  const ns = pod.metadata.namespace!;
  const name = pod.metadata.name!;
  const id = `${ns}/${name}`;
  const evict = f.operation === 'Evict';
  if (f.namespaceTerminating) return allow('NamespaceTerminating', `namespace ${ns} is being deleted`);
  if (f.statefulSet === 'gone') return allow('StatefulSetDeleted', `the StatefulSet of ${id} is gone`);
  if (f.statefulSet?.deleting)
    return allow('StatefulSetDeleted', `StatefulSet ${ns}/${f.statefulSet.name} is being deleted`);
  if (f.lookupError) {
    // Fail closed but retryable: evictions get 429 so kubectl drain tries again.
    return {
      allowed: false,
      reason: 'LookupFailed',
      code: evict ? 429 : 500,
      message: `capture pod ${id} cannot be checked for a drain right now (${f.lookupError}); retry shortly`,
    };
  }
  const skipHint = `To skip the drain: kubectl annotate pod ${name} -n ${ns} ${SKIP_ANNOTATION}=true`;
  const drainName = f.drain?.name ?? podDrainName(name, pod.metadata.uid!);
  const state = f.drain?.state ?? 'None';
  if (state === 'Released') return allow('Drained', `${id} is drained (CaptureDrain ${drainName})`);
  if (state === 'Held') {
    const why = f.drain?.message ?? f.drain?.reason ?? 'the drain failed';
    return {
      allowed: false,
      reason: 'DrainHeld',
      code: 403,
      message:
        `capture pod ${id} is held: CaptureDrain ${drainName} ended without releasing it (${why}). ` +
        `Delete the CaptureDrain to drain again, or skip the drain. ${skipHint}`,
    };
  }
  const intent = drainIntent(f, f.statefulSet);
  const podAction = f.drain?.podAction ?? intent.podAction;
  const then = evict
    ? 'the eviction is admitted once it is drained (kubectl drain retries)'
    : podAction === 'Delete'
      ? 'the operator deletes it once it is drained'
      : f.username === STATEFULSET_CONTROLLER
        ? 'the StatefulSet controller retries once it is drained'
        : 'retry the delete once it is drained';
  const started = state === 'None';
  const message =
    `capture pod ${id} must be drained first: ${started ? (f.dryRun ? 'would start' : 'started') : 'in progress,'} CaptureDrain ${drainName}` +
    `${!started && f.drain?.phase ? ` (phase ${f.drain.phase})` : ''}` +
    `${f.drain?.captureRestarted ? ', whose release is void: the container restarted after the drain and its new capture is drained again' : ''}; ${then}. ` +
    `Watch it: kubectl get capturedrain ${drainName} -n ${ns}. ${skipHint}`;
  return {
    allowed: false,
    reason: started ? 'DrainStarted' : 'Draining',
    // 429 is the only eviction error kubectl drain retries.
    code: evict ? 429 : 403,
    message,
    ...(started ? { startDrain: { name: drainName, ...intent } } : {}),
  };
}
