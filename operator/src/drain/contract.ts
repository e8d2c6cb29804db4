// The pod-drain contract: what every controller (drain, rollout, cordon, gate) agrees a CaptureDrain
// means. One pod incarnation has exactly one operator-created drain: its name derives from the pod's
// name and UID, so whichever controller comes first creates it and the others reuse it. Whether a
// drain is over (isTerminal), holds its TiCDC cluster's slot (holdsSlot) and lets its pod go
// (podDrainState) is answered here, and only here. Pure: no I/O.
import { createHash } from 'node:crypto';
import {
  API_VERSION,
  KIND,
  type CaptureDrainObject,
  type CaptureDrainStatus,
  type Phase,
  type PodAction,
  type Trigger,
} from '../api/capturedrain.js';
import { DRAIN_LABELS } from '../api/names.js';
import type { KubeObject } from '../kube/port.js';

/** Read access to the CaptureDrain informer's cache. */
export interface CaptureDrainCache {
  get(namespace: string, name: string): CaptureDrainObject | undefined;
  list(namespace?: string): CaptureDrainObject[];
}

/** Completed or Failed: the drain does nothing more. */
/**
 * The operator-created drains of one StatefulSet that its bounded history drops: finished ones
 * beyond the newest `keep`, and only those whose pod incarnation is gone (a finished drain of a pod
 * that still runs carries its release, which the gate and the rollout read). Hand-made drains
 * (no trigger label) are never dropped.
 */
export function historyToPrune(
  drains: readonly CaptureDrainObject[],
  statefulSet: string,
  keep: number,
  podUidNow: (podName: string) => string | undefined,
): CaptureDrainObject[] {
  const finished = drains
    .filter(
      (d) =>
        d.metadata.labels?.[DRAIN_LABELS.statefulSet] === statefulSet &&
        !!d.metadata.labels?.[DRAIN_LABELS.trigger] &&
        d.metadata.labels[DRAIN_LABELS.trigger] !== 'Manual' &&
        !d.metadata.deletionTimestamp &&
        isTerminal(d.status?.phase),
    )
    .sort((a, b) => finishedAt(b).localeCompare(finishedAt(a)));
  return finished.slice(keep).filter((d) => {
    const pod = d.metadata.labels?.[DRAIN_LABELS.pod] ?? d.spec.podName;
    const uid = d.metadata.labels?.[DRAIN_LABELS.podUid] ?? d.status?.podUID;
    return !!pod && !!uid && podUidNow(pod) !== uid;
  });
}

const finishedAt = (d: CaptureDrainObject) => d.status?.completionTime ?? d.metadata.creationTimestamp ?? '';

export function isTerminal(phase: Phase | undefined): boolean {
  return phase === 'Completed' || phase === 'Failed';
}

/** A drain holds its TiCDC cluster's slot from the moment it starts until it ends. */
export function holdsSlot(status: CaptureDrainStatus): boolean {
  return !!status.startTime && !isTerminal(status.phase);
}

/** `<pod>-<8 hex of the UID>`, within the 253-character name limit. */
export function podDrainName(podName: string, podUid: string): string {
  const suffix = createHash('sha256').update(podUid).digest('hex').slice(0, 8);
  return `${podName.slice(0, 253 - 9)}-${suffix}`;
}

export interface PodDrainRequest {
  pod: KubeObject;
  /** The owning StatefulSet; the drain is owned by it so it goes with the StatefulSet. */
  statefulSet?: KubeObject;
  trigger: Trigger;
  podAction: PodAction;
}

export function podDrainManifest(req: PodDrainRequest): CaptureDrainObject {
  const { pod, statefulSet } = req;
  const name = pod.metadata.name!;
  const uid = pod.metadata.uid!;
  const labels: Record<string, string> = {
    [DRAIN_LABELS.pod]: name,
    [DRAIN_LABELS.podUid]: uid,
    [DRAIN_LABELS.trigger]: req.trigger,
  };
  if (statefulSet) labels[DRAIN_LABELS.statefulSet] = statefulSet.metadata.name!;
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name: podDrainName(name, uid),
      namespace: pod.metadata.namespace!,
      labels,
      ...(statefulSet && {
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'StatefulSet',
            name: statefulSet.metadata.name!,
            uid: statefulSet.metadata.uid!,
            controller: false,
            blockOwnerDeletion: false,
          },
        ],
      }),
    },
    spec: { podName: name, podAction: req.podAction, trigger: req.trigger },
  } as CaptureDrainObject;
}

export type PodDrainState =
  /** No drain for this incarnation yet. */
  | 'None'
  /** Started, not finished: the pod must stay. */
  | 'InProgress'
  /** Drained (or given up under onTimeout Release): the pod may go. */
  | 'Released'
  /** Ended without releasing the pod (Hold, hard failure): a human decides. */
  | 'Held';

/**
 * Whether the drain lets this pod incarnation go. A drain for another incarnation (the pod was
 * recreated under the same name) says nothing about this one.
 */
export function podDrainState(
  drain: CaptureDrainObject | undefined,
  podUid: string,
  /** Container restarts of the pod now, when the caller has the pod (see podRestarts). */
  restarts?: number,
): PodDrainState {
  if (!drain) return 'None';
  const s = drain.status;
  if (drain.metadata.labels?.[DRAIN_LABELS.podUid] && drain.metadata.labels[DRAIN_LABELS.podUid] !== podUid)
    return 'None';
  if (s?.podUID && s.podUID !== podUid) return 'None';
  if (s?.releaseTime && (s.phase === 'Releasing' || s.phase === 'Completed')) {
    // The release is bound to the capture drained: a container restart since started a new capture
    // (new ID, maybe new work). The CaptureDrain controller reopens the drain; until then, not released.
    if (restarts !== undefined && s.podRestarts !== undefined && restarts > s.podRestarts)
      return 'InProgress';
    return 'Released';
  }
  if (s?.phase === 'Failed' || s?.phase === 'Completed') return 'Held';
  return 'InProgress';
}

/**
 * podDrainState for a pod object: its UID and its container restarts now, so a release voided by a
 * container restart since the drain reads as InProgress at once (gate, rollout, cordon alike).
 */
export function podDrainStateOf(
  drain: CaptureDrainObject | undefined,
  pod: { metadata: { uid?: string }; status?: unknown },
): PodDrainState {
  return podDrainState(drain, pod.metadata.uid ?? '', podRestarts(pod));
}

/** Released by the drain's status, but voided: the pod's container restarted since the drain. */
export function releaseVoidedByRestart(
  drain: CaptureDrainObject | undefined,
  pod: { metadata: { uid?: string }; status?: unknown },
): boolean {
  const s = drain?.status;
  if (!s?.releaseTime || (s.phase !== 'Releasing' && s.phase !== 'Completed')) return false;
  return (
    podDrainState(drain, pod.metadata.uid ?? '') === 'Released' && podDrainStateOf(drain, pod) !== 'Released'
  );
}

/** Sum of the container restart counts of a pod: a restart starts a new capture, with a new ID. */
export function podRestarts(pod: { status?: unknown } | undefined): number | undefined {
  const statuses = (pod?.status as { containerStatuses?: { restartCount?: number }[] } | undefined)
    ?.containerStatuses;
  if (!statuses) return undefined;
  return statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0);
}

/** A pod drain's standing, for choosing among several drains of one incarnation. */
const STATE_RANK: Record<PodDrainState, number> = { Released: 3, InProgress: 2, Held: 1, None: 0 };

/**
 * Every CaptureDrain of this pod incarnation, whatever its name: the operator's `<pod>-<hash>`
 * drains and drains a user created by hand (`spec.podName`). A drain bound to another incarnation
 * (pod-uid label or status.podUID) is not one of them, and neither is a hand-made drain that ended
 * before it ever started (refused settings, not a capture pod): it never touched TiCDC, and letting
 * it hold the pod would let anyone who may create a CaptureDrain block the pod's deletion.
 */
export function drainsOfPod(
  drains: readonly CaptureDrainObject[],
  podName: string,
  podUid: string,
): CaptureDrainObject[] {
  const own = podDrainName(podName, podUid);
  return drains.filter(
    (d) =>
      d.spec.podName === podName &&
      podDrainState(d, podUid) !== 'None' &&
      (d.metadata.name === own || !!d.status?.startTime || !isTerminal(d.status?.phase)),
  );
}

/**
 * The drain that speaks for this pod incarnation: one that released it wins (the capture is
 * drained, whoever asked), then one still running (no second drain is started beside it), then
 * one that ended holding the pod. Ties go to the operator's own `<pod>-<hash>` drain, then by name.
 */
export function podDrainOf(
  drains: readonly CaptureDrainObject[],
  podName: string,
  podUid: string,
): CaptureDrainObject | undefined {
  const own = podDrainName(podName, podUid);
  return drainsOfPod(drains, podName, podUid).sort((a, b) => {
    const rank = STATE_RANK[podDrainState(b, podUid)] - STATE_RANK[podDrainState(a, podUid)];
    if (rank) return rank;
    if (a.metadata.name === own) return -1;
    if (b.metadata.name === own) return 1;
    return a.metadata.name.localeCompare(b.metadata.name);
  })[0];
}

/**
 * How a finished drain left its capture in TiCDC: 'drained' (a manual drain that kept its pod) or
 * 'draining' (a failure after draining began). Either way TiCDC keeps its drain session on that
 * capture until it restarts, and every later drain of the cluster waits for it (§4.3, §9).
 */
export function capturesLeftInSession(
  spec: Pick<CaptureDrainObject['spec'], 'podAction' | 'trigger'>,
  status: CaptureDrainStatus | undefined,
): 'drained' | 'draining' | undefined {
  if (!status || !isTerminal(status.phase) || !status.captureID || !status.startTime) return undefined;
  if (
    status.phase === 'Completed' &&
    !!status.drainedTime &&
    spec.podAction !== 'Delete' &&
    (spec.trigger ?? 'Manual') === 'Manual'
  )
    return 'drained';
  if (status.phase === 'Failed' && status.history?.some((h) => h.phase === 'Draining')) return 'draining';
  return undefined;
}

/**
 * Pods whose capture a finished drain left in TiCDC's drain session and that still run the same
 * incarnation: the way out is restarting them. For `capture-drain plan` and the drain controller.
 */
export function keptDrainedCaptures(
  drains: readonly CaptureDrainObject[],
  pods: readonly { metadata: { name?: string; uid?: string; deletionTimestamp?: string } }[],
): { pod: string; drain: string; captureID: string; state: 'drained' | 'draining' }[] {
  const out: { pod: string; drain: string; captureID: string; state: 'drained' | 'draining' }[] = [];
  for (const d of drains) {
    const state = capturesLeftInSession(d.spec, d.status);
    const pod = pods.find((p) => p.metadata.name === d.spec.podName);
    if (!state || !pod || pod.metadata.deletionTimestamp || pod.metadata.uid !== d.status?.podUID) continue;
    out.push({ pod: pod.metadata.name!, drain: d.metadata.name, captureID: d.status!.captureID!, state });
  }
  return out.sort((a, b) => a.pod.localeCompare(b.pod));
}
