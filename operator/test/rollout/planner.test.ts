// Table tests of the rollout planner: one row per situation a rollout or scale-in passes through.
import { describe, expect, test } from '@jest/globals';
import { plan, type Plan, type PlanInput } from '../../src/rollout/planner.js';
import { NEW, OLD, T0, address, captures, drain, input, pod, pods, sts } from './fixtures.js';

interface Row {
  name: string;
  in: PlanInput;
  step: Plan['step'];
  mode?: Plan['mode'];
  blocked?: string;
  message?: RegExp;
}

const released = { state: 'Released' as const, releaseTime: T0 - 1000 };
// Pod 4 replaced: a new incarnation at the new revision; its predecessor's drain released it.
const old4 = pod(4);
const new4 = pod(4, { uid: 'uid-4b', revision: NEW, since: T0 - 2000 });
const afterFirst = [...pods(4), new4];
const firstDrain = drain(old4, released);

const rows: Row[] = [
  {
    name: 'up to date with the partition held: nothing to do',
    in: input({ pods: pods(5, NEW) }),
    step: { type: 'None' },
    mode: 'Idle',
  },
  {
    name: 'up to date with the partition down: hold it at replicas again',
    in: input({ pods: pods(5, NEW), statefulSet: sts({ partition: 0 }) }),
    step: { type: 'SetPartition', from: 0, to: 5 },
    mode: 'Idle',
  },
  {
    name: 'new revision: drain the highest ordinal first',
    in: input(),
    step: { type: 'Drain', pod: 'ticdc-4', uid: 'uid-4', trigger: 'RollingUpdate', podAction: 'None' },
    mode: 'RollingUpdate',
  },
  {
    name: 'drain running: wait for it',
    in: input({ drains: [drain(pod(4))] }),
    step: { type: 'Wait', reason: 'Drain', pod: 'ticdc-4' },
  },
  {
    name: 'drain released: lower the partition past the drained pod only',
    in: input({ drains: [drain(pod(4), released)] }),
    step: { type: 'SetPartition', from: 5, to: 4 },
  },
  {
    name: 'partition lowered: wait for the StatefulSet controller to replace the pod',
    in: input({ drains: [firstDrain], statefulSet: sts({ partition: 4 }) }),
    step: { type: 'Wait', reason: 'PodReplaced', pod: 'ticdc-4' },
  },
  {
    name: 'the old pod is terminating: wait',
    in: input({
      pods: [...pods(4), pod(4, { terminating: true })],
      drains: [firstDrain],
      statefulSet: sts({ partition: 4 }),
    }),
    step: { type: 'Wait', reason: 'PodReplaced', pod: 'ticdc-4' },
  },
  {
    name: 'the new pod is not Ready: no next drain',
    in: input({
      pods: [...pods(4), { ...new4, ready: false }],
      drains: [firstDrain],
      statefulSet: sts({ partition: 4 }),
    }),
    step: { type: 'Wait', reason: 'PodReady', pod: 'ticdc-4' },
  },
  {
    name: 'the new pod stayed not Ready past pod-ready-timeout: Blocked',
    in: input({
      pods: [...pods(4), { ...new4, ready: false, since: T0 - 601_000 }],
      drains: [firstDrain],
      statefulSet: sts({ partition: 4 }),
    }),
    step: { type: 'Wait', reason: 'PodReady', pod: 'ticdc-4' },
    blocked: 'PodNotReady',
    message: /ticdc-4 to become Ready: not done within pod-ready-timeout 10m/,
  },
  {
    name: 'the drained capture is still registered: wait for it to leave',
    in: input({
      pods: afterFirst,
      drains: [firstDrain],
      captures: captures(pods(5), 0),
      statefulSet: sts({ partition: 4 }),
    }),
    step: { type: 'Wait', reason: 'CaptureDeparted', pod: 'ticdc-4' },
  },
  {
    name: 'the new capture has not registered: wait (the drained capture at the same address does not count)',
    in: input({
      pods: afterFirst,
      drains: [firstDrain],
      captures: captures(pods(4), 0),
      statefulSet: sts({ partition: 4 }),
    }),
    step: { type: 'Wait', reason: 'CaptureRegistered', pod: 'ticdc-4' },
  },
  {
    name: 'replaced pod Ready and registered: drain the next one',
    in: input({ pods: afterFirst, drains: [firstDrain], statefulSet: sts({ partition: 4 }) }),
    step: { type: 'Drain', pod: 'ticdc-3', uid: 'uid-3', trigger: 'RollingUpdate', podAction: 'None' },
  },
  {
    name: 'TiCDC unreachable: wait, never start a drain blind',
    in: input({ captures: undefined, capturesError: 'connect ECONNREFUSED' }),
    step: { type: 'Wait', reason: 'Captures' },
    message: /ECONNREFUSED/,
  },
  {
    name: 'another pod is not Ready before the first drain: wait',
    in: input({ pods: pods(5, OLD, { 1: { ready: false, since: T0 - 1000 } }) }),
    step: { type: 'Wait', reason: 'PodReady', pod: 'ticdc-1' },
  },
  {
    name: 'the StatefulSet controller has not observed the spec yet',
    in: input({ statefulSet: sts({ generation: 3, observedGeneration: 2 }) }),
    step: { type: 'Wait', reason: 'StatefulSetStatus' },
  },
  {
    name: 'partition-less RollingUpdate: take the partition back above undrained outdated pods',
    in: input({ statefulSet: sts({ partition: 0 }) }),
    step: { type: 'SetPartition', from: 0, to: 5 },
  },
  {
    name: 'partition above the highest outdated pod (rollback): lower it over the up-to-date pods first',
    in: input({ pods: pods(5, OLD, { 3: { revision: NEW }, 4: { revision: NEW } }) }),
    step: { type: 'SetPartition', from: 5, to: 3 },
  },
  {
    name: 'drain held (onTimeout Hold): Blocked, nothing else drains',
    in: input({
      drains: [drain(pod(4), { state: 'Held', reason: 'Stalled', message: 'no progress' })],
    }),
    step: { type: 'Wait', reason: 'DrainHeld', pod: 'ticdc-4' },
    blocked: 'DrainHeld',
    message: /delete the CaptureDrain to retry/,
  },
  {
    name: 'a skipped pod goes without a drain',
    in: input({ pods: pods(5, OLD, { 4: { skip: true } }) }),
    step: { type: 'SetPartition', from: 5, to: 4 },
  },
  {
    name: 'OnDelete: the coordinator goes last, the others by descending ordinal',
    in: input({ statefulSet: sts({ strategy: 'OnDelete' }), captures: captures(pods(5), 4) }),
    step: { type: 'Drain', pod: 'ticdc-3', uid: 'uid-3', trigger: 'RollingUpdate', podAction: 'Delete' },
  },
  {
    name: 'OnDelete: a pod in flight keeps its turn after the coordinator moved onto it',
    in: input({
      statefulSet: sts({ strategy: 'OnDelete' }),
      captures: captures(pods(5), 3),
      drains: [drain(pod(3), { podAction: 'Delete' })],
    }),
    step: { type: 'Wait', reason: 'Drain', pod: 'ticdc-3' },
  },
  {
    name: 'OnDelete: released with podAction Delete: the drain deletes the pod',
    in: input({
      statefulSet: sts({ strategy: 'OnDelete' }),
      drains: [drain(pod(4), { ...released, podAction: 'Delete' })],
    }),
    step: { type: 'Wait', reason: 'PodReplaced', pod: 'ticdc-4' },
  },
  {
    name: 'OnDelete: released by a podAction None drain: delete the drained incarnation',
    in: input({
      statefulSet: sts({ strategy: 'OnDelete' }),
      drains: [drain(pod(4), { ...released, trigger: 'Manual' })],
    }),
    step: { type: 'DeletePod', pod: 'ticdc-4', uid: 'uid-4' },
  },
  {
    name: 'scale-in: drain the highest ordinal (takes precedence over the update)',
    in: input({ statefulSet: sts({ desiredReplicas: 3 }) }),
    step: { type: 'Drain', pod: 'ticdc-4', uid: 'uid-4', trigger: 'ScaleIn', podAction: 'None' },
    mode: 'ScaleIn',
  },
  {
    name: 'scale-in: drained, lower replicas by one',
    in: input({
      pods: pods(5, NEW),
      statefulSet: sts({ desiredReplicas: 3 }),
      drains: [drain(pod(4, { revision: NEW }), { ...released, trigger: 'ScaleIn' })],
    }),
    step: { type: 'SetReplicas', from: 5, to: 4 },
  },
  {
    name: 'scale-in: replicas lowered, drained capture still registered: wait before the next drain',
    in: input({
      pods: [...pods(4, NEW), pod(4, { revision: NEW, terminating: true })],
      captures: captures(pods(5, NEW)).map((c) => c),
      statefulSet: sts({ desiredReplicas: 3, replicas: 4 }),
      drains: [drain(pod(4), { ...released, trigger: 'ScaleIn' })],
    }),
    step: { type: 'Wait', reason: 'CaptureDeparted', pod: 'ticdc-4' },
  },
  {
    name: 'scale-in: next pod',
    in: input({
      pods: pods(4, NEW),
      statefulSet: sts({ desiredReplicas: 3, replicas: 4 }),
      drains: [drain(pod(4), { ...released, trigger: 'ScaleIn' })],
    }),
    step: { type: 'Drain', pod: 'ticdc-3', uid: 'uid-3', trigger: 'ScaleIn', podAction: 'None' },
  },
  {
    name: 'scale-in done (partition above replicas is fine): idle',
    in: input({ pods: pods(3, NEW), statefulSet: sts({ desiredReplicas: 3, replicas: 3 }) }),
    step: { type: 'None' },
    mode: 'Idle',
  },
  {
    name: 'scale-in reverted after the drain: restart the drained pod before anything else',
    in: input({
      pods: pods(5, NEW),
      statefulSet: sts({ desiredReplicas: 5 }),
      drains: [drain(pod(4), { ...released, trigger: 'ScaleIn' })],
    }),
    step: { type: 'DeletePod', pod: 'ticdc-4', uid: 'uid-4' },
  },
  {
    name: 'a new revision mid-rollout: the pod already draining finishes first',
    in: input({ drains: [drain(pod(2))], statefulSet: sts({ partition: 5 }) }),
    step: { type: 'Wait', reason: 'Drain', pod: 'ticdc-2' },
  },
  {
    name: 'drain.ticdc.io/replicas not a count: Blocked',
    in: input({ statefulSet: sts({ desiredReplicas: 'three' }) }),
    step: { type: 'Wait', reason: 'Configuration' },
    blocked: 'InvalidAnnotation',
    message: /"three"/,
  },
  {
    name: 'an annotation the controller could not parse: Blocked with its message',
    in: input({ statefulSet: sts({ configError: 'drain.ticdc.io/pod-ready-timeout: bad' }) }),
    step: { type: 'Wait', reason: 'Configuration' },
    blocked: 'InvalidAnnotation',
    message: /pod-ready-timeout: bad/,
  },
  {
    name: 'pod template without the managed label: Blocked',
    in: input({ statefulSet: sts({ templateManaged: false }) }),
    step: { type: 'Wait', reason: 'Configuration' },
    blocked: 'TemplateNotManaged',
  },
  {
    name: 'a pod missing below replicas: wait for it',
    in: input({ pods: pods(5).filter((p) => p.ordinal !== 1) }),
    step: { type: 'Wait', reason: 'PodReady', pod: 'ticdc-1' },
  },
];

describe('plan', () => {
  test.each(rows.map((r) => [r.name, r] as const))('%s', (_, row) => {
    const p = plan(row.in);
    expect(p.step).toEqual(row.step);
    if (row.mode) expect(p.mode).toBe(row.mode);
    expect(p.blocked?.reason).toBe(row.blocked);
    if (row.message) expect(p.message).toMatch(row.message);
  });

  test('queue: partition order is descending, and the plan says when the coordinator is not last', () => {
    const p = plan(input({ captures: captures(pods(5), 2) }));
    expect(p.queue.map((q) => q.pod)).toEqual(['ticdc-4', 'ticdc-3', 'ticdc-2', 'ticdc-1', 'ticdc-0']);
    expect(p.queue.find((q) => q.coordinator)?.pod).toBe('ticdc-2');
    expect(p.notes.join(' ')).toMatch(/coordinator runs on ticdc-2, which is not last/);
    expect(plan(input({ captures: captures(pods(5), 0) })).notes).toEqual([]);
  });

  test('a RollingUpdate without a held partition is left to the StatefulSet controller and the gate', () => {
    const free = sts({ partition: 0, partitionHeld: false });
    const p = plan(input({ statefulSet: free }));
    expect(p.step).toEqual({ type: 'None' });
    expect(p.queue).toEqual([]);
    expect(p.notes.join(' ')).toMatch(/without a partition/);
    // Once up to date it does not take the partition over either.
    expect(plan(input({ statefulSet: free, pods: pods(5, NEW) })).step).toEqual({ type: 'None' });
    // Its drained scale-in (drain.ticdc.io/replicas) still works.
    expect(plan(input({ statefulSet: { ...free, desiredReplicas: 4 }, pods: pods(5, NEW) })).step.type).toBe(
      'Drain',
    );
  });

  test('queue: OnDelete puts the coordinator last; scale-in pods come first', () => {
    const p = plan(
      input({
        statefulSet: sts({ strategy: 'OnDelete', desiredReplicas: 4 }),
        captures: captures(pods(5), 1),
      }),
    );
    expect(p.queue.map((q) => `${q.kind}:${q.pod}`)).toEqual([
      'ScaleIn:ticdc-4',
      'Update:ticdc-3',
      'Update:ticdc-2',
      'Update:ticdc-0',
      'Update:ticdc-1',
    ]);
    expect(p.queue[0]!.active).toBe(true);
  });

  test('ETA: median drain and replacement times of earlier drains, times the pods left', () => {
    // Two finished drains of 20 s each, 10 s apart (release -> next start).
    const d1 = drain(pod(4, { uid: 'x1' }), {
      state: 'Released',
      startTime: T0 - 60_000,
      releaseTime: T0 - 40_000,
    });
    const d2 = drain(pod(3, { uid: 'x2' }), {
      state: 'Released',
      startTime: T0 - 30_000,
      releaseTime: T0 - 10_000,
    });
    const p = plan(input({ drains: [d1, d2] }));
    // 5 pods, none active: 5 * (20 s + 10 s).
    expect(p.etaMs).toBe(150_000);
    // The active drain's own ETA replaces the typical time for the first pod.
    const active = drain(pod(4), { startTime: T0, estimatedCompletionTime: T0 + 3_000 });
    expect(plan(input({ drains: [d1, d2, active] })).etaMs).toBe(3_000 + 10_000 + 4 * 30_000);
  });

  test('ETA: unknown before any drain, from the first drain own estimate after', () => {
    expect(plan(input()).etaMs).toBeUndefined();
    const first = drain(pod(4), { startTime: T0 - 6_000, estimatedCompletionTime: T0 + 4_000 });
    // First pod 4 s left; each other pod 10 s drain + 15 s default replacement.
    expect(plan(input({ drains: [first] })).etaMs).toBe(4_000 + 15_000 + 4 * 25_000);
    expect(plan(input({ pods: pods(5, NEW) })).etaMs).toBe(0);
  });

  test('a released capture never counts as the registered capture of the pod at its address', () => {
    const caps = [{ id: 'cap-uid-4', address: address('ticdc-4'), isOwner: false }, ...captures(pods(4))];
    const p = plan(
      input({
        pods: afterFirst,
        drains: [firstDrain],
        captures: caps,
        statefulSet: sts({ partition: 4 }),
      }),
    );
    expect(p.step).toEqual({ type: 'Wait', reason: 'CaptureDeparted', pod: 'ticdc-4' });
  });
});
