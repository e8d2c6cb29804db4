// The gate's leader-side helpers: the unprotected-delete watcher and the StatefulSet nudger.
import { describe, expect, test } from '@jest/globals';
import { ensurePodDrain } from '../../src/drain/pod-drains.js';
import { createGateMetrics } from '../../src/gate/metrics.js';
import { StatefulSetNudger } from '../../src/gate/nudge.js';
import { UnprotectedDeleteWatcher } from '../../src/gate/unprotected.js';
import { Resources, type KubeObject } from '../../src/kube/port.js';
import { createRegistry } from '../../src/observability/metrics.js';
import { FakeKube } from '../support/fake-kube.js';
import type { CaptureDrainObject } from '../../src/api/capturedrain.js';
import { NUDGE_ANNOTATION } from '../../src/api/names.js';

const NS = 'tidb';

function setup() {
  const kube = new FakeKube();
  kube.seed(Resources.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  const sts = kube.seed<KubeObject>(Resources.statefulsets, {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'ticdc', namespace: NS, labels: { 'drain.ticdc.io/managed': 'true' } },
    spec: { replicas: 3 },
  });
  const mkPod = (name: string, annotations?: Record<string, string>) =>
    kube.seed<KubeObject>(Resources.pods, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: NS,
        labels: { 'drain.ticdc.io/managed': 'true' },
        ...(annotations ? { annotations } : {}),
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'StatefulSet',
            name: 'ticdc',
            uid: sts.metadata.uid!,
            controller: true,
          },
        ],
      },
      status: { phase: 'Running' },
    });
  const registry = createRegistry({ defaultMetrics: false });
  const metrics = createGateMetrics(registry);
  const events: string[] = [];
  const watcher = new UnprotectedDeleteWatcher({
    kube,
    metrics,
    events: { event: (_r, type, reason) => events.push(`${type}/${reason}`) },
  });
  const unprotected = async () =>
    (await registry.getSingleMetric('capture_drain_webhook_unprotected_total')!.get()).values[0]?.value ?? 0;
  return { kube, sts, mkPod, watcher, events, unprotected, metrics };
}

const terminating = (p: KubeObject): KubeObject => ({
  ...p,
  metadata: { ...p.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' },
});

async function releaseDrain(kube: FakeKube, drain: CaptureDrainObject, podUid: string) {
  return kube.patch<CaptureDrainObject>(
    Resources.capturedrains,
    NS,
    drain.metadata.name,
    { status: { phase: 'Completed', podUID: podUid, releaseTime: '2026-01-01T00:00:00Z' } },
    'merge',
    { subresource: 'status' },
  );
}

describe('unprotected-delete watcher', () => {
  test('a pod terminating without a released drain is counted, logged and reported', async () => {
    const { mkPod, watcher, events, unprotected } = setup();
    const pod = mkPod('ticdc-0');
    watcher.onUpdate(pod, terminating(pod));
    await watcher.flush();
    expect(await unprotected()).toBe(1);
    expect(events).toEqual(['Warning/UngatedDeletion']);
  });

  test('a drained pod, a skipped pod, and updates that are not the start of termination are not', async () => {
    const { kube, sts, mkPod, watcher, events, unprotected } = setup();
    const drained = mkPod('ticdc-0');
    const { drain } = await ensurePodDrain(kube, {
      pod: drained,
      statefulSet: sts,
      trigger: 'PodDeletion',
      podAction: 'Delete',
    });
    await releaseDrain(kube, drain, drained.metadata.uid!);
    watcher.onUpdate(drained, terminating(drained));
    const skipped = mkPod('ticdc-1', { 'drain.ticdc.io/skip': 'true' });
    watcher.onUpdate(skipped, terminating(skipped));
    const other = mkPod('ticdc-2');
    watcher.onUpdate(terminating(other), terminating(other));
    watcher.onUpdate(other, other);
    await watcher.flush();
    expect(await unprotected()).toBe(0);
    expect(events).toEqual([]);
  });

  test('deleting the StatefulSet or the namespace is not an unprotected delete', async () => {
    const { kube, mkPod, watcher, unprotected } = setup();
    const pod = mkPod('ticdc-0');
    await kube.delete(Resources.statefulsets, NS, 'ticdc');
    watcher.onUpdate(pod, terminating(pod));
    await watcher.flush();
    expect(await unprotected()).toBe(0);
  });

  test('a pod found gone without a terminating update (watch gap, relist) is judged by its last state', async () => {
    const { kube, sts, mkPod, watcher, unprotected } = setup();
    const forced = mkPod('ticdc-0');
    watcher.onDelete(forced);
    // Gone after terminating normally: the update already judged it.
    const graceful = mkPod('ticdc-1');
    watcher.onDelete(terminating(graceful));
    // Force-deleted after its drain released it: admitted, not counted.
    const released = mkPod('ticdc-2');
    const { drain } = await ensurePodDrain(kube, {
      pod: released,
      statefulSet: sts,
      trigger: 'PodDeletion',
      podAction: 'Delete',
    });
    await releaseDrain(kube, drain, released.metadata.uid!);
    watcher.onDelete(released);
    await watcher.flush();
    expect(await unprotected()).toBe(1);
  });

  test('unknown facts claim nothing', async () => {
    const { kube, mkPod, watcher, unprotected } = setup();
    const pod = mkPod('ticdc-0');
    kube.failNext('get', new Error('apiserver down'), 3);
    expect(await watcher.check(pod)).toBeUndefined();
    expect(await unprotected()).toBe(0);
  });
});

describe('StatefulSet nudger', () => {
  test('a released RollingUpdate/ScaleIn drain of a live pod touches the StatefulSet once', async () => {
    const { kube, sts, mkPod, metrics } = setup();
    const pod = mkPod('ticdc-2');
    const nudger = new StatefulSetNudger({ kube, metrics });
    const { drain } = await ensurePodDrain(kube, {
      pod,
      statefulSet: sts,
      trigger: 'RollingUpdate',
      podAction: 'None',
    });
    nudger.onDrain(drain);
    await nudger.flush();
    expect(kube.callsOf('patch')).toHaveLength(0); // not released yet
    const released = await releaseDrain(kube, drain, pod.metadata.uid!);
    nudger.onDrain(released);
    nudger.onDrain(released);
    await nudger.flush();
    const live = kube.peek<KubeObject>(Resources.statefulsets, NS, 'ticdc')!;
    expect(live.metadata.annotations?.[NUDGE_ANNOTATION]).toBe(drain.metadata.name);
    expect(kube.callsOf('patch').filter((c) => c.type?.endsWith('statefulsets'))).toHaveLength(1);
  });

  test('no nudge for user deletes (the operator deletes), evictions, or a pod already gone', async () => {
    const { kube, sts, mkPod } = setup();
    const nudger = new StatefulSetNudger({ kube });
    const a = mkPod('ticdc-0');
    const b = mkPod('ticdc-1');
    const c = mkPod('ticdc-2');
    const da = (
      await ensurePodDrain(kube, { pod: a, statefulSet: sts, trigger: 'PodDeletion', podAction: 'Delete' })
    ).drain;
    const db = (
      await ensurePodDrain(kube, { pod: b, statefulSet: sts, trigger: 'Eviction', podAction: 'None' })
    ).drain;
    const dc = (
      await ensurePodDrain(kube, { pod: c, statefulSet: sts, trigger: 'ScaleIn', podAction: 'None' })
    ).drain;
    expect(nudger.wants(await releaseDrain(kube, da, a.metadata.uid!))).toBe(false);
    expect(nudger.wants(await releaseDrain(kube, db, b.metadata.uid!))).toBe(false);
    const rc = await releaseDrain(kube, dc, c.metadata.uid!);
    expect(nudger.wants(rc)).toBe(true);
    await kube.delete(Resources.pods, NS, 'ticdc-2', { gracePeriodSeconds: 0 });
    expect(await nudger.nudge(rc)).toBe(false);
  });
});
