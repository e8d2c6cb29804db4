import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Registry } from 'prom-client';
import { fenceKubeClient } from '../../src/kube/fence.js';
import {
  LeaderElector,
  LeadershipLostError,
  type Lease,
  type LeaderElectorOptions,
} from '../../src/kube/leader.js';
import { Resources, type Fence } from '../../src/kube/port.js';
import { microTime, parseTime } from '../../src/kube/time.js';
import { FakeKube, conflict } from '../support/fake-kube.js';
import { MICROTIME } from './helpers.js';

const NS = 'ops';
const NAME = 'capture-drain-leader';

async function advance(ms: number, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) await jest.advanceTimersByTimeAsync(Math.min(step, ms - t));
}

describe('microTime', () => {
  it('renders exactly six fractional digits (the API server rejects three)', () => {
    expect(microTime(Date.UTC(2026, 10, 21, 10, 0, 0, 123))).toBe('2026-11-21T10:00:00.123000Z');
    expect(microTime(new Date(Date.UTC(2026, 0, 1)))).toBe('2026-01-01T00:00:00.000000Z');
    expect(parseTime('2026-11-21T10:00:00.123456Z')).toBe(Date.UTC(2026, 10, 21, 10, 0, 0, 123));
  });
});

describe('LeaderElector', () => {
  let fake: FakeKube;
  let registry: Registry;
  beforeEach(() => {
    jest.useFakeTimers({ now: Date.UTC(2026, 10, 21, 10, 0, 0), doNotFake: ['queueMicrotask', 'nextTick'] });
    fake = new FakeKube();
    registry = new Registry();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  function elector(identity: string, extra: Partial<LeaderElectorOptions> = {}) {
    const state = {
      started: 0,
      stopped: 0,
      signal: undefined as AbortSignal | undefined,
      term: undefined as Fence | undefined,
    };
    const e = new LeaderElector({
      client: fake,
      namespace: NS,
      name: NAME,
      identity,
      registry,
      random: () => 0,
      onStartedLeading: (signal, term) => {
        state.started++;
        state.signal = signal;
        state.term = term;
      },
      onStoppedLeading: () => state.stopped++,
      ...extra,
    });
    return { e, state };
  }
  const lease = () => fake.peek<Lease>(Resources.leases, NS, NAME);
  const gauge = async () =>
    (await registry.getSingleMetric('leader_election_master_status')!.get()).values[0]!.value;

  it('creates the Lease when absent, with MicroTime timestamps, and renews it', async () => {
    const { e, state } = elector('a');
    const ac = new AbortController();
    const run = e.run(ac.signal);
    await advance(100);
    expect(e.isLeader()).toBe(true);
    expect(state.started).toBe(1);
    expect(await gauge()).toBe(1);
    const l1 = lease()!;
    expect(l1.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0 });
    expect(l1.spec!.acquireTime).toMatch(MICROTIME);
    expect(l1.spec!.renewTime).toMatch(MICROTIME);

    await advance(2000);
    const l2 = lease()!;
    expect(parseTime(l2.spec!.renewTime)).toBeGreaterThan(parseTime(l1.spec!.renewTime));
    expect(l2.spec!.acquireTime).toBe(l1.spec!.acquireTime);
    expect(l2.spec!.renewTime).toMatch(MICROTIME);

    ac.abort();
    await advance(100);
    await run;
  });

  it('does not take a Lease that its holder keeps renewing, takes it once expired (transitions+1)', async () => {
    const now = () => microTime(Date.now());
    fake.seed(Resources.leases, {
      metadata: { namespace: NS, name: NAME },
      spec: {
        holderIdentity: 'old',
        leaseDurationSeconds: 15,
        acquireTime: now(),
        renewTime: now(),
        leaseTransitions: 3,
      },
    });
    const { e, state } = elector('b');
    const ac = new AbortController();
    const run = e.run(ac.signal);
    // The old leader renews every 2 s for 30 s: b must stay a follower.
    for (let i = 0; i < 15; i++) {
      await advance(2000);
      await fake.patch(Resources.leases, NS, NAME, { spec: { renewTime: now() } }, 'merge');
    }
    expect(e.isLeader()).toBe(false);
    expect(e.getLeader()).toBe('old');
    // The old leader dies: after leaseDuration (15 s) b takes over.
    await advance(14_000);
    expect(e.isLeader()).toBe(false);
    await advance(4_000);
    expect(e.isLeader()).toBe(true);
    expect(state.started).toBe(1);
    expect(lease()!.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 4 });
    ac.abort();
    await advance(100);
    await run;
  });

  it('a 409 on takeover means another candidate won', async () => {
    fake.seed(Resources.leases, {
      metadata: { namespace: NS, name: NAME },
      spec: { holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(Date.now()) },
    });
    fake.failNext('replace', conflict(Resources.leases, NAME), 1);
    const { e } = elector('c');
    const ac = new AbortController();
    const run = e.run(ac.signal);
    await advance(100);
    expect(e.isLeader()).toBe(false);
    await advance(2000); // next retry succeeds
    expect(e.isLeader()).toBe(true);
    ac.abort();
    await advance(100);
    await run;
  });

  it('stops leading when renewals fail for renewDeadline', async () => {
    const { e, state } = elector('a');
    const run = e.run();
    await advance(100);
    expect(e.isLeader()).toBe(true);
    fake.failNext('get', new Error('apiserver unreachable'), 1000);
    await advance(8_000);
    expect(e.isLeader()).toBe(true); // still within the 10 s deadline
    await advance(4_000);
    await run;
    expect(e.isLeader()).toBe(false);
    expect(state.signal!.aborted).toBe(true);
    expect(state.stopped).toBe(1);
    expect(await gauge()).toBe(0);
  });

  it('stops leading at once when another holder took the Lease', async () => {
    const { e, state } = elector('a');
    const run = e.run();
    await advance(100);
    await fake.patch(Resources.leases, NS, NAME, { spec: { holderIdentity: 'intruder' } }, 'merge');
    await advance(2100);
    await run;
    expect(e.isLeader()).toBe(false);
    expect(state.stopped).toBe(1);
  });

  it('a hung renewal cannot keep it leading past renewDeadline', async () => {
    const { e, state } = elector('a');
    const run = e.run();
    await advance(100);
    const get = fake.get.bind(fake);
    fake.get = (() => new Promise(() => undefined)) as typeof fake.get; // every GET hangs
    await advance(10_500);
    await run;
    expect(state.stopped).toBe(1);
    fake.get = get;
  });

  it('releases on graceful shutdown after the leading work finished, so a peer acquires at once', async () => {
    let finished = false;
    const { e, state } = elector('a', {
      onStartedLeading: async (signal) => {
        await new Promise<void>((r) => signal.addEventListener('abort', () => setTimeout(r, 500)));
        finished = true;
      },
    });
    const ac = new AbortController();
    const run = e.run(ac.signal);
    await advance(100);
    ac.abort();
    await advance(100);
    expect(lease()!.spec!.holderIdentity).toBe('a'); // still held while controllers wind down
    await advance(600);
    await run;
    expect(finished).toBe(true);
    expect(lease()!.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
    expect(state.stopped).toBe(1);

    const peer = elector('b');
    const ac2 = new AbortController();
    const run2 = peer.e.run(ac2.signal);
    await advance(100);
    expect(peer.e.isLeader()).toBe(true); // no waiting for expiry
    expect(lease()!.spec!.leaseTransitions).toBe(1);
    ac2.abort();
    await advance(100);
    await run2;
  });

  it('the renew deadline is monotonic: a wall clock stepped back 1 h does not extend the term', async () => {
    const { e, state } = elector('a');
    const run = e.run();
    await advance(100);
    expect(e.isLeader()).toBe(true);
    fake.failNext('get', new Error('apiserver unreachable'), 10_000);
    await advance(1000);
    jest.setSystemTime(Date.now() - 3_600_000); // NTP step / VM resume: Date.now jumps, performance.now does not
    await advance(8_000);
    expect(state.signal!.aborted).toBe(false); // 9.1 s since the last renewal: within the 10 s deadline
    await advance(1_500);
    expect(state.signal!.aborted).toBe(true);
    expect(state.signal!.reason).toBeInstanceOf(LeadershipLostError);
    await advance(5_000);
    await run;
    expect(e.isLeader()).toBe(false);
    expect(state.stopped).toBe(1);
  });

  it('a wall clock stepped forward 1 h does not end a term whose renewals succeed', async () => {
    const { e, state } = elector('a');
    const ac = new AbortController();
    const run = e.run(ac.signal);
    await advance(100);
    jest.setSystemTime(Date.now() + 3_600_000);
    await advance(30_000);
    expect(e.isLeader()).toBe(true);
    expect(state.signal!.aborted).toBe(false);
    expect(state.stopped).toBe(0);
    ac.abort();
    await advance(100);
    await run;
  });

  it('the deadline timer ends the term while the renew loop sleeps between slow failing renewals', async () => {
    const { e, state } = elector('a');
    const run = e.run();
    await advance(100);
    const get = fake.get.bind(fake);
    // Each renewal fails after 700 ms: attempts drift so the deadline falls inside a retry sleep.
    fake.get = (() =>
      new Promise((_resolve, reject) =>
        setTimeout(() => reject(new Error('apiserver overloaded')), 700),
      )) as typeof fake.get;
    await advance(9_500);
    expect(state.signal!.aborted).toBe(false);
    await advance(700); // 10.2 s after the last renewal: the loop is asleep, the timer fires
    expect(state.signal!.aborted).toBe(true);
    expect(state.signal!.reason).toBeInstanceOf(LeadershipLostError);
    expect(e.isLeader()).toBe(false);
    await advance(6_000);
    await run;
    expect(state.stopped).toBe(1);
    fake.get = get;
  });

  it('check() ends the term synchronously once the deadline passed, before any timer ran (a paused process)', async () => {
    let pausedMs = 0;
    const lines: string[] = [];
    const { e, state } = elector('a', { monotonic: () => performance.now() + pausedMs });
    const run = e.run();
    await advance(100);
    const term = state.term!;
    const kube = fenceKubeClient(fake, term);
    await kube.create(Resources.leases, { metadata: { namespace: NS, name: 'written-while-leading' } });
    term.signal.addEventListener('abort', () => lines.push('aborted'));

    pausedMs = 20_000; // the process was stopped for 20 s: no timer has fired yet
    expect(() => term.check()).toThrow(LeadershipLostError);
    expect(lines).toEqual(['aborted']);
    expect(term.signal.aborted).toBe(true);
    expect(e.isLeader()).toBe(false);
    const before = fake.calls.length;
    await expect(
      kube.create(Resources.leases, { metadata: { namespace: NS, name: 'written-after-loss' } }),
    ).rejects.toThrow(LeadershipLostError);
    expect(fake.calls.length).toBe(before); // refused before anything was sent
    expect(fake.peek(Resources.leases, NS, 'written-after-loss')).toBeUndefined();
    await advance(6_000);
    await run;
    expect(state.stopped).toBe(1);
  });

  it('a lost term cancels the leading work and waits for it at most leaseDuration - renewDeadline', async () => {
    let cancelled = false;
    let finishedAt = 0;
    const { e, state } = elector('a', {
      onStartedLeading: (signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            cancelled = true;
            finishedAt = Date.now();
            resolve();
          });
        }),
    });
    const run = e.run();
    await advance(100);
    const lostAt = Date.now() + 2000;
    await fake.patch(Resources.leases, NS, NAME, { spec: { holderIdentity: 'intruder' } }, 'merge');
    await advance(2100);
    await run;
    expect(cancelled).toBe(true);
    expect(finishedAt - lostAt).toBeLessThan(200);
    expect(state.stopped).toBe(1);

    // Work that ignores the signal does not keep it past the margin (15 s - 10 s).
    let stopped = 0;
    const run2 = new LeaderElector({
      client: fake,
      namespace: NS,
      name: 'other',
      identity: 'b',
      random: () => 0,
      onStartedLeading: () => new Promise<void>(() => undefined),
      onStoppedLeading: () => stopped++,
    }).run();
    await advance(100);
    await fake.patch(Resources.leases, NS, 'other', { spec: { holderIdentity: 'intruder' } }, 'merge');
    await advance(2100);
    expect(stopped).toBe(0);
    await advance(5000);
    await run2;
    expect(stopped).toBe(1);
  });

  it('validates its timing parameters', () => {
    expect(() => elector('a', { leaseDurationMs: 5000, renewDeadlineMs: 5000 })).toThrow(/leaseDuration/);
    expect(() => elector('a', { renewDeadlineMs: 2000, retryPeriodMs: 2000 })).toThrow(/renewDeadline/);
  });
});
