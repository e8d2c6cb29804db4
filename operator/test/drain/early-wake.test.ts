// A running drain woken before its next planned look (another drain's slot hand-over, an unrelated
// event) keeps the machine's polling plan: it asks TiCDC nothing until the look is due. The first
// drain request may be retried quickly inside the call; the repeated looks are not.
import { describe, expect, test } from '@jest/globals';
import type { CaptureDrainObject } from '../../src/api/capturedrain.js';
import { BUILTIN_DEFAULTS } from '../../src/drain/settings.js';
import { Resources } from '../../src/kube/port.js';
import type { TicdcClient } from '../../src/ticdc/types.js';
import { FakeKube } from '../support/fake-kube.js';
import { reconcileOnce, reconcilerOver } from './reconciler-over.js';

const NS = 'tidb';
const ENDPOINT = 'http://ticdc.invalid:8300';
const KEY = { namespace: NS, name: 'd' };

function setup() {
  const kube = new FakeKube();
  kube.seed(Resources.capturedrains, {
    apiVersion: 'drain.ticdc.io/v1alpha1',
    kind: 'CaptureDrain',
    metadata: { namespace: NS, name: 'd', creationTimestamp: '2026-11-21T10:00:00Z', generation: 1 },
    spec: { captureAddress: '10.0.0.1:8300' },
  });
  const calls: string[] = [];
  let remaining = 40;
  const client: TicdcClient = {
    endpoint: ENDPOINT,
    listCaptures: () => {
      calls.push('listCaptures');
      return Promise.resolve([
        { id: 'c1', isOwner: false, address: '10.0.0.1:8300' },
        { id: 'c0', isOwner: true, address: '10.0.0.2:8300' },
      ]);
    },
    drain: () => {
      calls.push('drain');
      remaining -= 10;
      return Promise.resolve({ maintainers: 0, dispatchers: remaining });
    },
    serverStatus: () => {
      calls.push('serverStatus');
      return Promise.resolve({ id: 'c0', isOwner: true, version: 'v9.0.0', liveness: 0 });
    },
    detectFlavor: () => {
      calls.push('detectFlavor');
      return Promise.resolve('V2');
    },
    resignOwner: () => Promise.reject(new Error('not expected')),
    health: () => Promise.reject(new Error('not expected')),
    checkV1Drain: () => Promise.reject(new Error('not expected')),
    architecture: () => Promise.reject(new Error('not expected')),
    close: () => Promise.resolve(),
    withoutRetries: () => {
      calls.push('withoutRetries');
      return client;
    },
  };
  let now = Date.parse('2026-11-21T10:00:01Z');
  const reconciler = reconcilerOver(kube, client, {
    defaults: { ...BUILTIN_DEFAULTS, endpoint: ENDPOINT },
    now: () => now,
  });
  const reconcile = () => reconcileOnce(reconciler, KEY);
  return { kube, calls, reconcile, advance: (ms: number) => (now += ms) };
}

describe('a running drain woken early', () => {
  test('waits for its planned look instead of asking TiCDC again', async () => {
    const { calls, reconcile, advance } = setup();
    const first = await reconcile();
    expect(calls).toEqual(['listCaptures', 'detectFlavor', 'serverStatus', 'drain']);
    const planned = first!.requeueAfterMs!;
    expect(planned).toBeGreaterThan(100);

    advance(30);
    calls.length = 0;
    const early = await reconcile();
    expect(calls).toEqual([]);
    expect(early!.requeueAfterMs).toBe(planned - 30);

    // Due: the look happens, asked once (no quick retries: the machine looks again anyway).
    advance(planned - 30);
    await reconcile();
    expect(calls).toEqual(['withoutRetries', 'drain']);
  });

  test('a change by another writer (a new resourceVersion) is looked at at once', async () => {
    const { kube, calls, reconcile, advance } = setup();
    await reconcile();
    advance(30);
    calls.length = 0;
    const obj = kube.peek<CaptureDrainObject>(Resources.capturedrains, NS, 'd')!;
    await kube.patch(Resources.capturedrains, NS, 'd', { metadata: { labels: { touched: 'yes' } } }, 'merge');
    expect(
      kube.peek<CaptureDrainObject>(Resources.capturedrains, NS, 'd')!.metadata.resourceVersion,
    ).not.toBe(obj.metadata.resourceVersion);
    await reconcile();
    expect(calls).toEqual(['withoutRetries', 'drain']);
  });
});

describe('a released pod gone before its capture left TiCDC', () => {
  test('the drain still looks for the departure on its cluster, with its StatefulSet found by name', async () => {
    const kube = new FakeKube();
    kube.seed(Resources.statefulsets, {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { namespace: NS, name: 'ticdc', annotations: { 'drain.ticdc.io/endpoint': ENDPOINT } },
      spec: { serviceName: 'ticdc-peer', replicas: 3 },
    });
    const t = '2026-11-21T10:00:05Z';
    kube.seed(Resources.capturedrains, {
      apiVersion: 'drain.ticdc.io/v1alpha1',
      kind: 'CaptureDrain',
      metadata: { namespace: NS, name: 'd', creationTimestamp: '2026-11-21T10:00:00Z', generation: 1 },
      spec: { podName: 'ticdc-1', podAction: 'Delete' },
      status: {
        phase: 'Releasing',
        reason: 'Drained',
        startTime: '2026-11-21T10:00:01Z',
        podUID: 'uid-1',
        captureID: 'c1',
        drainedCaptureID: 'c1',
        apiFlavor: 'V2',
        clusterEndpoint: ENDPOINT,
        drainedTime: t,
        releaseTime: t,
        released: true,
      },
    });
    const calls: string[] = [];
    const client = {
      endpoint: ENDPOINT,
      listCaptures: () => {
        calls.push('listCaptures');
        return Promise.resolve([{ id: 'c0', isOwner: true, address: '10.0.0.2:8300' }]);
      },
      close: () => Promise.resolve(),
    } as unknown as TicdcClient;
    const reconciler = reconcilerOver(kube, client, {
      pods: { get: () => undefined },
      statefulSets: { get: (ns, name) => kube.peek(Resources.statefulsets, ns, name) },
      now: () => Date.parse('2026-11-21T10:00:06Z'),
    });
    await reconcileOnce(reconciler, KEY);
    expect(calls).toEqual(['listCaptures']);
    expect(kube.peek<CaptureDrainObject>(Resources.capturedrains, NS, 'd')!.status).toMatchObject({
      phase: 'Completed',
      reason: 'Drained',
      message: 'Capture drained, pod released and capture left the cluster',
    });
  });
});
