// The rollout planner: pure, no I/O, no clock. Given a managed StatefulSet, its pods, the
// CaptureDrains of its pods and (when needed) TiCDC's capture list, it says which one step comes
// next: drain a pod, lower the partition or spec.replicas, delete a drained pod (OnDelete), or
// wait (for the StatefulSet controller, a pod to become Ready, its capture to register, the
// drained capture to leave), and whether the rollout is blocked and why.
//
// Safety rules (the randomized test checks the first two on every input):
// - at most one pod advances at a time: no new drain while another pod of the StatefulSet is
//   being drained, released or replaced;
// - partition and replicas are lowered only past a pod whose current incarnation's drain released it;
// - the next drain starts only when every other pod is Ready and registered as a capture, and the
//   previously drained capture has left the capture list;
// - scaling in takes precedence over an update.
import type { PodAction, Trigger } from '../api/capturedrain.js';
import { findCaptureByAddress } from '../drain/address.js';
import type { PodDrainState } from '../drain/contract.js';

export type UpdateStrategy = 'RollingUpdate' | 'OnDelete';

export interface StatefulSetView {
  name: string;
  generation: number;
  /** status.observedGeneration: the StatefulSet controller saw the current spec. */
  observedGeneration: number;
  replicas: number;
  /** drain.ticdc.io/replicas: a number, absent, or the raw text when it is not a valid count. */
  desiredReplicas?: number | string;
  strategy: UpdateStrategy;
  /** rollingUpdate.partition (0 when unset); ignored under OnDelete. */
  partition: number;
  /**
   * RollingUpdate only: the partition is held (above 0, or lowered by a rollout of ours still in
   * progress). A StatefulSet without one rolls by itself; the termination gate drains its pods.
   */
  partitionHeld: boolean;
  updateRevision: string;
  /** The pod template carries drain.ticdc.io/managed=true (else its pods are invisible to us). */
  templateManaged: boolean;
  /** An annotation the controller could not parse: the rollout is Blocked with this message. */
  configError?: string;
  /** How long a pod may stay not Ready (or its capture unregistered) before the rollout reports Blocked. */
  podReadyTimeoutMs: number;
}

export interface PodView {
  name: string;
  ordinal: number;
  uid: string;
  /** controller-revision-hash label. */
  revision?: string;
  ready: boolean;
  /** ms since epoch: when the pod last became (or was created) not Ready / Ready. */
  since: number;
  terminating: boolean;
  /** drain.ticdc.io/skip: "true": updated or removed without a drain. */
  skip: boolean;
  /** Advertise addresses its capture may use. */
  addresses: string[];
}

export interface DrainView {
  name: string;
  podName: string;
  podUid: string;
  state: PodDrainState;
  podAction: PodAction;
  trigger?: Trigger;
  captureId?: string;
  startTime?: number;
  releaseTime?: number;
  estimatedCompletionTime?: number;
  reason?: string;
  message?: string;
}

export interface CaptureView {
  id: string;
  address: string;
  isOwner: boolean;
}

export interface PlanInput {
  now: number;
  statefulSet: StatefulSetView;
  pods: PodView[];
  /** Operator-created drains of this StatefulSet's pods (any incarnation, any age). */
  drains: DrainView[];
  /** TiCDC's capture list; undefined when not (yet) read or unreachable. */
  captures?: CaptureView[];
  /** Why the captures are missing, for the message. */
  capturesError?: string;
}

/** What a rollout step waits for (`capture-drain plan`'s next step, the rollout message). */
export const WAIT_REASONS = [
  'StatefulSetStatus',
  'Captures',
  'Drain',
  'PodReplaced',
  'PodRemoved',
  'PodReady',
  'CaptureRegistered',
  'CaptureDeparted',
  'DrainHeld',
  'Configuration',
] as const;
export type WaitReason = (typeof WAIT_REASONS)[number];

/** Why a rollout is Blocked (the RolloutBlocked event, `capture-drain plan`'s BLOCKED line). */
export const BLOCKED_REASONS = [
  'InvalidAnnotation',
  'TemplateNotManaged',
  'PodNotReady',
  'CaptureNotRegistered',
  'CaptureNotDeparted',
  'DrainHeld',
] as const;
export type BlockedReason = (typeof BLOCKED_REASONS)[number];

export type Step =
  | { type: 'None' }
  | { type: 'Drain'; pod: string; uid: string; trigger: Trigger; podAction: PodAction }
  | { type: 'SetPartition'; from: number; to: number }
  | { type: 'SetReplicas'; from: number; to: number }
  | { type: 'DeletePod'; pod: string; uid: string }
  | { type: 'Wait'; reason: WaitReason; pod?: string };

export type Mode = 'Idle' | 'ScaleIn' | 'RollingUpdate';

export interface PlannedPod {
  pod: string;
  ordinal: number;
  kind: 'ScaleIn' | 'Update';
  coordinator: boolean;
  /** The pod being worked on now; the others are pending, in order. */
  active: boolean;
}

export interface Plan {
  mode: Mode;
  step: Step;
  /** Set when the rollout cannot go on without help (or a deadline passed). */
  blocked?: { reason: BlockedReason; message: string };
  /** What the step waits for or does, for humans. */
  message: string;
  /** Pods still to go, in order (the active one first). */
  queue: PlannedPod[];
  /** Estimated time until the whole rollout/scale-in is done; undefined when unknown. */
  etaMs?: number;
  /** Remarks such as "the coordinator is not last under a partition". */
  notes: string[];
}

export const DEFAULT_POD_READY_TIMEOUT_MS = 10 * 60_000;
/** Before any drain of this StatefulSet was observed: time from release to a registered replacement. */
export const DEFAULT_REPLACE_MS = 15_000;
/** Gaps longer than this between two drains belong to different rollouts. */
const SAME_ROLLOUT_GAP_MS = 15 * 60_000;

const byOrdinalDesc = (a: PodView, b: PodView) => b.ordinal - a.ordinal;

function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

function fmt(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
}

class Ctx {
  readonly sts: StatefulSetView;
  readonly pods: Map<number, PodView>;
  constructor(readonly input: PlanInput) {
    this.sts = input.statefulSet;
    this.pods = new Map(input.pods.map((p) => [p.ordinal, p]));
  }

  /** The drain of this pod incarnation (the newest if, oddly, there are several). */
  drainOf(pod: PodView): DrainView | undefined {
    return this.input.drains
      .filter((d) => d.podName === pod.name && d.podUid === pod.uid)
      .sort((a, b) => (b.startTime ?? Infinity) - (a.startTime ?? Infinity))[0];
  }

  state(pod: PodView): PodDrainState {
    return this.drainOf(pod)?.state ?? 'None';
  }

  /** Drained or skipped: this incarnation may go. */
  released(pod: PodView): boolean {
    return pod.skip || this.state(pod) === 'Released';
  }

  outdated(pod: PodView): boolean {
    return pod.revision !== this.sts.updateRevision;
  }

  /** Captures of released drains whose pod incarnation is gone: they must leave before the next drain. */
  lingering(): { drain: DrainView; capture: CaptureView }[] {
    const caps = this.input.captures ?? [];
    const out: { drain: DrainView; capture: CaptureView }[] = [];
    for (const d of this.input.drains) {
      if (d.state !== 'Released' || !d.captureId) continue;
      const pod = this.input.pods.find((p) => p.name === d.podName);
      if (pod && pod.uid === d.podUid && !pod.terminating) continue; // still there: not released yet
      const c = caps.find((x) => x.id === d.captureId);
      if (c) out.push({ drain: d, capture: c });
    }
    return out;
  }

  /** The pod's capture: matched by address, never a capture a drain already released. */
  captureOf(pod: PodView): CaptureView | undefined {
    const gone = new Set(
      this.input.drains.filter((d) => d.podUid !== pod.uid && d.captureId).map((d) => d.captureId),
    );
    const caps = (this.input.captures ?? []).filter((c) => !gone.has(c.id));
    return findCaptureByAddress(caps, pod.addresses);
  }

  ownerPod(): PodView | undefined {
    const owner = this.input.captures?.find((c) => c.isOwner);
    if (!owner) return undefined;
    return this.input.pods.find((p) => this.captureOf(p)?.id === owner.id);
  }
}

interface Partial {
  step: Step;
  message: string;
  blocked?: { reason: BlockedReason; message: string };
  /** The pod being worked on, if any. */
  active?: number;
}

const wait = (reason: WaitReason, message: string, pod?: string): Partial => ({
  step: { type: 'Wait', reason, ...(pod ? { pod } : {}) },
  message,
});

/** The whole rollout's plan. */
export function plan(input: PlanInput): Plan {
  const ctx = new Ctx(input);
  const sts = ctx.sts;
  const notes: string[] = [];
  const desired = sts.desiredReplicas;

  const finish = (mode: Mode, p: Partial, queue: PlannedPod[]): Plan => {
    // The pod worked on goes first in the queue.
    const i = queue.findIndex((x) => x.ordinal === p.active);
    const ordered = i > 0 ? [queue[i]!, ...queue.slice(0, i), ...queue.slice(i + 1)] : queue;
    const q = ordered.map((x, n) => ({ ...x, active: n === 0 && x.ordinal === p.active }));
    const etaMs = estimate(ctx, q);
    return {
      mode,
      step: p.step,
      ...(p.blocked ? { blocked: p.blocked } : {}),
      message: p.blocked ? p.blocked.message : p.message,
      queue: q,
      ...(etaMs !== undefined ? { etaMs } : {}),
      notes,
    };
  };

  const badReplicas = typeof desired === 'string' || (typeof desired === 'number' && desired < 1);
  if (badReplicas || sts.configError) {
    const msg =
      sts.configError ??
      `annotation drain.ticdc.io/replicas must be a whole number of at least 1, got "${desired}"`;
    return finish(
      'Idle',
      { ...wait('Configuration', msg), blocked: { reason: 'InvalidAnnotation', message: msg } },
      [],
    );
  }
  if (!sts.templateManaged) {
    const msg = 'the pod template lacks the label drain.ticdc.io/managed: "true"; its pods cannot be tracked';
    return finish(
      'Idle',
      { ...wait('Configuration', msg), blocked: { reason: 'TemplateNotManaged', message: msg } },
      [],
    );
  }

  const scaleQueue: PlannedPod[] = [];
  if (desired !== undefined && desired < sts.replicas)
    for (let o = sts.replicas - 1; o >= desired; o--)
      scaleQueue.push({
        pod: `${sts.name}-${o}`,
        ordinal: o,
        kind: 'ScaleIn',
        coordinator: false,
        active: false,
      });
  const keep = Math.min(sts.replicas, desired ?? sts.replicas);
  // Without a held partition the StatefulSet controller replaces pods itself (through the gate):
  // taking its partition over would change how the user's StatefulSet rolls.
  const unpartitioned = sts.strategy === 'RollingUpdate' && !sts.partitionHeld;
  const updateQueue = unpartitioned ? [] : updateOrder(ctx, keep, notes);
  if (unpartitioned && input.pods.some((p) => p.ordinal < keep && ctx.outdated(p)))
    notes.push(
      'RollingUpdate without a partition: the StatefulSet controller replaces the pods itself and the ' +
        'termination gate drains each one before it goes (hold the partition at replicas to let the operator order them)',
    );
  const owner = ctx.ownerPod();
  for (const q of [...scaleQueue, ...updateQueue]) q.coordinator = !!owner && owner.ordinal === q.ordinal;
  const queue = [...scaleQueue, ...updateQueue];

  // The StatefulSet controller has not caught up with the spec: revisions and pods may be stale.
  if (sts.observedGeneration < sts.generation)
    return finish(
      queue.length ? (scaleQueue.length ? 'ScaleIn' : 'RollingUpdate') : 'Idle',
      wait('StatefulSetStatus', 'Waiting for the StatefulSet controller to observe the latest spec'),
      queue,
    );

  // Someone else's partition change (or none at all) lets the StatefulSet controller replace
  // outdated pods that were never drained: take the partition back above them first.
  if (sts.strategy === 'RollingUpdate' && !unpartitioned) {
    const exposed = input.pods.filter(
      (p) => p.ordinal >= sts.partition && p.ordinal < sts.replicas && ctx.outdated(p) && !ctx.released(p),
    );
    // Re-raised to replicas, not just above them: a new update revision mid-rollout makes every pod
    // outdated again, including those this rollout already replaced.
    if (exposed.length && !exposed.every((p) => p.terminating)) {
      const to = sts.replicas;
      return finish(
        scaleQueue.length ? 'ScaleIn' : 'RollingUpdate',
        {
          step: { type: 'SetPartition', from: sts.partition, to },
          message: `Raising the partition to ${to}: outdated pods at or above partition ${sts.partition} were not drained (the update revision changed, or someone lowered it)`,
        },
        queue,
      );
    }
    // Between steps the partition is held at replicas, the value the next step lowers it from:
    // once every pod at or above it runs the update revision, nothing is left for the StatefulSet
    // controller to replace, and a template change before the next step must wait for its drain.
    // (Raised only once the replacement exists: a pod missing below the partition is recreated
    // at the current revision.)
    if (sts.partition < sts.replicas && betweenSteps(ctx))
      return finish(
        scaleQueue.length ? 'ScaleIn' : updateQueue.length ? 'RollingUpdate' : 'Idle',
        {
          step: { type: 'SetPartition', from: sts.partition, to: sts.replicas },
          message: `Holding the partition at ${sts.replicas} between steps`,
        },
        queue,
      );
  }

  if (scaleQueue.length) return finish('ScaleIn', oneAtATime(ctx, scaleIn(ctx)), queue);
  if (updateQueue.length)
    return finish('RollingUpdate', oneAtATime(ctx, rollingUpdate(ctx, updateQueue)), queue);

  // Up to date. Wait for the last replaced pod and the capture bookkeeping, then hold the partition
  // at replicas so the next template change waits for us instead of rolling undrained.
  const settle = settled(ctx, keep);
  if (settle) return finish('RollingUpdate', oneAtATime(ctx, settle), queue);
  const leftover = oneAtATime(ctx, { step: { type: 'None' }, message: 'Up to date' });
  if (leftover.step.type !== 'None') return finish('Idle', leftover, queue);
  if (sts.strategy === 'RollingUpdate' && !unpartitioned && sts.partition < sts.replicas)
    return finish(
      'Idle',
      {
        step: { type: 'SetPartition', from: sts.partition, to: sts.replicas },
        message: `Up to date; holding the partition at ${sts.replicas} for the next update`,
      },
      [],
    );
  return finish('Idle', { step: { type: 'None' }, message: 'Up to date' }, []);
}

const OUR_TRIGGERS: ReadonlySet<string> = new Set(['RollingUpdate', 'ScaleIn']);

/**
 * A pod a rollout drain of ours already took out of service (draining, or drained and not yet
 * gone) comes before anything else, so two pods are never out at once. This matters when the plan
 * changed under it: a new revision mid-rollout, a reverted scale-in.
 */
function oneAtATime(ctx: Ctx, p: Partial): Partial {
  for (const pod of [...ctx.input.pods].sort(byOrdinalDesc)) {
    if (pod.terminating || pod.ordinal === p.active) continue;
    const d = ctx.drainOf(pod);
    if (!d || !OUR_TRIGGERS.has(d.trigger ?? '')) continue;
    if (d.state === 'InProgress')
      return {
        ...wait('Drain', `Draining ${pod.name} (CaptureDrain ${d.name})`, pod.name),
        active: pod.ordinal,
      };
    if (d.state !== 'Released') continue;
    if (d.podAction === 'Delete')
      return {
        ...wait('PodReplaced', `Waiting for CaptureDrain ${d.name} to delete ${pod.name}`, pod.name),
        active: pod.ordinal,
      };
    // Drained for a step that no longer applies: restart it so its capture takes work again.
    return {
      step: { type: 'DeletePod', pod: pod.name, uid: pod.uid },
      message: `${pod.name} was drained but is no longer due to go; restarting it so its capture takes work again`,
      active: pod.ordinal,
    };
  }
  return p;
}

/** Outdated pods among ordinals < keep, in the order they will be replaced. */
function updateOrder(ctx: Ctx, keep: number, notes: string[]): PlannedPod[] {
  const outdated = ctx.input.pods.filter((p) => p.ordinal < keep && ctx.outdated(p)).sort(byOrdinalDesc);
  const owner = ctx.ownerPod();
  const mk = (p: PodView): PlannedPod => ({
    pod: p.name,
    ordinal: p.ordinal,
    kind: 'Update',
    coordinator: false,
    active: false,
  });
  if (ctx.sts.strategy === 'OnDelete') {
    // A pod already in flight keeps its turn even if the coordinator moved onto it since.
    const inFlight = outdated.find((p) => ctx.state(p) !== 'None' && ctx.state(p) !== 'Held');
    const rest = outdated.filter((p) => p !== inFlight);
    const ordered = [
      ...(inFlight ? [inFlight] : []),
      ...rest.filter((p) => p !== owner),
      ...rest.filter((p) => p === owner),
    ];
    return ordered.map(mk);
  }
  if (owner && outdated.includes(owner) && outdated.at(-1) !== owner)
    notes.push(
      `The coordinator runs on ${owner.name}, which is not last: under a partition the StatefulSet ` +
        'replaces pods by descending ordinal, so it will be resigned when its turn comes (OnDelete replaces it last)',
    );
  return outdated.map(mk);
}

/** Every pod below `count` exists, is Ready, registered, and no released capture lingers. */
function healthGate(ctx: Ctx, count: number, except?: number): Partial | undefined {
  const { sts, input } = ctx;
  for (let o = count - 1; o >= 0; o--) {
    if (o === except) continue;
    const p = ctx.pods.get(o);
    const name = `${sts.name}-${o}`;
    if (!p) return wait('PodReady', `Waiting for pod ${name} to be created`, name);
    if (p.terminating) return wait('PodReplaced', `Waiting for pod ${name} to be replaced`, name);
    if (!p.ready)
      return deadline(
        ctx,
        wait('PodReady', `Waiting for pod ${name} to become Ready`, name),
        p,
        'PodNotReady',
      );
  }
  if (!input.captures)
    return wait(
      'Captures',
      `Reading TiCDC's capture list${input.capturesError ? ` failed: ${input.capturesError}` : ''}`,
    );
  const linger = ctx.lingering()[0];
  if (linger) {
    const w = wait(
      'CaptureDeparted',
      `Waiting for drained capture ${linger.capture.id} (${linger.drain.podName}) to leave the capture list`,
      linger.drain.podName,
    );
    const since = linger.drain.releaseTime;
    if (since !== undefined && input.now - since > sts.podReadyTimeoutMs)
      w.blocked = {
        reason: 'CaptureNotDeparted',
        message: `Drained capture ${linger.capture.id} of ${linger.drain.podName} is still registered ${fmt(sts.podReadyTimeoutMs)} after its release`,
      };
    return w;
  }
  for (let o = count - 1; o >= 0; o--) {
    if (o === except) continue;
    const p = ctx.pods.get(o)!;
    if (p.skip) continue;
    if (!ctx.captureOf(p))
      return deadline(
        ctx,
        wait('CaptureRegistered', `Waiting for pod ${p.name}'s capture to register in TiCDC`, p.name),
        p,
        'CaptureNotRegistered',
      );
  }
  return undefined;
}

/** A wait on a pod turns into Blocked after the pod-ready timeout. */
function deadline(ctx: Ctx, w: Partial, pod: PodView, reason: BlockedReason): Partial {
  const waited = ctx.input.now - pod.since;
  if (waited > ctx.sts.podReadyTimeoutMs)
    w.blocked = {
      reason,
      // No elapsed time in the text: it is written to an annotation only when it changes.
      message: `${w.message.replace(/^Waiting for /, '')}: not done within pod-ready-timeout ${fmt(ctx.sts.podReadyTimeoutMs)}; the rollout stops here until it is (fix the pod or roll back)`,
    };
  return w;
}

/** The drain step for one pod: start it, wait for it, or report it held. */
function drainStep(ctx: Ctx, pod: PodView, trigger: Trigger, podAction: PodAction): Partial {
  const d = ctx.drainOf(pod);
  const state = d?.state ?? 'None';
  if (state === 'InProgress')
    return {
      ...wait('Drain', `Draining ${pod.name} (CaptureDrain ${d!.name})`, pod.name),
      active: pod.ordinal,
    };
  if (state === 'Held')
    return {
      ...wait('DrainHeld', `CaptureDrain ${d!.name} did not release ${pod.name}`, pod.name),
      active: pod.ordinal,
      blocked: {
        reason: 'DrainHeld',
        message: `CaptureDrain ${d!.name} ended without releasing ${pod.name} (${d!.reason ?? 'Failed'}: ${d!.message ?? ''}); fix the cause and delete the CaptureDrain to retry`,
      },
    };
  return {
    step: { type: 'Drain', pod: pod.name, uid: pod.uid, trigger, podAction },
    message: `Starting the drain of ${pod.name}`,
    active: pod.ordinal,
  };
}

function scaleIn(ctx: Ctx): Partial {
  const { sts } = ctx;
  const o = sts.replicas - 1;
  const pod = ctx.pods.get(o);
  const to = sts.replicas - 1;
  if (!pod) {
    // Already gone (e.g. deleted by hand): nothing holds work at this ordinal any more.
    const gate = healthGate(ctx, o);
    if (gate) return gate;
    return {
      step: { type: 'SetReplicas', from: sts.replicas, to },
      message: `Lowering replicas to ${to}`,
      active: o,
    };
  }
  if (ctx.released(pod))
    return {
      step: { type: 'SetReplicas', from: sts.replicas, to },
      message: `${pod.name} ${pod.skip ? 'is skipped' : 'is drained'}; lowering replicas to ${to}`,
      active: o,
    };
  const state = ctx.state(pod);
  if (state === 'None') {
    const gate = healthGate(ctx, sts.replicas, o);
    if (gate) return gate;
  }
  return drainStep(ctx, pod, 'ScaleIn', 'None');
}

function rollingUpdate(ctx: Ctx, queue: PlannedPod[]): Partial {
  const { sts } = ctx;
  const keep = Math.min(
    sts.replicas,
    typeof sts.desiredReplicas === 'number' ? sts.desiredReplicas : sts.replicas,
  );
  // A pod the StatefulSet controller is replacing: wait for it whatever the strategy.
  const replacing = ctx.input.pods.find((p) => p.ordinal < keep && p.terminating);
  if (replacing)
    return {
      ...wait('PodReplaced', `Waiting for pod ${replacing.name} to be replaced`, replacing.name),
      active: replacing.ordinal,
    };

  if (sts.strategy === 'OnDelete') {
    const target = ctx.pods.get(queue[0]!.ordinal)!;
    if (ctx.released(target)) {
      const d = ctx.drainOf(target);
      if (!target.skip && d?.podAction === 'Delete')
        return {
          ...wait('PodReplaced', `Waiting for CaptureDrain ${d.name} to delete ${target.name}`, target.name),
          active: target.ordinal,
        };
      return {
        step: { type: 'DeletePod', pod: target.name, uid: target.uid },
        message: `${target.name} ${target.skip ? 'is skipped' : 'is drained'}; deleting it so the StatefulSet recreates it`,
        active: target.ordinal,
      };
    }
    if (ctx.state(target) === 'None') {
      const gate = healthGate(ctx, keep, target.ordinal);
      if (gate) return gate;
    }
    return drainStep(ctx, target, 'RollingUpdate', 'Delete');
  }

  // Partition: the next pod is the highest outdated ordinal; only ordinals >= partition are replaced.
  const target = ctx.pods.get(queue[0]!.ordinal)!;
  if (target.ordinal >= sts.partition)
    // Released and the partition is already below it: the StatefulSet controller replaces it next.
    return {
      ...wait('PodReplaced', `Waiting for the StatefulSet controller to replace ${target.name}`, target.name),
      active: target.ordinal,
    };
  // The partition is held at replicas between steps (plan()): the step lowers it straight to the
  // drained pod; the pods in between are up to date, so the StatefulSet controller leaves them.
  if (ctx.released(target))
    return {
      step: { type: 'SetPartition', from: sts.partition, to: target.ordinal },
      message: `${target.name} ${target.skip ? 'is skipped' : 'is drained'}; lowering the partition to ${target.ordinal}`,
      active: target.ordinal,
    };
  if (ctx.state(target) === 'None') {
    const gate = healthGate(ctx, keep, target.ordinal);
    if (gate) return gate;
  }
  return drainStep(ctx, target, 'RollingUpdate', 'None');
}

/**
 * The last lowering's replacement is in: every pod at or above the partition (below replicas)
 * exists, is not terminating and runs the update revision.
 */
function betweenSteps(ctx: Ctx): boolean {
  const { sts } = ctx;
  for (let o = sts.partition; o < sts.replicas; o++) {
    const p = ctx.pods.get(o);
    if (!p || p.terminating || ctx.outdated(p)) return false;
  }
  return true;
}

/** After the last pod: wait until it is back and registered, so "done" means done. */
function settled(ctx: Ctx, keep: number): Partial | undefined {
  const needed =
    ctx.input.pods.some((p) => p.ordinal < keep && (p.terminating || !p.ready)) ||
    ctx.input.drains.some(
      (d) =>
        d.state === 'Released' &&
        d.releaseTime !== undefined &&
        ctx.input.now - d.releaseTime < SAME_ROLLOUT_GAP_MS,
    );
  if (!needed) return undefined;
  // Only while a drain of ours was recent or a pod is not Ready: otherwise an unrelated pod
  // restart would keep an idle StatefulSet "rolling".
  if (!ctx.input.captures && !ctx.input.pods.some((p) => p.ordinal < keep && (p.terminating || !p.ready)))
    return wait('Captures', 'Confirming the last replaced capture registered');
  return healthGate(ctx, keep);
}

/**
 * Time until the whole queue is done: the active pod's remaining drain (from its ETA, else the
 * typical drain), then for every pod a typical drain plus the time a replacement takes to come back.
 * Typical values are medians over this StatefulSet's recent drains.
 */
function estimate(ctx: Ctx, queue: PlannedPod[]): number | undefined {
  if (!queue.length) return 0;
  const drains = ctx.input.drains
    .filter((d) => d.startTime !== undefined)
    .sort((a, b) => a.startTime! - b.startTime!);
  const durations = drains
    .filter((d) => d.releaseTime !== undefined && d.state === 'Released')
    .map((d) => d.releaseTime! - d.startTime!)
    .slice(-10);
  const gaps: number[] = [];
  for (let i = 1; i < drains.length; i++) {
    const prev = drains[i - 1]!;
    const gap = drains[i]!.startTime! - (prev.releaseTime ?? Infinity);
    if (gap >= 0 && gap < SAME_ROLLOUT_GAP_MS) gaps.push(gap);
  }
  const replace = median(gaps.slice(-10)) ?? DEFAULT_REPLACE_MS;
  let typical = median(durations);
  const now = ctx.input.now;
  const first = queue[0]!;
  const firstPod = ctx.pods.get(first.ordinal);
  const active = first.active && firstPod ? ctx.drainOf(firstPod) : undefined;
  let firstMs: number | undefined;
  if (active?.state === 'Released') firstMs = 0;
  else if (active?.estimatedCompletionTime !== undefined) {
    firstMs = Math.max(0, active.estimatedCompletionTime - now);
    // The first observed drain of a StatefulSet: its own rate is the best guess for the others.
    if (typical === undefined && active.startTime !== undefined)
      typical = active.estimatedCompletionTime - active.startTime;
  } else if (active?.startTime !== undefined && typical !== undefined)
    firstMs = Math.max(0, typical - (now - active.startTime));
  firstMs ??= typical;
  if (firstMs === undefined || typical === undefined) return undefined;
  return Math.round(firstMs + replace + (queue.length - 1) * (typical + replace));
}
