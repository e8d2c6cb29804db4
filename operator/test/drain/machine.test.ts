import { describe, expect, test } from '@jest/globals';
import type { CaptureDrainStatus } from '../../src/api/capturedrain.js';
import {
  FAST_POLL_MS,
  FAST_WINDOW_MS,
  HISTORY_LIMIT,
  MAX_POLL_MS,
  MIN_POLL_MS,
  OVERDUE_POLL_MS,
  WINDOW_MAX_GAP_MS,
  advance,
  nextAction,
  pollInterval,
  type Action,
  type DrainContext,
  type Outcome,
} from '../../src/drain/machine.js';
import { ADDR, T0, captures, ctx, policy, statusIn } from './fixtures.js';
import { holdsSlot } from '../../src/drain/contract.js';

/** Run one step: choose the action, apply the given outcome. */
function step(c: DrainContext, outcome: (a: Action) => Outcome) {
  const action = nextAction(c);
  return { action, ...advance(c, action, outcome(action)) };
}

describe('happy paths', () => {
  test('non-owner capture: discover, drain with falling counts, release, wait for departure, complete', () => {
    let c = ctx({}, { now: T0 });
    let r = step(c, () => ({ type: 'discovered', captures: captures(), flavor: 'V2', version: 'v9.0.0' }));
    expect(r.status).toMatchObject({ phase: 'Draining', captureID: 'c1', apiFlavor: 'V2', podUID: 'uid-1' });
    expect(r.events.map((e) => e.reason)).toEqual(['Created', 'Started', 'DrainRequested']);

    const counts = [
      { maintainers: 3, dispatchers: 30 },
      { maintainers: 2, dispatchers: 12 },
      { maintainers: 0, dispatchers: 1 },
      { maintainers: 0, dispatchers: 0 },
    ];
    for (const [i, n] of counts.entries()) {
      c = ctx(r.status, { now: T0 + (i + 1) * 2000 });
      r = step(c, (a) => {
        // Once the counts fell, a 1 is the last unit moving (no read of the target's status).
        expect(a).toEqual({
          type: 'drain',
          captureId: 'c1',
          flavor: 'V2',
          address: ADDR,
          ...(i >= 2 ? { progressed: true } : {}),
          // Within the first 5 s a 1 cannot be a previous session yet: no holder lookup.
          ...(i < 2 ? { skipHolderLookup: true } : {}),
        });
        return { type: 'drain', counts: n, target: { id: 'c1', liveness: 'Stopping' } };
      });
    }
    expect(r.status.initial).toEqual({ maintainers: 3, dispatchers: 30 });
    expect(r.status.remaining).toEqual({ maintainers: 0, dispatchers: 0 });
    expect(r.status.drainedTime).toBeDefined();
    expect(r.status.phase).toBe('Releasing');

    c = ctx(r.status, { now: T0 + 10_000 });
    r = step(c, (a) => {
      // The deletion is verified by a fresh drain answer in the same reconcile.
      expect(a).toEqual({
        type: 'deletePod',
        podUID: 'uid-1',
        verify: { type: 'drain', captureId: 'c1', flavor: 'V2', address: ADDR, progressed: true },
      });
      return { type: 'podDeleted' };
    });
    expect(r.status).toMatchObject({ phase: 'Releasing', released: true });

    // The pod is terminating, the capture is still listed.
    c = ctx(r.status, { now: T0 + 11_000, pod: { uid: 'uid-1', terminating: true } });
    r = step(c, () => ({ type: 'departure', captures: captures() }));
    expect(r.status.phase).toBe('Releasing');

    c = ctx(r.status, { now: T0 + 13_000, pod: { uid: 'uid-2', terminating: false } });
    r = step(c, (a) => {
      expect(a.type).toBe('awaitDeparture');
      return { type: 'departure', captures: captures(false, false) };
    });
    expect(r.status).toMatchObject({ phase: 'Completed', reason: 'Drained' });
    expect(r.requeueAfterMs).toBeUndefined();
    const cond = Object.fromEntries(r.status.conditions!.map((x) => [x.type, x.status]));
    expect(cond).toEqual({ Progressing: 'False', Drained: 'True', Complete: 'True', Failed: 'False' });
    expect(r.status.history!.map((h) => h.phase)).toEqual([
      'Pending',
      'Pending',
      'Draining',
      'Drained',
      'Releasing',
      'Completed',
    ]);
  });

  test("a fresh session's placeholder 1 is replaced by the first real count: the rate and the last 1 count from it", () => {
    let r = step(ctx({}, { now: T0 }), () => ({ type: 'discovered', captures: captures(), flavor: 'V1' }));
    r = step(ctx(r.status, { now: T0 + 100 }), () => ({ type: 'drain', counts: { tables: 1 } }));
    expect(r.status.initial).toEqual({ tables: 1 });
    r = step(ctx(r.status, { now: T0 + 1100 }), () => ({ type: 'drain', counts: { tables: 4 } }));
    expect(r.status.initial).toEqual({ tables: 4 });
    r = step(ctx(r.status, { now: T0 + 2100 }), () => ({ type: 'drain', counts: { tables: 2 } }));
    expect(r.status.initial).toEqual({ tables: 4 });
    expect(r.status.drainRate).toBeDefined();
    // The counts fell: a 1 now is the last unit moving (no status read needed), not a new session.
    expect(nextAction(ctx(r.status, { now: T0 + 3100 }))).toMatchObject({ type: 'drain', progressed: true });
  });

  test('coordinator whose peers left while it was being resigned: SingleCapture, no endless resign', () => {
    let r = step(ctx({}), () => ({ type: 'discovered', captures: captures(true), flavor: 'V1' }));
    expect(r.status.phase).toBe('ResigningOwner');
    const alone = captures(true).filter((c) => c.id === 'c1');
    r = step(ctx(r.status), () => ({ type: 'resign', captures: alone, resignIssued: true, healthy: true }));
    expect(r.status).toMatchObject({ phase: 'Failed', reason: 'SingleCapture' });
  });

  test('coordinator: resign (re-resign when re-elected), wait for health, then drain', () => {
    let r = step(ctx({}), () => ({ type: 'discovered', captures: captures(true), flavor: 'V1' }));
    expect(r.status.phase).toBe('ResigningOwner');
    // Re-elected: still the owner after the first resign.
    r = step(ctx(r.status), (a) => {
      expect(a).toEqual({ type: 'resign', captureId: 'c1', flavor: 'V1' });
      return { type: 'resign', captures: captures(true), resignIssued: true, healthy: true };
    });
    expect(r.status).toMatchObject({ phase: 'ResigningOwner', resignAttempts: 1 });
    r = step(ctx(r.status), () => ({
      type: 'resign',
      captures: captures(true),
      resignIssued: true,
      healthy: true,
    }));
    expect(r.status.resignAttempts).toBe(2);
    // Moved, but the cluster is not healthy yet.
    r = step(ctx(r.status), () => ({
      type: 'resign',
      captures: captures(),
      resignIssued: false,
      healthy: false,
    }));
    expect(r.status.phase).toBe('ResigningOwner');
    r = step(ctx(r.status), () => ({
      type: 'resign',
      captures: captures(),
      resignIssued: false,
      healthy: true,
    }));
    expect(r.status).toMatchObject({ phase: 'Draining', ownerResigned: true });
  });

  test('target re-elected as coordinator mid-drain goes back to resigning', () => {
    const r = step(ctx(statusIn('Draining')), () => ({
      type: 'error',
      kind: 'OwnerNotDrainable',
      message: 'cannot drain the owner',
      retryable: false,
    }));
    expect(r.status).toMatchObject({ phase: 'ResigningOwner', ownerResigned: false });
  });

  test('podAction None completes right after the counts reach zero, leaving the pod alone', () => {
    const c = ctx(statusIn('Draining'), { policy: policy({ podAction: 'None' }) });
    const r = step(c, () => ({
      type: 'drain',
      counts: { tables: 0 },
      target: { id: 'c1', liveness: 'Stopping' },
    }));
    expect(r.status).toMatchObject({ phase: 'Completed', reason: 'Drained' });
  });

  test('CLI mode (no pod): drains a capture given by ID', () => {
    const c = ctx(
      {},
      {
        policy: policy({ trackPod: false, podAction: 'None' }),
        pod: undefined,
        target: { captureId: 'c2', addresses: [] },
      },
    );
    const r = step(c, () => ({ type: 'discovered', captures: captures(), flavor: 'V1' }));
    expect(r.status).toMatchObject({ phase: 'Draining', captureID: 'c2' });
  });
});

describe('queueing', () => {
  test('a drain waits while another drain of the same cluster holds the slot, then starts', () => {
    let r = step(ctx({}, { slot: { free: false, holder: 'ns/first' } }), () => ({ type: 'none' }));
    expect(r.status).toMatchObject({ phase: 'Queued', reason: 'WaitingForCluster' });
    expect(r.status.message).toContain('ns/first');
    expect(holdsSlot(r.status)).toBe(false);
    r = step(ctx(r.status), () => ({ type: 'discovered', captures: captures(), flavor: 'V2' }));
    expect(r.status.phase).toBe('Draining');
    expect(holdsSlot(r.status)).toBe(true);
  });

  test('a drain made for one pod incarnation that is replaced while queued ends PodReplaced, never drains the replacement', () => {
    const made = { madeForPodUID: 'uid-1' };
    let r = step(ctx({}, { ...made, slot: { free: false, holder: 'ns/manual' } }), () => ({ type: 'none' }));
    expect(r.status).toMatchObject({ phase: 'Queued', reason: 'WaitingForCluster' });
    // Someone else's drain deleted uid-1; the StatefulSet recreated the pod under the same name.
    const replaced = ctx(r.status, { ...made, pod: { uid: 'uid-2', terminating: false } });
    expect(nextAction(replaced)).toEqual({ type: 'wait' });
    r = step(replaced, () => ({ type: 'none' }));
    expect(r.status).toMatchObject({ phase: 'Completed', reason: 'PodReplaced' });
    expect(r.status.message).toContain('uid-1');
    expect(r.status.startTime).toBeUndefined();
    expect(r.status.podUID).toBeUndefined();
    expect(r.events.at(-1)).toMatchObject({ reason: 'PodReplaced', type: 'Normal' });
    // Gone without a replacement yet: the same.
    r = step(ctx({}, { ...made, pod: undefined }), () => ({ type: 'none' }));
    expect(r.status).toMatchObject({ phase: 'Completed', reason: 'PodReplaced' });
  });

  test('a drain for the incarnation it was made for starts as usual; a drain without one binds to the live pod', () => {
    let r = step(ctx({}, { madeForPodUID: 'uid-1' }), () => ({
      type: 'discovered',
      captures: captures(),
      flavor: 'V2',
    }));
    expect(r.status).toMatchObject({ phase: 'Draining', podUID: 'uid-1' });
    r = step(ctx({}, { pod: { uid: 'uid-2', terminating: false } }), () => ({
      type: 'discovered',
      captures: captures(),
      flavor: 'V2',
    }));
    expect(r.status).toMatchObject({ phase: 'Draining', podUID: 'uid-2' });
  });
});

describe('failures and the timeout policy', () => {
  test('Hold keeps the pod on timeout; Release proceeds to delete it', () => {
    const late = T0 + 601_000;
    const hold = step(ctx(statusIn('Draining'), { now: late }), () => ({ type: 'none' }));
    expect(hold.status).toMatchObject({ phase: 'Failed', reason: 'TimedOut' });
    const rel = step(
      ctx(statusIn('Draining'), { now: late, policy: policy({ onTimeout: 'Release' }) }),
      () => ({
        type: 'none',
      }),
    );
    expect(rel.status).toMatchObject({ phase: 'Releasing', reason: 'TimedOut' });
    // A release the spec's policy allows goes without a fresh zero; under Hold it needs one.
    expect(nextAction(ctx(rel.status, { policy: policy({ onTimeout: 'Release' }) }))).toEqual({
      type: 'deletePod',
      podUID: 'uid-1',
    });
    expect(nextAction(ctx(rel.status))).toMatchObject({ type: 'deletePod', verify: { type: 'drain' } });
    const cond = Object.fromEntries(rel.status.conditions!.map((x) => [x.type, x.status]));
    expect(cond.Drained).toBe('Unknown');
  });

  test('a stall (no progress within stallTimeout) is detected before the overall timeout', () => {
    const s: CaptureDrainStatus = {
      ...statusIn('Draining'),
      lastProgressTime: new Date(T0 + 10_000).toISOString(),
    };
    expect(
      step(ctx(s, { now: T0 + 189_000 }), () => ({
        type: 'drain',
        counts: { maintainers: 2, dispatchers: 10 },
      })).status.phase,
    ).toBe('Draining');
    expect(step(ctx(s, { now: T0 + 191_000 }), () => ({ type: 'none' })).status).toMatchObject({
      phase: 'Failed',
      reason: 'Stalled',
    });
  });

  test('a stall by the persisted progress is judged on a fresh drain answer (no reconcile ran meanwhile)', () => {
    // Progress last persisted at T0 + 10 s; no reconcile ran for 181 s (leader failovers, API outage).
    const s: CaptureDrainStatus = {
      ...statusIn('Draining'),
      lastProgressTime: new Date(T0 + 10_000).toISOString(),
    };
    const c = ctx(s, { now: T0 + 191_000 });
    expect(nextAction(c)).toMatchObject({ type: 'drain', captureId: 'c1' });
    // TiCDC moved the work meanwhile: drained, not Stalled.
    const moved = step(c, () => ({
      type: 'drain',
      counts: { maintainers: 0, dispatchers: 0 },
      target: { id: 'c1', liveness: 'Stopping' },
    }));
    expect(moved.status.phase).not.toBe('Failed');
    expect(moved.status.drainedTime).toBeDefined();
    // Some progress: the stall clock restarts.
    const some = step(c, () => ({ type: 'drain', counts: { maintainers: 1, dispatchers: 4 } }));
    expect(some.status).toMatchObject({ phase: 'Draining', remaining: { maintainers: 1, dispatchers: 4 } });
    // The same counts as persisted: Stalled; so is an error instead of an answer.
    expect(
      step(c, () => ({ type: 'drain', counts: { maintainers: 2, dispatchers: 10 } })).status,
    ).toMatchObject({
      phase: 'Failed',
      reason: 'Stalled',
    });
    expect(
      step(c, () => ({ type: 'error', kind: 'Transient', message: '503', retryable: true })).status,
    ).toMatchObject({ phase: 'Failed', reason: 'Stalled' });
  });

  test('progress resets the stall clock', () => {
    const s: CaptureDrainStatus = { ...statusIn('Draining') };
    const r = step(ctx(s, { now: T0 + 170_000 }), () => ({
      type: 'drain',
      counts: { maintainers: 1, dispatchers: 10 },
    }));
    expect(r.status.lastProgressTime).toBe(new Date(T0 + 170_000).toISOString());
    expect(
      step(ctx(r.status, { now: T0 + 300_000 }), () => ({
        type: 'drain',
        counts: { maintainers: 1, dispatchers: 9 },
      })).status.phase,
    ).toBe('Draining');
  });

  test('Unauthorized fails even under Release: a configuration error needs a human', () => {
    const r = step(ctx(statusIn('Draining'), { policy: policy({ onTimeout: 'Release' }) }), () => ({
      type: 'error',
      kind: 'Unauthorized',
      message: '401',
      retryable: false,
    }));
    expect(r.status).toMatchObject({ phase: 'Failed', reason: 'Unauthorized' });
  });

  test('unsupported server and single capture follow the policy', () => {
    for (const [kind, reason] of [
      ['Unsupported', 'Unsupported'],
      ['OnlyOneCapture', 'SingleCapture'],
    ] as const) {
      const err = () => ({ type: 'error' as const, kind, message: 'x', retryable: false });
      expect(step(ctx(statusIn('Pending')), err).status).toMatchObject({ phase: 'Failed', reason });
      expect(
        step(ctx(statusIn('Pending'), { policy: policy({ onTimeout: 'Release' }) }), err).status,
      ).toMatchObject({
        phase: 'Releasing',
        reason,
      });
    }
  });

  test('fewer than two captures is detected from the capture list', () => {
    const only = [{ id: 'c1', isOwner: true, address: 'ticdc-1.ticdc-peer.ns.svc:8300' }];
    const r = step(ctx(statusIn('Pending')), () => ({ type: 'discovered', captures: only, flavor: 'V1' }));
    expect(r.status).toMatchObject({ phase: 'Failed', reason: 'SingleCapture' });
  });

  test('capture not registered: keep looking until stallTimeout, then CaptureNotFound', () => {
    const missing = (): Outcome => ({ type: 'discovered', captures: captures(false, false), flavor: 'V2' });
    expect(step(ctx(statusIn('Pending'), { now: T0 + 60_000 }), missing).status.phase).toBe('Pending');
    expect(step(ctx(statusIn('Pending'), { now: T0 + 180_000 }), missing).status).toMatchObject({
      phase: 'Failed',
      reason: 'CaptureNotFound',
    });
  });

  test('transient errors back off exponentially, bounded, and never count as progress', () => {
    let s = statusIn('Draining');
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = step(ctx(s), () => ({ type: 'error', kind: 'Transient', message: '502', retryable: true }));
      delays.push(r.requeueAfterMs!);
      s = r.status;
    }
    // The first failed looks near the predicted zero come back on the poll plan (here within the
    // fast window: 250 ms), then back off per request, capped at 1.5 s so the release follows
    // within 2 s once the fault clears.
    expect(delays).toEqual([250, 250, 250, 1500, 1500, 1500, 1500, 1500]);
    expect(s.remaining).toEqual({ maintainers: 2, dispatchers: 10 });
    expect(s.phase).toBe('Draining');
    expect(s.lastError).toContain('502');
    const ok = step(ctx(s), () => ({ type: 'drain', counts: { maintainers: 2, dispatchers: 10 } }));
    expect(ok.status.consecutiveErrors).toBe(0);
  });

  test('a failed look far from the predicted zero backs off as usual (never sooner than the plan asks)', () => {
    // 3 of 30 units moved in 5 s: the zero is ~45 s away, the plan would wait long.
    const s: CaptureDrainStatus = {
      ...statusIn('Draining'),
      initial: { maintainers: 0, dispatchers: 30 },
      remaining: { maintainers: 0, dispatchers: 27 },
    };
    const r = step(ctx(s), () => ({ type: 'error', kind: 'Transient', message: '502', retryable: true }));
    expect(r.requeueAfterMs).toBe(500);
  });

  test('capture vanished before zero is CaptureGone, not drained', () => {
    const r = step(ctx(statusIn('Draining')), () => ({
      type: 'error',
      kind: 'CaptureNotFound',
      message: 'capture not exists',
      retryable: false,
    }));
    expect(r.status).toMatchObject({ phase: 'Failed', reason: 'CaptureGone' });
    expect(r.status.drainedTime).toBeUndefined();
  });

  test('capture gone after its container restarted (crash, kubelet restart): the new capture is drained', () => {
    const s = { ...statusIn('Draining'), podRestarts: 0 };
    const gone = () =>
      ({ type: 'error', kind: 'CaptureNotFound', message: 'capture not exists', retryable: false }) as const;
    // Same pod incarnation, one more container restart than when the capture was found.
    const r = step(ctx(s, { pod: { uid: 'uid-1', terminating: false, restarts: 1 } }), gone);
    expect(r.status).toMatchObject({ phase: 'Pending', reason: 'CaptureRestarted', podUID: 'uid-1' });
    expect(r.status.captureID).toBeUndefined();
    expect(r.requeueAfterMs).toBe(0);
    // No restart, another incarnation, or a terminating pod: the capture really is gone.
    for (const pod of [
      { uid: 'uid-1', terminating: false, restarts: 0 },
      { uid: 'uid-2', terminating: false, restarts: 1 },
      { uid: 'uid-1', terminating: true, restarts: 1 },
    ])
      expect(step(ctx(s, { pod }), gone).status).toMatchObject({ phase: 'Failed', reason: 'CaptureGone' });
  });
});

describe('polling and estimates', () => {
  test('poll interval is bounded, aims ahead of the predicted zero, and polls fast only near it', () => {
    // No rate yet: a second, to learn one; up to 2 s while nothing moves.
    expect(pollInterval(100, undefined)).toBe(MIN_POLL_MS);
    expect(pollInterval(100, undefined, 3000)).toBe(1500);
    expect(pollInterval(100, undefined, 60_000)).toBe(2 * MIN_POLL_MS);
    expect(pollInterval(1000, 1)).toBe(MAX_POLL_MS);
    // 6 units at 1/s, the 6 just seen: zero expected in 5.5 s; look again a quarter of it ahead.
    expect(pollInterval(6, 1)).toBe(4125);
    // 2 units at 1/s: zero in 1.5 s, give or take half a unit: land at the window's start.
    expect(pollInterval(2, 1)).toBe(1000);
    expect(pollInterval(2, 1, 800)).toBe(FAST_POLL_MS);
    // Within the window: fast polls.
    expect(pollInterval(1, 10)).toBe(FAST_POLL_MS);
    expect(pollInterval(1, 1000 / (2 * FAST_WINDOW_MS), 2 * FAST_WINDOW_MS)).toBe(FAST_POLL_MS);
    // Slow units widen the window: its polls are spread (8 across it), at most WINDOW_MAX_GAP_MS apart.
    expect(pollInterval(1, 1 / 3)).toBe(375);
    expect(pollInterval(1, 1 / 6)).toBe(WINDOW_MAX_GAP_MS);
    expect(pollInterval(1, 1 / 60)).toBe(WINDOW_MAX_GAP_MS);
    // Overdue past the window: a while longer at OVERDUE_POLL_MS, then the slow pace.
    expect(pollInterval(1, 1, 1500)).toBe(OVERDUE_POLL_MS);
    expect(pollInterval(1, 1, 5000)).toBe(MIN_POLL_MS);
  });

  /**
   * Drives the machine on a drain whose work falls linearly to zero at `durMs` (TiCDC answers
   * `ceil` of what is left; the confirmed zero comes with the target Stopping), polling when the
   * machine asks. Returns the lag from zero to the poll that saw it and the requests per second.
   */
  function replayLinear(durMs: number, work: number) {
    let r = step(ctx({}, { now: T0 }), () => ({ type: 'discovered', captures: captures(), flavor: 'V2' }));
    expect(r.status.phase).toBe('Draining');
    let now = T0;
    let polls = 0;
    for (;;) {
      const left = Math.max(0, Math.ceil(work * (1 - (now - T0) / durMs)));
      polls++;
      r = step(ctx(r.status, { now }), () => ({
        type: 'drain',
        counts: { dispatchers: left },
        target: { id: 'c1', liveness: left === 0 ? 'Stopping' : 'Draining' },
      }));
      if (r.status.phase !== 'Draining') break;
      now += r.requeueAfterMs!;
    }
    expect(r.status.phase).toBe('Releasing');
    return { lag: now - (T0 + durMs), rate: polls / (durMs / 1000) };
  }

  test('ETA-based polling: the zero is seen within the fast-poll window at under a request a second', () => {
    const runs = [4000, 7000, 12_000, 30_000, 60_000, 120_000].map((d) => replayLinear(d, 24));
    // Few, slow units (a capture holding 3 of them over 20 s): the zero within one window gap, at
    // under a request a second.
    const slow = replayLinear(20_000, 3);
    expect(slow.lag).toBeLessThanOrEqual(WINDOW_MAX_GAP_MS);
    expect(slow.rate).toBeLessThan(1);
    for (const r of runs) {
      expect(r.lag).toBeGreaterThanOrEqual(0);
      // Within one window poll: FAST_POLL_MS, or an eighth of the window slow units widen, at most
      // WINDOW_MAX_GAP_MS.
      expect(r.lag).toBeLessThanOrEqual(WINDOW_MAX_GAP_MS);
    }
    const lags = runs.map((r) => r.lag).sort((a, b) => a - b);
    expect(lags[Math.floor(lags.length / 2)]).toBeLessThanOrEqual(FAST_POLL_MS);
    const mean = runs.reduce((a, r) => a + r.rate, 0) / runs.length;
    expect(mean).toBeLessThan(1);
    // The longest drains poll rarely: at most a request every 4 s on average.
    expect(runs.at(-1)!.rate).toBeLessThan(0.25);
  });

  test('a drain that stops progressing backs off instead of polling fast for ever', () => {
    let r = step(ctx({}, { now: T0 }), () => ({ type: 'discovered', captures: captures(), flavor: 'V2' }));
    const at = (ms: number, left: number) =>
      (r = step(ctx(r.status, { now: T0 + ms }), () => ({ type: 'drain', counts: { dispatchers: left } })));
    at(0, 20);
    at(1000, 10);
    at(1500, 1);
    expect(r.requeueAfterMs).toBe(FAST_POLL_MS);
    // Stuck at 1 well past the window: a second apart, not FAST_POLL_MS.
    at(10_000, 1);
    expect(r.requeueAfterMs).toBe(MIN_POLL_MS);
    at(40_000, 1);
    expect(r.requeueAfterMs).toBe(MIN_POLL_MS);
  });

  test('ETA comes from the observed drain rate', () => {
    let r = step(ctx({}, { now: T0 }), () => ({ type: 'discovered', captures: captures(), flavor: 'V1' }));
    r = step(ctx(r.status, { now: T0 + 1000 }), () => ({ type: 'drain', counts: { tables: 100 } }));
    r = step(ctx(r.status, { now: T0 + 11_000 }), () => ({ type: 'drain', counts: { tables: 50 } }));
    // 50 tables in 11 s since Draining began: 50 more take ~11 s.
    const eta = Date.parse(r.status.estimatedCompletionTime!);
    expect(eta).toBeGreaterThan(T0 + 20_000);
    expect(eta).toBeLessThan(T0 + 24_000);
    expect(r.status.drainRate).toBe('4.55/s');
  });

  test('history stays bounded', () => {
    let s = statusIn('Draining');
    for (let i = 0; i < 50; i++) {
      s = step(ctx(s), () => ({
        type: 'error',
        kind: 'OwnerNotDrainable',
        message: 'x',
        retryable: false,
      })).status;
      s = step(ctx(s), () => ({
        type: 'resign',
        captures: captures(),
        resignIssued: false,
        healthy: true,
      })).status;
    }
    expect(s.history!.length).toBe(HISTORY_LIMIT);
  });
});

describe('release in the reconcile that sees the confirmed zero', () => {
  const zero = (over: Partial<DrainContext> = {}) => {
    const c = ctx(statusIn('Draining'), { now: T0 + 9000, ...over });
    return step(c, () => ({
      type: 'drain',
      counts: { maintainers: 0, dispatchers: 0 },
      target: { id: 'c1', liveness: 'Stopping' },
    }));
  };

  test('the confirmed zero moves to Releasing and asks to go on at once', () => {
    const r = zero();
    expect(r.status).toMatchObject({ phase: 'Releasing', drainedCaptureID: 'c1' });
    expect(r.requeueAfterMs).toBe(0);
  });

  test('with that zero read in this reconcile the pod is deleted without asking again', () => {
    const r = zero();
    expect(nextAction(ctx(r.status, { confirmedZero: 'c1' }))).toEqual({
      type: 'deletePod',
      podUID: 'uid-1',
    });
  });

  test('without it (a later reconcile, a resume, another capture) a fresh confirmed zero is asked for', () => {
    const r = zero();
    for (const c of [ctx(r.status), ctx(r.status, { confirmedZero: 'c2' })])
      expect(nextAction(c)).toMatchObject({ type: 'deletePod', verify: { type: 'drain', captureId: 'c1' } });
    // A policy release (timed out under Release) has no drained capture: the flag never stands in.
    const rel = step(
      ctx(statusIn('Draining'), { now: T0 + 601_000, policy: policy({ onTimeout: 'Release' }) }),
      () => ({ type: 'none' }),
    );
    expect(nextAction(ctx(rel.status, { confirmedZero: 'c1' }))).toMatchObject({
      type: 'deletePod',
      verify: { type: 'drain' },
    });
  });

  test('a zero TiCDC gives before the target reports Stopping is re-read soon, not released', () => {
    const r = step(ctx(statusIn('Draining'), { now: T0 + 9000 }), () => ({
      type: 'drain',
      counts: { maintainers: 0, dispatchers: 0 },
      target: { id: 'c1', liveness: 'Draining' },
    }));
    expect(r.status.phase).toBe('Draining');
    expect(r.requeueAfterMs).toBeLessThan(MIN_POLL_MS);
  });
});

describe('crash safety: resuming from any persisted status repeats only idempotent actions', () => {
  test('Releasing after the delete was issued but not recorded: the replacement pod is never deleted', () => {
    const s = statusIn('Releasing'); // released flag lost in the crash
    expect(nextAction(ctx(s, { pod: { uid: 'uid-2', terminating: false } }))).toEqual({
      type: 'awaitDeparture',
      captureId: 'c1',
    });
    expect(nextAction(ctx(s, { pod: { uid: 'uid-1', terminating: true } })).type).toBe('awaitDeparture');
    expect(nextAction(ctx(s, { pod: undefined })).type).toBe('awaitDeparture');
  });
});

describe('Releasing is bounded', () => {
  const released = (over: Partial<CaptureDrainStatus> = {}): CaptureDrainStatus => ({
    ...statusIn('Releasing'),
    released: false,
    releaseTime: new Date(T0).toISOString(),
    drainedTime: new Date(T0).toISOString(),
    ...over,
  });
  const denied: Outcome = {
    type: 'error',
    kind: 'Kubernetes',
    message: 'admission webhook denied',
    retryable: true,
  };

  test('a pod delete that keeps failing is retried within the stall timeout', () => {
    const c = ctx(released(), { now: T0 + policy().stallTimeoutMs - 1 });
    const r = step(c, (a) => {
      expect(a.type).toBe('deletePod');
      return denied;
    });
    expect(r.status.phase).toBe('Releasing');
    expect(r.requeueAfterMs).toBeGreaterThan(0);
  });

  test('after the stall timeout the drain ends ReleaseTimedOut and frees the slot', () => {
    const c = ctx(released(), { now: T0 + policy().stallTimeoutMs + 1 });
    const r = step(c, () => denied);
    expect(r.status).toMatchObject({ phase: 'Completed', reason: 'ReleaseTimedOut' });
    expect(r.status.message).toContain('Capture drained, but the pod could not be deleted');
    expect(r.status.message).toContain('admission webhook denied');
    expect(holdsSlot(r.status)).toBe(false);
    expect(r.requeueAfterMs).toBeUndefined();
  });
});
