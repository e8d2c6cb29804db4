// The node cordon decision as a table: given a node, pods, StatefulSets and drains, which pods
// get a drain now, which queued cordon drains are cancelled, and why the rest wait.
import { describe, expect, test } from '@jest/globals';
import type { CaptureDrainObject, CaptureDrainStatus, Trigger } from '../../src/api/capturedrain.js';
import { decideNode, isCordoned, type NodeDecision, type NodeInputs } from '../../src/cordon/decide.js';
import type { Pod, StatefulSet } from '../../src/kube/objects.js';
import { podDrainName } from '../../src/drain/contract.js';
import { capturePod, podDrain, statefulSet } from '../support/builders.js';

const NS = 'tidb';

function pod(
  name: string,
  node: string,
  o: {
    sts?: string;
    stsUid?: string;
    uid?: string;
    ready?: boolean;
    skip?: boolean;
    terminating?: boolean;
    ns?: string;
  } = {},
): Pod {
  const sts = o.sts ?? 'ticdc';
  return capturePod(name, {
    node,
    namespace: o.ns ?? NS,
    uid: o.uid ?? `uid-${o.ns ?? NS}-${name}`,
    statefulSet: sts,
    statefulSetUid: o.stsUid ?? `sts-${sts}`,
    phase: null,
    ...(o.ready === false ? { ready: false } : {}),
    ...(o.skip ? { skip: true } : {}),
    ...(o.terminating ? { terminating: true } : {}),
  });
}

function sts(name: string, replicas: number, o: { deleting?: boolean; ns?: string } = {}): StatefulSet {
  return statefulSet(name, {
    replicas,
    namespace: o.ns ?? NS,
    managed: false,
    ...(o.deleting ? { deleting: true } : {}),
  });
}

function drain(
  p: Pod,
  trigger: string,
  status: CaptureDrainStatus = {},
  stsName = p.metadata.ownerReferences![0]!.name,
): CaptureDrainObject {
  const d = podDrain(p, { trigger: trigger as Trigger, status, statefulSet: stsName });
  return { ...d, metadata: { ...d.metadata, resourceVersion: '7' } };
}

const STARTED: CaptureDrainStatus = { phase: 'Draining', startTime: '2025-01-01T00:00:00Z' };
const QUEUED: CaptureDrainStatus = { phase: 'Queued', queuedTime: '2025-01-01T00:00:00Z' };
const COMPLETED: CaptureDrainStatus = {
  phase: 'Completed',
  reason: 'Drained',
  startTime: '2025-01-01T00:00:00Z',
  releaseTime: '2025-01-01T00:01:00Z',
};
const HELD: CaptureDrainStatus = { phase: 'Failed', reason: 'TimedOut', startTime: '2025-01-01T00:00:00Z' };

// Three replicas: ticdc-0 and ticdc-2 on n1, ticdc-1 on n2.
const p0 = pod('ticdc-0', 'n1');
const p1 = pod('ticdc-1', 'n2');
const p2 = pod('ticdc-2', 'n1');

function decide(o: Partial<NodeInputs> & { stss?: StatefulSet[] }): NodeDecision {
  const stss = o.stss ?? [sts('ticdc', 3)];
  return decideNode({
    nodeName: 'n1',
    cordoned: true,
    pods: [p0, p1, p2],
    statefulSets: new Map(stss.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s])),
    terminatingNamespaces: new Set(),
    drains: [],
    ...o,
  });
}

const names = (pods: { metadata: { name?: string } }[]) => pods.map((p) => p.metadata.name);
const summary = (d: NodeDecision) => ({
  drain: names(d.drain),
  cancel: names(d.cancel),
  draining: names(d.draining.map((x) => x.pod)),
  waiting: d.waiting.map((w) => `${w.pod.metadata.name}:${w.reason}`),
  ignored: d.ignored.map((i) => `${i.pod.metadata.name}:${i.reason}`),
  released: names(d.released),
});

describe('isCordoned', () => {
  test.each([
    ['spec.unschedulable', true, { spec: { unschedulable: true } }],
    [
      'the unschedulable NoSchedule taint',
      true,
      { spec: { taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] } },
    ],
    [
      'another taint',
      false,
      { spec: { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }] } },
    ],
    [
      'the unschedulable key with another effect',
      false,
      { spec: { taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'PreferNoSchedule' }] } },
    ],
    ['unschedulable false', false, { spec: { unschedulable: false } }],
    ['no spec', false, {}],
  ])('%s -> %s', (_, want, spec) => {
    expect(isCordoned({ metadata: { name: 'n1' }, ...spec })).toBe(want);
  });
  test('a missing node is not cordoned', () => expect(isCordoned(undefined)).toBe(false));
});

describe('decideNode', () => {
  const table: [
    string,
    Partial<NodeInputs> & { stss?: StatefulSet[] },
    Partial<ReturnType<typeof summary>>,
  ][] = [
    [
      'cordoned, nothing started: one pod of the StatefulSet now, the other waits its turn',
      {},
      { drain: ['ticdc-0'], waiting: ['ticdc-2:Turn'], cancel: [] },
    ],
    [
      'a drain of the StatefulSet is running: the pod with it is draining, the next waits',
      { drains: [drain(p0, 'NodeCordon', STARTED)] },
      { drain: [], draining: ['ticdc-0'], waiting: ['ticdc-2:StatefulSetBusy'] },
    ],
    [
      'a rollout drain of a pod on another node also holds the StatefulSet',
      { drains: [drain(p1, 'RollingUpdate', STARTED)] },
      { drain: [], waiting: ['ticdc-0:StatefulSetBusy', 'ticdc-2:Turn'] },
    ],
    [
      'previous drain completed but its replacement is not Ready yet: wait',
      {
        pods: [pod('ticdc-0', 'n3', { ready: false, uid: 'replacement' }), p1, p2],
        drains: [drain(p0, 'NodeCordon', COMPLETED)],
      },
      { drain: [], waiting: ['ticdc-2:ReplicasNotReady'] },
    ],
    [
      'previous pod deleted, replacement not yet created: wait',
      { pods: [p1, p2] },
      { drain: [], waiting: ['ticdc-2:ReplicasNotReady'] },
    ],
    [
      'replacement Ready on another node: the next pod goes',
      {
        pods: [pod('ticdc-0', 'n3', { uid: 'replacement' }), p1, p2],
        drains: [drain(p0, 'NodeCordon', COMPLETED)],
      },
      { drain: ['ticdc-2'], waiting: [] },
    ],
    [
      'an unready pod on the node goes first (it cannot block its siblings)',
      { pods: [p0, p1, pod('ticdc-2', 'n1', { ready: false })] },
      { drain: ['ticdc-2'], waiting: ['ticdc-0:Turn'] },
    ],
    [
      'skip annotation: left alone, the other pod is drained',
      { pods: [pod('ticdc-0', 'n1', { skip: true }), p1, p2] },
      { drain: ['ticdc-2'], ignored: ['ticdc-0:Skipped'], waiting: [] },
    ],
    [
      'skip annotation added after a cordon drain was queued: the drain is cancelled',
      {
        pods: [pod('ticdc-0', 'n1', { skip: true }), p1, p2],
        drains: [drain(p0, 'NodeCordon', QUEUED)],
      },
      { cancel: [podDrainName('ticdc-0', p0.metadata.uid!)], ignored: ['ticdc-0:Skipped'] },
    ],
    [
      'terminating pods are not candidates',
      { pods: [pod('ticdc-0', 'n1', { terminating: true }), p1, p2] },
      { drain: [], waiting: ['ticdc-2:ReplicasNotReady'], ignored: [] },
    ],
    [
      'StatefulSet being deleted: nothing',
      { stss: [sts('ticdc', 3, { deleting: true })] },
      { drain: [], waiting: [], ignored: ['ticdc-0:StatefulSetDeleting', 'ticdc-2:StatefulSetDeleting'] },
    ],
    [
      'StatefulSet gone: nothing',
      { stss: [] },
      { drain: [], ignored: ['ticdc-0:StatefulSetDeleting', 'ticdc-2:StatefulSetDeleting'] },
    ],
    [
      'StatefulSet recreated under the same name (orphaned pods): nothing',
      { stss: [{ ...sts('ticdc', 3), metadata: { name: 'ticdc', namespace: NS, uid: 'new-uid' } }] },
      { drain: [], ignored: ['ticdc-0:StatefulSetDeleting', 'ticdc-2:StatefulSetDeleting'] },
    ],
    [
      'namespace terminating: nothing',
      { terminatingNamespaces: new Set([NS]) },
      { drain: [], ignored: ['ticdc-0:NamespaceTerminating', 'ticdc-2:NamespaceTerminating'] },
    ],
    [
      'a pod without a StatefulSet owner: nothing',
      {
        pods: [
          { ...p0, metadata: { ...p0.metadata, ownerReferences: [] } },
          p1,
          { ...p2, metadata: { ...p2.metadata, ownerReferences: [] } },
        ],
      },
      { drain: [], ignored: ['ticdc-0:NoStatefulSet', 'ticdc-2:NoStatefulSet'] },
    ],
    [
      'a pod released by another trigger is not drained again; the next pod waits for its replacement',
      { drains: [drain(p0, 'Eviction', { ...COMPLETED, phase: 'Releasing' })] },
      { drain: [], released: ['ticdc-0'], waiting: ['ticdc-2:StatefulSetBusy'] },
    ],
    [
      'a held drain of a pod on the node blocks the StatefulSet',
      { drains: [drain(p0, 'NodeCordon', HELD)] },
      { drain: [], waiting: ['ticdc-0:DrainHeld', 'ticdc-2:DrainHeld'] },
    ],
    [
      'a held drain of a pod on another node blocks it too',
      { drains: [drain(p1, 'RollingUpdate', HELD)] },
      { drain: [], waiting: ['ticdc-0:DrainHeld', 'ticdc-2:Turn'] },
    ],
    [
      'pods on other nodes are never candidates',
      { pods: [p1], stss: [sts('ticdc', 1)] },
      { drain: [], waiting: [], ignored: [] },
    ],
    [
      'two StatefulSets on the node: one pod of each at once (the engine serialises per TiCDC cluster)',
      {
        pods: [p0, p1, p2, pod('other-0', 'n1', { sts: 'other' }), pod('other-1', 'n2', { sts: 'other' })],
        stss: [sts('ticdc', 3), sts('other', 2)],
      },
      { drain: ['ticdc-0', 'other-0'], waiting: ['ticdc-2:Turn'] },
    ],
    [
      'uncordoned: unstarted cordon drains are cancelled, started ones finish, other triggers stay',
      {
        cordoned: false,
        drains: [
          drain(p0, 'NodeCordon', STARTED),
          drain(p2, 'NodeCordon', QUEUED),
          drain(p1, 'NodeCordon', QUEUED),
        ],
      },
      { drain: [], cancel: [podDrainName('ticdc-2', p2.metadata.uid!)], waiting: [] },
    ],
    [
      'uncordoned: an unstarted drain from another trigger is not ours to cancel',
      { cordoned: false, drains: [drain(p0, 'PodDeletion', QUEUED)] },
      { cancel: [] },
    ],
    [
      'uncordoned: a finished cordon drain is left as a record',
      { cordoned: false, drains: [drain(p0, 'NodeCordon', COMPLETED)] },
      { cancel: [] },
    ],
  ];

  test.each(table)('%s', (_, input, want) => {
    expect(summary(decide(input))).toMatchObject(want);
  });

  test('uncordoned mid-drain: the started drain is reported as finishing', () => {
    const d = decide({ cordoned: false, drains: [drain(p0, 'NodeCordon', STARTED)] });
    expect(names(d.finishing)).toEqual([podDrainName('ticdc-0', p0.metadata.uid!)]);
    expect(d.cancel).toEqual([]);
  });

  test('wait reasons explain themselves', () => {
    const d = decide({ pods: [p1, p2] });
    expect(d.waiting[0]!.detail).toBe(
      'waiting until every other pod of StatefulSet tidb/ticdc is Ready (1/2 other pods Ready)',
    );
    const busy = decide({ drains: [drain(p1, 'RollingUpdate', STARTED)] });
    expect(busy.waiting[0]!.detail).toMatch(
      /drain tidb\/ticdc-1-[0-9a-f]{8} of StatefulSet tidb\/ticdc has not finished/,
    );
  });

  test('a drain for an earlier incarnation of the pod does not count for this one', () => {
    const old = drain({ ...p0, metadata: { ...p0.metadata, uid: 'old' } }, 'NodeCordon', COMPLETED);
    expect(summary(decide({ drains: [old] })).drain).toEqual(['ticdc-0']);
  });
});
