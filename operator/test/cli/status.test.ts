// `capture-drain status`: argument parsing, which drains it follows, how it renders them, when it
// stops and with what exit code; and the command itself against a scripted API.
import { describe, expect, test } from '@jest/globals';
import type { CaptureDrainObject, CaptureDrainStatus } from '../../src/api/capturedrain.js';
import { DRAIN_LABELS, ROLLOUT_ANNOTATIONS } from '../../src/api/names.js';
import { effectiveNamespace, normalizeArgv } from '../../src/cli/kube-flags.js';
import { statusCommand } from '../../src/cli/status.js';
import {
  exitCodeOf,
  finished,
  parseStatusArgs,
  plainUpdate,
  progressBar,
  progressOf,
  renderScreen,
  rolloutOf,
  selectDrains,
  summary,
} from '../../src/cli/status-view.js';
import { Resources, type KubeClient } from '../../src/kube/port.js';

const T0 = Date.parse('2026-12-03T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function drain(
  name: string,
  status: CaptureDrainStatus,
  opts: { sts?: string; pod?: string; created?: number; ns?: string } = {},
): CaptureDrainObject {
  return {
    apiVersion: 'drain.ticdc.io/v1alpha1',
    kind: 'CaptureDrain',
    metadata: {
      name,
      namespace: opts.ns ?? 'tidb',
      creationTimestamp: iso(opts.created ?? T0 - 60_000),
      ...(opts.sts ? { labels: { [DRAIN_LABELS.statefulSet]: opts.sts } } : {}),
    },
    spec: { podName: opts.pod ?? `${opts.sts ?? 'ticdc'}-1` },
    status,
  };
}

const running = (remaining: number, initial = 40): CaptureDrainStatus => ({
  phase: 'Draining',
  reason: 'DrainRequested',
  initial: { maintainers: 2, dispatchers: initial - 2, tables: 10 },
  remaining: {
    maintainers: remaining ? 1 : 0,
    dispatchers: Math.max(0, remaining - 1),
    tables: remaining ? 5 : 0,
  },
  estimatedCompletionTime: iso(T0 + 35_000),
});
const drained: CaptureDrainStatus = {
  phase: 'Completed',
  reason: 'Drained',
  drainedTime: iso(T0),
  initial: { maintainers: 2, dispatchers: 38, tables: 10 },
  remaining: { maintainers: 0, dispatchers: 0, tables: 0 },
};
const failed = (reason: string): CaptureDrainStatus => ({
  phase: 'Failed',
  reason,
  message: `failed: ${reason}`,
});

describe('kubectl-style flags', () => {
  test('-n=NS is read as kubectl reads it; the namespace defaults to the context, then "default"', () => {
    expect(normalizeArgv(['-n=tidb', 'x', '--', '-n=y'])).toEqual(['-n', 'tidb', 'x', '--', '-n=y']);
    expect(effectiveNamespace(undefined, undefined)).toBe('default');
    expect(effectiveNamespace(undefined, 'ctx-ns')).toBe('ctx-ns');
    expect(effectiveNamespace('flag', 'ctx-ns')).toBe('flag');
  });
});

describe('parseStatusArgs', () => {
  test('names, StatefulSet, kube flags and modes', () => {
    expect(parseStatusArgs(['a', 'b', '-n', 'tidb', '--context', 'c', '--kubeconfig', 'k'])).toEqual({
      names: ['a', 'b'],
      namespace: 'tidb',
      context: 'c',
      kubeconfig: 'k',
      allNamespaces: false,
      mode: 'follow',
      intervalMs: 1000,
    });
    expect(parseStatusArgs(['--statefulset', 'ticdc', '--once'])).toMatchObject({
      statefulSet: 'ticdc',
      mode: 'once',
      names: [],
    });
    expect(parseStatusArgs(['-w', '-A', '--interval', '0.5'])).toMatchObject({
      mode: 'watch',
      allNamespaces: true,
      intervalMs: 500,
    });
    expect(parseStatusArgs(['--help'])).toBe('help');
  });

  test('usage errors', () => {
    expect(() => parseStatusArgs(['--once', '--watch'])).toThrow(/exclude/);
    expect(() => parseStatusArgs(['-A', '-n', 'x'])).toThrow(/all-namespaces/);
    expect(() => parseStatusArgs(['a', '--statefulset', 's'])).toThrow(/not both/);
    expect(() => parseStatusArgs(['--interval', 'soon'])).toThrow(/interval/);
    expect(() => parseStatusArgs(['--bogus'])).toThrow(/bogus/);
  });
});

describe('selectDrains', () => {
  const old = drain('old', drained, { sts: 'ticdc', created: T0 - 3_600_000 });
  const live = drain('live', running(20), { sts: 'ticdc' });
  const other = drain('other', running(20), { sts: 'pd', pod: 'pd-0' });
  const handMade = drain('hand', running(5), { pod: 'ticdc-2' });

  test('in progress at the start, and drains of the StatefulSet by label or pod name', () => {
    const sel = selectDrains(
      [old, live, other, handMade],
      { names: [], statefulSet: 'ticdc', startedAt: T0 },
      new Set(),
    );
    expect(sel.shown.map((d) => d.metadata.name)).toEqual(['hand', 'live']);
  });

  test('a tracked drain stays shown after it finishes; one created later joins', () => {
    let sel = selectDrains([live], { names: [], startedAt: T0 }, new Set());
    const finishedLive = drain('live', drained, { sts: 'ticdc' });
    const next = drain(
      'next',
      { phase: 'Completed', reason: 'Drained', drainedTime: iso(T0) },
      { created: T0 + 5000 },
    );
    sel = selectDrains([old, finishedLive, next], { names: [], startedAt: T0 }, sel.tracked);
    expect(sel.shown.map((d) => d.metadata.name)).toEqual(['live', 'next']);
  });

  test('named drains are shown whatever their state', () => {
    const sel = selectDrains([old, live], { names: ['old'], startedAt: T0 }, new Set());
    expect(sel.shown.map((d) => d.metadata.name)).toEqual(['old']);
  });
});

describe('rendering', () => {
  test('progress from the counts at the start vs now', () => {
    expect(progressOf(drain('d', running(20)))).toBeCloseTo(0.5);
    expect(progressOf(drain('d', drained))).toBe(1);
    expect(progressOf(drain('d', { phase: 'Pending' }))).toBeUndefined();
    expect(progressBar(0.5, 10)).toBe('[#####-----]  50%');
    expect(progressBar(undefined, 4)).toBe('[····]    -');
  });

  test('the screen: header, rollout, one row per drain with counts, ETA and reason, summary', () => {
    const screen = renderScreen([drain('live', running(20), { sts: 'ticdc' }), drain('done', drained)], {
      now: T0,
      where: 'in tidb, StatefulSet ticdc',
      rollout: {
        statefulSet: 'ticdc',
        phase: 'RollingUpdate',
        remaining: 'ticdc-1,ticdc-0',
        eta: iso(T0 + 120_000),
      },
    });
    expect(screen[0]).toBe('CaptureDrains in tidb, StatefulSet ticdc   12:00:00');
    expect(screen[1]).toBe('StatefulSet ticdc: rollout RollingUpdate; to go: ticdc-1,ticdc-0; ETA 2m');
    const header = screen.find((l) => l.startsWith('NAME'))!;
    expect(header.split(/\s+/)).toEqual([
      'NAME',
      'POD',
      'PHASE',
      'PROGRESS',
      'MAINT',
      'DISP',
      'TABLES',
      'ETA',
      'REASON',
    ]);
    const row = screen.find((l) => l.startsWith('live'))!;
    expect(row).toMatch(
      /live\s+ticdc-1\s+Draining\s+\[#{10}-{10}\] {2}50%\s+1\/2\s+19\/38\s+5\/10\s+35s\s+DrainRequested/,
    );
    expect(screen.find((l) => l.startsWith('done'))).toMatch(
      /Completed\s+\[#{20}\] 100%\s+0\/2\s+0\/38\s+0\/10\s+-\s+Drained/,
    );
    expect(screen.at(-1)).toBe('2 drains: 1 in progress, 1 Drained');
    expect(renderScreen([], { now: T0, where: 'in x' })).toContain('No drain in progress.');
  });

  test('plain lines: one per change only', () => {
    const d1 = drain('a', running(30));
    let u = plainUpdate([d1], new Map(), T0);
    expect(u.lines).toHaveLength(1);
    expect(u.lines[0]).toMatch(
      /^\[12:00:00\] {2}tidb\/a {2}ticdc-1 {2}Draining {2}\[#{6}-{14}\] {2}30% {2}maintainers 1\/2 dispatchers 29\/38 tables 5\/10 {2}ETA 35s {2}DrainRequested$/,
    );
    u = plainUpdate([d1], u.seen, T0 + 1000);
    expect(u.lines).toEqual([]);
    u = plainUpdate([drain('a', failed('TimedOut'))], u.seen, T0 + 2000);
    expect(u.lines[0]).toMatch(/Failed .* TimedOut {2}- failed: TimedOut$/);
  });
});

describe('finished and exit codes', () => {
  test('finished when every drain is terminal and the rollout is not moving', () => {
    expect(finished([drain('a', drained)])).toBe(true);
    expect(finished([drain('a', running(3))])).toBe(false);
    expect(finished([drain('a', drained)], { statefulSet: 's', phase: 'RollingUpdate' })).toBe(false);
    expect(finished([drain('a', drained)], { statefulSet: 's', phase: 'Blocked' })).toBe(true);
    expect(finished([])).toBe(true);
  });

  test('the worst outcome, as the drain command counts it', () => {
    expect(exitCodeOf([drain('a', drained)])).toBe(0);
    expect(exitCodeOf([drain('a', drained), drain('b', failed('Stalled'))])).toBe(2);
    expect(exitCodeOf([drain('a', failed('TimedOut')), drain('b', failed('CaptureGone'))])).toBe(3);
    expect(exitCodeOf([drain('a', failed('LegacyFallback')), drain('b', failed('Unauthorized'))])).toBe(4);
    expect(exitCodeOf([drain('a', drained)], { statefulSet: 's', phase: 'Blocked' })).toBe(3);
    expect(
      summary([drain('a', drained), drain('b', failed('Stalled'))], { statefulSet: 's', phase: 'Blocked' }),
    ).toBe('2 drains: 1 Drained, 1 Stalled, rollout Blocked');
  });

  test('rollout annotations', () => {
    expect(
      rolloutOf({
        metadata: {
          name: 'ticdc',
          annotations: {
            [ROLLOUT_ANNOTATIONS.phase]: 'ScalingIn',
            [ROLLOUT_ANNOTATIONS.remaining]: 'ticdc-2',
          },
        },
      }),
    ).toEqual({ statefulSet: 'ticdc', phase: 'ScalingIn', remaining: 'ticdc-2' });
  });
});

/** A KubeClient whose CaptureDrain list answers the next snapshot of a script on each call. */
function scripted(snapshots: CaptureDrainObject[][], sts?: Record<string, string>) {
  const calls: { namespace?: string }[] = [];
  let i = 0;
  const kube = {
    list: async (_type: unknown, opts: { namespace?: string } = {}) => {
      calls.push(opts);
      return { items: snapshots[Math.min(i++, snapshots.length - 1)]!, resourceVersion: '1' };
    },
    get: async (type: unknown, _ns: string, name: string) =>
      type === Resources.statefulsets && sts ? { metadata: { name, annotations: sts } } : undefined,
  } as unknown as KubeClient;
  return { kube, calls };
}

async function runStatus(argv: string[], kube: KubeClient, tty = false) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await statusCommand(
    [...argv, '--interval', '0.1'],
    { out: (l) => out.push(l), err: (l) => err.push(l), tty },
    { kube, namespace: 'tidb', now: () => T0 },
  );
  return { code, out, err };
}

describe('statusCommand', () => {
  test('follows a drain to the end and exits with its outcome; plain lines per change', async () => {
    const { kube, calls } = scripted([
      [drain('d', running(40))],
      [drain('d', running(20))],
      [drain('d', running(20))],
      [drain('d', drained)],
    ]);
    const r = await runStatus(['d'], kube);
    expect(r.code).toBe(0);
    expect(calls).toHaveLength(4);
    expect(calls[0]).toEqual({ namespace: 'tidb' });
    expect(r.out.filter((l) => l.includes('tidb/d'))).toHaveLength(3);
    expect(r.out.at(-1)).toBe('Done: 1 drain: 1 Drained');
  });

  test('a failed drain: exit code 2 for TimedOut; a TTY gets one redrawn screen per read', async () => {
    const { kube } = scripted([[drain('d', running(40))], [drain('d', failed('TimedOut'))]]);
    const r = await runStatus(['d'], kube, true);
    expect(r.code).toBe(2);
    expect(r.out).toHaveLength(2);
    for (const screen of r.out) expect(screen.startsWith('\x1b[H\x1b[J')).toBe(true);
    expect(r.out[1]).toMatch(/1 drain: 1 TimedOut/);
  });

  test('a StatefulSet: waits while its rollout moves, even with no drain running', async () => {
    const { kube } = scripted([[drain('d', drained, { sts: 'ticdc', created: T0 + 1 })]], {
      [ROLLOUT_ANNOTATIONS.phase]: 'Blocked',
    });
    const r = await runStatus(['--statefulset', 'ticdc'], kube);
    expect(r.code).toBe(3);
    expect(r.out.at(-1)).toBe('Done: 1 drain: 1 Drained, rollout Blocked');
  });

  test('--once prints the state and exits 0 while a drain runs; unknown names and StatefulSets are errors', async () => {
    expect((await runStatus(['--once'], scripted([[drain('d', running(10))]]).kube)).code).toBe(0);
    const missing = await runStatus(['nope'], scripted([[drain('d', running(10))]]).kube);
    expect(missing).toMatchObject({
      code: 1,
      err: [expect.stringMatching(/CaptureDrain nope not found in tidb/)],
    });
    const noSts = await runStatus(['--statefulset', 'x'], scripted([[]]).kube);
    expect(noSts).toMatchObject({ code: 1, err: [expect.stringMatching(/StatefulSet tidb\/x not found/)] });
    expect((await runStatus(['--once', '--watch'], scripted([[]]).kube)).code).toBe(64);
  });

  test('a drain deleted mid-drain is reported and fails the run (3); nothing in progress says so', async () => {
    const { kube } = scripted([[drain('d', running(40)), drain('e', running(10))], [drain('e', drained)]]);
    const r = await runStatus([], kube);
    expect(r.code).toBe(3);
    expect(r.out).toContain('[12:00:00] tidb/d was deleted before it finished');
    expect(r.out.at(-1)).toBe('Done: 2 drains: 1 Drained, 1 deleted before it finished');
    const none = await runStatus([], scripted([[drain('old', drained)]]).kube);
    expect(none).toMatchObject({ code: 0, out: ['No drain in progress in tidb.'] });
  });

  test('interrupted: 130', async () => {
    const ac = new AbortController();
    const { kube } = scripted([[drain('d', running(10))]]);
    const p = statusCommand(
      ['d'],
      { out: () => undefined, err: () => undefined, signal: ac.signal },
      { kube, namespace: 'tidb' },
    );
    setTimeout(() => ac.abort(), 50);
    expect(await p).toBe(130);
  });
});
