// The node cordon controller wired as in production (manager: informers, both controllers, events)
// over the in-memory Kubernetes fake, against the real TiCDC simulator whose captures follow the
// fake pods. The test plays the StatefulSet controller and the scheduler: a deleted pod comes back
// under its name with a new UID on a node that is not cordoned. The real control plane is covered
// by e2e/specs/node.e2e.test.ts.
import { afterEach, describe, expect, test } from '@jest/globals';
import { Registry } from 'prom-client';
import type { CaptureDrainStatus } from '../../src/api/capturedrain.js';
import { EventRecorder } from '../../src/kube/events.js';
import { Resources, type KubeObject } from '../../src/kube/port.js';
import { createManager } from '../../src/manager.js';
import { createLogger, silentLogger } from '../../src/observability/logger.js';
import { isCordoned, type NodeLike } from '../../src/cordon/decide.js';
import { FakeKube } from '../support/fake-kube.js';
import { startFakeKubeSimulator, testConfig } from '../support/operator-harness.js';
import { DRAIN_LABELS } from '../../src/api/names.js';
import { capturePod } from '../support/builders.js';

const NS = 'tidb';
const NODES = ['n1', 'n2', 'n3'];

const config = testConfig(NS, { nodeDrains: true });

type Drain = KubeObject & { spec: { podName: string; trigger?: string }; status?: CaptureDrainStatus };

let seq = 0;
function podObject(
  name: string,
  node: string,
  stsUid: string,
  annotations?: Record<string, string>,
): KubeObject {
  const ordinal = Number(name.split('-').at(-1));
  return capturePod(name, {
    namespace: NS,
    uid: `pod-uid-${++seq}`,
    labels: { app: 'ticdc' },
    ...(annotations ? { annotations } : {}),
    statefulSetUid: stsUid,
    node,
    spec: { subdomain: 'ticdc-peer', hostname: name, terminationGracePeriodSeconds: 0 },
    podIP: `10.244.0.${ordinal + 10 + seq}`,
  });
}

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function harness(opts: {
  placement: Record<string, string>;
  annotations?: Record<string, Record<string, string>>;
  moveRatePerSec?: number;
  nodeDrains?: boolean;
  stsAnnotations?: Record<string, string>;
}) {
  const kube = new FakeKube({ gracefulPodDeletion: false });
  const replicas = Object.keys(opts.placement).length;
  for (const n of NODES)
    await kube.create(Resources.nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name: n }, spec: {} });
  await kube.create(Resources.namespaces, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: NS },
    status: { phase: 'Active' },
  });
  const sim = await startFakeKubeSimulator(kube, NS, {
    seed: 5,
    ...(opts.moveRatePerSec !== undefined ? { moveRatePerSec: opts.moveRatePerSec } : {}),
  });
  stops.push(() => sim.stop());
  const statefulSet = await kube.create<KubeObject>(Resources.statefulsets, {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name: 'ticdc',
      namespace: NS,
      labels: { 'drain.ticdc.io/managed': 'true' },
      annotations: { 'drain.ticdc.io/endpoint': sim.url, ...opts.stsAnnotations },
    },
    spec: { serviceName: 'ticdc-peer', replicas },
  });
  const stsUid = statefulSet.metadata.uid!;
  for (const [name, node] of Object.entries(opts.placement))
    await kube.create(Resources.pods, podObject(name, node, stsUid, opts.annotations?.[name]));
  await sim.waitFor((s) => s.captures.length === replicas);

  // The StatefulSet controller and the scheduler: recreate a deleted pod on a schedulable node.
  const placed: { name: string; node: string }[] = [];
  const sts = await kube.watch(
    Resources.pods,
    { namespace: NS, resourceVersion: kube.currentResourceVersion },
    (type, pod) => {
      if (type !== 'DELETED') return;
      const name = pod.metadata.name!;
      setTimeout(() => {
        void (async () => {
          const nodes = await kube.list<NodeLike>(Resources.nodes);
          const node = nodes.items.find((n) => !isCordoned(n))!.metadata.name!;
          placed.push({ name, node });
          await kube.create(Resources.pods, podObject(name, node, stsUid));
        })();
      }, 50);
    },
  );
  stops.push(async () => sts.abort());

  const events = new EventRecorder({ client: kube, reportingController: 'test', reportingInstance: 'test' });
  const registry = new Registry();
  const manager = createManager({
    config: { ...config, nodeDrains: opts.nodeDrains ?? true },
    kube,
    events,
    registry,
    logger: process.env.NODE_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger(),
    resolveCaptureAddress: (a) => sim.captureUrl(a),
  });
  const ac = new AbortController();
  const done = manager.run(ac.signal);
  stops.unshift(async () => {
    ac.abort();
    await done;
    await events.flush();
  });

  // Every cordon drain, and whether another unfinished cordon drain existed when it appeared.
  const overlaps: string[] = [];
  const drainsWatch = await kube.watch<Drain>(
    Resources.capturedrains,
    { namespace: NS, resourceVersion: kube.currentResourceVersion },
    (type, d) => {
      if (type !== 'ADDED' || d.spec.trigger !== 'NodeCordon') return;
      const others = kube
        .objects<Drain>(Resources.capturedrains, NS)
        .filter((o) => o.metadata.name !== d.metadata.name && o.spec.trigger === 'NodeCordon')
        .filter((o) => o.status?.phase !== 'Completed' && o.status?.phase !== 'Failed');
      if (others.length) overlaps.push(`${d.metadata.name} while ${others.map((o) => o.metadata.name)}`);
    },
  );
  stops.push(async () => drainsWatch.abort());

  const h = {
    kube,
    stsUid,
    sim,
    registry,
    placed,
    overlaps,
    pod: (name: string) => kube.peek<KubeObject & { spec: { nodeName: string } }>(Resources.pods, NS, name),
    drains: () => kube.objects<Drain>(Resources.capturedrains, NS),
    cordonDrains: () => h.drains().filter((d) => d.spec.trigger === 'NodeCordon'),
    async setUnschedulable(node: string, unschedulable: boolean) {
      await kube.patch(Resources.nodes, undefined, node, { spec: { unschedulable } }, 'merge');
    },
    async until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const v = fn();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async nodeEvents(): Promise<string[]> {
      await events.flush();
      return (
        await kube.list<KubeObject & { note: string; regarding: { kind: string } }>(Resources.events)
      ).items
        .filter((e) => e.regarding.kind === 'Node')
        .map((e) => e.note);
    },
  };
  return h;
}

const uids = (h: Awaited<ReturnType<typeof harness>>, names: string[]) =>
  Object.fromEntries(names.map((n) => [n, h.pod(n)?.metadata.uid]));

describe('node cordon controller', () => {
  test('cordon: capture pods on the node are drained one at a time and deleted; others untouched', async () => {
    const h = await harness({
      placement: { 'ticdc-0': 'n1', 'ticdc-1': 'n2', 'ticdc-2': 'n1', 'ticdc-3': 'n3' },
    });
    const before = uids(h, ['ticdc-0', 'ticdc-1', 'ticdc-2', 'ticdc-3']);
    await h.setUnschedulable('n1', true);
    await h.until('both n1 pods moved', () =>
      ['ticdc-0', 'ticdc-2'].every((n) => {
        const p = h.pod(n);
        return p && p.metadata.uid !== before[n] && p.spec.nodeName !== 'n1';
      }),
    );
    await h.until(
      'both drains completed',
      () => h.cordonDrains().length === 2 && h.cordonDrains().every((d) => d.status?.phase === 'Completed'),
    );
    const drains = h.cordonDrains();
    expect(drains.map((d) => d.spec.podName).sort()).toEqual(['ticdc-0', 'ticdc-2']);
    for (const d of drains) {
      expect(d.status).toMatchObject({
        phase: 'Completed',
        reason: 'Drained',
        podUID: before[d.spec.podName],
      });
      expect(d.spec).toMatchObject({ podAction: 'Delete', trigger: 'NodeCordon' });
      expect(d.metadata.labels).toMatchObject({ [DRAIN_LABELS.statefulSet]: 'ticdc' });
      expect(d.metadata.ownerReferences).toEqual([
        expect.objectContaining({ kind: 'StatefulSet', uid: h.stsUid }),
      ]);
    }
    // One at a time: the second drain was created only after the first one finished.
    expect(h.overlaps).toEqual([]);
    const [a, b] = [...drains].sort(
      (x, y) => Number(x.metadata.resourceVersion) - Number(y.metadata.resourceVersion),
    );
    expect(Date.parse(b!.metadata.creationTimestamp!)).toBeGreaterThanOrEqual(
      Date.parse(a!.status!.completionTime!) - 1000,
    );
    // Only the drained incarnations were deleted, each once, with a UID precondition.
    const deletes = h.kube.callsOf('delete').filter((c) => c.type?.includes('pods'));
    expect(deletes.map((c) => (c.opts as { uid?: string }).uid).sort()).toEqual(
      [before['ticdc-0'], before['ticdc-2']].sort(),
    );
    expect(uids(h, ['ticdc-1', 'ticdc-3'])).toEqual({
      'ticdc-1': before['ticdc-1'],
      'ticdc-3': before['ticdc-3'],
    });
    expect(h.placed.every((p) => p.node !== 'n1')).toBe(true);
    expect(h.sim.unintendedViolations()).toEqual([]);
    const notes = await h.nodeEvents();
    expect(notes).toEqual(
      expect.arrayContaining([
        'Cordoned node n1: draining 2 capture pods (tidb/ticdc-0, tidb/ticdc-2)',
        expect.stringMatching(/^Draining capture pod tidb\/ticdc-0 \(CaptureDrain ticdc-0-[0-9a-f]{8}\)$/),
      ]),
    );
    const metrics = await h.registry.getSingleMetricAsString('capture_drain_node_drains_created_total');
    expect(metrics).toMatch(/capture_drain_node_drains_created_total 2$/m);
  });

  test('uncordon cancels a cordon drain that has not started', async () => {
    const h = await harness({
      placement: { 'ticdc-0': 'n1', 'ticdc-1': 'n2', 'ticdc-2': 'n3' },
      moveRatePerSec: 2,
    });
    const before = uids(h, ['ticdc-0']);
    // A manual drain holds the TiCDC cluster, so the cordon drain queues behind it.
    await h.kube.create(Resources.capturedrains, {
      apiVersion: 'drain.ticdc.io/v1alpha1',
      kind: 'CaptureDrain',
      metadata: { name: 'manual', namespace: NS },
      spec: { podName: 'ticdc-1', podAction: 'None' },
    });
    await h.until('manual drain started', () => h.drains().find((d) => d.status?.startTime));
    await h.setUnschedulable('n1', true);
    const queued = await h.until('cordon drain queued', () =>
      h.cordonDrains().find((d) => d.status?.phase === 'Queued'),
    );
    expect(queued.spec.podName).toBe('ticdc-0');
    await h.setUnschedulable('n1', false);
    await h.until('cordon drain cancelled', () => h.cordonDrains().length === 0);
    await h.until(
      'manual drain completed',
      () => h.drains().find((d) => d.metadata.name === 'manual' && d.status?.phase === 'Completed'),
      30_000,
    );
    expect(h.pod('ticdc-0')?.metadata.uid).toBe(before['ticdc-0']);
    expect(h.cordonDrains()).toEqual([]);
    expect(await h.nodeEvents()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^Cancelled drain tidb\/ticdc-0-[0-9a-f]{8} of capture pod ticdc-0 before it started: node n1 uncordoned$/,
        ),
      ]),
    );
    expect(h.sim.unintendedViolations()).toEqual([]);
  });

  test('uncordon mid-drain lets the drain finish and starts no other', async () => {
    const h = await harness({
      placement: { 'ticdc-0': 'n1', 'ticdc-1': 'n2', 'ticdc-2': 'n1', 'ticdc-3': 'n3' },
      moveRatePerSec: 3,
    });
    const before = uids(h, ['ticdc-0', 'ticdc-2']);
    await h.setUnschedulable('n1', true);
    const running = await h.until('a cordon drain draining', () =>
      h.cordonDrains().find((d) => d.status?.phase === 'Draining'),
    );
    await h.setUnschedulable('n1', false);
    await h.until('the drain completed', () =>
      h
        .cordonDrains()
        .find((d) => d.metadata.name === running.metadata.name && d.status?.phase === 'Completed'),
    );
    const moved = running.spec.podName;
    const stayed = moved === 'ticdc-0' ? 'ticdc-2' : 'ticdc-0';
    await h.until(
      'the drained pod replaced',
      () => h.pod(moved) && h.pod(moved)!.metadata.uid !== before[moved],
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(h.cordonDrains()).toHaveLength(1);
    expect(h.pod(stayed)?.metadata.uid).toBe(before[stayed]);
    expect(h.sim.unintendedViolations()).toEqual([]);
  });

  test('a pod annotated drain.ticdc.io/skip stays; its neighbour is drained', async () => {
    const h = await harness({
      placement: { 'ticdc-0': 'n1', 'ticdc-1': 'n2', 'ticdc-2': 'n1' },
      annotations: { 'ticdc-0': { 'drain.ticdc.io/skip': 'true' } },
    });
    const before = uids(h, ['ticdc-0', 'ticdc-2']);
    await h.setUnschedulable('n1', true);
    await h.until(
      'ticdc-2 moved',
      () => h.pod('ticdc-2') && h.pod('ticdc-2')!.metadata.uid !== before['ticdc-2'],
    );
    await h.until('its drain completed', () => h.cordonDrains()[0]?.status?.phase === 'Completed');
    await new Promise((r) => setTimeout(r, 500));
    expect(h.cordonDrains().map((d) => d.spec.podName)).toEqual(['ticdc-2']);
    expect(h.pod('ticdc-0')?.metadata.uid).toBe(before['ticdc-0']);
    expect(h.pod('ticdc-0')?.spec.nodeName).toBe('n1');
    expect(await h.nodeEvents()).toContain('Cordoned node n1: draining 1 capture pod (tidb/ticdc-2)');
  });

  test('a held cordon drain keeps the other pods of the StatefulSet in place and warns on the node', async () => {
    const h = await harness({
      placement: { 'ticdc-0': 'n1', 'ticdc-1': 'n2', 'ticdc-2': 'n1' },
      stsAnnotations: {
        'drain.ticdc.io/timeout': '1s',
        'drain.ticdc.io/stall-timeout': '1s',
        'drain.ticdc.io/on-timeout': 'Hold',
      },
      moveRatePerSec: 0.2,
    });
    h.sim.setFaults({ stall: true });
    const before = uids(h, ['ticdc-0', 'ticdc-2']);
    await h.setUnschedulable('n1', true);
    const held = await h.until('the first drain held', () =>
      h.cordonDrains().find((d) => d.status?.phase === 'Failed'),
    );
    expect(held.status!.reason).toBe('TimedOut');
    await new Promise((r) => setTimeout(r, 700));
    expect(h.cordonDrains()).toHaveLength(1);
    expect(uids(h, ['ticdc-0', 'ticdc-2'])).toEqual(before);
    expect(await h.nodeEvents()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^Capture pod tidb\/ticdc-2 stays on cordoned node n1: drain tidb\/ticdc-0-[0-9a-f]{8} of StatefulSet tidb\/ticdc ended Failed \(TimedOut\) without releasing its pod$/,
        ),
      ]),
    );
  });

  test('the unschedulable taint alone counts as a cordon', async () => {
    const h = await harness({ placement: { 'ticdc-0': 'n1', 'ticdc-1': 'n2', 'ticdc-2': 'n3' } });
    const before = uids(h, ['ticdc-0']);
    await h.kube.patch(
      Resources.nodes,
      undefined,
      'n1',
      { spec: { taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] } },
      'merge',
    );
    await h.until(
      'ticdc-0 moved',
      () => h.pod('ticdc-0') && h.pod('ticdc-0')!.metadata.uid !== before['ticdc-0'],
    );
    expect(h.cordonDrains().map((d) => d.spec.podName)).toEqual(['ticdc-0']);
  });

  test('--node-drains false: a cordon drains nothing', async () => {
    const h = await harness({ placement: { 'ticdc-0': 'n1', 'ticdc-1': 'n2' }, nodeDrains: false });
    await h.setUnschedulable('n1', true);
    await new Promise((r) => setTimeout(r, 700));
    expect(h.drains()).toEqual([]);
    expect(h.kube.callsOf('watch').some((c) => c.type?.endsWith('/nodes'))).toBe(false);
  });
});
