// The release's pod deletion: on the cached pod's resourceVersion (one request), read afresh only
// when the API server says the pod changed since; a container restart is never deleted over.
import { describe, expect, test } from '@jest/globals';
import type { Pod } from '../../src/kube/objects.js';
import { Resources, type KubeObject } from '../../src/kube/port.js';
import type { TicdcClient } from '../../src/ticdc/types.js';
import { FakeKube } from '../support/fake-kube.js';
import { reconcileOnce, reconcilerOver } from './reconciler-over.js';

const NS = 'tidb';
const ENDPOINT = 'http://ticdc.invalid:8300';

function setup() {
  const kube = new FakeKube({ gracefulPodDeletion: false });
  const sts = kube.seed<KubeObject>(Resources.statefulsets, {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      namespace: NS,
      name: 'ticdc',
      labels: { 'drain.ticdc.io/managed': 'true' },
      annotations: { 'drain.ticdc.io/endpoint': ENDPOINT },
    },
    spec: { serviceName: 'ticdc-peer', replicas: 3 },
  });
  const pod = kube.seed<Pod>(Resources.pods, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace: NS,
      name: 'ticdc-1',
      labels: { 'drain.ticdc.io/managed': 'true' },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'StatefulSet',
          name: 'ticdc',
          uid: sts.metadata.uid!,
          controller: true,
        },
      ],
    },
    spec: { containers: [{ name: 'ticdc', image: 'ticdc' }] },
    status: { containerStatuses: [{ name: 'ticdc', restartCount: 0 }] },
  } as unknown as Pod);
  // Released by the timeout policy (onTimeout Release): the deletion needs no TiCDC answer.
  kube.seed(Resources.capturedrains, {
    apiVersion: 'drain.ticdc.io/v1alpha1',
    kind: 'CaptureDrain',
    metadata: { namespace: NS, name: 'd', creationTimestamp: '2026-11-21T10:00:00Z', generation: 1 },
    spec: { podName: 'ticdc-1', podAction: 'Delete', onTimeout: 'Release' },
    status: {
      phase: 'Releasing',
      reason: 'TimedOut',
      startTime: '2026-11-21T10:00:01Z',
      podUID: pod.metadata.uid!,
      podRestarts: 0,
      captureID: 'c1',
      apiFlavor: 'V2',
      clusterEndpoint: ENDPOINT,
      releaseTime: '2026-11-21T10:00:05Z',
    },
  });
  let cachedPod: Pod | undefined = structuredClone(pod);
  const client = {
    endpoint: ENDPOINT,
    listCaptures: () => Promise.resolve([{ id: 'c0', isOwner: true, address: '10.0.0.2:8300' }]),
    close: () => Promise.resolve(),
  } as unknown as TicdcClient;
  const reconciler = reconcilerOver(kube, client, {
    pods: { get: (ns, name) => (name === 'ticdc-1' ? cachedPod : undefined) },
    statefulSets: { get: (ns, name) => kube.peek(Resources.statefulsets, ns, name) },
    now: () => Date.parse('2026-11-21T10:00:06Z'),
  });
  const reconcile = () => reconcileOnce(reconciler, { namespace: NS, name: 'd' });
  const podCalls = () =>
    kube.calls.filter((c) => c.type?.includes('pods')).map((c) => `${c.method} ${c.name ?? ''}`);
  return {
    kube,
    pod,
    reconcile,
    podCalls,
    setCached: (p: Pod | undefined) => (cachedPod = p),
  };
}

describe('the release deletes the pod', () => {
  test('on the cached pod, current: one DELETE with uid and resourceVersion preconditions, no read', async () => {
    const { kube, pod, reconcile, podCalls } = setup();
    kube.calls.length = 0;
    await reconcile();
    expect(podCalls()).toEqual(['delete ticdc-1']);
    expect(kube.callsOf('delete')[0]!.opts).toMatchObject({
      uid: pod.metadata.uid,
      resourceVersion: pod.metadata.resourceVersion,
    });
    expect(kube.peek(Resources.pods, NS, 'ticdc-1')).toBeUndefined();
  });

  test('on a stale cache the API server refuses (409): read afresh, then deleted', async () => {
    const { kube, reconcile, podCalls } = setup();
    // The pod changed after the cache saw it (a label, say): its resourceVersion moved on.
    await kube.patch(Resources.pods, NS, 'ticdc-1', { metadata: { labels: { touched: 'yes' } } }, 'merge');
    kube.calls.length = 0;
    await reconcile();
    expect(podCalls()).toEqual(['delete ticdc-1', 'get ticdc-1', 'delete ticdc-1']);
    expect(kube.peek(Resources.pods, NS, 'ticdc-1')).toBeUndefined();
  });

  test('a container restart since the capture was found, seen afresh: not deleted', async () => {
    const { kube, reconcile, podCalls } = setup();
    await kube.patch(
      Resources.pods,
      NS,
      'ticdc-1',
      { status: { containerStatuses: [{ name: 'ticdc', restartCount: 1 }] } },
      'merge',
      { subresource: 'status' },
    );
    kube.calls.length = 0;
    await reconcile();
    expect(podCalls()).toEqual(['delete ticdc-1', 'get ticdc-1']);
    expect(kube.peek(Resources.pods, NS, 'ticdc-1')).toBeDefined();
  });
});

describe('a release in the reconcile that sees the confirmed zero', () => {
  test('the status is on record before the deletion, its events are posted only after it, and `released` waits for the next write', async () => {
    const { kube, pod } = setup();
    // The drain is still Draining: this reconcile reads the zero, records Releasing, deletes.
    await kube.patch(
      Resources.capturedrains,
      NS,
      'd',
      {
        spec: { onTimeout: 'Hold' },
        status: {
          phase: 'Draining',
          reason: 'DrainRequested',
          releaseTime: null,
          captureAddress: 'ticdc-1.ticdc-peer.tidb.svc:8300',
          serverArchitecture: 'NewArch',
          initial: { maintainers: 1, dispatchers: 10 },
          remaining: { maintainers: 0, dispatchers: 2 },
          attempts: 3,
        },
      },
      'merge',
      { subresource: 'status' },
    );
    await kube.patch(Resources.capturedrains, NS, 'd', { spec: { onTimeout: 'Hold' } }, 'merge');
    const client = {
      endpoint: ENDPOINT,
      drain: () => Promise.resolve({ maintainers: 0, dispatchers: 0 }),
      serverStatus: () => Promise.resolve({ id: 'c1', isOwner: false, version: 'v9.0.0', liveness: 1 }),
      listCaptures: () => Promise.resolve(listed),
      close: () => Promise.resolve(),
    } as unknown as TicdcClient;
    let listed = [
      { id: 'c0', isOwner: true, address: 'ticdc-0.ticdc-peer.tidb.svc:8300' },
      { id: 'c1', isOwner: false, address: 'ticdc-1.ticdc-peer.tidb.svc:8300' },
    ];
    const order: string[] = [];
    const reconciler = reconcilerOver(kube, client, {
      kube: new Proxy(kube, {
        get(target, prop, receiver) {
          const v = Reflect.get(target, prop, receiver) as unknown;
          if (typeof v !== 'function') return v;
          return (...args: unknown[]) => {
            const [type] = args as [{ plural?: string }];
            if (prop === 'delete' && type?.plural === 'pods') order.push('delete pod');
            if (
              prop === 'patch' &&
              (args[5] as { subresource?: string } | undefined)?.subresource === 'status'
            )
              order.push('status write');
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      }),
      events: { event: (_ref, _type, reason) => order.push(`event ${reason}`) },
      pods: {
        get: (ns, name) => (name === 'ticdc-1' ? kube.peek<Pod>(Resources.pods, ns, name) : undefined),
      },
      statefulSets: { get: (ns, name) => kube.peek(Resources.statefulsets, ns, name) },
      now: () => Date.parse('2026-11-21T10:00:06Z'),
    });
    await reconcileOnce(reconciler, { namespace: NS, name: 'd' });
    expect(kube.peek(Resources.pods, NS, pod.metadata.name!)).toBeUndefined();
    const del = order.indexOf('delete pod');
    expect(order.slice(0, del)).toEqual(['status write']);
    expect(order.slice(del + 1).filter((x) => x.startsWith('event'))).toEqual(
      expect.arrayContaining(['event CountsZero', 'event Drained']),
    );
    // No write of its own for `released` right after the deletion (200 releases in one second
    // would put 200 more writes in front of the deletions)...
    expect(order.slice(del + 1)).not.toContain('status write');
    expect(
      kube.peek<KubeObject & { status: { released?: boolean } }>(Resources.capturedrains, NS, 'd')!.status,
    ).toMatchObject({ phase: 'Releasing' });
    // ...the capture's departure writes it, with the end of the drain.
    listed = listed.filter((c) => c.id !== 'c1');
    await reconcileOnce(reconciler, { namespace: NS, name: 'd' });
    expect(
      kube.peek<KubeObject & { status: { released?: boolean } }>(Resources.capturedrains, NS, 'd')!.status,
    ).toMatchObject({ phase: 'Completed', reason: 'Drained', released: true });
  });
});
