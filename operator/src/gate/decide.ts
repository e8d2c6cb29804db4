// The pod-termination gate's decision: may this DELETE or eviction of a capture pod go ahead?
// Pure: the webhook handler (and the unprotected-delete watcher) gather the facts, this decides.
// Order matters: what can be told from the request and the pod alone comes first, so the
// common "not ours" answers need no API reads (quickDecision), and whole-namespace or
// whole-StatefulSet deletions are never held, whatever the drain says.
import type { PodAction, Trigger } from '../api/capturedrain.js';
import { podDrainName, type PodDrainState } from '../drain/contract.js';
import {
  MANAGED_LABEL,
  POD_CLEANUP_CONTROLLERS,
  SKIP_ANNOTATION,
  STATEFULSET_CONTROLLER,
} from '../api/names.js';
import { isPodReady, ownerStatefulSet, podOrdinal, type Pod } from '../kube/objects.js';

export type GateOperation = 'Delete' | 'Evict';

export interface StatefulSetFacts {
  name: string;
  uid?: string;
  deleting: boolean;
  replicas: number;
  /** false: the StatefulSet lacks drain.ticdc.io/managed=true, so its pods are not drained. */
  managed?: boolean;
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
  /** The operator's own user name (its ServiceAccount), when known: it deletes drained pods. */
  operatorUsername?: string;
}

/** The pod's node as the node lifecycle controller sees it. */
export interface NodeFacts {
  name: string;
  /** Ready condition True and no not-ready/unreachable taint. */
  ready: boolean;
  /** Why it is not ready (condition reason, taint, or "deleted"). */
  why?: string;
}

/** A policy/v1 PodDisruptionBudget whose selector matches the pod. */
export interface DisruptionBudgetFacts {
  name: string;
  disruptionsAllowed: number;
  currentHealthy: number;
  desiredHealthy: number;
  /** status.observedGeneration is behind metadata.generation: the disruption controller has not caught up. */
  stale: boolean;
  /** spec.unhealthyPodEvictionPolicy (IfHealthyBudget when unset). */
  unhealthyPodEvictionPolicy?: string;
}

export interface GateFacts extends GateRequest {
  namespaceTerminating: boolean;
  /** The controlling StatefulSet: undefined when the pod has none, 'gone' when it no longer exists. */
  statefulSet: StatefulSetFacts | 'gone' | undefined;
  /** The drain for this pod incarnation, if any. */
  drain: DrainFacts | undefined;
  /** The pod's node; undefined when the pod is not scheduled or the node could not be read. */
  node?: NodeFacts;
  /** Evictions only: the PodDisruptionBudgets matching the pod (undefined when not read). */
  disruptionBudgets?: DisruptionBudgetFacts[];
  /** Set when one of the API reads failed or timed out: the other facts are incomplete. */
  lookupError?: string;
}

/** Reasons the gate admits a delete or eviction for (counted in capture_drain_webhook_decisions_total). */
export const ALLOW_REASONS = [
  'PodNotFound',
  'NotWatched',
  'Unmanaged',
  'Skip',
  'Terminating',
  'NotRunning',
  'StalePrecondition',
  'NamespaceTerminating',
  'StatefulSetDeleted',
  'PodCleanup',
  'NodeNotReady',
  'Drained',
  'OperatorRelease',
  'CaptureNotRegistered',
  'NowhereToGo',
  'DryRun',
] as const;
export type AllowReason = (typeof ALLOW_REASONS)[number];

/** Reasons the gate holds a delete or eviction for. */
export const DENY_REASONS = [
  'DrainStarted',
  'Draining',
  'DrainHeld',
  'LookupFailed',
  'DisruptionBudget',
  'Unverified',
] as const;
export type DenyReason = (typeof DENY_REASONS)[number];

/** Counted in capture_drain_webhook_decisions_total when the gate itself failed (denied, retryable). */
export const GATE_ERROR_REASON = 'Error';

export type GateDecision =
  | {
      allowed: true;
      reason: AllowReason;
      message: string;
      /** Shown to the client (admission warning). */
      warning?: string;
    }
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
  // Only a managed StatefulSet's pods are drained (drain/tenancy.ts): holding others would wedge them.
  if (!ownerStatefulSet(pod)) return allow('Unmanaged', `${id} is not controlled by a StatefulSet`);
  if (pod.metadata.annotations?.[SKIP_ANNOTATION] === 'true')
    return allow('Skip', `${id} has ${SKIP_ANNOTATION}=true: not drained`);
  if (pod.metadata.deletionTimestamp) return allow('Terminating', `${id} is already terminating`);
  // PodGC (orphaned pods, pods on out-of-service nodes) and the node lifecycle / taint eviction
  // controllers only delete pods whose node is gone or unreachable: the capture cannot be drained.
  if (POD_CLEANUP_CONTROLLERS.includes(req.username))
    return allow('PodCleanup', `${id} is deleted by ${req.username}: its node is gone or unreachable`);
  // A pod that is not running has no capture process to drain (Pending, Failed, Succeeded).
  if (pod.status?.phase && pod.status.phase !== 'Running')
    return allow('NotRunning', `${id} is ${pod.status.phase}: nothing to drain`);
  // A request for another incarnation fails its precondition in the API server anyway.
  if (req.preconditionUid && req.preconditionUid !== pod.metadata.uid)
    return allow('StalePrecondition', `precondition UID ${req.preconditionUid} is not the live ${id}`);
  return undefined;
}

/**
 * The webhook port is reachable by more than the API server, so a review is checked against live
 * state before it may have any effect (a drain): the namespace must be watched, the pod must exist,
 * and be the very incarnation (UID) the review names, and the review must name a requester.
 * Undefined when the request is verified; else the answer, which starts nothing.
 */
export function verifyReview(v: {
  /** The review's namespace and name (request.namespace / request.name). */
  namespace: string | undefined;
  name: string | undefined;
  username: string;
  /** The pod the review carries (a DELETE's oldObject); undefined for an eviction. */
  claimed: Pod | undefined;
  /** The pod as the API server has it now; undefined when there is none. */
  live: Pod | undefined;
  /** Watched namespaces; empty: all. */
  watched: readonly string[];
}): GateDecision | undefined {
  const id = `${v.namespace ?? '?'}/${v.name ?? '?'}`;
  if (!v.namespace || !v.name)
    return unverified(`the review names no pod (namespace ${v.namespace ?? '-'}, name ${v.name ?? '-'})`);
  const watched = notWatched(v.namespace, v.watched);
  if (watched) return watched;
  const claimed = v.claimed?.metadata;
  if (claimed && (claimed.name !== v.name || (claimed.namespace ?? v.namespace) !== v.namespace))
    return unverified(
      `the review's pod ${claimed.namespace}/${claimed.name} is not the pod it names (${id})`,
    );
  if (!v.live) return allow('PodNotFound', `pod ${id} does not exist: nothing to drain`);
  if (claimed && claimed.uid !== v.live.metadata.uid)
    return unverified(
      `the review's pod ${id} (UID ${claimed.uid ?? 'none'}) is not the live pod (UID ${v.live.metadata.uid})`,
    );
  if (!v.username) return unverified(`the review of pod ${id} names no requester`);
  return undefined;
}

/** The answer for a namespace the operator does not watch (it would never run the drain there). */
export function notWatched(namespace: string, watched: readonly string[]): GateDecision | undefined {
  return watched.length && !watched.includes(namespace)
    ? allow('NotWatched', `namespace ${namespace} is not watched by this operator`)
    : undefined;
}

function unverified(why: string): GateDecision {
  return {
    allowed: false,
    reason: 'Unverified',
    code: 403,
    message: `capture-drain gate: ${why}; not acted on`,
  };
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
  if (f.statefulSet?.managed === false)
    return allow(
      'Unmanaged',
      `StatefulSet ${ns}/${f.statefulSet.name} of ${id} is not labelled ${MANAGED_LABEL}=true`,
    );
  if (f.lookupError) {
    // Fail closed but retryable: evictions get 429 so kubectl drain tries again.
    return {
      allowed: false,
      reason: 'LookupFailed',
      // A dry run gets no 429: kubectl drain --dry-run=server would retry it for ever.
      code: evict && !f.dryRun ? 429 : 500,
      message: `capture pod ${id} cannot be checked for a drain right now (${f.lookupError}); retry shortly`,
    };
  }
  if (f.node && !f.node.ready)
    return allow(
      'NodeNotReady',
      `${id} runs on node ${f.node.name}, which is not ready (${f.node.why ?? 'NotReady'}): it cannot be drained`,
    );
  const skipHint = `To skip the drain: kubectl annotate pod ${name} -n ${ns} ${SKIP_ANNOTATION}=true`;
  const drainName = f.drain?.name ?? podDrainName(name, pod.metadata.uid!);
  const state = f.drain?.state ?? 'None';
  const operator = !!f.operatorUsername && f.username === f.operatorUsername;
  if (operator && (state === 'Released' || f.drain?.phase === 'Releasing'))
    return allow('OperatorRelease', `the operator releases ${id}: CaptureDrain ${drainName} drained it`);
  if (state === 'Released') return allow('Drained', `${id} is drained (CaptureDrain ${drainName})`);
  if (state === 'Held') {
    const why = f.drain?.message ?? f.drain?.reason ?? 'the drain failed';
    if (f.drain?.reason && NOT_REGISTERED.has(f.drain.reason))
      return allow(
        'CaptureNotRegistered',
        `${id} has no capture in its TiCDC cluster (CaptureDrain ${drainName}: ${f.drain.reason}): nothing to drain`,
      );
    if (f.drain?.reason === 'SingleCapture' && scaleInToAtMostOne(f))
      return allow(
        'NowhereToGo',
        `${id} is removed by a scale-in to ${(f.statefulSet as StatefulSetFacts).replicas} and is the last capture of its TiCDC cluster (CaptureDrain ${drainName}: SingleCapture): its work has nowhere to go`,
      );
    return {
      allowed: false,
      reason: 'DrainHeld',
      code: 403,
      message:
        `capture pod ${id} is held: CaptureDrain ${drainName} ended without releasing it (${why}). ` +
        `Delete the CaptureDrain to drain again, or skip the drain. ${skipHint}`,
    };
  }
  const started = state === 'None';
  // An eviction the PodDisruptionBudget refuses must not start a drain: the drain cannot be undone.
  if (evict && started && !f.dryRun) {
    const refusal = disruptionBudgetRefusal(pod, f.disruptionBudgets ?? []);
    if (refusal) return refusal;
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
  if (f.dryRun) {
    // Answered without a denial: kubectl drain --dry-run=server retries a 429 for ever, and a dry
    // run starts nothing. The warning says what the real request would meet.
    const what = started
      ? `a CaptureDrain ${drainName} would start`
      : `CaptureDrain ${drainName} is in progress`;
    const warning = `capture pod ${id} would be held until drained: ${what}; ${then}`;
    return { allowed: true, reason: 'DryRun', message: warning, warning };
  }
  const message =
    `capture pod ${id} must be drained first: ${started ? 'started' : 'in progress,'} CaptureDrain ${drainName}` +
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

/**
 * Drain outcomes that show the pod has no capture in TiCDC (never registered, crashed, or left
 * on its own): holding the pod protects no work.
 */
const NOT_REGISTERED: ReadonlySet<string> = new Set(['CaptureNotFound', 'CaptureGone']);

/** Held drains the gate lets go anyway (the StatefulSet nudger retries their controller's delete). */
export function heldDrainAdmitted(reason: string | undefined, trigger: string | undefined): boolean {
  if (!reason) return false;
  return NOT_REGISTERED.has(reason) || (reason === 'SingleCapture' && trigger === 'ScaleIn');
}

/** The StatefulSet controller removes this pod because the StatefulSet scales in to 0 or 1 replica. */
function scaleInToAtMostOne(f: GateFacts): boolean {
  const sts = f.statefulSet;
  if (f.username !== STATEFULSET_CONTROLLER || !sts || sts === 'gone' || sts.replicas > 1) return false;
  const ordinal = podOrdinal(f.pod!.metadata.name!, sts.name);
  return ordinal !== undefined && ordinal >= sts.replicas;
}

/** policy/v1 label selector match (matchLabels and matchExpressions). */
export function selectorMatches(
  selector:
    | {
        matchLabels?: Record<string, string>;
        matchExpressions?: { key: string; operator: string; values?: string[] }[];
      }
    | undefined
    | null,
  labels: Record<string, string> | undefined,
): boolean {
  // policy/v1: a null selector matches no pod, an empty one every pod of the namespace.
  if (!selector) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(l[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(l[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/**
 * What the eviction subresource would answer for the PDBs matching the pod (policy/v1 rules), or
 * undefined when they let the eviction through.
 */
export function disruptionBudgetRefusal(
  pod: Pod,
  budgets: readonly DisruptionBudgetFacts[],
): GateDecision | undefined {
  if (budgets.length === 0) return undefined;
  const id = `${pod.metadata.namespace}/${pod.metadata.name}`;
  const none = 'no drain was started';
  if (budgets.length > 1)
    return {
      allowed: false,
      reason: 'DisruptionBudget',
      code: 500,
      message: `This pod has more than one PodDisruptionBudget (${budgets.map((b) => b.name).join(', ')}), which the eviction subresource does not support; ${none} for ${id}`,
    };
  const b = budgets[0]!;
  const refuse = (detail: string): GateDecision => ({
    allowed: false,
    reason: 'DisruptionBudget',
    code: 429,
    message: `Cannot evict pod as it would violate the pod's disruption budget: ${detail}; ${none} for ${id}`,
  });
  if (b.stale) return refuse(`the disruption budget ${b.name} is still being processed by the server`);
  // An unhealthy pod does not count toward the budget: it may go while the healthy ones suffice
  // (IfHealthyBudget), or always (AlwaysAllow).
  if (!isPodReady(pod)) {
    if (b.unhealthyPodEvictionPolicy === 'AlwaysAllow' || b.currentHealthy >= b.desiredHealthy)
      return undefined;
  } else if (b.disruptionsAllowed > 0) return undefined;
  return refuse(
    `the disruption budget ${b.name} needs ${b.desiredHealthy} healthy pods and has ${b.currentHealthy} currently`,
  );
}
