// Drained rollouts and scale-ins of managed StatefulSets, one capture at a time.
//   read (caches) -> plan (pure, rollout/planner.ts) -> one step -> progress annotations/events.
// TiCDC is asked for its capture list only while something is pending. A Drain step is re-planned
// on fresh reads from the API server first, so a lagging cache can never start a second drain;
// partition and replicas are changed with a JSON-patch test of the value the plan saw.
import type { Logger } from 'pino';
import { formatDuration, type CaptureDrainObject } from '../api/capturedrain.js';
import type { ObjectKey, ReconcileContext, ReconcileResult } from '../kube/controller.js';
import { KubeApiError, Resources, type KubeClient } from '../kube/port.js';
import { plan, type Plan, type PlanInput } from './planner.js';
import type { RolloutMetrics } from './metrics.js';
import { ROLLOUT_PHASES } from './metrics.js';
import { describeEta, phaseOf, planInput, progressAnnotations } from './view.js';
import type { CaptureInfo } from '../ticdc/types.js';
import { ensurePodDrain } from '../drain/pod-drains.js';
import { SettingsError, resolveSettings, type OperatorDefaults } from '../drain/settings.js';
import type { TicdcClientPool } from '../drain/ticdc-clients.js';
import { MANAGED_LABEL, ROLLOUT_ANNOTATIONS, DRAIN_LABELS, EVENT_REASONS } from '../api/names.js';
import type { Pod, StatefulSet } from '../kube/objects.js';
import type { CaptureDrainCache } from '../drain/contract.js';
import type { EventSink } from '../kube/events.js';
import { objectRef } from '../kube/objects.js';

export interface ObjectCache<T> {
  get(namespace: string, name: string): T | undefined;
  list(namespace?: string): T[];
}

export interface RolloutReconcilerDeps {
  kube: KubeClient;
  statefulSets: ObjectCache<StatefulSet>;
  pods: ObjectCache<Pod>;
  drains: CaptureDrainCache;
  clients: Pick<TicdcClientPool, 'get'>;
  events: EventSink;
  metrics?: RolloutMetrics;
  defaults: OperatorDefaults;
  now?: () => number;
  fieldManager?: string;
}

/** Poll TiCDC this often while waiting on it (captures registering or leaving). */
export const TICDC_POLL_MS = 1000;
/** Safety net while a rollout is under way; informer events usually come first. */
const ACTIVE_POLL_MS = 5000;
const BLOCKED_POLL_MS = 30_000;
/** Rewrite the ETA annotation only when it moved by more than this. */
const ETA_SLACK_MS = 15_000;
/** A capture list read this recently stands for a burst of events whatever the reconcile did next. */
export const CAPTURES_BURST_MS = 150;
/**
 * Once a wait's end is known to lie in a learned interval, look at its middle and then at its end;
 * past the end (TiCDC slower than ever seen), look this often through a short window, then at the
 * plain pace. A departure is followed by TiCDC's clear handshake (1-5 s during which it answers 1
 * to any other drain, ticdc-api.md §4.3), so seeing it sooner than this gains the next drain nothing.
 */
export const CAPTURE_FAST_POLL_MS = 400;
export const CAPTURE_WINDOW_MS = 1200;

/**
 * What was learned of one kind of wait (ms from its start): its end lies after `lo` (a list still
 * showed it on) and by `hi` (a list showed it over).
 */
export interface LearnedWait {
  lo: number;
  hi: number;
}

/**
 * Folds an observation `[lo, hi]` into what was learned (pure). TiCDC's timings repeat (a stopped
 * capture's session expiry, a new capture's registration), so consistent observations are
 * intersected: each look in the middle halves the interval, and the looks get both fewer and
 * closer to the moment. An observation outside it (the timing moved) starts over from itself.
 */
export function learnWait(prev: LearnedWait | undefined, lo: number, hi: number): LearnedWait {
  if (!prev) return { lo, hi };
  const both = { lo: Math.max(prev.lo, lo), hi: Math.min(prev.hi, hi) };
  return both.lo <= both.hi ? both : { lo, hi };
}

/** What the rollout waits for in TiCDC's capture list, and since when (ms). */
export interface CaptureWait {
  kind: 'CaptureDeparted' | 'CaptureRegistered';
  /** The capture that must leave (departure), or the pod whose capture must appear (registration). */
  subject: string;
  /** Departure: the drain's release; registration: the pod became Ready. */
  since: number;
}

/**
 * When to read TiCDC's capture list again while the rollout waits on it (pure). A released
 * capture leaves the list some time after its pod's SIGTERM, and a replacement registers some time
 * after its pod is Ready (TiCDC's own timings); once one of each was seen for this StatefulSet, the
 * next is looked for in the middle of the learned interval, then at its end (`stillOnAt`: the last
 * list that showed this wait on), then fast through a short window, then at the plain pace.
 */
export function captureWaitDelay(opts: {
  now: number;
  wait?: CaptureWait;
  learned?: LearnedWait;
  stillOnAt?: number;
}): number {
  const { now, wait, learned } = opts;
  if (!wait || !learned) return TICDC_POLL_MS;
  const lastOn = opts.stillOnAt ?? wait.since;
  const mid = wait.since + (learned.lo + learned.hi) / 2;
  const end = wait.since + learned.hi;
  const next = [mid, end].find((t) => lastOn < t && now < t);
  if (next !== undefined) return Math.min(TICDC_POLL_MS * 15, Math.max(10, Math.round(next - now)));
  if (now < end + CAPTURE_WINDOW_MS) return CAPTURE_FAST_POLL_MS;
  return TICDC_POLL_MS;
}

/** `{ [key]: value }`, or nothing when the value is undefined (exactOptionalPropertyTypes). */
function defined<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;
}

/**
 * Planned without a capture list, the step needs one: the health gate before a drain or a scale-in
 * (and the waits on TiCDC it leads to) asks for it. Every other step is decided on Kubernetes alone.
 */
function needsCaptures(p: Plan): boolean {
  return p.step.type === 'Wait' && p.step.reason === 'Captures';
}

function sameStep(a: Plan, b: Plan): boolean {
  return JSON.stringify(a.step) === JSON.stringify(b.step) && !a.blocked === !b.blocked;
}

export class RolloutReconciler {
  private readonly now: () => number;
  /**
   * Per StatefulSet: the last capture list read from TiCDC, when, and until when it stands for
   * "nothing changed" (the next look the rollout asked for): events in between reuse it.
   */
  private readonly lists = new Map<string, { at: number; validUntil: number; captures: CaptureInfo[] }>();
  /** Per StatefulSet: the capture wait under way, and per kind the interval its end was learned to lie in. */
  private readonly learned = new Map<
    string,
    {
      waiting?: CaptureWait;
      /** When a capture list last showed the wait still on (a lower bound of its end). */
      stillOnAt?: number;
      intervals: Partial<Record<CaptureWait['kind'], LearnedWait>>;
    }
  >();

  constructor(private readonly deps: RolloutReconcilerDeps) {
    this.now = deps.now ?? Date.now;
  }

  reconcile = async (key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult | void> => {
    const ns = key.namespace!;
    const sts = this.deps.statefulSets.get(ns, key.name);
    if (!sts || sts.metadata.labels?.[MANAGED_LABEL] !== 'true' || sts.metadata.deletionTimestamp) {
      this.forget(ns, key.name);
      this.lists.delete(`${ns}/${key.name}`);
      this.learned.delete(`${ns}/${key.name}`);
      return;
    }
    const pods = this.deps.pods.list(ns);
    const drains = this.deps.drains.list(ns);
    let input = planInput({ now: this.now(), statefulSet: sts, pods, drains });
    let p = plan(input);
    // Up to date (or misconfigured): no need to ask TiCDC anything.
    if (p.mode === 'Idle') this.lists.delete(`${ns}/${key.name}`);
    else if (needsCaptures(p)) {
      const captures = await this.captures(sts, ctx.log);
      input = planInput({ now: this.now(), statefulSet: sts, pods, drains, ...captures });
      p = plan(input);
    } else {
      // Decided on Kubernetes alone (waiting on a drain or pods, releasing a drained pod, holding
      // the partition): TiCDC's answer changes nothing now. The last list read, if the step is the
      // same on it, keeps the queue and ETA shown as they were.
      const last = this.lists.get(`${ns}/${key.name}`);
      const withLast =
        last && planInput({ now: this.now(), statefulSet: sts, pods, drains, captures: last.captures });
      const q = withLast && plan(withLast);
      if (withLast && q && sameStep(q, p)) [input, p] = [withLast, q];
    }
    const waited = this.trackCaptureWait(`${ns}/${key.name}`, p, input);

    let acted: boolean;
    ctx.signal.throwIfAborted(); // the TiCDC answers may have come after the term ended
    try {
      acted = await this.act(sts, p, input, ctx.log);
    } catch (err) {
      // A failed test-and-set means our view was stale: look again soon, not with error backoff.
      if (err instanceof KubeApiError && (err.status === 422 || err.status === 409)) {
        ctx.log.debug({ err: err.message }, 'Rollout step raced with another writer; re-planning');
        return { requeueAfterMs: 500 };
      }
      throw err;
    }
    await this.report(sts, p, acted);
    ctx.log.debug(
      { step: p.step, mode: p.mode, blocked: p.blocked?.reason, message: p.message },
      'Planned rollout',
    );

    if (p.mode === 'Idle' && !p.blocked) return acted ? { requeueAfterMs: 1000 } : undefined;
    if (p.blocked) return { requeueAfterMs: BLOCKED_POLL_MS };
    if (acted) return { requeueAfterMs: 1000 };
    const ticdcWait =
      p.step.type === 'Wait' && ['Captures', 'CaptureRegistered', 'CaptureDeparted'].includes(p.step.reason);
    if (!ticdcWait) return { requeueAfterMs: ACTIVE_POLL_MS };
    const delay = captureWaitDelay({ now: this.now(), ...waited });
    // Until that look, the list read now stands: pod and drain events in between reuse it.
    const list = this.lists.get(`${ns}/${key.name}`);
    if (list) list.validUntil = Math.min(list.at + TICDC_POLL_MS, this.now() + delay - 10);
    return { requeueAfterMs: delay };
  };

  /**
   * Learns TiCDC's timings for this StatefulSet: how long a released capture takes to leave the
   * list, and a Ready replacement's capture to appear in it. The wait under way is remembered, with
   * the last list that still showed it; when a fresh list shows it over, the interval between the
   * two is an observation. A failed read changes nothing: the wait keeps its schedule.
   */
  private trackCaptureWait(
    key: string,
    p: Plan,
    input: PlanInput,
  ): { wait?: CaptureWait; learned?: LearnedWait; stillOnAt?: number } {
    const l = this.learned.get(key) ?? { intervals: {} };
    this.learned.set(key, l);
    const w = l.waiting;
    if (!input.captures && input.capturesError && w)
      return { wait: w, ...defined('learned', l.intervals[w.kind]), ...defined('stillOnAt', l.stillOnAt) };
    const listAt = this.lists.get(key)?.at ?? this.now();
    const wait = this.captureWaitOf(p, input);
    // The plan, on a capture list, no longer waits for this: the capture left, or registered.
    const same = !!w && !!wait && wait.kind === w.kind && wait.subject === w.subject;
    if (w && input.captures && !same) {
      const lo = (l.stillOnAt ?? w.since) - w.since;
      const hi = listAt - w.since;
      if (hi > 0) l.intervals[w.kind] = learnWait(l.intervals[w.kind], lo, hi);
      delete l.waiting;
      delete l.stillOnAt;
    }
    if (!wait) return {};
    if (!same) delete l.stillOnAt;
    l.waiting = wait;
    if (input.captures) l.stillOnAt = listAt;
    return { wait, ...defined('learned', l.intervals[wait.kind]), ...defined('stillOnAt', l.stillOnAt) };
  }

  private captureWaitOf(p: Plan, input: PlanInput): CaptureWait | undefined {
    if (p.step.type !== 'Wait' || !p.step.pod) return undefined;
    const podName = p.step.pod;
    if (p.step.reason === 'CaptureDeparted') {
      const d = input.drains.find(
        (x) => x.podName === podName && x.state === 'Released' && x.releaseTime !== undefined && x.captureId,
      );
      return d ? { kind: 'CaptureDeparted', subject: d.captureId!, since: d.releaseTime! } : undefined;
    }
    if (p.step.reason === 'CaptureRegistered') {
      const pod = input.pods.find((x) => x.name === podName && x.ready);
      return pod ? { kind: 'CaptureRegistered', subject: podName, since: pod.since } : undefined;
    }
    return undefined;
  }

  private async captures(
    sts: StatefulSet,
    log: Logger,
  ): Promise<{ captures: CaptureInfo[] } | { capturesError: string }> {
    try {
      const settings = resolveSettings({
        namespace: sts.metadata.namespace!,
        spec: {},
        statefulSet: sts,
        defaults: this.deps.defaults,
      });
      const key = `${sts.metadata.namespace}/${sts.metadata.name}`;
      const last = this.lists.get(key);
      if (last && this.now() < last.validUntil) return { captures: last.captures };
      const pooled = await this.deps.clients.get(sts.metadata.namespace!, settings.cluster);
      // Read on the rollout's own schedule: a failed read is looked at again then, without the
      // client's quick retries (which only multiply requests under TiCDC faults).
      const client = pooled.withoutRetries?.() ?? pooled;
      const at = this.now();
      const captures = await client.listCaptures();
      log.debug({ captures: captures.length }, 'Read the TiCDC capture list');
      // Valid for a burst of events until the reconcile says when it looks next (reconcile()).
      this.lists.set(key, { at, validUntil: at + CAPTURES_BURST_MS, captures });
      return { captures };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (!(err instanceof SettingsError))
        log.info({ err: message }, 'Could not read the TiCDC capture list');
      return { capturesError: message };
    }
  }

  /** Performs the plan's step; true when it changed something. */
  private async act(sts: StatefulSet, p: Plan, input: PlanInput, log: Logger): Promise<boolean> {
    const ns = sts.metadata.namespace!;
    const name = sts.metadata.name!;
    const step = p.step;
    const m = this.deps.metrics;
    switch (step.type) {
      case 'Drain': {
        // Caches lag our own writes: re-plan on fresh reads before starting a drain, so a second
        // pod is never taken out because the first drain was not in the cache yet.
        const [livePods, liveDrains] = await Promise.all([
          this.deps.kube.list<Pod>(Resources.pods, {
            namespace: ns,
            labelSelector: `${MANAGED_LABEL}=true`,
          }),
          this.deps.kube.list<CaptureDrainObject>(Resources.capturedrains, {
            namespace: ns,
            labelSelector: `${DRAIN_LABELS.statefulSet}=${name}`,
          }),
        ]);
        const fresh = plan({
          ...planInput({ now: this.now(), statefulSet: sts, pods: livePods.items, drains: liveDrains.items }),
          ...(input.captures ? { captures: input.captures } : {}),
        });
        const again = fresh.step;
        if (again.type !== 'Drain' || again.uid !== step.uid) {
          log.info({ planned: step, fresh: again }, 'Fresh reads changed the plan; not starting the drain');
          return false;
        }
        const pod = livePods.items.find((x) => x.metadata.uid === step.uid)!;
        const { drain, created } = await ensurePodDrain(this.deps.kube, {
          pod,
          statefulSet: sts,
          trigger: step.trigger,
          podAction: step.podAction,
        });
        if (created) {
          m?.stepsTotal.inc({ step: 'Drain' });
          const n = p.queue.findIndex((q) => q.pod === step.pod);
          const why = step.trigger === 'ScaleIn' ? 'before the scale-in removes it' : 'before its update';
          this.event(
            sts,
            'Normal',
            EVENT_REASONS.drainStarted,
            'Drain',
            `Draining ${step.pod} ${why} (CaptureDrain ${drain.metadata.name}; ${n + 1} of ${p.queue.length}${
              p.queue[n]?.coordinator ? ', the coordinator' : ''
            }); rollout ETA ${describeEta(p.etaMs)}`,
          );
          log.info({ pod: step.pod, drain: drain.metadata.name, trigger: step.trigger }, 'Started drain');
        }
        return created;
      }
      case 'SetPartition': {
        const rolling = sts.spec?.updateStrategy?.rollingUpdate;
        const ops =
          rolling?.partition === undefined
            ? [
                { op: 'test', path: '/spec/updateStrategy/type', value: 'RollingUpdate' },
                {
                  op: 'add',
                  path: '/spec/updateStrategy/rollingUpdate',
                  value: { ...(rolling ?? {}), partition: step.to },
                },
              ]
            : [
                { op: 'test', path: '/spec/updateStrategy/rollingUpdate/partition', value: step.from },
                { op: 'replace', path: '/spec/updateStrategy/rollingUpdate/partition', value: step.to },
              ];
        await this.patchSts(sts, ops);
        m?.stepsTotal.inc({ step: 'SetPartition' });
        const lowered = step.to < step.from;
        this.event(
          sts,
          'Normal',
          lowered ? EVENT_REASONS.partitionLowered : EVENT_REASONS.partitionRaised,
          'SetPartition',
          `Partition ${step.from} -> ${step.to}: ${p.message}`,
        );
        log.info({ from: step.from, to: step.to }, 'Set partition');
        return true;
      }
      case 'SetReplicas': {
        await this.patchSts(sts, [
          { op: 'test', path: '/spec/replicas', value: step.from },
          { op: 'replace', path: '/spec/replicas', value: step.to },
        ]);
        m?.stepsTotal.inc({ step: 'SetReplicas' });
        this.event(
          sts,
          'Normal',
          EVENT_REASONS.replicasLowered,
          'SetReplicas',
          `Replicas ${step.from} -> ${step.to}: ${name}-${step.to} is drained; rollout ETA ${describeEta(p.etaMs)}`,
        );
        log.info({ from: step.from, to: step.to }, 'Lowered replicas');
        return true;
      }
      case 'DeletePod': {
        try {
          await this.deps.kube.delete(Resources.pods, ns, step.pod, { uid: step.uid });
        } catch (err) {
          // 409: that incarnation is already gone.
          if (!(err instanceof KubeApiError && err.isConflict)) throw err;
        }
        m?.stepsTotal.inc({ step: 'DeletePod' });
        this.event(sts, 'Normal', EVENT_REASONS.podDeleted, 'DeletePod', p.message);
        log.info({ pod: step.pod, uid: step.uid }, 'Deleted drained pod');
        return true;
      }
      default:
        return false;
    }
  }

  private async patchSts(sts: StatefulSet, ops: unknown[]): Promise<void> {
    await this.deps.kube.patch(
      Resources.statefulsets,
      sts.metadata.namespace,
      sts.metadata.name!,
      ops,
      'json',
      {
        ...(this.deps.fieldManager ? { fieldManager: this.deps.fieldManager } : {}),
      },
    );
  }

  /** Progress annotations (written only when they change), events on transitions, metrics. */
  private async report(sts: StatefulSet, p: Plan, acted: boolean): Promise<void> {
    const now = this.now();
    const prev = sts.metadata.annotations ?? {};
    const next = progressAnnotations(p, now, prev);
    const changed: Record<string, string | null> = {};
    for (const [k, v] of Object.entries(next)) {
      const old = prev[k] ?? null;
      if (old === v) continue;
      if (
        k === ROLLOUT_ANNOTATIONS.eta &&
        old &&
        v &&
        Math.abs(Date.parse(old) - Date.parse(v)) < ETA_SLACK_MS
      )
        continue;
      changed[k] = v;
    }
    const phase = phaseOf(p);
    const prevPhase = prev[ROLLOUT_ANNOTATIONS.phase] ?? 'Idle';
    if (Object.keys(changed).length) {
      try {
        await this.deps.kube.patch(
          Resources.statefulsets,
          sts.metadata.namespace,
          sts.metadata.name!,
          { metadata: { annotations: changed } },
          'merge',
          { ...(this.deps.fieldManager ? { fieldManager: this.deps.fieldManager } : {}) },
        );
      } catch (err) {
        // Progress reporting never fails the step that was already taken.
        if (!acted) throw err;
      }
      if (phase === 'Blocked' && (prevPhase !== 'Blocked' || changed[ROLLOUT_ANNOTATIONS.message]))
        this.event(sts, 'Warning', EVENT_REASONS.rolloutBlocked, 'Wait', p.message);
      else if (phase === 'Idle' && prevPhase !== 'Idle' && prev[ROLLOUT_ANNOTATIONS.started]) {
        const took = now - (Date.parse(prev[ROLLOUT_ANNOTATIONS.started] ?? '') || now);
        this.deps.metrics?.duration.observe(took / 1000);
        this.event(
          sts,
          'Normal',
          EVENT_REASONS.rolloutComplete,
          'Wait',
          `Every pod was drained before it went; ${sts.metadata.name} has ${sts.spec?.replicas ?? 1} up-to-date pods (took ${formatDuration(took)})`,
        );
      } else if (phase !== 'Idle' && prevPhase === 'Idle')
        this.event(
          sts,
          'Normal',
          phase === 'ScalingIn' ? EVENT_REASONS.scaleInStarted : EVENT_REASONS.rolloutStarted,
          'Plan',
          `${p.queue.length} pod(s) to go (${p.queue.map((q) => q.pod).join(', ')}); ETA ${describeEta(p.etaMs)}${
            p.notes.length ? `. ${p.notes.join('. ')}` : ''
          }`,
        );
    }
    this.record(sts, p);
  }

  private record(sts: StatefulSet, p: Plan) {
    const m = this.deps.metrics;
    if (!m) return;
    const labels = { namespace: sts.metadata.namespace!, statefulset: sts.metadata.name! };
    const phase = phaseOf(p);
    for (const ph of ROLLOUT_PHASES) m.phase.set({ ...labels, phase: ph }, ph === phase ? 1 : 0);
    m.podsRemaining.set(labels, p.queue.length);
    if (p.etaMs === undefined) m.etaSeconds.remove(labels);
    else m.etaSeconds.set(labels, p.etaMs / 1000);
  }

  private forget(namespace: string, name: string) {
    const m = this.deps.metrics;
    if (!m) return;
    const labels = { namespace, statefulset: name };
    for (const ph of ROLLOUT_PHASES) m.phase.remove({ ...labels, phase: ph });
    m.podsRemaining.remove(labels);
    m.etaSeconds.remove(labels);
  }

  private event(sts: StatefulSet, type: 'Normal' | 'Warning', reason: string, action: string, note: string) {
    this.deps.events.event(objectRef(sts, 'apps/v1', 'StatefulSet'), type, reason, action, note);
  }
}

/** Keys of the StatefulSets a pod or drain event concerns. */
export function statefulSetKeysOf(obj: {
  metadata: {
    namespace?: string;
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; controller?: boolean }[];
  };
}): ObjectKey[] {
  const ns = obj.metadata.namespace;
  if (!ns) return [];
  const fromLabel = obj.metadata.labels?.[DRAIN_LABELS.statefulSet];
  const owner = obj.metadata.ownerReferences?.find((r) => r.kind === 'StatefulSet')?.name;
  const name = fromLabel ?? owner;
  return name ? [{ namespace: ns, name }] : [];
}
