import { describe, expect, test } from '@jest/globals';
import { decide, notWatched, quickDecision, verifyReview, type GateFacts } from '../../src/gate/decide.js';
import { podDrainName } from '../../src/drain/contract.js';
import { STATEFULSET_CONTROLLER } from '../../src/api/names.js';
import { podOrdinal, type Pod } from '../../src/kube/objects.js';
import { capturePod } from '../support/builders.js';

const pod = (over: Partial<Pod['metadata']> = {}, phase = 'Running'): Pod => {
  const p = capturePod('ticdc-2', {
    uid: 'uid-2',
    statefulSetUid: 'sts',
    labels: { app: 'ticdc' },
    phase,
    ready: null,
  });
  return { ...p, metadata: { ...p.metadata, ...over } };
};

const DRAIN = podDrainName('ticdc-2', 'uid-2');

const base = (over: Partial<GateFacts> = {}): GateFacts => ({
  operation: 'Delete',
  dryRun: false,
  username: 'alice',
  pod: pod(),
  namespaceTerminating: false,
  statefulSet: { name: 'ticdc', uid: 'sts', deleting: false, replicas: 3 },
  drain: undefined,
  ...over,
});

type Row = [
  string,
  Partial<GateFacts>,
  { allowed: boolean; reason: string; code?: number; trigger?: string; podAction?: string; start?: boolean },
];

const rows: Row[] = [
  // Admitted from the request and the pod alone.
  ['pod not found', { pod: undefined }, { allowed: true, reason: 'PodNotFound' }],
  [
    'unmanaged pod',
    { pod: pod({ labels: { app: 'web' } }), lookupError: 'x' },
    { allowed: true, reason: 'Unmanaged' },
  ],
  [
    'managed label other than "true"',
    { pod: pod({ labels: { 'drain.ticdc.io/managed': 'false' } }) },
    { allowed: true, reason: 'Unmanaged' },
  ],
  [
    'skip annotation',
    { pod: pod({ annotations: { 'drain.ticdc.io/skip': 'true' } }), lookupError: 'x' },
    { allowed: true, reason: 'Skip' },
  ],
  [
    'skip annotation other than "true" is not a skip',
    { pod: pod({ annotations: { 'drain.ticdc.io/skip': 'yes' } }) },
    { allowed: false, reason: 'DrainStarted', code: 403, start: true },
  ],
  [
    'already terminating',
    { pod: pod({ deletionTimestamp: '2026-01-01T00:00:00Z' }) },
    { allowed: true, reason: 'Terminating' },
  ],
  ['pending pod: nothing runs', { pod: pod({}, 'Pending') }, { allowed: true, reason: 'NotRunning' }],
  ['failed pod', { pod: pod({}, 'Failed') }, { allowed: true, reason: 'NotRunning' }],
  [
    'eviction for another incarnation',
    { operation: 'Evict', preconditionUid: 'uid-old' },
    { allowed: true, reason: 'StalePrecondition' },
  ],
  // Whole-namespace / whole-StatefulSet deletions are never held.
  [
    'namespace terminating',
    { namespaceTerminating: true, drain: { name: DRAIN, state: 'InProgress' } },
    { allowed: true, reason: 'NamespaceTerminating' },
  ],
  [
    'StatefulSet gone (garbage collector)',
    { statefulSet: 'gone' },
    { allowed: true, reason: 'StatefulSetDeleted' },
  ],
  [
    'StatefulSet being deleted (foreground)',
    { statefulSet: { name: 'ticdc', deleting: true, replicas: 3 } },
    { allowed: true, reason: 'StatefulSetDeleted' },
  ],
  [
    'StatefulSet gone wins over a failed read',
    { statefulSet: 'gone', lookupError: 'drain read timed out' },
    { allowed: true, reason: 'StatefulSetDeleted' },
  ],
  // Read failures: retryable denial.
  ['read failed, delete', { lookupError: 'boom' }, { allowed: false, reason: 'LookupFailed', code: 500 }],
  [
    'read failed, eviction',
    { operation: 'Evict', lookupError: 'boom' },
    { allowed: false, reason: 'LookupFailed', code: 429 },
  ],
  // Drain states.
  [
    'user delete, no drain: start one that deletes the pod',
    {},
    {
      allowed: false,
      reason: 'DrainStarted',
      code: 403,
      trigger: 'PodDeletion',
      podAction: 'Delete',
      start: true,
    },
  ],
  [
    'eviction, no drain: 429 and a drain that keeps the pod',
    { operation: 'Evict' },
    {
      allowed: false,
      reason: 'DrainStarted',
      code: 429,
      trigger: 'Eviction',
      podAction: 'None',
      start: true,
    },
  ],
  [
    'eviction with a matching UID precondition',
    { operation: 'Evict', preconditionUid: 'uid-2' },
    { allowed: false, reason: 'DrainStarted', code: 429, trigger: 'Eviction', start: true },
  ],
  [
    'StatefulSet controller, ordinal below replicas: rolling update',
    { username: STATEFULSET_CONTROLLER },
    {
      allowed: false,
      reason: 'DrainStarted',
      code: 403,
      trigger: 'RollingUpdate',
      podAction: 'None',
      start: true,
    },
  ],
  [
    'StatefulSet controller, ordinal at or above replicas: scale-in',
    { username: STATEFULSET_CONTROLLER, statefulSet: { name: 'ticdc', deleting: false, replicas: 2 } },
    { allowed: false, reason: 'DrainStarted', code: 403, trigger: 'ScaleIn', podAction: 'None', start: true },
  ],
  [
    'drain in progress',
    { drain: { name: DRAIN, state: 'InProgress', phase: 'Draining', podAction: 'Delete' } },
    { allowed: false, reason: 'Draining', code: 403 },
  ],
  [
    'drain in progress, eviction',
    { operation: 'Evict', drain: { name: DRAIN, state: 'InProgress', phase: 'Queued' } },
    { allowed: false, reason: 'Draining', code: 429 },
  ],
  [
    'drain exists but not started yet (None)',
    { drain: { name: DRAIN, state: 'None' } },
    { allowed: false, reason: 'DrainStarted', start: true },
  ],
  ['drained', { drain: { name: DRAIN, state: 'Released' } }, { allowed: true, reason: 'Drained' }],
  [
    'drained, eviction',
    { operation: 'Evict', drain: { name: DRAIN, state: 'Released' } },
    { allowed: true, reason: 'Drained' },
  ],
  [
    'drained, StatefulSet controller retry',
    { username: STATEFULSET_CONTROLLER, drain: { name: DRAIN, state: 'Released' } },
    { allowed: true, reason: 'Drained' },
  ],
  [
    'drain held: a human decides, even for evictions',
    { operation: 'Evict', drain: { name: DRAIN, state: 'Held', reason: 'Timeout', message: 'timed out' } },
    { allowed: false, reason: 'DrainHeld', code: 403 },
  ],
  // A CaptureDrain only drains pods of a managed StatefulSet: holding any other pod would wedge it.
  [
    'pod without a StatefulSet is admitted: it is never drained',
    { pod: pod({ ownerReferences: [] }), statefulSet: undefined, lookupError: 'x' },
    { allowed: true, reason: 'Unmanaged' },
  ],
  [
    'pod of a StatefulSet not labelled managed is admitted',
    { statefulSet: { name: 'ticdc', uid: 'sts', deleting: false, replicas: 3, managed: false } },
    { allowed: true, reason: 'Unmanaged' },
  ],
  [
    'pod of a managed StatefulSet is gated',
    { statefulSet: { name: 'ticdc', uid: 'sts', deleting: false, replicas: 3, managed: true } },
    { allowed: false, reason: 'DrainStarted', trigger: 'PodDeletion', start: true },
  ],
];

describe('gate decision', () => {
  test.each(rows)('%s', (_name, over, want) => {
    const d = decide(base(over));
    expect(d.allowed).toBe(want.allowed);
    expect(d.reason).toBe(want.reason);
    if (d.allowed) return;
    if (want.code) expect(d.code).toBe(want.code);
    expect(d.startDrain !== undefined).toBe(!!want.start);
    if (want.trigger) expect(d.startDrain?.trigger).toBe(want.trigger);
    if (want.podAction) expect(d.startDrain?.podAction).toBe(want.podAction);
    if (d.startDrain) expect(d.startDrain.name).toBe(DRAIN);
  });

  test('a user delete is told which drain runs, that the operator deletes the pod, and how to skip', () => {
    const d = decide(base());
    expect(d.allowed).toBe(false);
    expect(d.message).toContain(`CaptureDrain ${DRAIN}`);
    expect(d.message).toContain('the operator deletes it once it is drained');
    expect(d.message).toContain('kubectl annotate pod ticdc-2 -n tidb drain.ticdc.io/skip=true');
  });

  test('an eviction is told kubectl drain retries; the phase shows while draining', () => {
    const d = decide(
      base({ operation: 'Evict', drain: { name: DRAIN, state: 'InProgress', phase: 'Draining' } }),
    );
    expect(d.message).toContain('kubectl drain retries');
    expect(d.message).toContain('(phase Draining)');
  });

  test('a reused drain keeps its own podAction in the message', () => {
    const d = decide(base({ drain: { name: DRAIN, state: 'InProgress', podAction: 'None' } }));
    expect(d.message).toContain('retry the delete once it is drained');
  });

  test('a dry run says a drain would start', () => {
    const d = decide(base({ dryRun: true }));
    expect(d.message).toContain('would start CaptureDrain');
  });

  test('a held drain says why and how to retry', () => {
    const d = decide(base({ drain: { name: DRAIN, state: 'Held', message: 'capture not found' } }));
    expect(d.message).toContain('capture not found');
    expect(d.message).toContain('Delete the CaptureDrain to drain again');
  });

  test('quickDecision needs no reads for unmanaged, skipped and terminating pods only', () => {
    expect(quickDecision({ operation: 'Delete', dryRun: false, username: 'u', pod: pod() })).toBeUndefined();
    expect(
      quickDecision({ operation: 'Delete', dryRun: false, username: 'u', pod: pod({ labels: {} }) })?.allowed,
    ).toBe(true);
  });

  test('ordinals', () => {
    expect(podOrdinal('ticdc-12', 'ticdc')).toBe(12);
    expect(podOrdinal('ticdc-0', 'ticdc')).toBe(0);
    expect(podOrdinal('ticdc-01', 'ticdc')).toBeUndefined();
    expect(podOrdinal('ticdc-peer-1', 'ticdc')).toBeUndefined();
    expect(podOrdinal('other-1', 'ticdc')).toBeUndefined();
  });
});

describe('verifying a review against live state', () => {
  const live = pod();
  const ok = { namespace: 'tidb', name: 'ticdc-2', username: 'alice', claimed: live, live, watched: [] };

  test('the live incarnation, named by the review, with a requester: verified', () => {
    expect(verifyReview(ok)).toBeUndefined();
    expect(verifyReview({ ...ok, claimed: undefined, watched: ['tidb'] })).toBeUndefined();
  });

  test.each([
    ['a namespace the operator does not watch', { watched: ['other'] }, true, 'NotWatched'],
    ['a pod that does not exist', { live: undefined }, true, 'PodNotFound'],
    ['a forged UID', { claimed: pod({ uid: 'forged' }) }, false, 'Unverified'],
    ['a claimed pod other than the one named', { claimed: pod({ name: 'victim' }) }, false, 'Unverified'],
    ['no pod name', { name: undefined }, false, 'Unverified'],
    ['no requester', { username: '' }, false, 'Unverified'],
  ])('%s: answered, nothing started', (_what, over, allowed, reason) => {
    const d = verifyReview({ ...ok, ...over });
    expect(d).toMatchObject({ allowed, reason });
    expect(d && !d.allowed && d.startDrain).toBeFalsy();
    expect(d!.message).toMatch(/\S/);
  });

  test('notWatched: empty means every namespace', () => {
    expect(notWatched('tidb', [])).toBeUndefined();
    expect(notWatched('tidb', ['tidb'])).toBeUndefined();
    expect(notWatched('kube-system', ['tidb'])).toMatchObject({ allowed: true, reason: 'NotWatched' });
  });
});
