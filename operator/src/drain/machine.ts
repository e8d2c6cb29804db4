// The drain state machine: pure functions, no I/O, no clock.
//
//   nextAction(ctx)              -> what to ask TiCDC or Kubernetes next (or nothing)
//   advance(ctx, action, outcome) -> the next status, events to emit, when to look again
//
// The controller (and the CLI) loop: action = nextAction; outcome = perform(action);
// result = advance(...); persist result.status. Every action is idempotent, so a crash
// anywhere resumes correctly from the last persisted status.
import type { CaptureDrainStatus, Phase, PodAction, TimeoutPolicy, WorkCounts } from '../api/capturedrain.js';
import { zeroNeedsConfirmation, type LivenessState } from '../ticdc/liveness.js';
import type {
  ApiFlavor,
  ApiFlavorSetting,
  Architecture,
  CaptureInfo,
  DrainCounts,
  TicdcErrorKind,
} from '../ticdc/types.js';
import { findTarget } from './address.js';
import { computeConditions } from './conditions.js';
import { isTerminal } from './contract.js';

export interface DrainPolicy {
  podAction: PodAction;
  timeoutMs: number;
  stallTimeoutMs: number;
  onTimeout: TimeoutPolicy;
  apiFlavor: ApiFlavorSetting;
  /** Track the pod (Kubernetes); the CLI drains a bare capture and has no pod. */
  trackPod: boolean;
}

/** The drain's target: a capture ID (CLI only) or the addresses its pod may advertise. */
export interface DrainTarget {
  captureId?: string;
  addresses: string[];
}

export interface PodView {
  uid: string;
  terminating: boolean;
  /** Sum of the pod's container restart counts: a restart starts a new capture (new ID). */
  restarts?: number;
}

export interface SlotView {
  /** May this drain start now (no other drain of the same TiCDC cluster is active, and it is first in line)? */
  free: boolean;
  /** Name of the drain holding the cluster, or the one ahead in line, for messages. */
  holder?: string;
}

export interface DrainContext {
  now: number;
  /**
   * The capture whose confirmed zero TiCDC answered earlier in this same reconcile (set by the
   * caller from isConfirmedZero, never from the persisted status): the release may delete the pod
   * on the strength of that answer instead of asking again.
   */
  confirmedZero?: string;
  generation?: number;
  status: CaptureDrainStatus;
  policy: DrainPolicy;
  target: DrainTarget;
  /** undefined: the pod does not exist. Ignored unless policy.trackPod. */
  pod?: PodView;
  /**
   * The pod UID an operator-made drain was created for (its pod-uid label). Such a drain belongs to
   * that pod incarnation: before it starts, a replacement under the same name is not its pod.
   */
  madeForPodUID?: string;
  slot: SlotView;
}

export type Action =
  | { type: 'wait' }
  | {
      type: 'discover';
      flavor: ApiFlavorSetting;
      known?: ApiFlavor;
      architecture?: Architecture;
      /** The drain's first look (never started): a capture list read a moment ago will do. */
      first?: boolean;
    }
  | { type: 'resign'; captureId: string; flavor: ApiFlavor }
  | DrainAction
  /** `verify`: ask TiCDC for a fresh, confirmed zero in the same reconcile before deleting. */
  | { type: 'deletePod'; podUID: string; verify?: DrainAction }
  | { type: 'awaitDeparture'; captureId: string };

export interface DrainAction {
  type: 'drain';
  captureId: string;
  flavor: ApiFlavor;
  /** The capture's advertise address: its own status (liveness) is read there (not forwarded). */
  address?: string;
  architecture?: Architecture;
  /**
   * The counts already fell during this drain: a `1` is the last unit moving, not TiCDC serving
   * another capture's session, so it needs no read of the target's status (only a 0 does).
   */
  progressed?: boolean;
  /** Within the grace period a fresh session takes to start: a 1 with the target Alive is not yet a previous session. */
  skipHolderLookup?: boolean;
}

/** What the target's own status said right after the drain answer. */
export interface TargetView {
  /** The capture ID answering at the target's address. */
  id?: string;
  liveness: LivenessState;
}

export type Outcome =
  | { type: 'none' }
  | {
      type: 'discovered';
      captures: CaptureInfo[];
      flavor?: ApiFlavor;
      version?: string;
      architecture?: Architecture;
      /** Several captures at the target's address: the live one, chosen from the address's own status. */
      targetId?: string;
      /** Several captures at the address and none could be chosen: wait. */
      ambiguous?: string[];
    }
  | { type: 'resign'; captures: CaptureInfo[]; resignIssued: boolean; healthy: boolean }
  | { type: 'drain'; counts: DrainCounts; target?: TargetView; blocker?: { id: string; address: string } }
  | { type: 'podDeleted' }
  | { type: 'departure'; captures: CaptureInfo[] }
  | {
      type: 'error';
      kind: TicdcErrorKind | 'Kubernetes' | 'Configuration' | 'NotACapturePod';
      message: string;
      retryable: boolean;
    };

export interface DrainEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface StepResult {
  status: CaptureDrainStatus;
  events: DrainEvent[];
  /** Look again after this long; undefined for terminal phases. */
  requeueAfterMs?: number;
}

/**
 * Poll bounds. Far from the predicted zero a drain is polled rarely (up to MAX_POLL_MS apart);
 * only inside a short window around the predicted completion (FAST_WINDOW_MS either side, or half
 * a work unit's time when units move slower) does it poll every FAST_POLL_MS. That keeps the
 * release lag near FAST_POLL_MS at well under a request a second on average. MIN_POLL_MS is the
 * pace without an estimate, and past the window.
 */
export const MIN_POLL_MS = 1000;
export const MAX_POLL_MS = 15_000;
export const FAST_POLL_MS = 250;
export const FAST_WINDOW_MS = 400;
/** Polls spent across one fast-poll window at most: a wide window (slow units) polls less often. */
export const FAST_POLLS_PER_WINDOW = 8;
/**
 * ...but never further apart than this: TiCDC's counts are whole units, so with slow units (a long
 * drain of few tables) the window is wide, and the release lag is at most this gap.
 */
export const WINDOW_MAX_GAP_MS = 400;
/** Overdue past the window (the last unit is late), look this often for a while longer. */
export const OVERDUE_POLL_MS = 500;
export const OVERDUE_FAST_MS = 2000;
/** TiCDC answered 0 and the target has not reported Stopping yet: it does within a heartbeat. */
export const CONFIRM_POLL_MS = 500;
export const QUEUE_POLL_MS = 5000;
/** Per-request error backoff: the cap keeps the release lag after a fault clears under 2 s. */
export const ERROR_BACKOFF_BASE_MS = 500;
export const MAX_ERROR_BACKOFF_MS = 1500;
/** Settings that cannot be resolved yet (a Secret missing): slower, up to this. */
export const MAX_SETTINGS_BACKOFF_MS = 30_000;
export const HISTORY_LIMIT = 20;
/** A target still Alive this long after its drain was requested, with no holder found: a previous session. */
export const PREVIOUS_DRAIN_GRACE_MS = 5000;

/** Failures that need a human whatever the timeout policy says. */
const HARD_FAILURES: ReadonlySet<string> = new Set([
  'Unauthorized',
  'Tls',
  'InvalidRequest',
  'Configuration',
  'NotACapturePod',
]);

export function totalOf(c: WorkCounts | undefined): number | undefined {
  if (!c) return undefined;
  const parts = [c.maintainers, c.dispatchers, c.tables].filter((n): n is number => typeof n === 'number');
  return parts.length ? parts.reduce((a, b) => a + b, 0) : undefined;
}

const iso = (ms: number) => new Date(ms).toISOString();
const ms = (t: string | undefined) => (t ? Date.parse(t) : NaN);

// ---------------------------------------------------------------------------------------
// What to do next

export function nextAction(ctx: DrainContext): Action {
  const s = ctx.status;
  const phase = s.phase ?? 'Pending';
  if (isTerminal(phase)) return { type: 'wait' };
  // A stall is judged on a fresh answer (see advance): the last progress persisted may be stale
  // when no reconcile ran for a while (leader failover, API server outage).
  const limit = limitReached(ctx);
  if (limit && !(limit.reason === 'Stalled' && phase === 'Draining')) return { type: 'wait' };
  if (ctx.policy.trackPod && podChanged(ctx) && phase !== 'Releasing') return { type: 'wait' };
  switch (phase) {
    case 'Pending':
    case 'Queued':
      if (!s.startTime && !ctx.slot.free) return { type: 'wait' };
      if (ctx.policy.trackPod && !ctx.pod) return { type: 'wait' };
      return {
        type: 'discover',
        flavor: ctx.policy.apiFlavor,
        ...(s.apiFlavor ? { known: s.apiFlavor } : {}),
        ...(s.serverArchitecture ? { architecture: s.serverArchitecture } : {}),
        ...(!s.startTime ? { first: true } : {}),
      };
    case 'ResigningOwner':
      return { type: 'resign', captureId: s.captureID!, flavor: s.apiFlavor! };
    case 'Draining': {
      // A fresh session answers 1 until the target applied Draining (one heartbeat): the holder of
      // a previous session is only looked for once that grace is over (it costs a request per capture).
      const since = ms(
        s.history?.findLast((h) => h.phase === 'Draining' && h.reason !== 'WaitingForPreviousDrain')?.time ??
          s.startTime,
      );
      const early = s.reason !== 'WaitingForPreviousDrain' && ctx.now - since < PREVIOUS_DRAIN_GRACE_MS;
      return { ...drainAction(s), ...(early ? { skipHolderLookup: true } : {}) };
    }
    case 'Drained':
      return { type: 'wait' };
    case 'Releasing':
      if (ctx.policy.trackPod && ctx.pod && ctx.pod.uid === s.podUID && !ctx.pod.terminating && !s.released) {
        // Never delete on the strength of the persisted status: a drained release needs a fresh,
        // confirmed zero in this very reconcile. Only a release the spec's policy allows without a
        // drain (onTimeout Release) goes without one.
        const policyRelease = !s.drainedTime && ctx.policy.onTimeout === 'Release';
        // The confirmed zero read earlier in this reconcile is that fresh answer (the release
        // happens in the same reconcile that sees it).
        const freshZero =
          !!s.drainedTime &&
          !!s.captureID &&
          ctx.confirmedZero === s.captureID &&
          s.drainedCaptureID === s.captureID;
        if (!policyRelease && freshZero) return { type: 'deletePod', podUID: s.podUID! };
        if (!policyRelease && s.captureID && s.apiFlavor)
          return { type: 'deletePod', podUID: s.podUID!, verify: drainAction(s) };
        if (!policyRelease) return { type: 'wait' };
        return { type: 'deletePod', podUID: s.podUID! };
      }
      if (!s.captureID) return { type: 'wait' };
      return { type: 'awaitDeparture', captureId: s.captureID };
    default:
      return { type: 'wait' };
  }
}

function drainAction(s: CaptureDrainStatus): DrainAction {
  return {
    type: 'drain',
    captureId: s.captureID!,
    flavor: s.apiFlavor!,
    ...(s.captureAddress ? { address: s.captureAddress } : {}),
    ...(s.serverArchitecture ? { architecture: s.serverArchitecture } : {}),
    ...((totalOf(s.remaining) ?? Infinity) < (totalOf(s.initial) ?? -Infinity) ? { progressed: true } : {}),
  };
}

/**
 * TiCDC's answer is a confirmed zero: the count is 0 and, where a zero alone can mean "hard restart"
 * (new architecture) or is always 0 (V2 dispatchers), the target's own status shows Stopping, and
 * it is still the same capture.
 */
export function isConfirmedZero(action: DrainAction, outcome: Outcome): boolean {
  if (outcome.type !== 'drain') return false;
  if ((totalOf(toWorkCounts(outcome.counts)) ?? 0) !== 0) return false;
  if (outcome.target?.id && outcome.target.id !== action.captureId) return false;
  if (!zeroNeedsConfirmation(action.flavor, action.architecture)) return true;
  return outcome.target?.liveness === 'Stopping';
}

// ---------------------------------------------------------------------------------------
// Applying an outcome

class Step {
  status: CaptureDrainStatus;
  events: DrainEvent[] = [];
  requeueAfterMs: number | undefined;
  constructor(
    readonly ctx: DrainContext,
    status: CaptureDrainStatus,
  ) {
    this.status = { ...status };
  }

  get phase(): Phase {
    return this.status.phase ?? 'Pending';
  }

  to(phase: Phase, reason: string, message: string, eventType: 'Normal' | 'Warning' = 'Normal'): this {
    const changed = phase !== this.status.phase || reason !== this.status.reason;
    const now = iso(this.ctx.now);
    this.status.phase = phase;
    this.status.reason = reason;
    this.status.message = message;
    if (changed) {
      const history = [...(this.status.history ?? []), { phase, time: now, reason, message }];
      this.status.history = history.slice(-HISTORY_LIMIT);
      this.events.push({ type: eventType, reason, message });
    }
    return this;
  }

  note(message: string): this {
    this.status.message = message;
    return this;
  }

  after(delayMs: number): this {
    this.requeueAfterMs = delayMs;
    return this;
  }

  result(): StepResult {
    const s = this.status;
    s.observedGeneration = this.ctx.generation ?? s.observedGeneration;
    s.conditions = computeConditions(s, this.ctx.now, this.ctx.generation);
    const done = isTerminal(s.phase);
    const wanted = this.requeueAfterMs ?? MIN_POLL_MS;
    return {
      status: s,
      events: this.events,
      ...(done ? {} : { requeueAfterMs: Math.max(0, Math.min(wanted, untilDeadline(this.ctx, s))) }),
    };
  }
}

/** Time until the next deadline (timeout, stall, settings), so no wait overshoots one. */
function untilDeadline(ctx: DrainContext, s: CaptureDrainStatus): number {
  const phase = s.phase ?? 'Pending';
  const times: number[] = [];
  if (s.errorSince && s.lastErrorAction === 'settings')
    times.push(ms(s.errorSince) + ctx.policy.stallTimeoutMs);
  if (s.startTime && phase !== 'Drained' && phase !== 'Releasing' && !isTerminal(phase)) {
    times.push(ms(s.startTime) + ctx.policy.timeoutMs);
    if (phase === 'Draining') times.push(ms(s.lastProgressTime ?? s.startTime) + ctx.policy.stallTimeoutMs);
  }
  const next = Math.min(...times.filter((t) => Number.isFinite(t)));
  // Wake just past the deadline: the limits are strict (elapsed > limit).
  return Number.isFinite(next) ? next - ctx.now + 5 : Infinity;
}

export function advance(ctx: DrainContext, action: Action, outcome: Outcome): StepResult {
  const step = new Step(ctx, ctx.status);
  const s = step.status;
  if (!s.phase) step.to('Pending', 'Created', 'Waiting to start');
  if (isTerminal(s.phase)) return step.result();

  // Guards that apply whatever was observed: the pod went away, or time ran out.
  if (ctx.policy.trackPod && s.phase !== 'Releasing' && podChanged(ctx)) return podGone(step);
  const limit = limitReached(ctx);
  // Stalled by the persisted progress, but TiCDC answered the drain afresh: judge that answer first.
  const freshStall = limit?.reason === 'Stalled' && action.type === 'drain' && outcome.type === 'drain';
  if (limit && !freshStall) return giveUp(step, limit.reason, limit.message);

  if (outcome.type === 'error') return onError(step, outcome, action);
  if (s.consecutiveErrors || s.errorSince) {
    delete s.errorSince;
    delete s.lastErrorAction;
    s.consecutiveErrors = 0;
  }

  switch (action.type) {
    case 'wait':
      return onWait(step);
    case 'discover':
      if (outcome.type === 'discovered') return onDiscovered(step, outcome);
      break;
    case 'resign':
      if (outcome.type === 'resign') return onResign(step, outcome);
      break;
    case 'drain':
      if (outcome.type === 'drain') {
        const r = onDrain(step, outcome);
        const still = freshStall ? limitReached({ ...ctx, status: step.status }) : undefined;
        return still ? giveUp(step, still.reason, still.message) : r;
      }
      break;
    case 'deletePod':
      // The fresh answer was not a confirmed zero: the persisted release does not stand.
      if (outcome.type === 'drain') return onReleaseNotConfirmed(step, outcome);
      if (outcome.type === 'podDeleted') {
        s.released = true;
        return step
          .note('Pod deletion requested; waiting for the capture to leave the cluster')
          .after(2 * MIN_POLL_MS)
          .result();
      }
      break;
    case 'awaitDeparture':
      if (outcome.type === 'departure') return onDeparture(step, outcome.captures);
      break;
  }
  throw new Error(`outcome ${outcome.type} does not answer action ${action.type}`);
}

/** True when the pod the drain started on (or, before it starts, was made for) is gone or replaced. */
function podChanged(ctx: DrainContext): boolean {
  const uid = ctx.status.podUID ?? ctx.madeForPodUID;
  if (!uid) return false;
  return !ctx.pod || ctx.pod.uid !== uid;
}

function podGone(step: Step): StepResult {
  const s = step.status;
  if (s.phase === 'Drained') {
    // Drained and then deleted by someone else: the work had already moved.
    return complete(step, 'PodGone', 'Pod was deleted after the drain completed');
  }
  if (!s.startTime)
    // Made for one pod incarnation and never started: binding it to the replacement would drain a
    // pod nobody asked for (the replacement gets a drain of its own if it needs one).
    return complete(
      step,
      'PodReplaced',
      `The pod incarnation this drain was made for (UID ${step.ctx.madeForPodUID}) was deleted or replaced before the drain started: nothing to drain`,
    );
  return step
    .to(
      'Failed',
      'CaptureGone',
      `Pod ${s.podUID ? 'was deleted or replaced' : 'is gone'} before the drain completed`,
      'Warning',
    )
    .result();
}

function limitReached(ctx: DrainContext): { reason: string; message: string } | undefined {
  const s = ctx.status;
  const phase = s.phase ?? 'Pending';
  if (!s.startTime || isTerminal(phase) || phase === 'Drained' || phase === 'Releasing') return undefined;
  const elapsed = ctx.now - ms(s.startTime);
  if (elapsed > ctx.policy.timeoutMs)
    return {
      reason: 'TimedOut',
      message: `Drain did not finish within ${Math.round(ctx.policy.timeoutMs / 1000)}s`,
    };
  if (phase === 'Draining') {
    const since = ms(s.lastProgressTime ?? s.startTime);
    if (ctx.now - since > ctx.policy.stallTimeoutMs)
      return {
        reason: 'Stalled',
        message: `No drain progress for ${Math.round(ctx.policy.stallTimeoutMs / 1000)}s (remaining ${describeCounts(s.remaining)})`,
      };
  }
  return undefined;
}

/** The drain cannot finish. The timeout policy decides: keep the pod (Hold) or let it go (Release). */
function giveUp(step: Step, reason: string, message: string): StepResult {
  if (HARD_FAILURES.has(reason))
    return step.to('Failed', reason, `${message}; the pod is kept`, 'Warning').result();
  if (step.ctx.policy.onTimeout === 'Hold') {
    return step.to('Failed', reason, `${message}; the pod is kept (onTimeout: Hold)`, 'Warning').result();
  }
  return release(step, reason, `${message}; giving up (onTimeout: Release)`, 'Warning');
}

/** Drained or given up under Release: hand the pod over. */
function release(
  step: Step,
  reason: string,
  message: string,
  type: 'Normal' | 'Warning' = 'Normal',
): StepResult {
  const s = step.status;
  s.releaseTime = iso(step.ctx.now);
  if (!step.ctx.policy.trackPod) return complete(step, reason, message, type);
  if (step.ctx.policy.podAction === 'None')
    return complete(step, reason, `${message}; the pod is kept (podAction None)`, type);
  return step.to('Releasing', reason, `${message}; releasing the pod`, type).after(0).result();
}

function complete(
  step: Step,
  reason: string,
  message: string,
  type: 'Normal' | 'Warning' = 'Normal',
): StepResult {
  step.status.completionTime = iso(step.ctx.now);
  return step.to('Completed', reason, message, type).result();
}

function onWait(step: Step): StepResult {
  const { ctx, status: s } = step;
  const phase = step.phase;
  if ((phase === 'Pending' || phase === 'Queued') && !s.startTime) {
    if (ctx.policy.trackPod && !ctx.pod)
      return step.to('Failed', 'PodNotFound', 'The pod to drain does not exist', 'Warning').result();
    if (!ctx.slot.free) {
      s.queuedTime ??= iso(ctx.now);
      const who = ctx.slot.holder ? ` behind ${ctx.slot.holder}` : '';
      return step
        .to('Queued', 'WaitingForCluster', `Waiting${who}: one drain at a time per TiCDC cluster`)
        .after(QUEUE_POLL_MS)
        .result();
    }
  }
  if (phase === 'Drained') {
    return release(step, 'Drained', 'Capture drained');
  }
  if (phase === 'Releasing' && !s.captureID) {
    // Released without ever finding the capture (e.g. Unsupported under Release): nothing to wait for.
    return complete(step, s.reason ?? 'Released', s.message ?? 'Pod released');
  }
  return step.after(MIN_POLL_MS).result();
}

export function errorBackoff(failures: number): number {
  return Math.min(ERROR_BACKOFF_BASE_MS * 2 ** Math.max(0, failures - 1), MAX_ERROR_BACKOFF_MS);
}

function onError(step: Step, err: Extract<Outcome, { type: 'error' }>, action: Action): StepResult {
  const s = step.status;
  s.lastError = `${err.kind}: ${err.message}`;
  // Back off per request: a failure of another request starts a new run.
  const what = err.kind === 'Configuration' ? 'settings' : action.type;
  if (s.lastErrorAction !== what) {
    s.consecutiveErrors = 0;
    s.errorSince = iso(step.ctx.now);
  }
  s.errorSince ??= iso(step.ctx.now);
  s.lastErrorAction = what;
  s.consecutiveErrors = (s.consecutiveErrors ?? 0) + 1;
  if (err.kind === 'Configuration' && err.retryable) return onSettingsPending(step, err.message);
  if (step.phase === 'Releasing') return onReleasingError(step);
  switch (err.kind) {
    case 'OwnerNotDrainable':
      // The target became the coordinator (docs/ticdc-api.md §2.4, §4.4): resign it again.
      if (step.phase !== 'Draining') break;
      s.consecutiveErrors = 0;
      s.ownerResigned = false;
      return step
        .to('ResigningOwner', 'TargetIsOwner', 'The capture became the coordinator; resigning it first')
        .after(0)
        .result();
    case 'CaptureNotFound':
      // The capture crashed and kubelet restarted its container: the pod runs a new capture that
      // may hold work (found by the next discovery), so drain that one rather than fail.
      if (s.captureID && containerRestarted(step.ctx)) return captureRestarted(step);
      if (s.captureID)
        return step
          .to(
            'Failed',
            'CaptureGone',
            `Capture ${s.captureID} left the cluster before its work reached zero`,
            'Warning',
          )
          .result();
      break;
    case 'OnlyOneCapture':
      return giveUp(step, 'SingleCapture', 'Only one capture is alive: there is nowhere to move its work');
    case 'Unsupported':
      return giveUp(step, 'Unsupported', `This TiCDC server cannot drain: ${err.message}`);
    case 'DrainBusy':
      // V2: "another drain operation is in progress" (§5): TiCDC's previous session, not our stall.
      if (step.phase === 'Draining') return waitForPreviousDrain(step, undefined);
      break;
    case 'Unauthorized':
    case 'Tls':
    case 'InvalidRequest':
    case 'Configuration':
    case 'NotACapturePod':
      return giveUp(step, err.kind, err.message);
    default:
      break;
  }
  return step.note(`Retrying after error: ${err.message}`).after(retryDelay(step, action)).result();
}

/** Consecutive failed looks at a draining capture retried on the poll plan before backing off. */
export const PLANNED_RETRIES = 3;

/**
 * A failed look at a draining capture is asked once (no quick retries inside the request): the
 * next one comes on the poll plan, sooner than the backoff near the predicted zero, so a fault
 * there costs no release lag; a run of failures backs off as any other.
 */
function retryDelay(step: Step, action: Action): number {
  const s = step.status;
  const n = s.consecutiveErrors ?? 1;
  const remaining = totalOf(s.remaining);
  if (step.phase !== 'Draining' || action.type !== 'drain' || remaining === undefined || n > PLANNED_RETRIES)
    return errorBackoff(n);
  const now = step.ctx.now;
  const planned = pollInterval(remaining, drainRate(s, now), now - ms(s.lastProgressTime ?? s.startTime));
  return Math.min(errorBackoff(n), Math.max(FAST_POLL_MS, planned));
}

/**
 * Settings that may resolve on their own (a Secret created a moment late): retried with a growing
 * backoff, and a Configuration failure once they stayed unresolved for stallTimeout.
 */
function onSettingsPending(step: Step, message: string): StepResult {
  const s = step.status;
  const waited = step.ctx.now - ms(s.errorSince);
  if (waited >= step.ctx.policy.stallTimeoutMs)
    return giveUp(step, 'Configuration', `${message} (for ${Math.round(waited / 1000)}s)`);
  const delay = Math.min(
    MIN_POLL_MS * 2 ** Math.max(0, (s.consecutiveErrors ?? 1) - 1),
    MAX_SETTINGS_BACKOFF_MS,
  );
  return step.note(`Waiting for settings: ${message}`).after(delay).result();
}

/** A fresh drain answer before deletion did not confirm the drain: drain again, keep the pod. */
function onReleaseNotConfirmed(step: Step, o: Extract<Outcome, { type: 'drain' }>): StepResult {
  const s = step.status;
  const restarted = !!(o.target?.id && o.target.id !== s.captureID);
  delete s.releaseTime;
  delete s.drainedTime;
  delete s.drainedCaptureID;
  delete s.released;
  if (restarted) return captureRestarted(step, o.target!.id!);
  s.lastProgressTime = iso(step.ctx.now);
  step.to(
    'Draining',
    'DrainNotConfirmed',
    `TiCDC did not confirm the drain of capture ${s.captureID} before the pod deletion (now ${describeCounts(toWorkCounts(o.counts))}, liveness ${o.target?.liveness ?? 'unknown'}); draining again and keeping the pod`,
    'Warning',
  );
  return onDrain(step, o);
}

/** The drained pod incarnation's container restarted since its capture was found. */
function containerRestarted(ctx: DrainContext): boolean {
  const s = ctx.status;
  if (!ctx.pod || ctx.pod.terminating || ctx.pod.uid !== s.podUID) return false;
  return ctx.pod.restarts !== undefined && s.podRestarts !== undefined && ctx.pod.restarts > s.podRestarts;
}

/** Another capture now answers at the target's address (newId), or will: the pod's container restarted. */
function captureRestarted(step: Step, newId?: string): StepResult {
  const s = step.status;
  const old = s.captureID;
  delete s.captureID;
  delete s.initial;
  delete s.remaining;
  delete s.drainedCaptureID;
  delete s.targetLiveness;
  s.ownerResigned = false;
  return step
    .to(
      'Pending',
      'CaptureRestarted',
      newId
        ? `Capture ${old} was replaced by ${newId} at the same address (container restart); draining the new capture`
        : `Capture ${old} left the cluster after the pod's container restarted; draining the new capture`,
      'Warning',
    )
    .after(0)
    .result();
}

/**
 * TiCDC answers for our target but has not started draining it: its previous drain session (a
 * capture drained and kept, or another tool's drain) still holds the cluster (§4.3, §9). Not a stall
 * of this capture; the timeout still bounds it.
 */
function waitForPreviousDrain(step: Step, blocker: { id: string; address: string } | undefined): StepResult {
  const s = step.status;
  s.lastProgressTime = iso(step.ctx.now);
  if (blocker) s.blockingCapture = `${blocker.id} (${blocker.address})`;
  const who = blocker
    ? `capture ${blocker.id} at ${blocker.address}, which stays drained until its pod restarts (restart that pod to end the session)`
    : "a capture drained earlier or by another tool (restart the drained capture's pod to end it)";
  return step
    .to(
      'Draining',
      'WaitingForPreviousDrain',
      `Waiting for TiCDC's previous drain session to end: ${who}`,
      'Warning',
    )
    .after(2 * MIN_POLL_MS)
    .result();
}

/**
 * The drain's outcome is decided once Releasing; errors now (deleting the pod, listing
 * captures) are retried, and only delay completion up to the stall timeout after release.
 */
function onReleasingError(step: Step): StepResult {
  const s = step.status;
  const released = s.released || !step.ctx.pod || step.ctx.pod.uid !== s.podUID || step.ctx.pod.terminating;
  const overdue = step.ctx.now - ms(s.releaseTime) > step.ctx.policy.stallTimeoutMs;
  // Releasing is bounded by the stall timeout: a pod that cannot be deleted (e.g. a webhook
  // denies it) must not hold the cluster's slot for ever. The capture is drained; the pod stays.
  if (!released && overdue)
    return complete(
      step,
      'ReleaseTimedOut',
      `${s.drainedTime ? 'Capture drained' : 'Pod released'}, but the pod could not be deleted within ${Math.round(step.ctx.policy.stallTimeoutMs / 1000)}s of the release (${s.lastError}); the drain ends and frees the cluster; deleting the pod is admitted`,
      'Warning',
    );
  if (released && overdue)
    return complete(
      step,
      s.reason ?? 'Drained',
      `Pod released; could not confirm the capture left: ${s.lastError}`,
      'Warning',
    );
  return step
    .note(`Retrying after error: ${s.lastError}`)
    .after(errorBackoff(s.consecutiveErrors ?? 1))
    .result();
}

function onDiscovered(step: Step, o: Extract<Outcome, { type: 'discovered' }>): StepResult {
  const { ctx, status: s } = step;
  const now = iso(ctx.now);
  s.consecutiveErrors = 0;
  s.lastProbeTime = now;
  if (!s.startTime) {
    s.startTime = now;
    if (ctx.pod) s.podUID = ctx.pod.uid;
    step.to('Pending', 'Started', 'Looking up the capture');
  }
  if (o.version) s.serverVersion = o.version;
  if (o.architecture) s.serverArchitecture = o.architecture;
  if (o.ambiguous) {
    if (ctx.now - ms(s.startTime) >= ctx.policy.stallTimeoutMs)
      return giveUp(
        step,
        'CaptureNotFound',
        `Several captures at one address (${o.ambiguous.join(', ')}) and none is live`,
      );
    return step
      .note(
        `Several captures registered at the address (${o.ambiguous.join(', ')}); waiting for the stale ones to leave`,
      )
      .after(2 * MIN_POLL_MS)
      .result();
  }
  const target = o.targetId
    ? o.captures.find((c) => c.id === o.targetId)
    : findTarget(o.captures, ctx.target);
  if (!target) {
    const waited = ctx.now - ms(s.startTime);
    const what = ctx.target.captureId ?? ctx.target.addresses.join(' or ');
    if (waited >= ctx.policy.stallTimeoutMs)
      return giveUp(step, 'CaptureNotFound', `No capture registered at ${what}`);
    return step
      .note(`No capture registered at ${what} yet`)
      .after(2 * MIN_POLL_MS)
      .result();
  }
  s.captureID = target.id;
  s.captureAddress = target.address;
  if (ctx.pod?.restarts !== undefined) s.podRestarts = ctx.pod.restarts;
  if (o.flavor) s.apiFlavor = o.flavor;
  if (o.captures.length < 2)
    return giveUp(step, 'SingleCapture', 'Only one capture is alive: there is nowhere to move its work');
  if (target.isOwner)
    return step
      .to('ResigningOwner', 'TargetIsOwner', `Capture ${target.id} is the coordinator; resigning it first`)
      .after(0)
      .result();
  return startDraining(step);
}

function startDraining(step: Step): StepResult {
  step.status.lastProgressTime = iso(step.ctx.now);
  return step.to('Draining', 'DrainRequested', `Draining capture ${step.status.captureID}`).after(0).result();
}

/** How often to re-check that the coordinator moved, and how many tries before backing off. */
const RESIGN_POLL_MS = 1500;

function onResign(step: Step, o: Extract<Outcome, { type: 'resign' }>): StepResult {
  const { status: s } = step;
  s.consecutiveErrors = 0;
  s.lastProbeTime = iso(step.ctx.now);
  const target = o.captures.find((c) => c.id === s.captureID);
  if (!target)
    return step
      .to('Failed', 'CaptureGone', `Capture ${s.captureID} left the cluster while resigning`, 'Warning')
      .result();
  if (o.resignIssued) s.resignAttempts = (s.resignAttempts ?? 0) + 1;
  // The other captures left while the coordinator was being resigned (a scale-in to 1 or 0, where a
  // drained capture stays listed for a few seconds): it re-wins every election; nowhere to move work.
  if (o.captures.length < 2)
    return giveUp(step, 'SingleCapture', 'Only one capture is alive: there is nowhere to move its work');
  const owner = o.captures.find((c) => c.isOwner);
  if (!owner) return step.note('Waiting for a new coordinator to be elected').after(RESIGN_POLL_MS).result();
  if (owner.id === s.captureID)
    return step
      .note(`Resign requested (attempt ${s.resignAttempts ?? 0}); the capture is still the coordinator`)
      .after(RESIGN_POLL_MS)
      .result();
  if (!o.healthy)
    return step
      .note(`Coordinator moved to ${owner.id}; waiting for the cluster to be healthy`)
      .after(RESIGN_POLL_MS)
      .result();
  s.ownerResigned = true;
  return startDraining(step);
}

function toWorkCounts(c: DrainCounts): WorkCounts {
  const out: WorkCounts = {};
  if (c.maintainers !== undefined) out.maintainers = c.maintainers;
  if (c.dispatchers !== undefined) out.dispatchers = c.dispatchers;
  if (c.tables !== undefined) out.tables = c.tables;
  return out;
}

export function describeCounts(c: WorkCounts | undefined): string {
  if (!c) return 'unknown';
  const parts: string[] = [];
  if (c.maintainers !== undefined) parts.push(`${c.maintainers} maintainers`);
  if (c.dispatchers !== undefined) parts.push(`${c.dispatchers} dispatchers`);
  if (c.tables !== undefined) parts.push(`${c.tables} tables`);
  return parts.join(', ') || 'unknown';
}

/** Average drain rate since the drain started, in work units per second. */
export function drainRate(status: CaptureDrainStatus, now: number): number | undefined {
  const initial = totalOf(status.initial);
  const remaining = totalOf(status.remaining);
  const since = ms(status.history?.find((h) => h.phase === 'Draining')?.time ?? status.startTime);
  if (initial === undefined || remaining === undefined || !(now > since)) return undefined;
  const moved = initial - remaining;
  return moved > 0 ? moved / ((now - since) / 1000) : undefined;
}

/**
 * When to poll next, from the predicted completion. TiCDC's counts are whole units: `remaining`
 * was first seen `sinceProgressMs` ago, so the zero is expected (remaining - 1/2) units' time after
 * that, give or take half a unit. Far from it, the next poll lands ahead of the prediction by a
 * quarter of the time left (at least the window), so a wrong estimate is corrected on the way;
 * within the window it polls every FAST_POLL_MS, or spreads FAST_POLLS_PER_WINDOW polls over a
 * window widened by slow units (at most WINDOW_MAX_GAP_MS apart); a drain overdue past the window
 * is looked at every OVERDUE_POLL_MS for a while (the last unit is late), then, as one that stopped
 * progressing, every MIN_POLL_MS.
 */
export function pollInterval(remaining: number, ratePerSec: number | undefined, sinceProgressMs = 0): number {
  // No rate yet (nothing moved): every second at first, up to every 2 s as the wait grows.
  if (!ratePerSec) return Math.min(2 * MIN_POLL_MS, Math.max(MIN_POLL_MS, Math.round(sinceProgressMs / 2)));
  const unitMs = 1000 / ratePerSec;
  const untilZero = (remaining - 0.5) * unitMs - sinceProgressMs;
  const window = Math.max(FAST_WINDOW_MS, unitMs / 2);
  if (untilZero - window > FAST_POLL_MS)
    return Math.min(MAX_POLL_MS, Math.round(untilZero - Math.max(window, untilZero / 4)));
  const overdue = -(untilZero + window);
  if (overdue > 0) return overdue < Math.max(window, OVERDUE_FAST_MS) ? OVERDUE_POLL_MS : MIN_POLL_MS;
  return Math.min(
    WINDOW_MAX_GAP_MS,
    Math.max(FAST_POLL_MS, Math.round((2 * window) / FAST_POLLS_PER_WINDOW)),
  );
}

function onDrain(step: Step, o: Extract<Outcome, { type: 'drain' }>): StepResult {
  const { ctx, status: s } = step;
  const now = iso(ctx.now);
  s.consecutiveErrors = 0;
  s.lastProbeTime = now;
  s.attempts = (s.attempts ?? 0) + 1;
  if (o.target) s.targetLiveness = o.target.liveness;
  if (o.target?.id && s.captureID && o.target.id !== s.captureID) return captureRestarted(step, o.target.id);
  const next = toWorkCounts(o.counts);
  const total = totalOf(next) ?? 0;
  const action = drainAction(s);
  const confirm = zeroNeedsConfirmation(action.flavor, action.architecture);
  // A `1` while the target is still Alive: TiCDC serves another capture's session (§4.2, §9) (a
  // drain that progressed does not ask, ticdc-actions.ts). A
  // fresh session also answers 1 until the target applied Draining (one heartbeat): without a
  // known holder, only a target Alive past the grace period counts as waiting.
  if (total > 0 && confirm && action.flavor === 'V1' && o.target?.liveness === 'Alive') {
    const since = ms(
      s.history?.findLast((h) => h.phase === 'Draining' && h.reason !== 'WaitingForPreviousDrain')?.time ??
        s.startTime,
    );
    if (o.blocker || s.reason === 'WaitingForPreviousDrain' || ctx.now - since >= PREVIOUS_DRAIN_GRACE_MS)
      return waitForPreviousDrain(step, o.blocker);
  }
  if (s.reason === 'WaitingForPreviousDrain') {
    delete s.blockingCapture;
    s.lastProgressTime = now;
    delete s.initial;
    delete s.remaining;
    step.to('Draining', 'DrainStarted', `TiCDC started draining capture ${s.captureID}`);
  }
  const before = totalOf(s.remaining);
  // A fresh session answers 1 until the target applied Draining: the first real count replaces
  // that placeholder as the work the drain started with (its rate and "progressed" count from it).
  const initial = totalOf(s.initial);
  if (initial === undefined || (initial <= 1 && total > initial)) s.initial = next;
  s.remaining = next;
  if (before === undefined || total < before) s.lastProgressTime = now;
  if (total === 0) {
    if (isConfirmedZero(action, o)) {
      s.drainedTime = now;
      s.drainedCaptureID = s.captureID!;
      delete s.estimatedCompletionTime;
      step.to('Drained', 'CountsZero', `Capture ${s.captureID} holds no more work`);
      return release(step, 'Drained', 'Capture drained');
    }
    if (action.flavor === 'V1' && o.target?.liveness === 'Alive')
      // §4.9, §9: a new-architecture coordinator with a legacy peer answers 0 at once and drains
      // nothing. It asks for the legacy hard restart: the timeout policy decides.
      return giveUp(
        step,
        'LegacyFallback',
        `TiCDC answered 0 but capture ${s.captureID} is still Alive: the cluster has a pre-v8.5.7 capture, so TiCDC asks for a hard restart and drained nothing`,
      );
    return step
      .note(
        `TiCDC answered 0; waiting for capture ${s.captureID} to report Stopping (liveness ${o.target?.liveness ?? 'unknown'})`,
      )
      .after(CONFIRM_POLL_MS)
      .result();
  }
  const rate = drainRate(s, ctx.now);
  if (rate) s.estimatedCompletionTime = iso(ctx.now + (total / rate) * 1000);
  if (rate) s.drainRate = `${rate.toFixed(2)}/s`;
  else delete s.drainRate;
  return step
    .note(`Draining: ${describeCounts(next)} remaining`)
    .after(pollInterval(total, rate, ctx.now - ms(s.lastProgressTime ?? now)))
    .result();
}

/** After the release the capture must leave the list before the next drain of the cluster may start. */
function onDeparture(step: Step, captures: CaptureInfo[]): StepResult {
  const s = step.status;
  s.lastProbeTime = iso(step.ctx.now);
  if (!captures.some((c) => c.id === s.captureID))
    return complete(
      step,
      s.reason ?? 'Drained',
      s.drainedTime
        ? 'Capture drained, pod released and capture left the cluster'
        : `${s.message ?? ''} The capture left the cluster.`.trim(),
    );
  const waited = step.ctx.now - ms(s.releaseTime);
  if (waited > step.ctx.policy.stallTimeoutMs)
    return complete(
      step,
      s.reason ?? 'Drained',
      `Pod released, but capture ${s.captureID} is still registered`,
      'Warning',
    );
  // TiCDC lists a stopped capture for seconds after its SIGTERM: a look every 2 s is enough (a
  // rollout does its own, learned, look for the departure).
  return step
    .note('Pod released; waiting for the capture to leave the cluster')
    .after(2 * MIN_POLL_MS)
    .result();
}

/**
 * A released drain whose pod kept running (podAction None: a rollout or eviction still has to act)
 * is bound to the capture it drained. When the pod's container restarted since, a new capture with
 * new work answers at the same address: the release is void and the drain starts over.
 */
export function releaseVoided(status: CaptureDrainStatus, pod: PodView | undefined): boolean {
  if (!status.releaseTime || !pod || pod.terminating || pod.uid !== status.podUID) return false;
  if (status.phase !== 'Completed' && status.phase !== 'Releasing') return false;
  return pod.restarts !== undefined && status.podRestarts !== undefined && pod.restarts > status.podRestarts;
}

export function reopenAfterRestart(ctx: DrainContext): StepResult | undefined {
  if (!ctx.policy.trackPod || !releaseVoided(ctx.status, ctx.pod)) return undefined;
  const step = new Step(ctx, ctx.status);
  const s = step.status;
  const old = s.drainedCaptureID ?? s.captureID;
  for (const k of [
    'startTime',
    'captureID',
    'captureAddress',
    'drainedTime',
    'drainedCaptureID',
    'releaseTime',
    'released',
    'completionTime',
    'initial',
    'remaining',
    'targetLiveness',
    'ownerResigned',
    'lastProgressTime',
  ] as const)
    delete s[k];
  return step
    .to(
      'Pending',
      'CaptureRestarted',
      `The pod's container restarted after capture ${old} was drained; its new capture may hold work, so the release is void and the drain starts over`,
      'Warning',
    )
    .after(0)
    .result();
}
