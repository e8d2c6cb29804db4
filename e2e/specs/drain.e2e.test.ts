// Manual drains through kubectl on the real control plane: a TiCDC StatefulSet of kwok pods,
// the simulator tracking those pods as captures, and the operator running from source as the
// chart's ServiceAccount (RBAC enforced).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { eventually } from '../harness/cluster.js';
import { SERVICE_ACCOUNT, type OperatorProcess } from '../harness/operator.js';
import { deployTicdc, type TicdcWorkload } from '../harness/workload.js';
import {
  captureDrain,
  cluster,
  drainStatus,
  operatorFor,
  podUid,
  waitForDrain,
  type DrainStatus,
} from './support/suite.js';

const NS = 'e2e-drain';
const c = cluster();
let ticdc: TicdcWorkload;
let operator: OperatorProcess;
let startOperator: () => OperatorProcess;

beforeAll(async () => {
  ticdc = await deployTicdc(c, { namespace: NS, replicas: 4, sim: { moveRatePerSec: 1.5, seed: 11 } });
  ({ start: startOperator } = await operatorFor(c, NS));
  operator = startOperator();
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  await ticdc?.sim.stop();
  await c.kubectl(['delete', 'namespace', NS, '--wait=false']);
});

const nonOwnerPods = () =>
  ticdc.sim
    .captures()
    .filter((x) => !x.isOwner)
    .map((x) => x.podName!);
const ownerPod = () => ticdc.sim.captures().find((x) => x.isOwner)!.podName!;

/** Polls the status while a drain runs and keeps every distinct remaining count it saw. */
async function watchCounts(name: string, until: (s: DrainStatus) => boolean) {
  const seen: number[] = [];
  const s = await eventually(
    `${name} to finish`,
    async () => {
      const st = await drainStatus(c, NS, name);
      const n = st.remaining?.tables;
      if (n !== undefined && seen.at(-1) !== n) seen.push(n);
      return until(st) ? st : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 150 },
  );
  return { seen, status: s };
}

async function eventsFor(name: string): Promise<{ reason: string; note: string }[]> {
  const list = await c.getJson<{ items: { reason: string; note: string; regarding: { name: string } }[] }>([
    'get',
    'events.events.k8s.io',
    '-n',
    NS,
  ]);
  return list.items.filter((e) => e.regarding.name === name);
}

describe('manual drains with kubectl', () => {
  test('the operator runs with exactly the chart RBAC, not cluster-admin', async () => {
    const as = `system:serviceaccount:${NS}:${SERVICE_ACCOUNT}`;
    const can = async (...args: string[]) =>
      (await c.kubectl(['auth', 'can-i', ...args, '--as', as])).stdout.trim();
    expect(await can('delete', 'pods', '-n', NS)).toBe('yes');
    expect(await can('patch', 'capturedrains.drain.ticdc.io', '--subresource=status', '-n', NS)).toBe('yes');
    // patch: only for the finalizer recording a CaptureDrain deleted mid-drain.
    expect(await can('patch', 'capturedrains.drain.ticdc.io', '-n', NS)).toBe('yes');
    expect(await can('list', 'secrets', '-n', NS)).toBe('no');
    expect(await can('delete', 'statefulsets', '-n', NS)).toBe('no');
    expect(await can('update', 'capturedrains.drain.ticdc.io', '-n', NS)).toBe('no');
  });

  test('podAction Delete: Pending -> Draining -> Drained -> Releasing -> Completed, pod deleted only after zero', async () => {
    const pod = nonOwnerPods()[0]!;
    const uid = await podUid(c, NS, pod);
    const capture = ticdc.sim.captures().find((x) => x.podName === pod)!;
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, 'manual', { podName: pod, podAction: 'Delete' }),
    });
    const wait = c.kubectl(
      ['wait', '--for=condition=Complete', 'cdrain/manual', '-n', NS, '--timeout=120s'],
      { timeoutMs: 130_000 },
    );
    const { seen, status } = await watchCounts('manual', (s) => s.phase === 'Completed');
    expect((await wait).code).toBe(0);

    expect(status).toMatchObject({ reason: 'Drained', captureID: capture.id, podUID: uid });
    expect(status.history!.map((h) => h.phase)).toEqual(
      expect.arrayContaining(['Pending', 'Draining', 'Drained', 'Releasing', 'Completed']),
    );
    const order = ['Pending', 'Draining', 'Drained', 'Releasing', 'Completed'].map((p) =>
      status.history!.findIndex((h) => h.phase === p),
    );
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // Counts fell to zero while we watched.
    expect(seen[0]).toBeGreaterThan(0);
    expect(seen.at(-1)).toBe(0);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(status.initial!.tables).toBeGreaterThan(0);
    const reasons = (await eventsFor('manual')).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Started', 'DrainRequested', 'CountsZero', 'Drained']));

    // The StatefulSet recreated the pod, and TiCDC registered it as a new capture.
    const newUid = await eventually('pod recreated', async () => {
      const u = await podUid(c, NS, pod);
      return u && u !== uid ? u : undefined;
    });
    await eventually('new capture registered', async () =>
      ticdc.sim.captures().some((x) => x.podName === pod && x.podUid === newUid && x.id !== capture.id),
    );
    expect(ticdc.sim.violations()).toEqual([]);
  });

  test('a drain of the coordinator resigns it first', async () => {
    const pod = ownerPod();
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, 'coordinator', { podName: pod, podAction: 'Delete' }),
    });
    const s = await waitForDrain(
      c,
      NS,
      'coordinator',
      (x) => x.phase === 'Completed' || x.phase === 'Failed',
    );
    expect(s).toMatchObject({ phase: 'Completed', reason: 'Drained', ownerResigned: true });
    const phases = s.history!.map((h) => h.phase);
    expect(phases.indexOf('ResigningOwner')).toBeGreaterThanOrEqual(0);
    expect(phases.indexOf('ResigningOwner')).toBeLessThan(phases.indexOf('Draining'));
    await eventually(
      '4 captures again',
      async () => ticdc.sim.captures().length === 4 && ticdc.sim.captures().some((x) => x.isOwner),
    );
    expect(ticdc.sim.violations()).toEqual([]);
  });

  test('two drains of the same TiCDC cluster run one after the other', async () => {
    const [a, b] = nonOwnerPods();
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, 'first', { podName: a, podAction: 'Delete' }),
    });
    await waitForDrain(c, NS, 'first', (s) => s.phase === 'Draining');
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, 'second', { podName: b, podAction: 'Delete' }),
    });
    const queued = await waitForDrain(c, NS, 'second', (s) => s.phase === 'Queued');
    expect(queued.message).toContain(`${NS}/first`);
    const printed = await c.kubectlOk(['get', 'cdrain', 'second', '-n', NS]);
    expect(printed).toMatch(/second\s+\S+\s+Queued/);
    const first = await waitForDrain(c, NS, 'first', (s) => s.phase === 'Completed');
    const second = await waitForDrain(c, NS, 'second', (s) => s.phase === 'Completed');
    expect(Date.parse(second.startTime!)).toBeGreaterThanOrEqual(Date.parse(first.completionTime!) - 1000);
    await eventually('4 captures again', async () => ticdc.sim.captures().length === 4);
    expect(ticdc.sim.violations()).toEqual([]);
  });

  test('SIGKILL of the operator while Draining: the drain resumes from status and deletes the pod once', async () => {
    const pod = nonOwnerPods()[0]!;
    const uid = await podUid(c, NS, pod);
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, 'crash', { podName: pod, podAction: 'Delete' }),
    });
    await waitForDrain(c, NS, 'crash', (s) => s.phase === 'Draining' && (s.remaining?.tables ?? 0) > 0);
    await operator.kill();
    const frozen = await drainStatus(c, NS, 'crash');
    expect(frozen.phase).toBe('Draining');
    expect(await podUid(c, NS, pod)).toBe(uid);
    operator = startOperator(); // waits out the dead leader's lease, then resumes
    const s = await waitForDrain(c, NS, 'crash', (x) => x.phase === 'Completed', 120_000);
    expect(s.reason).toBe('Drained');
    const replacement = await eventually('pod recreated', async () => {
      const u = await podUid(c, NS, pod);
      return u && u !== uid ? u : undefined;
    });
    await eventually('replacement registered', async () =>
      ticdc.sim.captures().some((x) => x.podUid === replacement),
    );
    // Deleted exactly once: the replacement survives the resumed operator.
    await new Promise((r) => setTimeout(r, 5000));
    expect(await podUid(c, NS, pod)).toBe(replacement);
    expect(ticdc.sim.violations()).toEqual([]);
  }, 120_000); // a dead leader's lease, then the capture's departure (§9: about 5 s after SIGTERM)
});

describe('timeout policy', () => {
  test('onTimeout Hold keeps the pod and fails TimedOut; Release proceeds', async () => {
    const [a, b] = nonOwnerPods();
    const uidA = await podUid(c, NS, a!);
    ticdc.sim.setFaults({ stall: true });
    try {
      await c.kubectlOk(['apply', '-f', '-'], {
        input: captureDrain(NS, 'hold', {
          podName: a,
          podAction: 'Delete',
          timeout: '4s',
          onTimeout: 'Hold',
        }),
      });
      const held = await waitForDrain(c, NS, 'hold', (s) => s.phase === 'Failed');
      expect(held.reason).toBe('TimedOut');
      expect(held.conditions!.find((x) => x.type === 'Failed')).toMatchObject({
        status: 'True',
        reason: 'TimedOut',
      });
      await new Promise((r) => setTimeout(r, 2000));
      expect(await podUid(c, NS, a!)).toBe(uidA);

      // The held capture stays in TiCDC's drain session until it leaves; Release lets b go anyway.
      await c.kubectlOk(['apply', '-f', '-'], {
        input: captureDrain(NS, 'release', {
          podName: b,
          podAction: 'Delete',
          timeout: '4s',
          onTimeout: 'Release',
        }),
      });
      const released = await waitForDrain(
        c,
        NS,
        'release',
        (s) => s.phase === 'Completed' || s.phase === 'Failed',
      );
      expect(released).toMatchObject({ phase: 'Completed', reason: 'TimedOut' });
      expect(released.conditions!.find((x) => x.type === 'Drained')!.status).not.toBe('True');
      // Released with work on it, as the user's policy asked: the simulator saw exactly that.
      await eventually('b removed', async () => ticdc.sim.violations().some((v) => v.podName === b));
      expect(ticdc.sim.violations().map((v) => v.podName)).toEqual([b]);
    } finally {
      ticdc.sim.clearFaults();
    }
  });
});
