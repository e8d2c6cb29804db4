// Kubernetes objects -> planner input, and plan -> progress annotations. Pure: shared by the
// rollout controller and `capture-drain plan`.
import {
  formatDuration,
  parseDuration,
  type PodAction,
  type Trigger,
  type CaptureDrainObject,
} from '../api/capturedrain.js';
import { DEFAULT_CAPTURE_PORT } from '../drain/settings.js';
import { podAddressCandidates } from '../drain/address.js';
import type { CaptureInfo } from '../ticdc/types.js';
import {
  DEFAULT_POD_READY_TIMEOUT_MS,
  type DrainView,
  type Plan,
  type PlanInput,
  type PodView,
  type StatefulSetView,
} from './planner.js';
import {
  DRAIN_LABELS,
  SETTINGS_ANNOTATIONS,
  MANAGED_LABEL,
  SKIP_ANNOTATION,
  ROLLOUT_ANNOTATIONS,
} from '../api/names.js';
import { podDrainState, podRestarts } from '../drain/contract.js';
import { ownerStatefulSet, podOrdinal, readyCondition, type Pod, type StatefulSet } from '../kube/objects.js';

/** Values of the drain.ticdc.io/rollout-phase annotation. */
export const ROLLOUT_PHASES = ['Idle', 'RollingUpdate', 'ScalingIn', 'Blocked'] as const;
export type RolloutPhase = (typeof ROLLOUT_PHASES)[number];

export function statefulSetView(sts: StatefulSet): StatefulSetView {
  const ann = sts.metadata.annotations ?? {};
  const errors: string[] = [];
  const rawDesired = ann[ROLLOUT_ANNOTATIONS.replicas];
  const desired =
    rawDesired === undefined
      ? undefined
      : /^[0-9]+$/.test(rawDesired.trim())
        ? Number(rawDesired)
        : rawDesired;
  let podReadyTimeoutMs = DEFAULT_POD_READY_TIMEOUT_MS;
  const rawTimeout = ann[ROLLOUT_ANNOTATIONS.podReadyTimeout];
  if (rawTimeout !== undefined) {
    try {
      podReadyTimeoutMs = parseDuration(rawTimeout);
      if (podReadyTimeoutMs <= 0) throw new Error('must be positive');
    } catch (err) {
      errors.push(`annotation ${ROLLOUT_ANNOTATIONS.podReadyTimeout}: ${(err as Error).message}`);
    }
  }
  const strategy = sts.spec?.updateStrategy?.type === 'OnDelete' ? 'OnDelete' : 'RollingUpdate';
  const partition = sts.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
  // Our own rollout lowers the partition to 0 for ordinal 0; it is still ours until it goes Idle.
  const phase = ann[ROLLOUT_ANNOTATIONS.phase];
  const partitionHeld = partition > 0 || (phase !== undefined && phase !== 'Idle');
  return {
    name: sts.metadata.name!,
    generation: sts.metadata.generation ?? 0,
    observedGeneration: sts.status?.observedGeneration ?? 0,
    replicas: sts.spec?.replicas ?? 1,
    ...(desired !== undefined ? { desiredReplicas: desired } : {}),
    strategy,
    partition,
    partitionHeld,
    updateRevision: sts.status?.updateRevision ?? '',
    templateManaged: sts.spec?.template?.metadata?.labels?.[MANAGED_LABEL] === 'true',
    podReadyTimeoutMs,
    ...(errors.length ? { configError: errors.join('; ') } : {}),
  };
}

/** Pods the StatefulSet controls (owner UID), with their ordinals. */
export function podViews(sts: StatefulSet, pods: Pod[]): PodView[] {
  const name = sts.metadata.name!;
  const ns = sts.metadata.namespace!;
  const portText = sts.metadata.annotations?.[SETTINGS_ANNOTATIONS.capturePort];
  const port = Number(portText ?? DEFAULT_CAPTURE_PORT) || DEFAULT_CAPTURE_PORT;
  const out: PodView[] = [];
  for (const p of pods) {
    const owner = ownerStatefulSet(p);
    const owned = owner?.name === name && (!sts.metadata.uid || owner.uid === sts.metadata.uid);
    const ordinal = podOrdinal(p.metadata.name ?? '', name);
    if (!owned || ordinal === undefined || !p.metadata.uid) continue;
    const ready = readyCondition(p);
    const isReady = ready?.status === 'True';
    const since = Date.parse(ready?.lastTransitionTime ?? p.metadata.creationTimestamp ?? '') || 0;
    out.push({
      name: p.metadata.name!,
      ordinal,
      uid: p.metadata.uid,
      ...(p.metadata.labels?.['controller-revision-hash']
        ? { revision: p.metadata.labels['controller-revision-hash'] }
        : {}),
      ready: isReady,
      since,
      terminating: !!p.metadata.deletionTimestamp,
      skip: p.metadata.annotations?.[SKIP_ANNOTATION] === 'true',
      addresses: podAddressCandidates({
        podName: p.metadata.name!,
        namespace: ns,
        ...(sts.spec?.serviceName ? { serviceName: sts.spec.serviceName } : {}),
        ...(p.status?.podIP ? { podIP: p.status.podIP } : {}),
        port,
      }),
    });
  }
  return out;
}

const time = (t: string | undefined) => (t ? Date.parse(t) || undefined : undefined);

/**
 * The operator-created drains of this StatefulSet's pods. With the pods, a release voided by a
 * container restart since the drain (a new capture at the same address) reads as InProgress.
 */
export function drainViews(stsName: string, drains: CaptureDrainObject[], pods: Pod[] = []): DrainView[] {
  const restartsByUid = new Map<string, number>();
  for (const p of pods) {
    const n = podRestarts(p);
    if (p.metadata.uid && n !== undefined) restartsByUid.set(p.metadata.uid, n);
  }
  const out: DrainView[] = [];
  for (const d of drains) {
    const labels = d.metadata.labels ?? {};
    if (labels[DRAIN_LABELS.statefulSet] !== stsName || d.metadata.deletionTimestamp) continue;
    const podUid = labels[DRAIN_LABELS.podUid] ?? d.status?.podUID;
    const podName = labels[DRAIN_LABELS.pod] ?? d.spec.podName;
    if (!podUid || !podName) continue;
    const s = d.status ?? {};
    const startTime = time(s.startTime) ?? time(d.metadata.creationTimestamp);
    const releaseTime = time(s.releaseTime);
    const eta = time(s.estimatedCompletionTime);
    out.push({
      name: d.metadata.name,
      podName,
      podUid,
      state: podDrainState(d, podUid, restartsByUid.get(podUid)),
      podAction: (d.spec.podAction ?? 'None') as PodAction,
      ...(d.spec.trigger ? { trigger: d.spec.trigger as Trigger } : {}),
      ...(s.captureID ? { captureId: s.captureID } : {}),
      ...(startTime !== undefined ? { startTime } : {}),
      ...(releaseTime !== undefined ? { releaseTime } : {}),
      ...(eta !== undefined ? { estimatedCompletionTime: eta } : {}),
      ...(s.reason ? { reason: s.reason } : {}),
      ...(s.message ? { message: s.message } : {}),
    });
  }
  return out;
}

export function planInput(opts: {
  now: number;
  statefulSet: StatefulSet;
  pods: Pod[];
  drains: CaptureDrainObject[];
  captures?: CaptureInfo[];
  capturesError?: string;
}): PlanInput {
  return {
    now: opts.now,
    statefulSet: statefulSetView(opts.statefulSet),
    pods: podViews(opts.statefulSet, opts.pods),
    drains: drainViews(opts.statefulSet.metadata.name!, opts.drains, opts.pods),
    ...(opts.captures
      ? { captures: opts.captures.map((c) => ({ id: c.id, address: c.address, isOwner: c.isOwner })) }
      : {}),
    ...(opts.capturesError ? { capturesError: opts.capturesError } : {}),
  };
}

export function phaseOf(p: Plan): RolloutPhase {
  if (p.blocked) return 'Blocked';
  return p.mode === 'ScaleIn' ? 'ScalingIn' : p.mode === 'RollingUpdate' ? 'RollingUpdate' : 'Idle';
}

/** The progress annotations for a plan; `started` carries over while a rollout goes on. */
export function progressAnnotations(
  p: Plan,
  now: number,
  previous: Record<string, string> = {},
): Record<string, string | null> {
  const phase = phaseOf(p);
  const idle = phase === 'Idle';
  const active = p.queue.find((q) => q.active)?.pod ?? (p.step.type === 'Wait' ? p.step.pod : undefined);
  const wasIdle = (previous[ROLLOUT_ANNOTATIONS.phase] ?? 'Idle') === 'Idle';
  return {
    [ROLLOUT_ANNOTATIONS.phase]: phase,
    [ROLLOUT_ANNOTATIONS.message]: [p.message, ...p.notes].join('. '),
    [ROLLOUT_ANNOTATIONS.pod]: idle ? null : (active ?? null),
    [ROLLOUT_ANNOTATIONS.remaining]: idle ? null : p.queue.map((q) => q.pod).join(',') || null,
    [ROLLOUT_ANNOTATIONS.eta]:
      idle || p.etaMs === undefined ? null : new Date(now + p.etaMs).toISOString().replace(/\.\d+Z$/, 'Z'),
    [ROLLOUT_ANNOTATIONS.started]: idle
      ? null
      : wasIdle
        ? new Date(now).toISOString().replace(/\.\d+Z$/, 'Z')
        : (previous[ROLLOUT_ANNOTATIONS.started] ?? new Date(now).toISOString().replace(/\.\d+Z$/, 'Z')),
  };
}

export function describeEta(etaMs: number | undefined): string {
  return etaMs === undefined ? 'unknown until a drain reports its rate' : formatDuration(etaMs);
}
