// The drain state machine: pure functions, no I/O, no clock.
//
//   nextAction(ctx)              -> what to ask TiCDC or Kubernetes next (or nothing)
//   advance(ctx, action, outcome) -> the next status, events to emit, when to look again
//
// The controller (and the CLI) loop: action = nextAction; outcome = perform(action);
// result = advance(...); persist result.status. Every action is idempotent, so a crash
// anywhere resumes correctly from the last persisted status.
import type { CaptureDrainStatus, Phase, PodAction, TimeoutPolicy, WorkCounts } from '../api/capturedrain.js';
import type {
  ApiFlavor,
  ApiFlavorSetting,
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
}

export interface SlotView {
  /** May this drain start now (no other drain of the same TiCDC cluster is active, and it is first in line)? */
  free: boolean;
  /** Name of the drain holding the cluster, or the one ahead in line, for messages. */
  holder?: string;
}

export interface DrainContext {
  now: number;
  generation?: number;
  status: CaptureDrainStatus;
  policy: DrainPolicy;
  target: DrainTarget;
  /** undefined: the pod does not exist. Ignored unless policy.trackPod. */
  pod?: PodView;
  slot: SlotView;
}

export type Action =
  | { type: 'wait' }
  | { type: 'discover'; flavor: ApiFlavorSetting; known?: ApiFlavor }
  | { type: 'resign'; captureId: string; flavor: ApiFlavor }
  | { type: 'drain'; captureId: string; flavor: ApiFlavor }
  | { type: 'deletePod'; podUID: string }
  | { type: 'awaitDeparture'; captureId: string };

export type Outcome =
  | { type: 'none' }
  | { type: 'discovered'; captures: CaptureInfo[]; flavor?: ApiFlavor; version?: string }
  | { type: 'resign'; captures: CaptureInfo[]; resignIssued: boolean; healthy: boolean }
  | { type: 'drain'; counts: DrainCounts }
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

/** Poll bounds: never more than one TiCDC request a second per drain. */
export const MIN_POLL_MS = 1000;
export const MAX_POLL_MS = 15_000;
export const QUEUE_POLL_MS = 5000;
export const MAX_ERROR_BACKOFF_MS = 30_000;
export const HISTORY_LIMIT = 20;

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
  if (limitReached(ctx)) return { type: 'wait' };
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
      };
    case 'ResigningOwner':
      return { type: 'resign', captureId: s.captureID!, flavor: s.apiFlavor! };
    case 'Draining':
      return { type: 'drain', captureId: s.captureID!, flavor: s.apiFlavor! };
    case 'Drained':
      return { type: 'wait' };
    case 'Releasing':
      if (ctx.policy.trackPod && ctx.pod && ctx.pod.uid === s.podUID && !ctx.pod.terminating && !s.released)
        return { type: 'deletePod', podUID: s.podUID! };
      if (!s.captureID) return { type: 'wait' };
      return { type: 'awaitDeparture', captureId: s.captureID };
    default:
      return { type: 'wait' };
  }
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
    return {
      status: s,
      events: this.events,
      ...(done ? {} : { requeueAfterMs: this.requeueAfterMs ?? MIN_POLL_MS }),
    };
  }
}

export function advance(ctx: DrainContext, action: Action, outcome: Outcome): StepResult {
  const step = new Step(ctx, ctx.status);
  const s = step.status;
  if (!s.phase) step.to('Pending', 'Created', 'Waiting to start');
  if (isTerminal(s.phase)) return step.result();

  // Guards that apply whatever was observed: the pod went away, or time ran out.
  if (ctx.policy.trackPod && s.phase !== 'Releasing' && podChanged(ctx)) return podGone(step);
  const limit = limitReached(ctx);
  if (limit) return giveUp(step, limit.reason, limit.message);

  if (outcome.type === 'error') return onError(step, outcome);

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
      if (outcome.type === 'drain') return onDrain(step, outcome.counts);
      break;
    case 'deletePod':
      if (outcome.type === 'podDeleted') {
        s.released = true;
        return step
          .note('Pod deletion requested; waiting for the capture to leave the cluster')
          .after(MIN_POLL_MS)
          .result();
      }
      break;
    case 'awaitDeparture':
      if (outcome.type === 'departure') return onDeparture(step, outcome.captures);
      break;
  }
  throw new Error(`outcome ${outcome.type} does not answer action ${action.type}`);
}

/** True when the pod the drain started on is gone or replaced. */
function podChanged(ctx: DrainContext): boolean {
  const uid = ctx.status.podUID;
  if (!uid) return false;
  return !ctx.pod || ctx.pod.uid !== uid;
}

function podGone(step: Step): StepResult {
  const s = step.status;
  if (s.phase === 'Drained') {
    // Drained and then deleted by someone else: the work had already moved.
    return complete(step, 'PodGone', 'Pod was deleted after the drain completed');
  }
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

function errorBackoff(failures: number): number {
  return Math.min(MIN_POLL_MS * 2 ** Math.max(0, failures - 1), MAX_ERROR_BACKOFF_MS);
}

function onError(step: Step, err: Extract<Outcome, { type: 'error' }>): StepResult {
  const s = step.status;
  s.lastError = `${err.kind}: ${err.message}`;
  s.consecutiveErrors = (s.consecutiveErrors ?? 0) + 1;
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
    case 'Unauthorized':
    case 'Tls':
    case 'InvalidRequest':
    case 'Configuration':
    case 'NotACapturePod':
      return giveUp(step, err.kind, err.message);
    default:
      break;
  }
  return step.note(`Retrying after error: ${err.message}`).after(errorBackoff(s.consecutiveErrors)).result();
}

/**
 * The drain's outcome is decided once Releasing; errors now (deleting the pod, listing
 * captures) are retried, and only delay completion up to the stall timeout after release.
 */
function onReleasingError(step: Step): StepResult {
  const s = step.status;
  const released = s.released || !step.ctx.pod || step.ctx.pod.uid !== s.podUID || step.ctx.pod.terminating;
  if (released && step.ctx.now - ms(s.releaseTime) > step.ctx.policy.stallTimeoutMs)
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
  const target = findTarget(o.captures, ctx.target);
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

/** Poll fast when the estimate says the drain is about to finish, slower while it is far. */
export function pollInterval(remaining: number, ratePerSec: number | undefined): number {
  if (!ratePerSec) return 2 * MIN_POLL_MS;
  const etaMs = (remaining / ratePerSec) * 1000;
  return Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, Math.round(etaMs / 3)));
}

function onDrain(step: Step, counts: DrainCounts): StepResult {
  const { ctx, status: s } = step;
  const now = iso(ctx.now);
  s.consecutiveErrors = 0;
  s.lastProbeTime = now;
  s.attempts = (s.attempts ?? 0) + 1;
  const next = toWorkCounts(counts);
  const before = totalOf(s.remaining);
  const total = totalOf(next) ?? 0;
  s.initial ??= next;
  s.remaining = next;
  if (before === undefined || total < before) s.lastProgressTime = now;
  if (total === 0) {
    s.drainedTime = now;
    delete s.estimatedCompletionTime;
    step.to('Drained', 'CountsZero', `Capture ${s.captureID} holds no more work`);
    return release(step, 'Drained', 'Capture drained');
  }
  const rate = drainRate(s, ctx.now);
  if (rate) s.estimatedCompletionTime = iso(ctx.now + (total / rate) * 1000);
  if (rate) s.drainRate = `${rate.toFixed(2)}/s`;
  else delete s.drainRate;
  return step
    .note(`Draining: ${describeCounts(next)} remaining`)
    .after(pollInterval(total, rate))
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
  return step
    .note('Pod released; waiting for the capture to leave the cluster')
    .after(2 * MIN_POLL_MS)
    .result();
}
