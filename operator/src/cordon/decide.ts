// Node cordon: which capture pods on a node to drain now, which queued cordon drains to cancel.
// Pure: the controller reads nodes, pods, StatefulSets and drains from caches and the API; this
// decides. The rules (docs/design.md, "Node cordon"):
// - A node is cordoned when spec.unschedulable is true or it carries the
//   node.kubernetes.io/unschedulable:NoSchedule taint (what the node lifecycle controller and
//   maintenance operators set).
// - Candidates: managed capture pods on the node that are not terminating, not annotated
//   drain.ticdc.io/skip: "true", owned by a live StatefulSet in a live namespace, and without a
//   drain for their incarnation yet (a drain from another trigger is reused, never doubled).
// - One at a time per StatefulSet: a new drain starts only when no other operator drain of the
//   StatefulSet is unfinished, none of its pods is held by a failed drain, and every other pod of
//   it exists and is Ready (so the previous pod's replacement is up before the next capture goes).
// - Pods with node-local volumes (a hostPath volume, or a claim bound to a local or hostPath
//   PersistentVolume or to one whose node affinity names a node) are left alone: their replacement
//   could only run on this cordoned node, so the cordon would leave the StatefulSet a pod short.
//   They are drained when something evicts them (kubectl drain, through the termination gate).
// - Uncordoned (or the pod opted out with the skip annotation): cordon drains that have not
//   started (no status.startTime) are cancelled; started ones run to the end, because a
//   half-drained capture is worse than a moved one.
import type { KubeObject } from '../kube/port.js';
import type { CaptureDrainObject } from '../api/capturedrain.js';
import { DRAIN_LABELS, SKIP_ANNOTATION, UNSCHEDULABLE_TAINT } from '../api/names.js';
import { podDrainState, podRestarts, isTerminal } from '../drain/contract.js';
import {
  isPodReady,
  ownerStatefulSet,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type Pod,
  type StatefulSet,
} from '../kube/objects.js';

interface Taint {
  key?: string;
  effect?: string;
}

export interface NodeLike extends KubeObject {
  spec?: { unschedulable?: boolean; taints?: Taint[] };
}

export function isCordoned(node: NodeLike | undefined): boolean {
  if (!node) return false;
  if (node.spec?.unschedulable === true) return true;
  return (node.spec?.taints ?? []).some((t) => t.key === UNSCHEDULABLE_TAINT && t.effect === 'NoSchedule');
}

export function isSkipped(pod: KubeObject): boolean {
  return pod.metadata.annotations?.[SKIP_ANNOTATION] === 'true';
}

export interface NodeInputs {
  nodeName: string;
  cordoned: boolean;
  /** Every managed capture pod the operator sees (those on other nodes count for readiness). */
  pods: Pod[];
  /** The StatefulSets of the pods on the node, by "namespace/name"; absent = not found. */
  statefulSets: ReadonlyMap<string, StatefulSet>;
  /** Namespaces being deleted. */
  terminatingNamespaces: ReadonlySet<string>;
  /** Every CaptureDrain the operator sees. */
  drains: CaptureDrainObject[];
  /** Pods on the node (by UID) with a node-local volume, and which one (nodeLocalVolume). */
  nodeLocal?: ReadonlyMap<string, string>;
}

/** Pods on a cordoned node the cordon controller leaves alone, and why. */
export const IGNORE_REASONS = [
  'Skipped',
  'NoStatefulSet',
  'StatefulSetDeleting',
  'NamespaceTerminating',
  /** A volume only this node has: the replacement could not schedule elsewhere. */
  'NodeLocalVolume',
] as const;
export type IgnoreReason = (typeof IGNORE_REASONS)[number];

/** Why a pod on a cordoned node waits for its drain. */
export const WAIT_REASONS = [
  /** Another drain of the StatefulSet has not finished. */
  'StatefulSetBusy',
  /** A pod of the StatefulSet is missing or not Ready (e.g. the previous pod's replacement). */
  'ReplicasNotReady',
  /** A drain of a pod of the StatefulSet failed without releasing it: a human decides. */
  'DrainHeld',
  /** Another candidate of the same StatefulSet goes first. */
  'Turn',
] as const;
export type WaitReason = (typeof WAIT_REASONS)[number];

export interface NodeDecision {
  cordoned: boolean;
  /** Pods to create a NodeCordon drain for now: at most one per StatefulSet. */
  drain: Pod[];
  /** Unstarted NodeCordon drains to delete. */
  cancel: CaptureDrainObject[];
  /** Pods whose incarnation already has an unfinished drain (any trigger). */
  draining: { pod: Pod; drain: CaptureDrainObject }[];
  /** Pods still on the node that wait for their turn. */
  waiting: { pod: Pod; reason: WaitReason; detail: string }[];
  /** Pods the cordon leaves alone. */
  ignored: { pod: Pod; reason: IgnoreReason; detail?: string }[];
  /** Pods whose drain released them (the drain's pod action or its trigger removes them). */
  released: Pod[];
  /** Started NodeCordon drains on an uncordoned node: they run to the end. */
  finishing: CaptureDrainObject[];
}

/** The drain for this pod incarnation, if any (matched by the labels ensurePodDrain sets). */
function drainFor(pod: KubeObject, drains: CaptureDrainObject[]): CaptureDrainObject | undefined {
  return drains.find(
    (d) =>
      d.metadata.namespace === pod.metadata.namespace &&
      d.metadata.labels?.[DRAIN_LABELS.podUid] === pod.metadata.uid &&
      !d.metadata.deletionTimestamp,
  );
}

const isCordonDrain = (d: CaptureDrainObject) => d.metadata.labels?.[DRAIN_LABELS.trigger] === 'NodeCordon';
const started = (d: CaptureDrainObject) => !!d.status?.startTime;

function ordinal(name: string | undefined): number {
  const m = /-(\d+)$/.exec(name ?? '');
  return m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
}

export function decideNode(input: NodeInputs): NodeDecision {
  const out: NodeDecision = {
    cordoned: input.cordoned,
    drain: [],
    cancel: [],
    draining: [],
    waiting: [],
    ignored: [],
    released: [],
    finishing: [],
  };
  const onNode = input.pods.filter(
    (p) => p.spec?.nodeName === input.nodeName && !p.metadata.deletionTimestamp,
  );

  if (!input.cordoned) {
    for (const pod of onNode) {
      const d = drainFor(pod, input.drains);
      if (!d || !isCordonDrain(d) || isTerminal(d.status?.phase)) continue;
      if (started(d)) out.finishing.push(d);
      else out.cancel.push(d);
    }
    return out;
  }

  // Candidates grouped by StatefulSet ("namespace/name").
  const candidates = new Map<string, Pod[]>();
  for (const pod of onNode) {
    const ns = pod.metadata.namespace ?? '';
    const d = drainFor(pod, input.drains);
    const ignore = ignoreReason(pod, input);
    if (ignore) {
      const detail = ignore === 'NodeLocalVolume' ? input.nodeLocal?.get(pod.metadata.uid ?? '') : undefined;
      out.ignored.push({ pod, reason: ignore, ...(detail ? { detail } : {}) });
      // Opting out after a cordon drain was queued withdraws it while it still can be.
      if (d && isCordonDrain(d) && !started(d) && !isTerminal(d.status?.phase)) out.cancel.push(d);
      continue;
    }
    const state = podDrainState(d, pod.metadata.uid ?? '', podRestarts(pod));
    if (d && state === 'InProgress') {
      out.draining.push({ pod, drain: d });
      continue;
    }
    if (state === 'Released') {
      out.released.push(pod);
      continue;
    }
    if (state === 'Held') {
      out.waiting.push({
        pod,
        reason: 'DrainHeld',
        detail: `drain ${ns}/${d!.metadata.name} ended ${d!.status?.phase} (${d!.status?.reason ?? 'no reason'}) without releasing the pod`,
      });
      continue;
    }
    const key = `${ns}/${ownerStatefulSet(pod)!.name}`;
    candidates.set(key, [...(candidates.get(key) ?? []), pod]);
  }

  for (const [key, pods] of candidates) {
    const sts = input.statefulSets.get(key)!;
    const block = stsBlock(sts, input);
    // Unready pods first: draining them costs the cluster nothing, and while they stay, their
    // siblings' readiness gate could never open.
    const ordered = [...pods].sort(
      (a, b) =>
        Number(isPodReady(a)) - Number(isPodReady(b)) || ordinal(a.metadata.name) - ordinal(b.metadata.name),
    );
    const [first, ...rest] = ordered;
    const notReady = block ? undefined : unreadySiblings(sts, first!, input.pods);
    if (block) out.waiting.push({ pod: first!, ...block });
    else if (notReady)
      out.waiting.push({
        pod: first!,
        reason: 'ReplicasNotReady',
        detail: `waiting until every other pod of StatefulSet ${key} is Ready (${notReady})`,
      });
    else out.drain.push(first!);
    for (const pod of rest)
      out.waiting.push({
        pod,
        reason: 'Turn',
        detail: `after ${first!.metadata.name}: one capture of StatefulSet ${key} at a time`,
      });
  }
  return out;
}

function ignoreReason(pod: Pod, input: NodeInputs): IgnoreReason | undefined {
  if (isSkipped(pod)) return 'Skipped';
  const owner = ownerStatefulSet(pod);
  if (!owner) return 'NoStatefulSet';
  const ns = pod.metadata.namespace ?? '';
  if (input.terminatingNamespaces.has(ns)) return 'NamespaceTerminating';
  const sts = input.statefulSets.get(`${ns}/${owner.name}`);
  // Missing, being deleted, or a newer StatefulSet of the same name (the pod is an orphan).
  if (!sts || sts.metadata.deletionTimestamp || sts.metadata.uid !== owner.uid) return 'StatefulSetDeleting';
  if (input.nodeLocal?.has(pod.metadata.uid ?? '')) return 'NodeLocalVolume';
  return undefined;
}

/** The claims a pod's volumes use: persistentVolumeClaim, and generic ephemeral (`<pod>-<volume>`). */
export function podClaimNames(pod: Pod): string[] {
  const out: string[] = [];
  for (const v of pod.spec?.volumes ?? []) {
    if (v.persistentVolumeClaim?.claimName) out.push(v.persistentVolumeClaim.claimName);
    else if (v.ephemeral) out.push(`${pod.metadata.name}-${v.name}`);
  }
  return out;
}

const HOSTNAME_LABEL = 'kubernetes.io/hostname';

/** Local or hostPath volume, or a required node affinity on a node's name: the data lives on one node. */
export function isNodeLocalPV(pv: PersistentVolume): boolean {
  if (pv.spec?.local || pv.spec?.hostPath) return true;
  const terms = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? [];
  return (
    terms.length > 0 &&
    terms.every(
      (t) =>
        (t.matchExpressions ?? []).some((e) => e.key === HOSTNAME_LABEL && e.operator === 'In') ||
        (t.matchFields ?? []).some((e) => e.key === 'metadata.name' && e.operator === 'In'),
    )
  );
}

/**
 * Which of the pod's volumes is node-local, described for humans; undefined when none is (as far
 * as the claims and volumes given show: an unbound or unread claim counts as not node-local).
 */
export function nodeLocalVolume(
  pod: Pod,
  claims: ReadonlyMap<string, PersistentVolumeClaim>,
  volumes: ReadonlyMap<string, PersistentVolume>,
): string | undefined {
  for (const v of pod.spec?.volumes ?? []) {
    if (v.hostPath) return `volume ${v.name} is a hostPath`;
    const claim = v.persistentVolumeClaim?.claimName ?? (v.ephemeral ? `${pod.metadata.name}-${v.name}` : '');
    if (!claim) continue;
    const pvName = claims.get(`${pod.metadata.namespace}/${claim}`)?.spec?.volumeName;
    const pv = pvName ? volumes.get(pvName) : undefined;
    if (pv && isNodeLocalPV(pv))
      return `volume ${v.name} (claim ${claim}) is bound to node-local PersistentVolume ${pvName}`;
  }
  return undefined;
}

/** Why the StatefulSet may not start another drain now, from the drains alone. */
function stsBlock(sts: StatefulSet, input: NodeInputs): { reason: WaitReason; detail: string } | undefined {
  const ns = sts.metadata.namespace;
  const name = sts.metadata.name;
  const mine = input.drains.filter(
    (d) =>
      d.metadata.namespace === ns &&
      d.metadata.labels?.[DRAIN_LABELS.statefulSet] === name &&
      !d.metadata.deletionTimestamp,
  );
  const busy = mine.find((d) => !isTerminal(d.status?.phase));
  if (busy)
    return {
      reason: 'StatefulSetBusy',
      detail: `drain ${ns}/${busy.metadata.name} of StatefulSet ${ns}/${name} has not finished`,
    };
  // A held drain of a pod that still exists: that capture is stuck in TiCDC; do not pile on.
  const live = new Map(
    input.pods.filter((p) => p.metadata.namespace === ns).map((p) => [p.metadata.uid ?? '', p]),
  );
  const held = mine.find((d) => {
    const uid = d.metadata.labels?.[DRAIN_LABELS.podUid] ?? '';
    const pod = live.get(uid);
    return pod && !pod.metadata.deletionTimestamp && podDrainState(d, uid) === 'Held';
  });
  if (held)
    return {
      reason: 'DrainHeld',
      detail: `drain ${ns}/${held.metadata.name} of StatefulSet ${ns}/${name} ended ${held.status?.phase} (${held.status?.reason ?? 'no reason'}) without releasing its pod`,
    };
  return undefined;
}

/** "2/3 other pods Ready" when the StatefulSet is not whole apart from `pod`; undefined when it is. */
function unreadySiblings(sts: StatefulSet, pod: Pod, pods: Pod[]): string | undefined {
  const want = (sts.spec?.replicas ?? 1) - 1;
  const ready = pods.filter(
    (p) =>
      p !== pod &&
      p.metadata.namespace === sts.metadata.namespace &&
      ownerStatefulSet(p)?.uid === sts.metadata.uid &&
      !p.metadata.deletionTimestamp &&
      isPodReady(p),
  ).length;
  return ready >= want ? undefined : `${ready}/${want} other pods Ready`;
}
