// CaptureDrains the operator creates for a pod (rollouts, scale-in, the termination gate, node
// cordon). One pod incarnation has exactly one such drain: its name derives from the pod's name
// and UID, so whichever controller comes first creates it and the others reuse it.
import { createHash } from 'node:crypto';
import { API_VERSION, KIND, type PodAction, type Trigger } from '../api/capturedrain.js';
import type { CaptureDrainObject } from './controller.js';
import { KubeApiError, Resources, type KubeClient, type KubeObject } from '../kube/port.js';

export const DRAIN_LABELS = {
  /** Name of the pod the drain is for. */
  pod: 'drain.ticdc.io/pod',
  /** UID of the pod incarnation the drain is for. */
  podUid: 'drain.ticdc.io/pod-uid',
  /** The StatefulSet that owns the pod. */
  statefulSet: 'drain.ticdc.io/statefulset',
  /** Which controller created it (the spec's trigger, as a label for selectors). */
  trigger: 'drain.ticdc.io/trigger',
} as const;

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

/**
 * The drain for this pod incarnation: created, or the existing one (whatever its trigger).
 * `created` tells the caller whether it started the drain (for events and metrics).
 */
export async function ensurePodDrain(
  kube: KubeClient,
  req: PodDrainRequest,
  opts: { dryRun?: boolean } = {},
): Promise<{ drain: CaptureDrainObject; created: boolean }> {
  const manifest = podDrainManifest(req);
  const ns = manifest.metadata.namespace;
  const existing = await kube.get<CaptureDrainObject>(Resources.capturedrains, ns, manifest.metadata.name);
  if (existing) return { drain: existing, created: false };
  try {
    const drain = await kube.create(Resources.capturedrains, manifest, opts);
    return { drain, created: true };
  } catch (err) {
    if (!(err instanceof KubeApiError) || err.status !== 409) throw err;
    const raced = await kube.get<CaptureDrainObject>(Resources.capturedrains, ns, manifest.metadata.name);
    if (!raced) throw err;
    return { drain: raced, created: false };
  }
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
export function podDrainState(drain: CaptureDrainObject | undefined, podUid: string): PodDrainState {
  if (!drain) return 'None';
  const s = drain.status;
  if (drain.metadata.labels?.[DRAIN_LABELS.podUid] && drain.metadata.labels[DRAIN_LABELS.podUid] !== podUid)
    return 'None';
  if (s?.podUID && s.podUID !== podUid) return 'None';
  if (s?.releaseTime && (s.phase === 'Releasing' || s.phase === 'Completed')) return 'Released';
  if (s?.phase === 'Failed' || s?.phase === 'Completed') return 'Held';
  return 'InProgress';
}
