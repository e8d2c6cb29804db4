// Drained rollouts and scale-ins of charts/ticdc-example on the real control plane: helm installs
// and upgrades the chart, the StatefulSet controller replaces kwok pods, the simulator plays TiCDC
// (its invariant record says whether any capture ever left holding work), and the operator runs
// from source as the chart's ServiceAccount.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { eventually } from '../harness/cluster.js';
import { CLI, type OperatorProcess } from '../harness/operator.js';
import { installTicdcChart, type TicdcRelease } from '../harness/ticdc-chart.js';
import { captureDrain, cluster, operatorFor, waitForDrain } from './support/suite.js';

const NS = 'e2e-rollout';
const c = cluster();
let ticdc: TicdcRelease;
let operator: OperatorProcess;
let startOperator: () => OperatorProcess;

interface Drain {
  metadata: { name: string; creationTimestamp: string; labels: Record<string, string> };
  spec: { podName: string; trigger: string; podAction: string };
  status?: {
    phase?: string;
    reason?: string;
    startTime?: string;
    drainedTime?: string;
    releaseTime?: string;
    completionTime?: string;
    ownerResigned?: boolean;
    podUID?: string;
  };
}

interface Sts {
  metadata: { annotations: Record<string, string>; generation: number };
  spec: { replicas: number; updateStrategy: { type: string; rollingUpdate?: { partition?: number } } };
  status: { updateRevision: string; currentRevision: string; observedGeneration: number };
}

beforeAll(async () => {
  ({ start: startOperator } = await operatorFor(c, NS, ['--namespaces', NS]));
  ticdc = await installTicdcChart(c, {
    namespace: NS,
    replicas: 5,
    sim: { moveRatePerSec: 6, seed: 21 },
  });
  operator = startOperator();
}, 240_000);

afterAll(async () => {
  await operator?.stop();
  await ticdc?.sim.stop();
  await c.kubectl(['delete', 'namespace', NS, '--wait=false']);
});

const sts = () => c.getJson<Sts>(['get', 'statefulset', 'ticdc', '-n', NS]);
const podRevisions = async () => {
  const list = await c.getJson<{
    items: { metadata: { name: string; uid: string; labels: Record<string, string> } }[];
  }>(['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/instance=ticdc']);
  return list.items.map((p) => ({
    name: p.metadata.name,
    uid: p.metadata.uid,
    revision: p.metadata.labels['controller-revision-hash'],
  }));
};
const drains = async (since: string) =>
  (
    await c.getJson<{ items: Drain[] }>([
      'get',
      'capturedrains',
      '-n',
      NS,
      '-l',
      'drain.ticdc.io/statefulset=ticdc',
    ])
  ).items
    .filter((d) => d.metadata.creationTimestamp >= since)
    .sort((a, b) => (a.status?.startTime ?? '').localeCompare(b.status?.startTime ?? ''));
/**
 * The drains once all have ended: the rollout may see the last capture leave (its own look) up to
 * one departure poll (2 s) before that drain does.
 */
const finishedDrains = (since: string) =>
  eventually(
    'every drain ended',
    async () => {
      const ds = await drains(since);
      return ds.every((d) => d.status?.phase === 'Completed' || d.status?.phase === 'Failed') && ds;
    },
    { timeoutMs: 15_000, intervalMs: 250 },
  );
/** The pod whose capture the simulator is draining right now (in-process: no API round trip). */
function drainingPod(): string | undefined {
  const snap = ticdc.sim.state().drain;
  const session = snap.mode === 'newarch' ? snap.session : null;
  return session && !session.completed ? ticdc.sim.capture(session.target)?.podName : undefined;
}
const waitDraining = (pod?: string) =>
  eventually(`${pod ?? 'a capture'} draining`, async () => (pod ? drainingPod() === pod : !!drainingPod()), {
    timeoutMs: 60_000,
    intervalMs: 20,
  });
const ownerPod = () => ticdc.sim.captures().find((x) => x.isOwner)?.podName;
const stsEvents = async () =>
  (
    await c.getJson<{
      items: { reason: string; note: string; type: string; regarding: { kind: string; name: string } }[];
    }>(['get', 'events.events.k8s.io', '-n', NS])
  ).items.filter((e) => e.regarding.kind === 'StatefulSet' && e.regarding.name === 'ticdc');

/** Samples the simulator while a rollout runs: never fewer than `min` captures alive (not draining). */
function watchCapacity(min: number) {
  let worst = Infinity;
  const t = setInterval(() => {
    const alive = ticdc.sim.captures().filter((x) => x.liveness === 'alive').length;
    worst = Math.min(worst, alive);
  }, 100);
  return {
    stop() {
      clearInterval(t);
      expect(worst).toBeGreaterThanOrEqual(min);
    },
  };
}

/** Until the operator reports Idle and every pod runs the update revision. */
async function waitRolledOut(replicas: number, timeoutMs = 150_000) {
  return eventually(
    'rollout finished',
    async () => {
      const s = await sts();
      const pods = await podRevisions();
      return (
        s.status.observedGeneration === s.metadata.generation &&
        s.metadata.annotations['drain.ticdc.io/rollout-phase'] === 'Idle' &&
        s.spec.replicas === replicas &&
        pods.length === replicas &&
        pods.every((p) => p.revision === s.status.updateRevision) &&
        ticdc.sim.captures().length === replicas &&
        s
      );
    },
    { timeoutMs, intervalMs: 500 },
  );
}

/** Checks a finished set of drains: one per pod, all completed, strictly one after another. */
function expectSequential(ds: Drain[], pods: string[], trigger: string) {
  expect(ds.map((d) => d.spec.podName)).toEqual(pods);
  for (const d of ds) {
    expect(d.spec.trigger).toBe(trigger);
    expect(d.status).toMatchObject({ phase: 'Completed', reason: 'Drained' });
    expect(d.status!.drainedTime).toBeDefined();
  }
  for (let i = 1; i < ds.length; i++)
    expect(Date.parse(ds[i]!.status!.startTime!)).toBeGreaterThanOrEqual(
      Date.parse(ds[i - 1]!.status!.releaseTime!),
    );
}

const drainObject = (name: string) => c.getJson<Drain>(['get', 'capturedrain', name, '-n', NS]);

const now = () => new Date(Date.now() - 1000).toISOString().replace(/\.\d+Z$/, 'Z');

describe('drained rollouts of charts/ticdc-example', () => {
  test('helm upgrade --set image.tag: all 5 pods drained and replaced one at a time, highest first, coordinator last', async () => {
    expect(ownerPod()).toBe('ticdc-0'); // OrderedReady: ticdc-0 campaigned first
    const before = await podRevisions();
    const since = now();
    const capacity = watchCapacity(4);
    const started = Date.now();
    // helm --wait returns on its first poll that finds every pod Ready (replicas - partition = 0
    // updated pods expected while the partition is held): usually at once, at the latest when the
    // rollout ends. Watch the rollout concurrently.
    const upgrade = ticdc.upgrade({ 'image.tag': 'v8.5.8' });
    await waitDraining();
    // The dry run sees the pending rollout.
    const plan = await promisify(execFile)(
      process.execPath,
      [CLI, 'plan', '-n', NS, '--statefulset', 'ticdc'],
      {
        env: { ...process.env, KUBECONFIG: c.kubeconfig },
      },
    );
    expect(plan.stdout).toMatch(/Order:/);
    expect(plan.stdout).toMatch(/ticdc-0 .*\(coordinator\)/);
    const helmMs = await upgrade;
    await waitRolledOut(5);
    const tookMs = Date.now() - started;
    capacity.stop();
    console.log(
      `rollout of 5 captures took ${(tookMs / 1000).toFixed(1)} s (helm upgrade returned after ${helmMs} ms)`,
    );

    const ds = (await finishedDrains(since)).filter((d) => d.spec.trigger === 'RollingUpdate');
    expectSequential(ds, ['ticdc-4', 'ticdc-3', 'ticdc-2', 'ticdc-1', 'ticdc-0'], 'RollingUpdate');
    for (const d of ds) expect(d.spec.podAction).toBe('None');
    // The coordinator went last, and only its drain had to resign it.
    expect(ds.map((d) => !!d.status!.ownerResigned)).toEqual([false, false, false, false, true]);
    // Every pod is a new incarnation; no capture ever left holding work.
    const after = await podRevisions();
    for (const p of after) expect(before.find((b) => b.name === p.name)!.uid).not.toBe(p.uid);
    expect(ticdc.sim.unintendedViolations()).toEqual([]);

    const s = await sts();
    expect(s.spec.updateStrategy.rollingUpdate?.partition).toBe(5); // held again for the next update
    const reasons = (await stsEvents()).map((e) => e.reason);
    expect(reasons).toEqual(
      expect.arrayContaining(['RolloutStarted', 'DrainStarted', 'PartitionLowered', 'RolloutComplete']),
    );
  }, 180_000);

  test('helm upgrade --set replicas=3: the two removed captures are drained before they go', async () => {
    const since = now();
    const capacity = watchCapacity(3);
    await ticdc.upgrade({ replicas: '3' });
    // The chart rendered max(desired, live) = 5: the StatefulSet controller deleted nothing by itself.
    const manifest = await c.helm(['get', 'manifest', 'ticdc', '-n', NS]);
    expect(manifest.stdout).toMatch(/\n {2}replicas: 5\n/);
    expect(manifest.stdout).toMatch(/drain\.ticdc\.io\/replicas: "3"/);
    await waitRolledOut(3);
    capacity.stop();
    const ds = await finishedDrains(since);
    expectSequential(ds, ['ticdc-4', 'ticdc-3'], 'ScaleIn');
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
    expect((await stsEvents()).map((e) => e.reason)).toContain('ReplicasLowered');
  }, 180_000);

  test('the rollout survives an operator SIGKILL mid-rollout and a coordinator failover mid-drain', async () => {
    const since = now();
    const upgrade = ticdc.upgrade({ 'image.tag': 'v8.5.9' });
    await waitDraining('ticdc-2');
    await operator.kill();
    operator = startOperator();
    await waitDraining('ticdc-1');
    const previous = ticdc.sim.failover('resign');
    expect(previous).not.toBeNull();
    await upgrade;
    await waitRolledOut(3, 180_000);
    const ds = await finishedDrains(since);
    expectSequential(ds, ['ticdc-2', 'ticdc-1', 'ticdc-0'], 'RollingUpdate');
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  }, 180_000);

  test('OnDelete: non-coordinator pods by descending ordinal, then the coordinator; each deleted by its drain', async () => {
    // Put the coordinator on the middle pod so "coordinator last" is not just "ordinal 0 last".
    await eventually(
      'coordinator on ticdc-1',
      async () => ownerPod() === 'ticdc-1' || (ticdc.sim.failover('resign'), false),
      {
        timeoutMs: 30_000,
        intervalMs: 1500,
      },
    );
    const since = now();
    const capacity = watchCapacity(2);
    await ticdc.upgrade({ updateStrategy: 'OnDelete', 'image.tag': 'v8.5.10' });
    await waitRolledOut(3);
    capacity.stop();
    const ds = await finishedDrains(since);
    expectSequential(ds, ['ticdc-2', 'ticdc-0', 'ticdc-1'], 'RollingUpdate');
    for (const d of ds) expect(d.spec.podAction).toBe('Delete');
    expect(ds.at(-1)!.status!.ownerResigned).toBe(true);
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  }, 180_000);

  test('a rollout drain queued behind a hand-made drain of the same pod ends PodReplaced once that drain deletes it: the replacement is not drained again', async () => {
    const since = now();
    const owner = ownerPod();
    const target = ['ticdc-2', 'ticdc-1', 'ticdc-0'].find((p) => p !== owner)!;
    const before = (await podRevisions()).find((p) => p.name === target)!;
    // Work stands still until the rollout has queued its own drain of the same incarnation.
    ticdc.sim.setFaults({ stall: true });
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, 'by-hand', { podName: target, podAction: 'Delete' }),
    });
    await waitDraining(target);
    const upgrade = ticdc.upgrade({ 'image.tag': 'v8.5.10-1' });
    const queued = await eventually(
      `a rollout drain of ${target} queued`,
      async () => (await drains(since)).find((d) => d.spec.podName === target),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(queued.metadata.labels['drain.ticdc.io/pod-uid']).toBe(before.uid);
    expect(queued.status?.startTime).toBeUndefined();
    ticdc.sim.clearFaults();
    const manual = await waitForDrain(c, NS, 'by-hand', (x) => x.phase === 'Completed', 120_000);
    expect(manual.reason).toBe('Drained');
    await upgrade;
    await waitRolledOut(3);
    const ds = await finishedDrains(since);
    const stale = ds.find((d) => d.metadata.name === queued.metadata.name)!;
    expect(stale.status).toMatchObject({ phase: 'Completed', reason: 'PodReplaced' });
    expect(stale.status?.startTime).toBeUndefined();
    // Each rollout drain drained only the incarnation it was made for, and no incarnation was
    // drained twice (by the hand-made drain and a rollout's).
    for (const d of ds.filter((x) => x.status?.drainedTime))
      expect(d.status!.podUID).toBe(d.metadata.labels['drain.ticdc.io/pod-uid']);
    const drained = [...ds, await drainObject('by-hand')]
      .filter((d) => d.status?.drainedTime)
      .map((d) => d.status!.podUID);
    expect(new Set(drained).size).toBe(drained.length);
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
    await c.kubectlOk(['delete', 'capturedrain', 'by-hand', '-n', NS]);
  }, 240_000);

  test('an updated pod that never becomes Ready stops the rollout: Blocked, a Warning, no further drain', async () => {
    const since = now();
    await ticdc.upgrade(
      { 'drain.podReadyTimeout': '8s', 'image.tag': 'v8.5.11-broken' },
      // kwok's pod-ready stage honours this delay: the new pods stay not Ready.
      { podAnnotations: { 'pod-ready.stage.kwok.x-k8s.io/delay': '1h' } },
    );
    const s = await eventually(
      'rollout Blocked',
      async () => {
        const x = await sts();
        return x.metadata.annotations['drain.ticdc.io/rollout-phase'] === 'Blocked' && x;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(s.metadata.annotations['drain.ticdc.io/rollout-message']).toMatch(
      /pod ticdc-\d to become Ready: not done within pod-ready-timeout 8s/,
    );
    const warnings = (await stsEvents()).filter((e) => e.type === 'Warning' && e.reason === 'RolloutBlocked');
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    // One pod went (drained first); nothing else is drained while it is not Ready.
    await new Promise((r) => setTimeout(r, 4000));
    const ds = await finishedDrains(since);
    expect(ds).toHaveLength(1);
    expect(ds[0]!.status).toMatchObject({ phase: 'Completed', reason: 'Drained' });
    expect(ticdc.sim.captures()).toHaveLength(2);
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  }, 180_000);
});
