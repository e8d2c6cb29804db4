import { describe, expect, test } from '@jest/globals';
import {
  decide,
  notWatched,
  quickDecision,
  selectorMatches,
  verifyReview,
  type DisruptionBudgetFacts,
  type GateFacts,
} from '../../src/gate/decide.js';
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
const OPERATOR = 'system:serviceaccount:ops:capture-drain-operator';

const pdb = (over: Partial<DisruptionBudgetFacts> = {}): DisruptionBudgetFacts => ({
  name: 'ticdc',
  disruptionsAllowed: 0,
  currentHealthy: 3,
  desiredHealthy: 3,
  stale: false,
  ...over,
});

const ready = (p: Pod, status: 'True' | 'False'): Pod => ({
  ...p,
  status: { ...p.status, phase: 'Running', conditions: [{ type: 'Ready', status }] },
});
const unready = () => ready(pod(), 'False');

const base = (over: Partial<GateFacts> = {}): GateFacts => ({
  operation: 'Delete',
  dryRun: false,
  username: 'alice',
  pod: ready(pod(), 'True'),
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
  // Case 1: every drain of the incarnation counts (facts.ts picks it); the operator's own delete.
  [
    'operator deletes a pod its drain is releasing',
    {
      username: OPERATOR,
      operatorUsername: OPERATOR,
      drain: { name: 'manual', state: 'Released', phase: 'Releasing', podAction: 'Delete' },
    },
    { allowed: true, reason: 'OperatorRelease' },
  ],
  [
    'operator delete with its drain Releasing but no release time yet',
    {
      username: OPERATOR,
      operatorUsername: OPERATOR,
      drain: { name: 'manual', state: 'InProgress', phase: 'Releasing' },
    },
    { allowed: true, reason: 'OperatorRelease' },
  ],
  [
    'someone else naming itself like nobody: a Releasing-without-release drain still holds',
    {
      username: 'mallory',
      operatorUsername: OPERATOR,
      drain: { name: 'manual', state: 'InProgress', phase: 'Releasing' },
    },
    { allowed: false, reason: 'Draining', code: 403 },
  ],
  [
    'operator delete while its drain still drains: held like anyone',
    {
      username: OPERATOR,
      operatorUsername: OPERATOR,
      drain: { name: 'manual', state: 'InProgress', phase: 'Draining' },
    },
    { allowed: false, reason: 'Draining', code: 403 },
  ],
  [
    'operator identity unknown: the request user is not taken for it',
    { username: '', drain: { name: 'manual', state: 'InProgress', phase: 'Releasing' } },
    { allowed: false, reason: 'Draining' },
  ],
  // Case 2: pods whose capture is gone.
  [
    'PodGC deletes (node gone)',
    { username: 'system:serviceaccount:kube-system:pod-garbage-collector', lookupError: 'x' },
    { allowed: true, reason: 'PodCleanup' },
  ],
  [
    'taint eviction controller deletes (NoExecute unreachable)',
    { username: 'system:serviceaccount:kube-system:taint-eviction-controller' },
    { allowed: true, reason: 'PodCleanup' },
  ],
  [
    'node lifecycle controller deletes',
    { username: 'system:serviceaccount:kube-system:node-controller' },
    { allowed: true, reason: 'PodCleanup' },
  ],
  [
    'a user delete of a pod on a NotReady node',
    { node: { name: 'n1', ready: false, why: 'Ready Unknown' } },
    { allowed: true, reason: 'NodeNotReady' },
  ],
  [
    'an eviction of a pod on an unreachable node',
    { operation: 'Evict', node: { name: 'n1', ready: false, why: 'taint node.kubernetes.io/unreachable' } },
    { allowed: true, reason: 'NodeNotReady' },
  ],
  [
    'a pod on a ready node is gated',
    { node: { name: 'n1', ready: true } },
    { allowed: false, reason: 'DrainStarted', start: true },
  ],
  [
    'a force delete (grace period 0) is gated like any delete',
    { node: { name: 'n1', ready: true }, drain: { name: DRAIN, state: 'InProgress', phase: 'Draining' } },
    { allowed: false, reason: 'Draining', code: 403 },
  ],
  [
    'drain found no capture (CaptureNotFound under Hold): the delete passes',
    { drain: { name: DRAIN, state: 'Held', reason: 'CaptureNotFound' } },
    { allowed: true, reason: 'CaptureNotRegistered' },
  ],
  [
    'capture left on its own during the drain: the eviction passes',
    { operation: 'Evict', drain: { name: DRAIN, state: 'Held', reason: 'CaptureGone' } },
    { allowed: true, reason: 'CaptureNotRegistered' },
  ],
  // Case 3: dry runs.
  [
    'dry-run eviction: admitted with a warning, nothing started',
    { operation: 'Evict', dryRun: true },
    { allowed: true, reason: 'DryRun' },
  ],
  [
    'dry-run eviction while draining',
    { operation: 'Evict', dryRun: true, drain: { name: DRAIN, state: 'InProgress', phase: 'Draining' } },
    { allowed: true, reason: 'DryRun' },
  ],
  [
    'dry run of a held pod still answers 403 (no retry)',
    { operation: 'Evict', dryRun: true, drain: { name: DRAIN, state: 'Held', reason: 'TimedOut' } },
    { allowed: false, reason: 'DrainHeld', code: 403 },
  ],
  [
    'dry-run eviction, read failed: 500, not a 429 kubectl retries',
    { operation: 'Evict', dryRun: true, lookupError: 'boom' },
    { allowed: false, reason: 'LookupFailed', code: 500 },
  ],
  // Case 4: scale to 0 or 1.
  [
    'scale to 0: the last capture (SingleCapture) goes',
    {
      username: STATEFULSET_CONTROLLER,
      statefulSet: { name: 'ticdc', deleting: false, replicas: 0 },
      drain: { name: DRAIN, state: 'Held', reason: 'SingleCapture' },
    },
    { allowed: true, reason: 'NowhereToGo' },
  ],
  [
    'scale to 1: a removed pod that is the last live capture goes',
    {
      username: STATEFULSET_CONTROLLER,
      statefulSet: { name: 'ticdc', deleting: false, replicas: 1 },
      drain: { name: DRAIN, state: 'Held', reason: 'SingleCapture' },
    },
    { allowed: true, reason: 'NowhereToGo' },
  ],
  [
    'scale to 2 with one live capture: held (the StatefulSet keeps pods to move work to)',
    {
      username: STATEFULSET_CONTROLLER,
      statefulSet: { name: 'ticdc', deleting: false, replicas: 2 },
      drain: { name: DRAIN, state: 'Held', reason: 'SingleCapture' },
    },
    { allowed: false, reason: 'DrainHeld', code: 403 },
  ],
  [
    'a user delete of the single capture stays held (onTimeout Hold)',
    {
      statefulSet: { name: 'ticdc', deleting: false, replicas: 1 },
      drain: { name: DRAIN, state: 'Held', reason: 'SingleCapture' },
    },
    { allowed: false, reason: 'DrainHeld', code: 403 },
  ],
  [
    'a rolling update of a one-replica StatefulSet stays held (ordinal below replicas)',
    {
      username: STATEFULSET_CONTROLLER,
      pod: pod({ name: 'ticdc-0' }),
      statefulSet: { name: 'ticdc', deleting: false, replicas: 1 },
      drain: { name: DRAIN, state: 'Held', reason: 'SingleCapture' },
    },
    { allowed: false, reason: 'DrainHeld', code: 403 },
  ],
  // Case 5: PodDisruptionBudgets are checked before an eviction starts a drain.
  [
    'eviction the PDB refuses: 429, no drain',
    { operation: 'Evict', disruptionBudgets: [pdb({ disruptionsAllowed: 0 })] },
    { allowed: false, reason: 'DisruptionBudget', code: 429 },
  ],
  [
    'eviction the PDB allows: drain starts',
    { operation: 'Evict', disruptionBudgets: [pdb({ disruptionsAllowed: 1 })] },
    { allowed: false, reason: 'DrainStarted', code: 429, start: true },
  ],
  [
    'eviction with a PDB not yet processed: 429, no drain',
    { operation: 'Evict', disruptionBudgets: [pdb({ disruptionsAllowed: 1, stale: true })] },
    { allowed: false, reason: 'DisruptionBudget', code: 429 },
  ],
  [
    'eviction with two PDBs: refused as the API server does, no drain',
    { operation: 'Evict', disruptionBudgets: [pdb({ name: 'a' }), pdb({ name: 'b' })] },
    { allowed: false, reason: 'DisruptionBudget', code: 500 },
  ],
  [
    'eviction of an unready pod the healthy budget covers: drain starts',
    {
      operation: 'Evict',
      pod: unready(),
      disruptionBudgets: [pdb({ disruptionsAllowed: 0, currentHealthy: 2, desiredHealthy: 2 })],
    },
    { allowed: false, reason: 'DrainStarted', start: true },
  ],
  [
    'eviction of an unready pod when the budget is short: refused',
    {
      operation: 'Evict',
      pod: unready(),
      disruptionBudgets: [pdb({ disruptionsAllowed: 0, currentHealthy: 1, desiredHealthy: 2 })],
    },
    { allowed: false, reason: 'DisruptionBudget', code: 429 },
  ],
  [
    'eviction of an unready pod under AlwaysAllow: drain starts',
    {
      operation: 'Evict',
      pod: unready(),
      disruptionBudgets: [
        pdb({
          disruptionsAllowed: 0,
          currentHealthy: 0,
          desiredHealthy: 2,
          unhealthyPodEvictionPolicy: 'AlwaysAllow',
        }),
      ],
    },
    { allowed: false, reason: 'DrainStarted', start: true },
  ],
  [
    'PDB refusing, but the drain already runs: answered as draining',
    {
      operation: 'Evict',
      disruptionBudgets: [pdb({ disruptionsAllowed: 0 })],
      drain: { name: DRAIN, state: 'InProgress', phase: 'Draining' },
    },
    { allowed: false, reason: 'Draining', code: 429 },
  ],
  [
    'PDB refusing, drained already: admitted (the API server applies the PDB itself)',
    {
      operation: 'Evict',
      disruptionBudgets: [pdb({ disruptionsAllowed: 0 })],
      drain: { name: DRAIN, state: 'Released' },
    },
    { allowed: true, reason: 'Drained' },
  ],
  [
    'PDBs are not checked for deletes',
    { disruptionBudgets: [pdb({ disruptionsAllowed: 0 })] },
    { allowed: false, reason: 'DrainStarted', start: true },
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
    expect(d).toMatchObject({ allowed: true, reason: 'DryRun' });
    expect(d.allowed && d.warning).toContain(
      `would be held until drained: a CaptureDrain ${DRAIN} would start`,
    );
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

  test('dry-run warning names the drain and what the real request would meet', () => {
    const d = decide(base({ operation: 'Evict', dryRun: true }));
    expect(d.allowed && d.warning).toBe(
      `capture pod tidb/ticdc-2 would be held until drained: a CaptureDrain ${DRAIN} would start; the eviction is admitted once it is drained (kubectl drain retries)`,
    );
  });

  test('a PDB refusal carries the API server wording and the budget numbers', () => {
    const d = decide(
      base({ operation: 'Evict', disruptionBudgets: [pdb({ desiredHealthy: 3, currentHealthy: 3 })] }),
    );
    expect(d.allowed).toBe(false);
    expect(d.message).toContain("Cannot evict pod as it would violate the pod's disruption budget");
    expect(d.message).toContain('the disruption budget ticdc needs 3 healthy pods and has 3 currently');
    expect(d.message).toContain('no drain was started');
  });

  test('label selectors (policy/v1)', () => {
    const l = { app: 'ticdc', tier: 'cdc' };
    expect(selectorMatches(undefined, l)).toBe(false);
    expect(selectorMatches(null, l)).toBe(false);
    expect(selectorMatches({}, l)).toBe(true);
    expect(selectorMatches({ matchLabels: { app: 'ticdc' } }, l)).toBe(true);
    expect(selectorMatches({ matchLabels: { app: 'web' } }, l)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['cdc'] }] }, l)).toBe(
      true,
    );
    expect(
      selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['cdc'] }] }, l),
    ).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, l)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, l)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'app', operator: 'Bogus' }] }, l)).toBe(false);
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
