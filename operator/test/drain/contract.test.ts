import { describe, expect, test } from '@jest/globals';
import type { CaptureDrainObject, CaptureDrainStatus } from '../../src/api/capturedrain.js';
import { DRAIN_LABELS } from '../../src/api/names.js';
import { drainsOfPod, historyToPrune, podDrainName, podDrainOf } from '../../src/drain/contract.js';

const drain = (
  name: string,
  podName: string,
  status?: CaptureDrainStatus,
  labels?: Record<string, string>,
): CaptureDrainObject =>
  ({
    apiVersion: 'drain.ticdc.io/v1alpha1',
    kind: 'CaptureDrain',
    metadata: { name, namespace: 'ns', ...(labels ? { labels } : {}) },
    spec: { podName },
    ...(status ? { status } : {}),
  }) as CaptureDrainObject;

const OWN = podDrainName('ticdc-1', 'uid-1');

describe('drains of a pod incarnation, whatever their name', () => {
  test('a hand-made drain naming the pod counts; other pods and incarnations do not', () => {
    const drains = [
      drain('manual', 'ticdc-1', { phase: 'Draining', podUID: 'uid-1', startTime: 't' }),
      drain('other-pod', 'ticdc-2', { phase: 'Draining', podUID: 'uid-9', startTime: 't' }),
      drain('old-incarnation', 'ticdc-1', { phase: 'Failed', podUID: 'uid-0', reason: 'CaptureGone' }),
      drain('old-label', 'ticdc-1', undefined, { [DRAIN_LABELS.podUid]: 'uid-0' }),
      drain('fresh', 'ticdc-1'),
    ];
    expect(drainsOfPod(drains, 'ticdc-1', 'uid-1').map((d) => d.metadata.name)).toEqual(['manual', 'fresh']);
  });

  test('a releasing drain speaks for the pod before one still running or held', () => {
    const drains = [
      drain(OWN, 'ticdc-1', { phase: 'Queued' }, { [DRAIN_LABELS.podUid]: 'uid-1' }),
      drain('held', 'ticdc-1', { phase: 'Failed', podUID: 'uid-1', reason: 'TimedOut' }),
      drain('manual', 'ticdc-1', { phase: 'Releasing', podUID: 'uid-1', releaseTime: 't' }),
    ];
    expect(podDrainOf(drains, 'ticdc-1', 'uid-1')?.metadata.name).toBe('manual');
  });

  test('a running drain before a held one; ties go to the operator-named drain', () => {
    const held = drain('a-held', 'ticdc-1', { phase: 'Failed', podUID: 'uid-1', reason: 'TimedOut' });
    const running = drain('b-manual', 'ticdc-1', { phase: 'Draining', podUID: 'uid-1' });
    const own = drain(OWN, 'ticdc-1', { phase: 'Draining', podUID: 'uid-1' });
    expect(podDrainOf([held, running], 'ticdc-1', 'uid-1')?.metadata.name).toBe('b-manual');
    expect(podDrainOf([held, running, own], 'ticdc-1', 'uid-1')?.metadata.name).toBe(OWN);
    expect(podDrainOf([], 'ticdc-1', 'uid-1')).toBeUndefined();
  });

  test('a hand-made drain refused before it started does not hold the pod; the operator-named one does', () => {
    const refused = drain('borrow', 'ticdc-1', { phase: 'Failed', reason: 'Configuration' });
    const ownRefused = drain(OWN, 'ticdc-1', { phase: 'Failed', reason: 'Configuration' });
    const startedHeld = drain('held', 'ticdc-1', {
      phase: 'Failed',
      reason: 'TimedOut',
      podUID: 'uid-1',
      startTime: 't',
    });
    expect(drainsOfPod([refused], 'ticdc-1', 'uid-1')).toEqual([]);
    expect(podDrainOf([refused, ownRefused], 'ticdc-1', 'uid-1')?.metadata.name).toBe(OWN);
    expect(podDrainOf([refused, startedHeld], 'ticdc-1', 'uid-1')?.metadata.name).toBe('held');
  });
});

describe('historyToPrune: the bounded history of operator-created drains per StatefulSet', () => {
  const drain = (
    n: number,
    over: { phase?: string; sts?: string; trigger?: string; pod?: string; uid?: string } = {},
  ): CaptureDrainObject =>
    ({
      apiVersion: 'drain.ticdc.io/v1alpha1',
      kind: 'CaptureDrain',
      metadata: {
        name: `d${n}`,
        namespace: 'ns',
        creationTimestamp: `2026-01-01T00:00:${String(n).padStart(2, '0')}Z`,
        labels: {
          'drain.ticdc.io/statefulset': over.sts ?? 'ticdc',
          'drain.ticdc.io/pod': over.pod ?? 'ticdc-1',
          'drain.ticdc.io/pod-uid': over.uid ?? `uid-${n}`,
          ...(over.trigger !== '' ? { 'drain.ticdc.io/trigger': over.trigger ?? 'RollingUpdate' } : {}),
        },
      },
      spec: { podName: over.pod ?? 'ticdc-1' },
      status: {
        phase: over.phase ?? 'Completed',
        completionTime: `2026-01-01T00:01:${String(n).padStart(2, '0')}Z`,
      },
    }) as unknown as CaptureDrainObject;
  const gone = () => undefined;

  test('finished drains beyond the newest N go, oldest first', () => {
    const drains = [1, 2, 3, 4, 5, 6, 7].map((n) => drain(n));
    expect(historyToPrune(drains, 'ticdc', 5, gone).map((d) => d.metadata.name)).toEqual(['d2', 'd1']);
    expect(historyToPrune(drains, 'ticdc', 0, gone)).toHaveLength(7);
  });

  test('running, hand-made, other StatefulSets and drains whose pod incarnation still runs are kept', () => {
    const drains = [
      drain(1, { phase: 'Draining' }),
      drain(2, { trigger: '' }),
      drain(3, { trigger: 'Manual' }),
      drain(4, { sts: 'other' }),
      drain(5, { pod: 'ticdc-2', uid: 'live' }),
      drain(6),
    ];
    const now = (pod: string) => (pod === 'ticdc-2' ? 'live' : undefined);
    expect(historyToPrune(drains, 'ticdc', 0, now).map((d) => d.metadata.name)).toEqual(['d6']);
  });
});
