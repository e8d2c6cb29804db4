// The rollout controller's I/O around the planner, over the in-memory Kubernetes fake and a
// scripted TiCDC client: what it creates and patches, the progress annotations and events it
// writes, and that a cache lagging behind its own writes never starts a second drain.
import { beforeEach, describe, expect, test } from '@jest/globals';
import { Registry } from 'prom-client';
import {
  CAPTURE_FAST_POLL_MS,
  RolloutReconciler,
  TICDC_POLL_MS,
  captureWaitDelay,
  learnWait,
  statefulSetKeysOf,
} from '../../src/rollout/controller.js';
import { drainStepChanged, statefulSetChanged } from '../../src/rollout/setup.js';
import { Resources, type KubeObject } from '../../src/kube/port.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createRolloutMetrics } from '../../src/rollout/metrics.js';
import type { CaptureInfo, TicdcClient } from '../../src/ticdc/types.js';
import { FakeKube } from '../support/fake-kube.js';
import type { CaptureDrainObject } from '../../src/api/capturedrain.js';
import { ROLLOUT_ANNOTATIONS } from '../../src/api/names.js';
import type { StatefulSet } from '../../src/kube/objects.js';
import { podDrainName } from '../../src/drain/contract.js';
import { capturePod, statefulSet } from '../support/builders.js';

const NS = 'tidb';
const OLD = 'ticdc-old';
const NEW = 'ticdc-new';
const T = Date.parse('2026-03-01T10:00:00Z');

interface Event {
  type: string;
  reason: string;
  note: string;
}

function sts(over: { replicas?: number; partition?: number; annotations?: Record<string, string> } = {}) {
  const replicas = over.replicas ?? 3;
  return statefulSet('ticdc', {
    namespace: NS,
    uid: 'sts-uid',
    generation: 2,
    replicas,
    annotations: { 'drain.ticdc.io/endpoint': 'http://ticdc:8300', ...over.annotations },
    spec: {
      serviceName: 'ticdc-peer',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: over.partition ?? replicas } },
      template: { metadata: { labels: { 'drain.ticdc.io/managed': 'true' } } },
    },
    status: { observedGeneration: 2, updateRevision: NEW, currentRevision: OLD },
  });
}

function pod(ordinal: number, over: { revision?: string; ready?: boolean; since?: number } = {}): KubeObject {
  return capturePod(`ticdc-${ordinal}`, {
    namespace: NS,
    uid: `uid-${ordinal}`,
    statefulSetUid: stsUid(),
    creationTimestamp: new Date(T - 3_600_000).toISOString(),
    labels: { 'controller-revision-hash': over.revision ?? OLD },
    phase: null,
    ready: over.ready !== false,
    readySince: new Date(over.since ?? T - 3_600_000).toISOString(),
  });
}

// The fake assigns UIDs on seed: pods point at whatever the StatefulSet got.
const stsUid = () => kube.peek(Resources.statefulsets, NS, 'ticdc')?.metadata.uid ?? 'none';
const podUid = (name: string) => kube.peek(Resources.pods, NS, name)!.metadata.uid!;

const capturesFor = (n: number, owner = 0): CaptureInfo[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `cap-${i}`,
    address: `ticdc-${i}.ticdc-peer.${NS}.svc:8300`,
    isOwner: i === owner,
  }));

let kube: FakeKube;
let events: Event[];
let captures: CaptureInfo[];
let listCalls: number;
let now: number;
let staleDrains: CaptureDrainObject[] | undefined;
let reconciler: RolloutReconciler;
let registry: Registry;

beforeEach(() => {
  now = T;
  kube = new FakeKube({ now: () => now });
  events = [];
  captures = capturesFor(3);
  listCalls = 0;
  staleDrains = undefined;
  registry = new Registry();
  const client = {
    listCaptures: async () => {
      listCalls++;
      return captures;
    },
  } as unknown as TicdcClient;
  const cache = <T extends KubeObject>(type: typeof Resources.pods) => ({
    get: (ns: string, name: string) => kube.peek<T>(type, ns, name),
    list: (ns?: string) => kube.objects<T>(type, ns),
  });
  reconciler = new RolloutReconciler({
    kube,
    statefulSets: cache(Resources.statefulsets as never),
    pods: cache(Resources.pods),
    drains: {
      get: (ns, name) => kube.peek(Resources.capturedrains, ns, name),
      list: (ns) => staleDrains ?? kube.objects<CaptureDrainObject>(Resources.capturedrains, ns),
    },
    clients: { get: async () => client },
    events: { event: (_ref, type, reason, _action, note) => events.push({ type, reason, note }) },
    metrics: createRolloutMetrics(registry),
    defaults: { timeout: '10m', stallTimeout: '3m', onTimeout: 'Hold' },
    now: () => now,
  });
});

const ctx = { log: silentLogger(), reconcileID: 'r', signal: new AbortController().signal };
const reconcile = () => reconciler.reconcile({ namespace: NS, name: 'ticdc' }, ctx);
interface LiveSts {
  metadata: { annotations: Record<string, string> };
  spec: { replicas: number; updateStrategy: { rollingUpdate: { partition: number } } };
}
const liveSts = () => kube.peek<KubeObject & LiveSts>(Resources.statefulsets, NS, 'ticdc')!;
const drains = () => kube.objects<CaptureDrainObject>(Resources.capturedrains, NS);

async function release(name: string) {
  const d = kube.peek<CaptureDrainObject>(Resources.capturedrains, NS, name)!;
  await kube.patch(
    Resources.capturedrains,
    NS,
    name,
    {
      status: {
        phase: 'Completed',
        podUID: d.metadata.labels!['drain.ticdc.io/pod-uid'],
        captureID: 'cap-2',
        startTime: new Date(now - 10_000).toISOString(),
        releaseTime: new Date(now).toISOString(),
      },
    },
    'merge',
    { subresource: 'status' },
  );
}

describe('rollout controller', () => {
  test('up to date: annotates Idle and never asks TiCDC', async () => {
    kube.seed(Resources.statefulsets, sts());
    for (let i = 0; i < 3; i++) kube.seed(Resources.pods, pod(i, { revision: NEW }));
    expect(await reconcile()).toBeUndefined();
    expect(listCalls).toBe(0);
    expect(liveSts().metadata.annotations['drain.ticdc.io/rollout-phase']).toBe('Idle');
    expect(drains()).toHaveLength(0);
  });

  test('new revision: one drain for the highest ordinal, owned by the StatefulSet; then the partition', async () => {
    kube.seed(Resources.statefulsets, sts());
    for (let i = 0; i < 3; i++) kube.seed(Resources.pods, pod(i));
    await reconcile();
    expect(drains()).toHaveLength(1);
    const d = drains()[0]!;
    expect(d.metadata.name).toBe(podDrainName('ticdc-2', podUid('ticdc-2')));
    expect(d.spec).toMatchObject({ podName: 'ticdc-2', trigger: 'RollingUpdate', podAction: 'None' });
    expect(d.metadata.ownerReferences![0]).toMatchObject({ kind: 'StatefulSet', name: 'ticdc' });
    const ann = liveSts().metadata.annotations;
    expect(ann['drain.ticdc.io/rollout-phase']).toBe('RollingUpdate');
    expect(ann['drain.ticdc.io/rollout-remaining']).toBe('ticdc-2,ticdc-1,ticdc-0');
    expect(events.map((e) => e.reason)).toEqual(['DrainStarted', 'RolloutStarted']);
    expect(events[0]!.note).toMatch(/Draining ticdc-2 before its update \(.* 1 of 3\)/);

    // Another reconcile while the drain runs: nothing new.
    await reconcile();
    expect(drains()).toHaveLength(1);
    expect(liveSts().spec.updateStrategy.rollingUpdate.partition).toBe(3);

    await release(d.metadata.name);
    await reconcile();
    expect(liveSts().spec.updateStrategy.rollingUpdate.partition).toBe(2);
    expect(events.at(-1)).toMatchObject({ reason: 'PartitionLowered' });
  });

  test('releasing a drained pod asks TiCDC nothing: the step is decided on Kubernetes alone', async () => {
    kube.seed(Resources.statefulsets, sts());
    for (let i = 0; i < 3; i++) kube.seed(Resources.pods, pod(i));
    await reconcile();
    await release(drains()[0]!.metadata.name);
    now += 10 * TICDC_POLL_MS; // the last list read is long stale
    const before = listCalls;
    await reconcile();
    expect(liveSts().spec.updateStrategy.rollingUpdate.partition).toBe(2);
    expect(listCalls).toBe(before);
  });

  test('case 3: a container restart after the drain voids the release: no partition step until drained again', async () => {
    kube.seed(Resources.statefulsets, sts());
    for (let i = 0; i < 3; i++) kube.seed(Resources.pods, pod(i));
    const restart = (n: number) =>
      kube.patch(
        Resources.pods,
        NS,
        'ticdc-2',
        { status: { containerStatuses: [{ name: 'ticdc', restartCount: n }] } },
        'merge',
        { subresource: 'status' },
      );
    await restart(0);
    await reconcile();
    const d = drains()[0]!;
    await release(d.metadata.name);
    await kube.patch(Resources.capturedrains, NS, d.metadata.name, { status: { podRestarts: 0 } }, 'merge', {
      subresource: 'status',
    });
    // The container restarted after the drain: a new capture, maybe with work, at the same address.
    await restart(1);
    await reconcile();
    expect(liveSts().spec.updateStrategy.rollingUpdate.partition).toBe(3);
    expect(liveSts().metadata.annotations['drain.ticdc.io/rollout-message']).toContain('Draining ticdc-2');
    expect(drains()).toHaveLength(1);
    // The drain controller drained the new capture (release bound to restart count 1): the step goes.
    await kube.patch(Resources.capturedrains, NS, d.metadata.name, { status: { podRestarts: 1 } }, 'merge', {
      subresource: 'status',
    });
    await reconcile();
    expect(liveSts().spec.updateStrategy.rollingUpdate.partition).toBe(2);
  });

  test('a cache that has not seen the running drain yet does not start a second one', async () => {
    kube.seed(Resources.statefulsets, sts());
    for (let i = 0; i < 3; i++) kube.seed(Resources.pods, pod(i));
    // OnDelete, coordinator on ticdc-2: the plan would pick ticdc-1 next... but ticdc-2 is in flight.
    await reconcile();
    expect(drains()).toHaveLength(1);
    staleDrains = []; // the cache lags: it shows no drains at all
    captures = capturesFor(3, 2);
    await kube.patch(
      Resources.statefulsets,
      NS,
      'ticdc',
      { spec: { updateStrategy: { type: 'OnDelete', rollingUpdate: null } } },
      'merge',
    );
    await reconcile();
    expect(drains()).toHaveLength(1);
  });

  test('the partition patch tests the value the plan saw: a concurrent change is not overwritten', async () => {
    kube.seed(Resources.statefulsets, sts());
    for (let i = 0; i < 3; i++) kube.seed(Resources.pods, pod(i));
    await reconcile();
    await release(drains()[0]!.metadata.name);
    // The reconciler reads this cache copy (partition 3), the API server already holds 1.
    const cached = structuredClone(liveSts());
    await kube.patch(
      Resources.statefulsets,
      NS,
      'ticdc',
      { spec: { updateStrategy: { rollingUpdate: { partition: 1 } } } },
      'merge',
    );
    const r = new RolloutReconciler({
      ...(reconciler as unknown as { deps: ConstructorParameters<typeof RolloutReconciler>[0] }).deps,
      statefulSets: { get: () => cached as never, list: () => [cached as never] },
    });
    expect(await r.reconcile({ namespace: NS, name: 'ticdc' }, ctx)).toEqual({ requeueAfterMs: 500 });
    expect(liveSts().spec.updateStrategy.rollingUpdate.partition).toBe(1);
  });

  test('an updated pod that never becomes Ready: Blocked, one Warning event, no further drain', async () => {
    kube.seed(
      Resources.statefulsets,
      // Between steps: ticdc-2 replaced, the partition held at replicas again.
      sts({ partition: 3, annotations: { 'drain.ticdc.io/pod-ready-timeout': '2m' } }),
    );
    kube.seed(Resources.pods, pod(0));
    kube.seed(Resources.pods, pod(1));
    kube.seed(Resources.pods, pod(2, { revision: NEW, ready: false, since: T - 60_000 }));
    await reconcile();
    expect(liveSts().metadata.annotations['drain.ticdc.io/rollout-phase']).toBe('RollingUpdate');
    expect(liveSts().metadata.annotations['drain.ticdc.io/rollout-message']).toMatch(
      /ticdc-2 to become Ready/,
    );
    now = T + 61_000;
    expect(await reconcile()).toEqual({ requeueAfterMs: 30_000 });
    now = T + 90_000;
    await reconcile();
    const ann = liveSts().metadata.annotations;
    expect(ann['drain.ticdc.io/rollout-phase']).toBe('Blocked');
    expect(ann['drain.ticdc.io/rollout-message']).toMatch(/not done within pod-ready-timeout 2m/);
    expect(events.filter((e) => e.type === 'Warning').map((e) => e.reason)).toEqual(['RolloutBlocked']);
    expect(drains()).toHaveLength(0);
    expect(registry.getSingleMetric('capture_drain_rollout_phase')).toBeDefined();
    const metrics = await registry.getMetricsAsJSON();
    const phase = metrics.find((m) => m.name === 'capture_drain_rollout_phase')!;
    expect(
      (phase.values as { labels: { phase: string }; value: number }[]).find((v) => v.value === 1)?.labels
        .phase,
    ).toBe('Blocked');
  });

  test('scale-in: drains the highest ordinal with trigger ScaleIn, then lowers replicas by one', async () => {
    kube.seed(Resources.statefulsets, sts({ annotations: { 'drain.ticdc.io/replicas': '2' } }));
    for (let i = 0; i < 3; i++) kube.seed(Resources.pods, pod(i, { revision: NEW }));
    await reconcile();
    expect(drains()[0]!.spec).toMatchObject({ podName: 'ticdc-2', trigger: 'ScaleIn', podAction: 'None' });
    expect(liveSts().metadata.annotations['drain.ticdc.io/rollout-phase']).toBe('ScalingIn');
    await release(drains()[0]!.metadata.name);
    await reconcile();
    expect(liveSts().spec.replicas).toBe(2);
    expect(events.map((e) => e.reason)).toContain('ReplicasLowered');
  });

  test('TiCDC unreachable: waits with the error in the message, starts nothing', async () => {
    kube.seed(Resources.statefulsets, sts());
    for (let i = 0; i < 3; i++) kube.seed(Resources.pods, pod(i));
    const failing = new RolloutReconciler({
      ...(reconciler as unknown as { deps: ConstructorParameters<typeof RolloutReconciler>[0] }).deps,
      clients: {
        get: async () =>
          ({
            listCaptures: async () => {
              throw new Error('connect ECONNREFUSED 10.0.0.1:8300');
            },
          }) as unknown as TicdcClient,
      },
    });
    expect(await failing.reconcile({ namespace: NS, name: 'ticdc' }, ctx)).toEqual({
      requeueAfterMs: TICDC_POLL_MS,
    });
    expect(drains()).toHaveLength(0);
    expect(liveSts().metadata.annotations['drain.ticdc.io/rollout-message']).toMatch(/ECONNREFUSED/);
  });

  test('the capture list is read without the client quick retries (the rollout reads again on its schedule)', async () => {
    kube.seed(Resources.statefulsets, sts());
    for (let i = 0; i < 3; i++) kube.seed(Resources.pods, pod(i));
    const asked: string[] = [];
    const once = {
      listCaptures: async () => {
        asked.push('once');
        return captures;
      },
    } as unknown as TicdcClient;
    const pooled = {
      listCaptures: async () => {
        asked.push('with retries');
        return captures;
      },
      withoutRetries: () => once,
    } as unknown as TicdcClient;
    const r = new RolloutReconciler({
      ...(reconciler as unknown as { deps: ConstructorParameters<typeof RolloutReconciler>[0] }).deps,
      clients: { get: async () => pooled },
    });
    await r.reconcile({ namespace: NS, name: 'ticdc' }, ctx);
    expect(asked.length).toBeGreaterThan(0);
    expect(new Set(asked)).toEqual(new Set(['once']));
  });

  test('a burst of reconciles asks TiCDC for its capture list once', async () => {
    kube.seed(Resources.statefulsets, sts());
    for (let i = 0; i < 3; i++) kube.seed(Resources.pods, pod(i));
    await reconcile();
    const first = listCalls;
    expect(first).toBeGreaterThan(0);
    await reconcile();
    await reconcile();
    expect(listCalls).toBe(first);
    // Waiting on the drain it started, TiCDC's list changes nothing: not asked, however long.
    expect((await kube.list(Resources.capturedrains, { namespace: NS })).items).toHaveLength(1);
    now += 10 * TICDC_POLL_MS;
    await reconcile();
    expect(listCalls).toBe(first);
  });

  test('the pace of capture-list reads while waiting on TiCDC', () => {
    // Nothing learned yet: the plain pace.
    expect(captureWaitDelay({ now: 0 })).toBe(TICDC_POLL_MS);
    const wait = { kind: 'CaptureDeparted' as const, subject: 'cap-2', since: 1000 };
    expect(captureWaitDelay({ now: 1000, wait })).toBe(TICDC_POLL_MS);
    // Learned: departures come 4.6-5.0 s after the release. One look in the middle...
    const learned = { wait, learned: { lo: 4600, hi: 5000 } };
    expect(captureWaitDelay({ ...learned, now: 1000, stillOnAt: 1000 })).toBe(4800);
    // ...still listed there: one at the end of the interval...
    expect(captureWaitDelay({ ...learned, now: 5810, stillOnAt: 5800 })).toBe(190);
    // ...still listed (slower than ever seen): fast looks through the window...
    expect(captureWaitDelay({ ...learned, now: 6000, stillOnAt: 6000 })).toBe(CAPTURE_FAST_POLL_MS);
    expect(captureWaitDelay({ ...learned, now: 7000, stillOnAt: 7000 })).toBe(CAPTURE_FAST_POLL_MS);
    // ...and long past it, back to the plain pace.
    expect(captureWaitDelay({ ...learned, now: 60_000, stillOnAt: 60_000 })).toBe(TICDC_POLL_MS);
    // A registration is predicted the same way, from its pod becoming Ready.
    const reg = { kind: 'CaptureRegistered' as const, subject: 'ticdc-2', since: 2000 };
    expect(captureWaitDelay({ wait: reg, learned: { lo: 0, hi: 800 }, now: 2000 })).toBe(400);
  });

  test('learning a wait: consistent observations narrow the interval, a moved timing starts over', () => {
    // Looks a second apart: a wide interval.
    const first = learnWait(undefined, 4000, 5000);
    expect(first).toEqual({ lo: 4000, hi: 5000 });
    // A look in its middle halves it, from either side.
    const second = learnWait(first, 0, 4500);
    expect(second).toEqual({ lo: 4000, hi: 4500 });
    expect(learnWait(second, 4250, 6000)).toEqual({ lo: 4250, hi: 4500 });
    // An observation outside it: TiCDC's timing moved; what was learned before no longer holds.
    expect(learnWait(second, 5200, 5600)).toEqual({ lo: 5200, hi: 5600 });
    expect(learnWait(second, 1000, 2000)).toEqual({ lo: 1000, hi: 2000 });
  });

  test('a drain wakes the rollout when its phase or release changes, not on a probe write', () => {
    const d = (rv: string, status: Record<string, unknown>) =>
      ({
        apiVersion: 'drain.ticdc.io/v1alpha1',
        kind: 'CaptureDrain',
        metadata: { name: 'd', namespace: NS, resourceVersion: rv, labels: { a: 'b' } },
        spec: {},
        status,
      }) as unknown as CaptureDrainObject;
    const a = d('1', { phase: 'Draining', remaining: { tables: 3 }, lastProbeTime: 'x' });
    expect(
      drainStepChanged(a, d('2', { phase: 'Draining', remaining: { tables: 2 }, lastProbeTime: 'y' })),
    ).toBe(false);
    expect(drainStepChanged(a, d('2', { phase: 'Releasing' }))).toBe(true);
    expect(drainStepChanged(a, d('2', { phase: 'Draining', released: true }))).toBe(true);
    expect(drainStepChanged(a, a)).toBe(true); // a resync
  });

  test("the rollout's own progress report does not wake it; any other StatefulSet change does", () => {
    const s = (rv: string, annotations: Record<string, string>, status: Record<string, unknown> = {}) =>
      ({
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'ticdc', namespace: NS, resourceVersion: rv, generation: 3, annotations },
        spec: { replicas: 3 },
        status: { readyReplicas: 3, ...status },
      }) as unknown as StatefulSet;
    const a = s('1', { [ROLLOUT_ANNOTATIONS.phase]: 'Idle', 'drain.ticdc.io/replicas': '3' });
    const report = {
      [ROLLOUT_ANNOTATIONS.phase]: 'RollingUpdate',
      [ROLLOUT_ANNOTATIONS.message]: 'Waiting for drained capture c1 to leave the capture list',
      [ROLLOUT_ANNOTATIONS.eta]: '2026-12-03T23:00:00Z',
      'drain.ticdc.io/replicas': '3',
    };
    expect(statefulSetChanged(a, s('2', report))).toBe(false);
    expect(statefulSetChanged(a, s('2', { ...report, 'drain.ticdc.io/replicas': '2' }))).toBe(true);
    expect(statefulSetChanged(a, s('2', report, { readyReplicas: 2 }))).toBe(true);
    expect(statefulSetChanged(a, a)).toBe(true); // a resync
  });

  test('event mapping: pods by owner, drains by label', () => {
    expect(statefulSetKeysOf(pod(1))).toEqual([{ namespace: NS, name: 'ticdc' }]);
    expect(
      statefulSetKeysOf({ metadata: { namespace: NS, labels: { 'drain.ticdc.io/statefulset': 'x' } } }),
    ).toEqual([{ namespace: NS, name: 'x' }]);
    expect(statefulSetKeysOf({ metadata: { namespace: NS } })).toEqual([]);
  });
});
