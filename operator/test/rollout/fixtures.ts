// Builders for planner inputs: a 5-pod StatefulSet "ticdc" whose pods advertise
// <pod>.ticdc-peer.ns.svc:8300, with one registered capture per pod.
import type {
  CaptureView,
  DrainView,
  PlanInput,
  PodView,
  StatefulSetView,
} from '../../src/rollout/planner.js';

export const T0 = Date.parse('2026-03-01T10:00:00Z');
export const OLD = 'ticdc-aaa';
export const NEW = 'ticdc-bbb';

export const address = (pod: string) => `${pod}.ticdc-peer.ns.svc:8300`;

export function sts(over: Partial<StatefulSetView> = {}): StatefulSetView {
  return {
    name: 'ticdc',
    generation: 2,
    observedGeneration: 2,
    replicas: 5,
    strategy: 'RollingUpdate',
    partition: 5,
    partitionHeld: true,
    updateRevision: NEW,
    templateManaged: true,
    podReadyTimeoutMs: 600_000,
    ...over,
  };
}

export function pod(ordinal: number, over: Partial<PodView> = {}): PodView {
  const name = `ticdc-${ordinal}`;
  return {
    name,
    ordinal,
    uid: `uid-${ordinal}`,
    revision: OLD,
    ready: true,
    since: T0 - 3_600_000,
    terminating: false,
    skip: false,
    addresses: [address(name)],
    ...over,
  };
}

/** Pods 0..n-1 at `revision` (per-ordinal overrides in `over`). */
export function pods(n: number, revision = OLD, over: Record<number, Partial<PodView>> = {}): PodView[] {
  return Array.from({ length: n }, (_, i) => pod(i, { revision, ...over[i] }));
}

/** One capture per pod (id cap-<uid>), the owner on `owner`'s ordinal. */
export function captures(ps: PodView[], owner = 0): CaptureView[] {
  return ps
    .filter((p) => !p.terminating)
    .map((p) => ({ id: `cap-${p.uid}`, address: address(p.name), isOwner: p.ordinal === owner }));
}

export function drain(p: PodView, over: Partial<DrainView> = {}): DrainView {
  return {
    name: `${p.name}-${p.uid}`,
    podName: p.name,
    podUid: p.uid,
    state: 'InProgress',
    podAction: 'None',
    trigger: 'RollingUpdate',
    captureId: `cap-${p.uid}`,
    startTime: T0 - 5_000,
    ...over,
  };
}

export function input(over: Partial<PlanInput> & { pods?: PodView[] } = {}): PlanInput {
  const ps = over.pods ?? pods(5);
  return {
    now: T0,
    statefulSet: sts(),
    drains: [],
    captures: captures(ps),
    ...over,
    pods: ps,
  };
}
