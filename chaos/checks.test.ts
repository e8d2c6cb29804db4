import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  checkScenario,
  drainRates,
  drainingRate,
  drainedTwice,
  durationMs,
  failClosed,
  intendedReasons,
  slotOverlaps,
  table,
  type DrainEventObs,
  type DrainObs,
  type ScenarioObservation,
} from './checks.js';

const T0 = 1_800_000_000_000;
const opts = {
  rateBound: 1,
  enforceRate: false,
  intendedFailClosed: new Set(['Stalled', 'LegacyFallback']),
  timeoutGraceMs: 30_000,
};

const drain = (name: string, over: Partial<DrainObs> = {}): DrainObs => ({
  namespace: 'ns',
  name,
  uid: `uid-${name}`,
  createdAt: T0,
  startTime: T0,
  completionTime: T0 + 10_000,
  drainedTime: T0 + 8_000,
  phase: 'Completed',
  reason: 'Drained',
  podUID: `pod-${name}`,
  timeoutMs: 180_000,
  ...over,
});

/** A scenario in which everything went right: 2 pods updated, Ready, registered, 2 clean drains. */
function healthy(): ScenarioObservation {
  return {
    scenario: 's',
    start: T0,
    now: T0 + 30_000,
    expectedReplicas: 2,
    pods: [
      { name: 'p-0', uid: 'u0', ready: true, updated: true, deleting: false },
      { name: 'p-1', uid: 'u1', ready: true, updated: true, deleting: false },
    ],
    captures: [
      { id: 'c0', podName: 'p-0', podUid: 'u0', liveness: 'alive', exited: false },
      { id: 'c1', podName: 'p-1', podUid: 'u1', liveness: 'alive', exited: false },
    ],
    violations: [],
    drains: [drain('a'), drain('b', { startTime: T0 + 10_000, completionTime: T0 + 20_000 })],
    drainEvents: [],
    requests: [T0 + 1000, T0 + 5000, T0 + 12_000],
    human: [],
    rolloutFinished: true,
    kills: 0,
    faults: [],
    failoversMs: [],
  };
}

const broken = (o: ScenarioObservation, o2 = opts) =>
  checkScenario(o, o2)
    .findings.filter((f) => f.breaks)
    .map((f) => f.check);

const ev = (key: string, phase: string | undefined, started: boolean, cluster = 'c'): DrainEventObs => ({
  key,
  cluster,
  type: 'MODIFIED',
  ...(phase ? { phase } : {}),
  started,
  at: 0,
});

describe('checkScenario', () => {
  test('a clean scenario breaks nothing', () => {
    expect(broken(healthy())).toEqual([]);
  });

  test('a capture that left holding work breaks the invariant record; an injected crash does not', () => {
    const o = healthy();
    o.violations = [
      { captureId: 'x', cause: 'crash-injected', injected: true, maintainers: 1, dispatchers: 3 },
    ];
    expect(broken(o)).toEqual([]);
    o.violations.push({
      captureId: 'y',
      cause: 'pod-deleted',
      injected: false,
      maintainers: 0,
      dispatchers: 2,
    });
    expect(broken(o)).toEqual(['invariant record empty']);
    expect(checkScenario(o, opts).violations).toBe(1);
  });

  test('a pod not updated, not Ready, terminating or missing breaks "every pod updated and Ready"', () => {
    for (const change of [
      (o: ScenarioObservation) => (o.pods[0]!.updated = false),
      (o: ScenarioObservation) => (o.pods[1]!.ready = false),
      (o: ScenarioObservation) => (o.pods[1]!.deleting = true),
    ]) {
      const o = healthy();
      change(o);
      expect(broken(o)).toContain('every pod updated and Ready');
    }
    const missing = healthy();
    missing.pods.pop();
    expect(broken(missing)).toEqual(['every pod updated and Ready']);
  });

  test('a pod without an Alive capture of its own incarnation breaks "every capture registered"', () => {
    const stale = healthy();
    stale.captures[1]!.podUid = 'old-uid';
    expect(broken(stale)).toEqual(['every capture registered']);
    const exited = healthy();
    exited.captures[0]!.exited = true;
    expect(broken(exited)).toEqual(['every capture registered']);
    const draining = healthy();
    draining.captures[0]!.liveness = 'draining';
    expect(broken(draining)).toEqual(['every capture registered']);
  });

  test('a drain non-terminal past its timeout (plus grace) breaks; one within it does not', () => {
    const o = healthy();
    o.now = T0 + 200_000;
    o.drains = [drain('a', { phase: 'Draining', completionTime: undefined })];
    expect(broken(o)).toEqual([]); // 200 s < 180 s + 30 s grace
    o.now = T0 + 211_000;
    expect(broken(o)).toEqual(['no CaptureDrain non-terminal past its timeout']);
    o.drains = [drain('a', { phase: 'Failed', reason: 'Stalled', completionTime: undefined })];
    expect(broken(o)).toEqual([]);
  });

  test("a scenario's own failed verification breaks the run; a passed one says nothing", () => {
    const o = healthy();
    o.asserted = [{ check: 'refused', detail: 'exit 0', breaks: true }];
    expect(broken(o)).toEqual(['refused']);
    o.asserted = [{ check: 'refused', detail: 'exit 1', breaks: false }];
    expect(checkScenario(o, opts).findings).toEqual([]);
  });

  test('the rate bound breaks the run when enforced, else it is reported', () => {
    const o = healthy();
    o.requests = Array.from({ length: 60 }, (_, i) => T0 + i * 300); // 60 in the first 18 s
    const r = checkScenario(o, opts);
    expect(r.rate).toBeGreaterThan(1);
    expect(r.findings.map((f) => [f.check, f.breaks])).toEqual([
      ['TiCDC requests during the rollout within the bound', false],
    ]);
    expect(broken(o, { ...opts, enforceRate: true })).toEqual([
      'TiCDC requests during the rollout within the bound',
    ]);
    // Under the bound: nothing to say.
    o.requests = o.requests.slice(0, 10);
    expect(checkScenario(o, { ...opts, enforceRate: true }).findings).toEqual([]);
  });

  test('fail-closed: a documented reason is listed, an undocumented one breaks', () => {
    const o = healthy();
    o.drains = [drain('a', { phase: 'Failed', reason: 'Stalled' })];
    o.human = ['deleted the failed drain'];
    const r = checkScenario(o, opts);
    expect(r.failClosed).toEqual([{ drain: 'ns/a', reason: 'Stalled', intended: true }]);
    expect(broken(o)).toEqual([]);
    o.drains = [drain('a', { phase: 'Failed', reason: 'CaptureGone' })];
    expect(broken(o)).toEqual([
      'fail-closed only for documented reasons',
      'a human only after a documented fail-closed outcome',
    ]);
  });

  test('a human step without a documented fail-closed drain breaks; a rollout never finished breaks', () => {
    const o = healthy();
    o.human = ['deleted the failed drain'];
    expect(broken(o)).toEqual(['a human only after a documented fail-closed outcome']);
    const stuck = healthy();
    stuck.rolloutFinished = false;
    expect(broken(stuck)).toEqual(['rollout finished']);
  });

  test('two drains of one pod incarnation and overlapping slot holders break', () => {
    const twice = healthy();
    twice.drains = [drain('a', { podUID: 'same' }), drain('b', { podUID: 'same' })];
    expect(broken(twice)).toEqual(['no pod drained twice']);
    const overlap = healthy();
    overlap.drainEvents = [ev('a', 'Draining', true), ev('b', 'Draining', true)];
    expect(broken(overlap)).toEqual(['never two drains holding one slot']);
  });
});

describe('slotOverlaps', () => {
  test('a drain that starts after the holder ended is fine', () => {
    expect(
      slotOverlaps([ev('a', 'Draining', true), ev('a', 'Completed', true), ev('b', 'Draining', true)]),
    ).toEqual([]);
  });
  test('queued, pending-not-started and other clusters do not hold the slot', () => {
    expect(
      slotOverlaps([
        ev('a', 'Draining', true),
        ev('b', 'Queued', false),
        ev('c', 'Pending', false),
        ev('d', 'Draining', true, 'other'),
      ]),
    ).toEqual([]);
  });
  test('a deleted holder frees the slot; a holder seen twice is one holder', () => {
    expect(
      slotOverlaps([
        ev('a', 'Draining', true),
        ev('a', 'Releasing', true),
        { ...ev('a', 'Releasing', true), type: 'DELETED' },
        ev('b', 'ResigningOwner', true),
      ]),
    ).toEqual([]);
  });
  test('a second holder is named with the first', () => {
    expect(slotOverlaps([ev('a', 'Drained', true), ev('b', 'Pending', true)])).toEqual([
      'b started while a held c',
    ]);
  });
});

describe('helpers', () => {
  test('drainedTwice counts only drains that reached Drained', () => {
    expect(
      drainedTwice([drain('a', { podUID: 'u' }), drain('b', { podUID: 'u', drainedTime: undefined })]),
    ).toEqual([]);
  });
  test('drainRates: requests in each drain window per second, at least 1 s', () => {
    const d = [
      drain('a', { startTime: T0, completionTime: T0 + 4000 }),
      drain('b', { startTime: T0 + 10_000, completionTime: T0 + 10_000 }),
    ];
    expect(drainRates(d, [T0 + 1, T0 + 2000, T0 + 3999, T0 + 10_000, T0 + 20_000], T0 + 30_000)).toEqual([
      0.75, 1,
    ]);
    // A drain not started has no rate; a running one is counted up to now.
    expect(drainRates([drain('c', { startTime: undefined })], [T0], T0 + 1000)).toEqual([]);
    expect(drainRates([drain('d', { completionTime: undefined })], [T0 + 1, T0 + 2], T0 + 2000)).toEqual([1]);
  });
  test('drainingRate: requests from the first drain start to the last end, per second', () => {
    const d = [
      drain('a', { startTime: T0, completionTime: T0 + 4000 }),
      drain('b', { startTime: T0 + 6000, completionTime: T0 + 10_000 }),
    ];
    // 5 requests in the 10 s span (the one after it does not count).
    expect(drainingRate(d, [T0, T0 + 1, T0 + 5000, T0 + 9000, T0 + 10_000, T0 + 12_000], T0 + 30_000)).toBe(
      0.5,
    );
    // A drain still running counts up to now; none at all is 0.
    expect(drainingRate([drain('c', { completionTime: undefined })], [T0 + 1], T0 + 500)).toBe(1);
    expect(drainingRate([], [T0], T0 + 1000)).toBe(0);
    // Up to the rollout done, when that comes after the last drain's end (its pod's replacement):
    // 6 requests in 12 s. A rollout seen done earlier does not shorten the span.
    const reqs = [T0, T0 + 1, T0 + 5000, T0 + 9000, T0 + 10_000, T0 + 12_000];
    expect(drainingRate(d, reqs, T0 + 30_000, T0 + 12_000)).toBe(0.5);
    expect(drainingRate(d, reqs, T0 + 30_000, T0 + 8000)).toBe(0.5);
    expect(drainingRate(d.slice(0, 1), reqs.slice(0, 2), T0 + 30_000, T0 + 8000)).toBe(0.25);
  });
  test('failClosed lists Failed and Completed that held its pod (not Drained, PodGone or PodReplaced)', () => {
    expect(
      failClosed(
        [
          drain('a'),
          drain('b', { phase: 'Failed', reason: 'Stalled' }),
          drain('c', { reason: 'TimedOut' }),
          drain('d', { reason: 'PodReplaced' }),
          drain('e', { reason: 'PodGone' }),
        ],
        new Set(['Stalled']),
      ),
    ).toEqual([
      { drain: 'ns/b', reason: 'Stalled', intended: true },
      { drain: 'ns/c', reason: 'TimedOut', intended: false },
    ]);
  });
  test('durationMs', () => {
    expect(durationMs('3m')).toBe(180_000);
    expect(durationMs('1h30m')).toBe(5_400_000);
    expect(durationMs('500ms')).toBe(500);
    expect(() => durationMs('3 minutes')).toThrow('invalid duration');
  });
  test('intendedReasons reads the README section, and the README lists the reasons the suite meets', () => {
    const md =
      '# x\n### Intended fail-closed outcomes\n\n| reason | why |\n|---|---|\n| `Stalled` | a |\n| `TimedOut` | b |\n### Next\n| `Drained` | c |\n';
    expect([...intendedReasons(md)]).toEqual(['Stalled', 'TimedOut']);
    expect(intendedReasons('# nothing').size).toBe(0);
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const reasons = intendedReasons(readme);
    for (const r of ['Stalled', 'TimedOut', 'LegacyFallback', 'CaptureGone'])
      expect(reasons.has(r)).toBe(true);
    expect(reasons.has('Drained')).toBe(false);
  });
  test('table: one row per scenario, totals, failovers; BROKEN rows name the check', () => {
    const ok = checkScenario(healthy(), opts);
    const bad = checkScenario(
      { ...healthy(), scenario: 'bad', rolloutFinished: false, failoversMs: [4000, 9000], kills: 2 },
      opts,
    );
    const t = table([ok, bad], opts);
    expect(t).toContain('reported, not enforced');
    expect(t).toMatch(/\| s \| 30 s \| 2 \| 0 \| - \|/);
    expect(t).toContain('**BROKEN**: rollout finished');
    expect(t).toMatch(/\| \*\*total\*\* \| 60 s \| 4 \| 2 \|/);
    expect(t).toContain('2 kills, p50 4.0 s, max 9.0 s');
  });
});
