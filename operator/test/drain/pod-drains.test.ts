import { describe, expect, test } from '@jest/globals';
import { ensurePodDrain } from '../../src/drain/pod-drains.js';
import { Resources, type KubeObject } from '../../src/kube/port.js';
import { FakeKube, conflict } from '../support/fake-kube.js';
import type { CaptureDrainObject } from '../../src/api/capturedrain.js';
import { DRAIN_LABELS } from '../../src/api/names.js';
import { podDrainManifest, podDrainName, podDrainState } from '../../src/drain/contract.js';

const pod: KubeObject = { metadata: { name: 'ticdc-2', namespace: 'tidb', uid: 'uid-2' } };
const sts: KubeObject = { metadata: { name: 'ticdc', namespace: 'tidb', uid: 'sts-uid' } };

describe('pod drains', () => {
  test('one name per pod incarnation', () => {
    expect(podDrainName('ticdc-2', 'uid-2')).toMatch(/^ticdc-2-[0-9a-f]{8}$/);
    expect(podDrainName('ticdc-2', 'uid-2')).toBe(podDrainName('ticdc-2', 'uid-2'));
    expect(podDrainName('ticdc-2', 'uid-3')).not.toBe(podDrainName('ticdc-2', 'uid-2'));
    expect(podDrainName('x'.repeat(300), 'u').length).toBeLessThanOrEqual(253);
  });

  test('the manifest names the pod, labels the incarnation and is owned by the StatefulSet', () => {
    const m = podDrainManifest({ pod, statefulSet: sts, trigger: 'RollingUpdate', podAction: 'None' });
    expect(m.spec).toEqual({ podName: 'ticdc-2', podAction: 'None', trigger: 'RollingUpdate' });
    expect(m.metadata.labels).toEqual({
      [DRAIN_LABELS.pod]: 'ticdc-2',
      [DRAIN_LABELS.podUid]: 'uid-2',
      [DRAIN_LABELS.trigger]: 'RollingUpdate',
      [DRAIN_LABELS.statefulSet]: 'ticdc',
    });
    expect(m.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'StatefulSet', uid: 'sts-uid' }),
    ]);
  });

  test('ensurePodDrain creates once and reuses, whatever the trigger', async () => {
    const kube = new FakeKube();
    const a = await ensurePodDrain(kube, { pod, statefulSet: sts, trigger: 'Eviction', podAction: 'None' });
    const b = await ensurePodDrain(kube, { pod, trigger: 'NodeCordon', podAction: 'Delete' });
    expect(a.created).toBe(true);
    expect(b.created).toBe(false);
    expect(b.drain.spec.trigger).toBe('Eviction');
    expect((await kube.list(Resources.capturedrains)).items).toHaveLength(1);
  });

  test('ensurePodDrain survives losing the create race', async () => {
    const kube = new FakeKube();
    const winner = podDrainManifest({ pod, trigger: 'PodDeletion', podAction: 'Delete' });
    kube.failNext('create', () => {
      void kube.create(Resources.capturedrains, winner);
      return conflict(Resources.capturedrains, winner.metadata.name, 'AlreadyExists');
    });
    // The fake's create of the winner is synchronous enough to be visible to the re-read.
    const r = await ensurePodDrain(kube, { pod, trigger: 'Eviction', podAction: 'None' });
    expect(r.created).toBe(false);
    expect(r.drain.spec.trigger).toBe('PodDeletion');
  });

  test('state: only a released drain of this very incarnation lets the pod go', () => {
    const d = (status: CaptureDrainObject['status'], uid = 'uid-2') =>
      ({
        ...podDrainManifest({
          pod: { metadata: { ...pod.metadata, uid } },
          trigger: 'Eviction',
          podAction: 'None',
        }),
        status,
      }) as CaptureDrainObject;
    const t = '2026-01-01T00:00:00Z';
    expect(podDrainState(undefined, 'uid-2')).toBe('None');
    expect(podDrainState(d(undefined), 'uid-2')).toBe('InProgress');
    expect(podDrainState(d({ phase: 'Draining', podUID: 'uid-2' }), 'uid-2')).toBe('InProgress');
    expect(podDrainState(d({ phase: 'Drained', podUID: 'uid-2' }), 'uid-2')).toBe('InProgress');
    expect(podDrainState(d({ phase: 'Releasing', podUID: 'uid-2', releaseTime: t }), 'uid-2')).toBe(
      'Released',
    );
    expect(podDrainState(d({ phase: 'Completed', podUID: 'uid-2', releaseTime: t }), 'uid-2')).toBe(
      'Released',
    );
    expect(podDrainState(d({ phase: 'Failed', podUID: 'uid-2' }), 'uid-2')).toBe('Held');
    expect(podDrainState(d({ phase: 'Completed', podUID: 'uid-2', releaseTime: t }), 'uid-9')).toBe('None');
    expect(podDrainState(d({ phase: 'Completed', releaseTime: t }, 'uid-old'), 'uid-2')).toBe('None');
  });
});
