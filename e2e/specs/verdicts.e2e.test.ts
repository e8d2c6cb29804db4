// Drain verdicts on the real control plane, against the simulator's v8.5.7 behaviour: a legacy
// peer's zero is not "drained" (case 1), the release is bound to the pod's own capture (case 2), a
// status patched by hand never deletes a pod holding work (case 4), and TiCDC's previous drain
// session is shown as such, and a CaptureDrain deleted mid-drain is recorded (case 6); under 40%
// mixed transient faults a drain completes close to its fault-free time and never early, a garbled
// 400 during flavour detection is transient (case 5), and a Secret that cannot be read fails
// Configuration within stallTimeout without holding the cluster's queue (case 7).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { eventually } from '../harness/cluster.js';
import type { OperatorProcess } from '../harness/operator.js';
import { deployTicdc, waitForCapturesWithWork, type TicdcWorkload } from '../harness/workload.js';
import {
  captureDrain,
  cluster,
  operatorFor,
  podUid,
  waitForDrain,
  type DrainStatus,
} from './support/suite.js';

const NS = 'e2e-verdicts';
const c = cluster();
let ticdc: TicdcWorkload;
let operator: OperatorProcess;

beforeAll(async () => {
  ticdc = await deployTicdc(c, { namespace: NS, replicas: 4, sim: { moveRatePerSec: 1, seed: 31 } });
  const { start } = await operatorFor(c, NS);
  operator = start();
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  await ticdc?.sim.stop();
  await c.kubectl(['delete', 'namespace', NS, '--wait=false']);
});

const nonOwners = () => ticdc.sim.captures().filter((x) => !x.isOwner && x.liveness === 'alive');

async function events(): Promise<
  { reason: string; note: string; regarding: { kind: string; name: string } }[]
> {
  const list = await c.getJson<{
    items: { reason: string; note: string; regarding: { kind: string; name: string } }[];
  }>(['get', 'events.events.k8s.io', '-n', NS]);
  return list.items;
}

describe('drain verdicts against TiCDC v8.5.7 behaviour', () => {
  test('case 2: podName with the captureAddress of another pod fails Configuration before any TiCDC call', async () => {
    const [a, b] = nonOwners();
    const before = ticdc.sim.capture(b!.id)!;
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, 'wrong-address', {
        podName: a!.podName,
        captureAddress: b!.address,
        podAction: 'Delete',
      }),
    });
    const s = await waitForDrain(c, NS, 'wrong-address', (st) => st.phase === 'Failed');
    expect(s.reason).toBe('Configuration');
    expect(s.message).toContain(`not an address of pod ${a!.podName}`);
    expect(ticdc.sim.capture(b!.id)!.liveness).toBe(before.liveness);
    expect(await podUid(c, NS, a!.podName!)).toBeDefined();
  });

  test('case 1: a legacy peer makes TiCDC answer 0 with the target Alive: LegacyFallback, never Drained', async () => {
    const [legacy, target] = nonOwners();
    ticdc.sim.setLegacy(legacy!.id, true);
    try {
      const uid = await podUid(c, NS, target!.podName!);
      await c.kubectlOk(['apply', '-f', '-'], {
        input: captureDrain(NS, 'legacy', { podName: target!.podName, podAction: 'Delete' }),
      });
      const s = await waitForDrain(
        c,
        NS,
        'legacy',
        (st) => st.phase === 'Failed' || st.phase === 'Completed',
      );
      expect(s).toMatchObject({ phase: 'Failed', reason: 'LegacyFallback', targetLiveness: 'Alive' });
      expect(s.drainedTime).toBeUndefined();
      // onTimeout Hold (the default): the pod holding work was kept.
      expect(await podUid(c, NS, target!.podName!)).toBe(uid);
      expect(ticdc.sim.capture(target!.id)!.liveness).toBe('alive');
    } finally {
      ticdc.sim.setLegacy(legacy!.id, false);
    }
  });

  test('case 6: a previous drain session holding the cluster is shown as WaitingForPreviousDrain, naming the holder', async () => {
    const [holder, target] = nonOwners();
    ticdc.sim.holdDrainSession(holder!.id);
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, 'blocked', { podName: target!.podName, podAction: 'None', timeout: '40s' }),
    });
    const waiting = await waitForDrain(
      c,
      NS,
      'blocked',
      (st) => st.reason === 'WaitingForPreviousDrain',
      60_000,
    );
    expect(waiting.phase).toBe('Draining');
    expect(waiting.blockingCapture).toContain(holder!.id);
    expect(waiting.message).toContain('restart that pod');
    expect((await events()).some((e) => e.reason === 'WaitingForPreviousDrain')).toBe(true);
    // Not a stall of this capture; the timeout bounds it.
    const end = await waitForDrain(c, NS, 'blocked', (st) => st.phase === 'Failed', 60_000);
    expect(end.reason).toBe('TimedOut');
    // The way out: restart the holder's pod; its capture leaves and the session ends.
    await c.kubectlOk(['delete', 'pod', holder!.podName!, '-n', NS, '--wait=false']);
    await eventually('holder gone', async () => !ticdc.sim.capture(holder!.id), {
      timeoutMs: 60_000,
    });
  }, 180_000);

  test('case 4: a status patched to Drained mid-drain never deletes the pod holding work', async () => {
    const target = nonOwners()[0]!;
    const uid = await podUid(c, NS, target.podName!);
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, 'forged', { podName: target.podName, podAction: 'Delete' }),
    });
    await waitForDrain(
      c,
      NS,
      'forged',
      (st) => st.phase === 'Draining' && (st.remaining?.tables ?? 0) > 2,
      60_000,
    );
    await c.kubectlOk([
      'patch',
      'cdrain',
      'forged',
      '-n',
      NS,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { phase: 'Drained', reason: 'CountsZero', remaining: { tables: 0 } } }),
    ]);
    const back = await waitForDrain(c, NS, 'forged', (st) => st.reason === 'DrainNotConfirmed', 60_000);
    expect(back.phase).toBe('Draining');
    expect(await podUid(c, NS, target.podName!)).toBe(uid);
    const done = await waitForDrain(c, NS, 'forged', (st) => st.phase === 'Completed', 120_000);
    expect(done.reason).toBe('Drained');
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  }, 180_000);

  test('case 6: a CaptureDrain deleted mid-drain is recorded on the StatefulSet before it goes', async () => {
    const target = nonOwners()[0]!;
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, 'abandoned', { podName: target.podName, podAction: 'None' }),
    });
    await waitForDrain(c, NS, 'abandoned', (st) => st.phase === 'Draining', 60_000);
    // Draining in the status may still be TiCDC's answer 1 to a drain it refused for a while (the
    // previous case's clear handshake): deleted then, no session would ever drain the capture.
    await eventually(
      `TiCDC's drain session on ${target.podName}`,
      async () => (ticdc.sim.capture(target.id)?.liveness ?? 'alive') !== 'alive',
      { timeoutMs: 30_000 },
    );
    await c.kubectlOk(['delete', 'cdrain', 'abandoned', '-n', NS, '--timeout=30s']);
    const e = await eventually(
      'DrainAbandoned event',
      async () => (await events()).find((x) => x.reason === 'DrainAbandoned'),
      { timeoutMs: 30_000 },
    );
    expect(e.regarding).toMatchObject({ kind: 'StatefulSet', name: 'ticdc' });
    expect(e.note).toContain(`restart pod ${target.podName}`);
    expect((await c.kubectl(['get', 'cdrain', 'abandoned', '-n', NS])).code).not.toBe(0);
    // What the event asks of a human: TiCDC keeps draining the capture and refuses (answers 1 to)
    // every drain of another capture until it leaves; once its work is gone, restart its pod. Left
    // as it is, a later case's drain of another capture would never progress.
    await eventually(
      `${target.podName} drained by the abandoned session`,
      async () => {
        const x = ticdc.sim.capture(target.id);
        return !x || x.dispatchers + x.maintainers === 0;
      },
      { timeoutMs: 120_000 },
    );
    await c.kubectlOk(['delete', 'pod', target.podName!, '-n', NS, '--wait=false']);
    await eventually('the abandoned capture gone', async () => !ticdc.sim.capture(target.id), {
      timeoutMs: 60_000,
    });
    await waitForCapturesWithWork(ticdc.sim, 4);
  }, 300_000);

  const failedAt = (st: DrainStatus) => st.history!.find((h) => h.phase === 'Failed')!.time;

  /** Drains a pod with podAction Delete; the wall-clock time from creation to Completed. */
  async function timedDelete(name: string, pod: string, timeoutMs = 180_000): Promise<number> {
    const t0 = Date.now();
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, name, { podName: pod, podAction: 'Delete' }),
    });
    const s = await waitForDrain(
      c,
      NS,
      name,
      (st) => st.phase === 'Completed' || st.phase === 'Failed',
      timeoutMs,
    );
    expect({ name, phase: s.phase, reason: s.reason }).toEqual({
      name,
      phase: 'Completed',
      reason: 'Drained',
    });
    return Date.now() - t0;
  }

  test('case 5: under 40% mixed transient faults a drain completes within 20 s of its fault-free time, never early', async () => {
    await waitForCapturesWithWork(ticdc.sim, 4);
    const [a, b] = nonOwners();
    const work = (id: string) => {
      const x = ticdc.sim.capture(id)!;
      return x.dispatchers + x.maintainers;
    };
    const baselineWork = work(a!.id);
    const baseline = await timedDelete('baseline', a!.podName!);
    await waitForCapturesWithWork(ticdc.sim, 4);
    const faultyWork = work(b!.id);
    // The benchmark's mix (the figure): 5xx, resets, truncated, mistyped and garbled bodies.
    // Hangs past the request timeout (the 'timeout' kind) are left out: each costs a whole timeout.
    ticdc.sim.setFaults({
      mixedRate: 0.4,
      mixedKinds: ['error', 'reset', 'truncated', 'wrong-types', 'garbled-400'],
    });
    let faulty: number;
    try {
      faulty = await timedDelete('faulty', b!.podName!);
    } finally {
      ticdc.sim.clearFaults();
    }
    process.stdout.write(
      `case 5: fault-free drain ${baseline} ms (${baselineWork} units), 40% mixed faults ${faulty} ms (${faultyWork} units)\n`,
    );
    expect(faulty).toBeLessThanOrEqual(baseline + 20_000);
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  }, 420_000);

  test('case 5: a garbled 400 during flavour detection is transient, not Failed InvalidRequest', async () => {
    await waitForCapturesWithWork(ticdc.sim, 4);
    // A detection is reused while the same coordinator leads: a new one makes this drain detect.
    const before = ticdc.sim.captures().find((x) => x.isOwner)?.id;
    ticdc.sim.resignOwner();
    await eventually('a new coordinator', async () =>
      ticdc.sim.captures().some((x) => x.isOwner && x.id !== before),
    );
    const target = nonOwners()[0]!;
    // Every flavour probe (the V2 status route, the V1 drain route) answers a 400 whose body is not JSON.
    ticdc.sim.setFaults({
      mixedRate: 1,
      mixedKinds: ['garbled-400'],
      pathPattern: '/api/v[12]/captures/[^/]*/?drain',
    });
    try {
      await c.kubectlOk(['apply', '-f', '-'], {
        input: captureDrain(NS, 'garbled', { podName: target.podName, podAction: 'Delete' }),
      });
      await new Promise((r) => setTimeout(r, 6_000));
      const during = await waitForDrain(c, NS, 'garbled', () => true);
      expect(during.phase).not.toBe('Failed');
    } finally {
      ticdc.sim.clearFaults();
    }
    const s = await waitForDrain(c, NS, 'garbled', (st) => st.phase === 'Completed' || st.phase === 'Failed');
    expect(s).toMatchObject({ phase: 'Completed', reason: 'Drained' });
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  }, 240_000);

  // With the tenancy rules a Secret named only by a CaptureDrain's spec is refused before any read, so
  // this unresolvable Secret fails at once; a Secret missing behind a trusted name (StatefulSet
  // annotation) retries until stallTimeout, queued or not (drain controller unit tests).
  test('case 7: a Secret the drain cannot use fails Configuration within stallTimeout and does not hold the queue', async () => {
    await waitForCapturesWithWork(ticdc.sim, 4);
    const [a, b] = nonOwners();
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, 'no-secret', {
        podName: a!.podName,
        podAction: 'None',
        stallTimeout: '30s',
        cluster: { credentialsSecretRef: { name: 'no-such-secret' } },
      }),
    });
    // A second drain of the same cluster, created after it, is not queued behind it.
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, 'after-no-secret', { podName: b!.podName, podAction: 'Delete' }),
    });
    const second = await waitForDrain(
      c,
      NS,
      'after-no-secret',
      (st) => st.phase === 'Completed' || st.phase === 'Failed',
      120_000,
    );
    expect(second).toMatchObject({ phase: 'Completed', reason: 'Drained' });
    const first = await waitForDrain(c, NS, 'no-secret', (st) => st.phase === 'Failed', 60_000);
    // Timed by the object itself: from its creation to the Failed verdict.
    const obj = await c.getJson<{ metadata: { creationTimestamp: string } }>([
      'get',
      'cdrain',
      'no-secret',
      '-n',
      NS,
    ]);
    const took = Date.parse(failedAt(first)) - Date.parse(obj.metadata.creationTimestamp);
    expect(first.reason).toBe('Configuration');
    expect(first.message).toContain('no-such-secret');
    expect(first.startTime).toBeUndefined();
    // Within stallTimeout (30 s), to the second (the timestamps' resolution), plus a reconcile's lag.
    expect(took).toBeLessThanOrEqual(30_000 + 3_000);
    // Refused before it ever waited in line (a spec-only Secret is never read), so it held no queue:
    // it failed before the drain created after it completed.
    expect(first.message).toContain('does not send Secrets');
    expect(Date.parse(failedAt(first))).toBeLessThan(Date.parse(second.completionTime!));
    expect(ticdc.sim.capture(a!.id)?.liveness).toBe('alive');
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  }, 240_000);
});
