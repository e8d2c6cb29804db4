// Drain verdicts that hold against real TiCDC v8.5.7 (the seven cases of the verdicts issue): the
// state machine's part, table by table, and the TiCDC actions against a scripted client.
import { describe, expect, test } from '@jest/globals';
import type { CaptureDrainObject, CaptureDrainStatus } from '../../src/api/capturedrain.js';
import { podDrainState, podDrainStateOf, podRestarts } from '../../src/drain/contract.js';
import { drainsWokenBy } from '../../src/drain/setup.js';
import {
  advance,
  isConfirmedZero,
  nextAction,
  reopenAfterRestart,
  type Action,
  type DrainAction,
  type DrainContext,
  type Outcome,
} from '../../src/drain/machine.js';
import { resolveSettings, SettingsError, BUILTIN_DEFAULTS } from '../../src/drain/settings.js';
import {
  RECENT_LIST_MAX_AGE_MS,
  performTicdcAction,
  verifyRelease,
  type TicdcAction,
} from '../../src/drain/ticdc-actions.js';
import { livenessState } from '../../src/ticdc/liveness.js';
import { TicdcError, type CaptureInfo, type ServerStatus, type TicdcClient } from '../../src/ticdc/types.js';
import { ADDR, T0, captures, ctx, policy, statusIn } from './fixtures.js';

const step = (c: DrainContext, outcome: (a: Action) => Outcome) => {
  const a = nextAction(c);
  return { action: a, ...advance(c, a, outcome(a)) };
};

/** A Draining status on a v8.5.7 new-architecture cluster, V1 flavour. */
const v1NewArch = (over: Partial<CaptureDrainStatus> = {}): CaptureDrainStatus => ({
  ...statusIn('Draining'),
  apiFlavor: 'V1',
  serverArchitecture: 'NewArch',
  initial: { tables: 6 },
  remaining: { tables: 3 },
  ...over,
});

describe('case 1: a zero is drained only when TiCDC confirms it', () => {
  test('liveness integers: v8.5.7 (1 Draining, 2 Stopping), PR #4081 V2 (1 Stopping, 2 Draining), classic (1 Stopping)', () => {
    expect(livenessState('V1', 'NewArch', 2)).toBe('Stopping');
    expect(livenessState('V1', 'NewArch', 1)).toBe('Draining');
    expect(livenessState('V2', 'NewArch', 1)).toBe('Stopping');
    expect(livenessState('V2', 'NewArch', 2)).toBe('Draining');
    expect(livenessState('V1', 'Classic', 1)).toBe('Stopping');
    expect(livenessState('V2Classic', undefined, 1)).toBe('Stopping');
    expect(livenessState('V1', 'NewArch', 0)).toBe('Alive');
    expect(livenessState('V1', 'NewArch', undefined)).toBe('Unknown');
  });

  test('V1 new arch: 0 with the target Stopping is Drained', () => {
    const r = step(ctx(v1NewArch()), () => ({
      type: 'drain',
      counts: { tables: 0 },
      target: { id: 'c1', liveness: 'Stopping' },
    }));
    expect(r.action).toEqual({
      type: 'drain',
      captureId: 'c1',
      flavor: 'V1',
      address: ADDR,
      architecture: 'NewArch',
      progressed: true,
    });
    expect(r.status).toMatchObject({ phase: 'Releasing', reason: 'Drained', drainedCaptureID: 'c1' });
  });

  test('V1 new arch: 0 with the target still Alive is LegacyFallback, never Drained (Hold keeps the pod)', () => {
    const r = step(ctx(v1NewArch()), () => ({
      type: 'drain',
      counts: { tables: 0 },
      target: { id: 'c1', liveness: 'Alive' },
    }));
    expect(r.status).toMatchObject({ phase: 'Failed', reason: 'LegacyFallback' });
    expect(r.status.drainedTime).toBeUndefined();
    expect(r.status.releaseTime).toBeUndefined();
    expect(r.events.map((e) => e.reason)).toEqual(['LegacyFallback']);
  });

  test('LegacyFallback under onTimeout Release: the hard restart the policy allows', () => {
    const r = step(ctx(v1NewArch(), { policy: policy({ onTimeout: 'Release' }) }), () => ({
      type: 'drain',
      counts: { tables: 0 },
      target: { id: 'c1', liveness: 'Alive' },
    }));
    expect(r.status).toMatchObject({ phase: 'Releasing', reason: 'LegacyFallback' });
    expect(r.status.drainedTime).toBeUndefined();
  });

  test('V1 new arch: 0 while the target is only Draining, or unknown, is not drained yet', () => {
    for (const liveness of ['Draining', 'Unknown'] as const) {
      const r = step(ctx(v1NewArch()), () => ({
        type: 'drain',
        counts: { tables: 0 },
        target: { id: 'c1', liveness },
      }));
      expect(r.status).toMatchObject({ phase: 'Draining' });
      expect(r.status.drainedTime).toBeUndefined();
    }
  });

  test('V2: the PUT dispatcher count is always 0, so a zero needs the target Stopping too', () => {
    const noView = step(ctx(statusIn('Draining')), () => ({
      type: 'drain',
      counts: { maintainers: 0, dispatchers: 0 },
    }));
    expect(noView.status.phase).toBe('Draining');
    const draining = step(ctx(statusIn('Draining')), () => ({
      type: 'drain',
      counts: { maintainers: 0, dispatchers: 0 },
      target: { id: 'c1', liveness: 'Draining' },
    }));
    expect(draining.status.phase).toBe('Draining');
  });

  test('classic (tiflow) zero is the real count: no confirmation needed', () => {
    const r = step(ctx(v1NewArch({ serverArchitecture: 'Classic' })), () => ({
      type: 'drain',
      counts: { tables: 0 },
    }));
    expect(r.status).toMatchObject({ phase: 'Releasing', reason: 'Drained' });
  });

  test('flavour detection is reused for the next drain under the same coordinator, redone under another', async () => {
    const list = captures();
    const client = scripted({ list });
    const discover = () =>
      performTicdcAction(client, { type: 'discover', flavor: 'Auto' }, { addresses: [ADDR] });
    const first = await discover();
    expect(first).toMatchObject({
      type: 'discovered',
      flavor: 'V1',
      architecture: 'NewArch',
      version: 'v8.5.7',
    });
    expect(client.calls.filter((c) => c === 'detectFlavor')).toHaveLength(1);
    // The same coordinator (c0): the answer stands, no probe.
    expect(await discover()).toEqual(first);
    expect(client.calls.filter((c) => c === 'detectFlavor')).toHaveLength(1);
    // Another coordinator (c2): probed again.
    list[0] = { ...list[0]!, isOwner: false };
    list[2] = { ...list[2]!, isOwner: true };
    await discover();
    expect(client.calls.filter((c) => c === 'detectFlavor')).toHaveLength(2);
    // Another cluster's client never shares it.
    const other = scripted({ list });
    await performTicdcAction(other, { type: 'discover', flavor: 'Auto' }, { addresses: [ADDR] });
    expect(other.calls).toContain('detectFlavor');
  });

  test("a drain's first discovery takes the list the rollout read a moment ago; a rediscovery asks afresh", async () => {
    const first = nextAction(ctx(statusIn('New')));
    expect(first).toMatchObject({ type: 'discover', first: true });
    const again = nextAction(ctx({ ...statusIn('Pending'), reason: 'CaptureRestarted' }));
    expect(again).toMatchObject({ type: 'discover' });
    expect(again).not.toHaveProperty('first');
    const client = scripted({});
    await performTicdcAction(client, first as TicdcAction, { addresses: [ADDR] });
    await performTicdcAction(client, again as TicdcAction, { addresses: [ADDR] });
    expect(client.listOpts).toEqual([{ maxAgeMs: RECENT_LIST_MAX_AGE_MS }, {}]);
  });

  test("the departure wait and the coordinator check before a resign take another look's recent list", async () => {
    const client = scripted({});
    await performTicdcAction(client, { type: 'awaitDeparture', captureId: 'c1' }, { addresses: [ADDR] });
    await performTicdcAction(client, { type: 'resign', captureId: 'c1', flavor: 'V1' } as TicdcAction, {
      addresses: [ADDR],
    });
    expect(client.listOpts).toEqual([
      { maxAgeMs: RECENT_LIST_MAX_AGE_MS },
      { maxAgeMs: RECENT_LIST_MAX_AGE_MS },
    ]);
  });

  test('the stub check runs for an explicit V1 setting, and its verdict is Unsupported', async () => {
    const client = scripted({ stub: true });
    const o = await performTicdcAction(client, { type: 'discover', flavor: 'V1' }, { addresses: [ADDR] });
    expect(o).toMatchObject({ type: 'error', kind: 'Unsupported' });
    expect(client.calls).toContain('checkV1Drain');
  });

  test('the drain action reads the target status at its own address after a zero', async () => {
    const client = scripted({ counts: [0], own: { c1: 0 } });
    const o = await performTicdcAction(client, drainOf(), { addresses: [] });
    expect(o).toEqual({ type: 'drain', counts: { tables: 0 }, target: { id: 'c1', liveness: 'Alive' } });
    expect(client.calls).toContain(`serverStatus ${ADDR}`);
  });

  test('a 1 is checked against the target status only while the drain has not progressed', async () => {
    // Not progressed yet: a 1 may be another capture's session, so the target's status is read.
    const fresh = scripted({ counts: [1], own: { c1: 1 } });
    await performTicdcAction(fresh, drainOf(), { addresses: [] });
    expect(fresh.calls).toContain(`serverStatus ${ADDR}`);
    // Progressed: a 1 is the last unit moving; only a 0 needs the read.
    const late = scripted({ counts: [1, 0], own: { c1: 2 } });
    expect(await performTicdcAction(late, { ...drainOf(), progressed: true }, { addresses: [] })).toEqual({
      type: 'drain',
      counts: { tables: 1 },
    });
    expect(late.calls).not.toContain(`serverStatus ${ADDR}`);
    const zero = await performTicdcAction(late, { ...drainOf(), progressed: true }, { addresses: [] });
    expect(zero).toMatchObject({ target: { id: 'c1', liveness: 'Stopping' } });
    expect(late.calls).toContain(`serverStatus ${ADDR}`);
  });
});

describe('case 2/3: the release is bound to the capture', () => {
  test('podName with the captureAddress of another pod fails Configuration before any TiCDC call', () => {
    const pod = { metadata: { name: 'ticdc-0', namespace: 'ns' }, status: { podIP: '10.0.0.1' } };
    const statefulSet = { metadata: { name: 'ticdc', namespace: 'ns' }, spec: { serviceName: 'ticdc-peer' } };
    const resolve = (captureAddress: string) =>
      resolveSettings({
        namespace: 'ns',
        spec: { podName: 'ticdc-0', captureAddress, cluster: { endpoint: 'http://ticdc:8300' } },
        pod,
        statefulSet,
        defaults: BUILTIN_DEFAULTS,
      });
    expect(() => resolve('ticdc-1.ticdc-peer.ns.svc:8300')).toThrow(SettingsError);
    expect(() => resolve('ticdc-1.ticdc-peer.ns.svc:8300')).toThrow(/not an address of pod ticdc-0/);
    expect(() => resolve('ticdc-0.ticdc-peer.ns.svc.cluster.local:8300')).not.toThrow();
    expect(() => resolve('10.0.0.1:8301')).not.toThrow();
  });

  test('a new capture at the address during the drain (container restart) is drained afresh', () => {
    const r = step(ctx(v1NewArch()), () => ({
      type: 'drain',
      counts: { tables: 0 },
      target: { id: 'c1-new', liveness: 'Alive' },
    }));
    expect(r.status).toMatchObject({ phase: 'Pending', reason: 'CaptureRestarted' });
    expect(r.status.captureID).toBeUndefined();
    expect(r.status.releaseTime).toBeUndefined();
  });

  test('a container restart after the release voids it: the drain starts over', () => {
    const released: CaptureDrainStatus = {
      ...statusIn('Completed'),
      podRestarts: 0,
      drainedCaptureID: 'c1',
      drainedTime: new Date(T0).toISOString(),
      releaseTime: new Date(T0).toISOString(),
    };
    const same = ctx(released, { pod: { uid: 'uid-1', terminating: false, restarts: 0 } });
    expect(reopenAfterRestart(same)).toBeUndefined();
    const restarted = ctx(released, { pod: { uid: 'uid-1', terminating: false, restarts: 1 } });
    const r = reopenAfterRestart(restarted)!;
    expect(r.status).toMatchObject({ phase: 'Pending', reason: 'CaptureRestarted' });
    expect(r.status.releaseTime).toBeUndefined();
    expect(r.status.startTime).toBeUndefined();
    expect(r.events[0]!.type).toBe('Warning');
  });

  test('two captures at one address: the one the address answers for, when not Stopping; else wait', async () => {
    const list: CaptureInfo[] = [...captures(), { id: 'c1-old', isOwner: false, address: ADDR }];
    const live = scripted({ list, own: { c1: 0 } });
    const o = await performTicdcAction(
      live,
      { type: 'discover', flavor: 'V2', known: 'V2' },
      { addresses: [ADDR] },
    );
    expect(o).toMatchObject({ type: 'discovered', targetId: 'c1' });
    const stopping = scripted({ list, own: { c1: 2 } });
    const w = await performTicdcAction(
      stopping,
      { type: 'discover', flavor: 'V2', known: 'V2' },
      { addresses: [ADDR] },
    );
    expect(w).toMatchObject({ type: 'discovered', ambiguous: ['c1', 'c1-old'] });
    const r = advance(ctx(statusIn('Pending')), { type: 'discover', flavor: 'V2' }, w);
    expect(r.status.phase).toBe('Pending');
    expect(r.status.captureID).toBeUndefined();
  });
});

describe('case 4: a pod is deleted only after a fresh, confirmed zero in the same reconcile', () => {
  const forged: CaptureDrainStatus = {
    ...statusIn('Releasing'),
    apiFlavor: 'V1',
    serverArchitecture: 'NewArch',
  };

  test('the deletion carries a fresh drain to verify, under Hold', () => {
    expect(nextAction(ctx(forged))).toEqual({
      type: 'deletePod',
      podUID: 'uid-1',
      verify: { type: 'drain', captureId: 'c1', flavor: 'V1', address: ADDR, architecture: 'NewArch' },
    });
  });

  test('a hand-patched Drained status meets work on TiCDC: drain again, keep the pod', () => {
    const a = nextAction(ctx(forged));
    const r = advance(ctx(forged), a, {
      type: 'drain',
      counts: { tables: 9 },
      target: { id: 'c1', liveness: 'Alive' },
    });
    expect(r.status).toMatchObject({ phase: 'Draining', reason: 'DrainNotConfirmed' });
    expect(r.status.releaseTime).toBeUndefined();
    expect(r.status.released).toBeUndefined();
    expect(r.events[0]).toMatchObject({ type: 'Warning', reason: 'DrainNotConfirmed' });
  });

  test('verifyRelease: only a confirmed zero lets the controller delete', async () => {
    const v = drainOf();
    expect(await verifyRelease(scripted({ counts: [0], own: { c1: 2 } }), v)).toBeUndefined();
    expect(await verifyRelease(scripted({ counts: [9], own: { c1: 0 } }), v)).toMatchObject({
      type: 'drain',
    });
    expect(await verifyRelease(scripted({ counts: [0], own: { c1: 0 } }), v)).toMatchObject({
      type: 'drain',
    });
    expect(await verifyRelease(scripted({ counts: [0], own: { other: 2 } }), v)).toMatchObject({
      type: 'drain',
    });
    expect(
      isConfirmedZero(v, {
        type: 'drain',
        counts: { tables: 0 },
        target: { id: 'c1', liveness: 'Stopping' },
      }),
    ).toBe(true);
  });
});

describe('case 5: transient faults and exact deadlines', () => {
  test('backoff is per request: a failure of another request starts a new run', () => {
    let s = v1NewArch();
    const err: Outcome = { type: 'error', kind: 'Transient', message: 'reset', retryable: true };
    for (let i = 0; i < 4; i++)
      s = advance(ctx(s), { type: 'drain', captureId: 'c1', flavor: 'V1' }, err).status;
    expect(s.consecutiveErrors).toBe(4);
    const other = advance(ctx(s), { type: 'discover', flavor: 'V1' }, err);
    expect(other.status.consecutiveErrors).toBe(1);
    expect(other.requeueAfterMs).toBe(500);
  });

  test('no wait overshoots the timeout', () => {
    const s = v1NewArch({
      startTime: new Date(T0).toISOString(),
      lastProgressTime: new Date(T0 + 599_000).toISOString(),
    });
    const r = advance(
      ctx(s, { now: T0 + 599_700 }),
      { type: 'drain', captureId: 'c1', flavor: 'V1' },
      {
        type: 'error',
        kind: 'Transient',
        message: 'reset',
        retryable: true,
      },
    );
    expect(r.requeueAfterMs).toBeLessThanOrEqual(305);
    const late = advance(
      ctx(r.status, { now: T0 + 600_000 + r.requeueAfterMs! }),
      { type: 'wait' },
      { type: 'none' },
    );
    expect(late.status).toMatchObject({ phase: 'Failed', reason: 'TimedOut' });
  });
});

describe('case 6: waiting for TiCDC previous drain session', () => {
  const blocked: Outcome = {
    type: 'drain',
    counts: { tables: 1 },
    target: { id: 'c1', liveness: 'Alive' },
    blocker: { id: 'c2', address: 'ticdc-2.ticdc-peer.ns.svc:8300' },
  };

  test('a 1 with the target Alive and a Draining/Stopping holder is shown as such, naming the holder', () => {
    const r = step(ctx(v1NewArch()), () => blocked);
    expect(r.status).toMatchObject({
      phase: 'Draining',
      reason: 'WaitingForPreviousDrain',
      blockingCapture: 'c2 (ticdc-2.ticdc-peer.ns.svc:8300)',
    });
    expect(r.status.message).toMatch(/c2 at ticdc-2\.ticdc-peer\.ns\.svc:8300/);
    expect(r.status.message).toMatch(/restart that pod/);
    expect(r.events[0]).toMatchObject({ reason: 'WaitingForPreviousDrain' });
  });

  test('not a stall of this capture, but bounded by the timeout', () => {
    let s = step(ctx(v1NewArch()), () => blocked).status;
    // Polled every minute for longer than stallTimeout (180 s): still waiting, never Stalled.
    for (let t = 65_000; t <= 545_000; t += 60_000) {
      s = advance(ctx(s, { now: T0 + t }), drainOf(), blocked).status;
      expect(s).toMatchObject({ phase: 'Draining', reason: 'WaitingForPreviousDrain' });
    }
    const end = advance(ctx(s, { now: T0 + 601_000 }), drainOf(), blocked);
    expect(end.status).toMatchObject({ phase: 'Failed', reason: 'TimedOut' });
  });

  test('once TiCDC starts on the target, the drain proceeds (DrainStarted)', () => {
    const s = step(ctx(v1NewArch()), () => blocked).status;
    const r = advance(ctx(s, { now: T0 + 20_000 }), drainOf(), {
      type: 'drain',
      counts: { tables: 1 },
      target: { id: 'c1', liveness: 'Draining' },
    });
    expect(r.status).toMatchObject({ phase: 'Draining', reason: 'DrainStarted' });
    expect(r.status.blockingCapture).toBeUndefined();
  });

  test('a fresh session answering 1 before the target applied Draining is not mislabelled', () => {
    const r = step(ctx(v1NewArch({ reason: 'DrainRequested' }), { now: T0 + 2000 }), () => ({
      type: 'drain',
      counts: { tables: 1 },
      target: { id: 'c1', liveness: 'Alive' },
    }));
    expect(r.status.reason).toBe('DrainRequested');
  });

  test('the session holder is looked up among the other captures by their own status', async () => {
    const client = scripted({ counts: [1], own: { c1: 0, c0: 0, c2: 2 } });
    const o = await performTicdcAction(client, drainOf(), { addresses: [] });
    expect(o).toMatchObject({ blocker: { id: 'c2', address: 'ticdc-2.ticdc-peer.ns.svc:8300' } });
  });

  test('within the grace a fresh session takes, a 1 reads no status: no holder, not even the target', async () => {
    const client = scripted({ counts: [1], own: { c1: 0, c0: 0, c2: 2 } });
    const o = await performTicdcAction(client, { ...drainOf(), skipHolderLookup: true }, { addresses: [] });
    expect(o).toEqual({ type: 'drain', counts: { tables: 1 } });
    expect(client.calls.filter((c) => c.startsWith('serverStatus'))).toEqual([]);
    // The machine reads nothing into that 1 within the grace: it keeps draining.
    const r = advance(ctx(v1NewArch(), { now: T0 + 1000 }), { ...drainOf(), skipHolderLookup: true }, o);
    expect(r.status).toMatchObject({ phase: 'Draining' });
    expect(r.status.reason).not.toBe('WaitingForPreviousDrain');
    // The machine asks for the lookup only once the grace is over.
    expect(nextAction(ctx(v1NewArch(), { now: T0 + 1000 }))).toMatchObject({ skipHolderLookup: true });
    expect(nextAction(ctx(v1NewArch(), { now: T0 + 6000 }))).not.toHaveProperty('skipHolderLookup');
  });
});

describe('case 7: settings that cannot be resolved', () => {
  test('a Secret missing for a moment is retried with a growing backoff, then fails Configuration within stallTimeout', () => {
    const missing: Outcome = {
      type: 'error',
      kind: 'Configuration',
      message: 'Secret ns/creds not found',
      retryable: true,
    };
    let s: CaptureDrainStatus = {};
    const delays: number[] = [];
    let now = T0;
    for (;;) {
      const r = advance(ctx(s, { now }), { type: 'discover', flavor: 'Auto' }, missing);
      s = r.status;
      if (s.phase === 'Failed') break;
      delays.push(r.requeueAfterMs!);
      now += r.requeueAfterMs!;
    }
    expect(s).toMatchObject({ phase: 'Failed', reason: 'Configuration' });
    expect(now - T0).toBeLessThanOrEqual(180_000 + 10);
    expect(delays.slice(0, 4)).toEqual([1000, 2000, 4000, 8000]);
    expect(s.startTime).toBeUndefined(); // it never held the cluster's slot
  });

  test('a Secret name that is not a DNS subdomain is a Configuration error at once', () => {
    expect(() =>
      resolveSettings({
        namespace: 'ns',
        spec: {
          captureAddress: 'a:8300',
          cluster: { endpoint: 'http://t:8300', credentialsSecretRef: { name: 'a/b' } },
        },
        defaults: BUILTIN_DEFAULTS,
      }),
    ).toThrow(/not a valid Secret name/);
  });
});

// ---------------------------------------------------------------------------------------

function drainOf(): DrainAction {
  return { type: 'drain', captureId: 'c1', flavor: 'V1', address: ADDR, architecture: 'NewArch' };
}

/** A TicdcClient answering from a script; `own` maps capture id -> liveness at its own address. */
function scripted(opts: {
  stub?: boolean;
  counts?: number[];
  list?: CaptureInfo[];
  own?: Record<string, number>;
}): TicdcClient & { calls: string[]; listOpts: ({ maxAgeMs?: number } | undefined)[] } {
  const calls: string[] = [];
  const listOpts: ({ maxAgeMs?: number } | undefined)[] = [];
  const list = opts.list ?? captures();
  const byAddress = (address: string): ServerStatus => {
    const entry = Object.entries(opts.own ?? {}).find(([id]) =>
      list.some((c) => c.address === address && (c.id === id || !list.some((x) => x.id === id))),
    );
    const [id, liveness] = entry ?? ['?', 0];
    return { version: 'v8.5.7', id, isOwner: false, liveness };
  };
  const counts = [...(opts.counts ?? [])];
  return {
    calls,
    listOpts,
    endpoint: 'http://ticdc:8300',
    async detectFlavor() {
      calls.push('detectFlavor');
      return 'V1';
    },
    async checkV1Drain() {
      calls.push('checkV1Drain');
      if (opts.stub) throw new TicdcError('Unsupported', 'the v1 drain route is the no-op stub');
    },
    async architecture() {
      calls.push('architecture');
      return 'NewArch';
    },
    async listCaptures(o?: { maxAgeMs?: number }) {
      calls.push('listCaptures');
      listOpts.push(o);
      return list;
    },
    async resignOwner() {},
    async drain() {
      calls.push('drain');
      return { tables: counts.shift() ?? 0 };
    },
    async health() {},
    async serverStatus(address?: string) {
      calls.push(`serverStatus${address ? ` ${address}` : ''}`);
      if (!address) return { version: 'v8.5.7', id: 'c0', isOwner: true };
      const byId = list.filter((c) => c.address === address).map((c) => c.id);
      const id = Object.keys(opts.own ?? {}).find((k) => byId.includes(k));
      if (id) return { version: 'v8.5.7', id, isOwner: false, liveness: opts.own![id]! };
      return byAddress(address);
    },
    async close() {},
  };
}

describe('case 3: the pod drain contract', () => {
  test('Released turns back to InProgress when the pod container restarted after the drain', () => {
    const drain = {
      apiVersion: 'drain.ticdc.io/v1alpha1',
      kind: 'CaptureDrain',
      metadata: { name: 'd', namespace: 'ns' },
      spec: { podName: 'ticdc-1' },
      status: { ...statusIn('Completed'), releaseTime: new Date(T0).toISOString(), podRestarts: 2 },
    } as CaptureDrainObject;
    expect(podDrainState(drain, 'uid-1')).toBe('Released');
    expect(podDrainState(drain, 'uid-1', 2)).toBe('Released');
    expect(podDrainState(drain, 'uid-1', 3)).toBe('InProgress');
    expect(podRestarts({ status: { containerStatuses: [{ restartCount: 1 }, { restartCount: 2 }] } })).toBe(
      3,
    );
  });

  test('the gate, rollout and cordon read it from the pod; a restart wakes the drain at once', () => {
    const drain = {
      apiVersion: 'drain.ticdc.io/v1alpha1',
      kind: 'CaptureDrain',
      metadata: { name: 'd', namespace: 'ns' },
      spec: { podName: 'ticdc-1' },
      status: {
        ...statusIn('Completed'),
        podUID: 'uid-1',
        releaseTime: new Date(T0).toISOString(),
        podRestarts: 0,
      },
    } as CaptureDrainObject;
    const pod = (restartCount: number, name = 'ticdc-1') => ({
      metadata: { name, namespace: 'ns', uid: 'uid-1' },
      status: { containerStatuses: [{ name: 'ticdc', restartCount }] },
    });
    const cache = { get: () => drain, list: () => [drain] };
    expect(podDrainStateOf(drain, pod(0))).toBe('Released');
    expect(podDrainStateOf(drain, pod(1))).toBe('InProgress');
    expect(drainsWokenBy(pod(0), cache)).toEqual([]);
    expect(drainsWokenBy(pod(1), cache)).toEqual([{ namespace: 'ns', name: 'd' }]);
    expect(drainsWokenBy(pod(1, 'ticdc-2'), cache)).toEqual([]);
    // A drain in Releasing wakes on any change of its pod (deletion, replacement).
    const releasing = {
      ...drain,
      status: { ...drain.status, ...statusIn('Releasing') },
    } as CaptureDrainObject;
    const releasingCache = { get: () => releasing, list: () => [releasing] };
    expect(drainsWokenBy(pod(0), releasingCache)).toEqual([{ namespace: 'ns', name: 'd' }]);
    expect(drainsWokenBy(pod(0, 'ticdc-2'), releasingCache)).toEqual([]);
  });
});
