import { describe, expect, test } from '@jest/globals';
import { GateHandler } from '../../src/gate/handler.js';
import { createGateMetrics } from '../../src/gate/metrics.js';
import { Resources, type KubeClient, type KubeObject } from '../../src/kube/port.js';
import { createRegistry } from '../../src/observability/metrics.js';
import type { AdmissionRequest } from '../../src/webhook/admission.js';
import { FakeKube } from '../support/fake-kube.js';
import type { CaptureDrainObject } from '../../src/api/capturedrain.js';
import { DRAIN_LABELS, STATEFULSET_CONTROLLER } from '../../src/api/names.js';
import { podDrainName } from '../../src/drain/contract.js';
import { capturePod, statefulSet } from '../support/builders.js';

const NS = 'tidb';
const sts: KubeObject = statefulSet('ticdc', { namespace: NS, uid: 'sts-uid' });
// FakeKube assigns UIDs on seed: tests read the live objects back (live()).
let stsUid = '';
const pod = (name = 'ticdc-1', uid = `${name}-uid`): KubeObject =>
  capturePod(name, { namespace: NS, uid, statefulSetUid: stsUid, labels: { app: 'ticdc' }, ready: null });

let current: FakeKube;
/** The pod as stored (with the UID FakeKube gave it). */
const live = (name = 'ticdc-1') => current.peek<KubeObject>(Resources.pods, NS, name)!;
const uidOf = (name = 'ticdc-1') => live(name).metadata.uid!;

function setup(opts: { namespaces?: string[] } = {}) {
  const kube = new FakeKube();
  current = kube;
  kube.seed(Resources.namespaces, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: NS },
    status: { phase: 'Active' },
  });
  stsUid = kube.seed(Resources.statefulsets, sts).metadata.uid!;
  kube.seed(Resources.pods, pod());
  const events: { reason: string; note: string; type: string }[] = [];
  const registry = createRegistry({ defaultMetrics: false });
  const metrics = createGateMetrics(registry);
  const handler = new GateHandler({
    kube,
    events: { event: (_r, type, reason, _a, note) => events.push({ type, reason, note }) },
    metrics,
    budgetMs: 500,
    ...(opts.namespaces ? { namespaces: opts.namespaces } : {}),
  });
  return { kube, handler, events, registry, metrics };
}

let seq = 0;
const deleteReq = (over: Partial<AdmissionRequest> = {}, p: KubeObject = live()): AdmissionRequest => ({
  uid: `req-${++seq}`,
  kind: { group: '', version: 'v1', kind: 'Pod' },
  resource: { group: '', version: 'v1', resource: 'pods' },
  name: p.metadata.name!,
  namespace: NS,
  operation: 'DELETE',
  userInfo: { username: 'alice' },
  oldObject: p as AdmissionRequest['oldObject'],
  object: null,
  options: { apiVersion: 'meta.k8s.io/v1', kind: 'DeleteOptions' },
  dryRun: false,
  ...over,
});
const evictReq = (
  name = 'ticdc-1',
  deleteOptions: Record<string, unknown> = {},
  dryRun = false,
): AdmissionRequest => ({
  uid: `req-${++seq}`,
  kind: { group: 'policy', version: 'v1', kind: 'Eviction' },
  resource: { group: '', version: 'v1', resource: 'pods' },
  subResource: 'eviction',
  name,
  namespace: NS,
  operation: 'CREATE',
  userInfo: { username: 'admin' },
  object: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: NS }, deleteOptions },
  dryRun,
});

const drains = (kube: FakeKube) => kube.objects<CaptureDrainObject>(Resources.capturedrains, NS);

async function release(kube: FakeKube, name: string, phase: 'Completed' | 'Releasing' = 'Completed') {
  await kube.patch(
    Resources.capturedrains,
    NS,
    name,
    { status: { phase, podUID: uidOf(), releaseTime: '2026-01-01T00:00:00Z' } },
    'merge',
    { subresource: 'status' },
  );
}

describe('gate handler', () => {
  test('a user delete is denied, starts one PodDeletion drain, and passes once released', async () => {
    const { kube, handler, events, registry } = setup();
    const v = await handler.review(deleteReq());
    expect(v.allowed).toBe(false);
    expect(v.code).toBe(403);
    expect(v.message).toContain('the operator deletes it once it is drained');
    const [d] = drains(kube);
    expect(d?.metadata.name).toBe(podDrainName('ticdc-1', uidOf()));
    expect(d?.spec).toEqual({ podName: 'ticdc-1', podAction: 'Delete', trigger: 'PodDeletion' });
    expect(d?.metadata.ownerReferences?.[0]?.uid).toBe(stsUid);
    expect(events).toEqual([expect.objectContaining({ reason: 'DrainRequested', type: 'Normal' })]);

    const again = await handler.review(deleteReq());
    expect(again.allowed).toBe(false);
    expect(drains(kube)).toHaveLength(1);
    expect(events).toHaveLength(1);

    await release(kube, d!.metadata.name, 'Releasing');
    expect((await handler.review(deleteReq())).allowed).toBe(true);
    const metrics = await registry.getMetricsAsJSON();
    const reqs = metrics.find((m) => m.name === 'capture_drain_webhook_requests_total')!;
    expect(reqs.values).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ labels: { operation: 'delete', decision: 'denied' }, value: 2 }),
        expect.objectContaining({ labels: { operation: 'delete', decision: 'allowed' }, value: 1 }),
      ]),
    );
  });

  test('a denied pod is held (capture_drain_gate_pod_held_seconds) until a delete of it is admitted; dry runs hold nothing', async () => {
    const { kube, handler, metrics } = setup();
    await handler.review(deleteReq({ dryRun: true }));
    expect(metrics.held.list()).toEqual([]);
    await handler.review(evictReq());
    await handler.review(evictReq());
    expect(metrics.held.list()).toEqual([expect.objectContaining({ namespace: NS, pod: 'ticdc-1' })]);
    await release(kube, drains(kube)[0]!.metadata.name);
    expect((await handler.review(evictReq())).allowed).toBe(true);
    expect(metrics.held.list()).toEqual([]);
  });

  test('an eviction gets 429 and an Eviction drain that keeps the pod; the retry passes once drained', async () => {
    const { kube, handler } = setup();
    const v = await handler.review(evictReq());
    expect(v).toMatchObject({ allowed: false, code: 429 });
    expect(v.message).toContain('kubectl drain retries');
    const [d] = drains(kube);
    expect(d?.spec).toMatchObject({ podAction: 'None', trigger: 'Eviction' });
    await release(kube, d!.metadata.name);
    expect((await handler.review(evictReq())).allowed).toBe(true);
  });

  test("a hand-made drain of the pod is the pod's drain: no second drain; the operator's delete passes", async () => {
    const { kube } = setup();
    const me = 'system:serviceaccount:ops:capture-drain-operator';
    const gate = new GateHandler({
      kube,
      events: { event: () => undefined },
      metrics: createGateMetrics(createRegistry({ defaultMetrics: false })),
      budgetMs: 500,
      operatorUsername: me,
    });
    kube.seed(Resources.capturedrains, {
      apiVersion: 'drain.ticdc.io/v1alpha1',
      kind: 'CaptureDrain',
      metadata: { name: 'by-hand', namespace: NS },
      spec: { podName: 'ticdc-1', podAction: 'Delete' },
      status: { phase: 'Draining', podUID: uidOf(), startTime: '2026-01-01T00:00:00Z' },
    } as KubeObject);
    const user = await gate.review(deleteReq());
    expect(user).toMatchObject({ allowed: false, code: 403 });
    expect(user.message).toContain('in progress, CaptureDrain by-hand (phase Draining)');
    expect(drains(kube).map((d) => d.metadata.name)).toEqual(['by-hand']);
    await release(kube, 'by-hand', 'Releasing');
    expect((await gate.review(deleteReq({ userInfo: { username: me } }))).allowed).toBe(true);
    expect(drains(kube).map((d) => d.metadata.name)).toEqual(['by-hand']);
  });

  test('an eviction a PodDisruptionBudget refuses gets its 429 and starts no drain', async () => {
    const { kube, handler } = setup();
    await kube.patch(
      Resources.pods,
      NS,
      'ticdc-1',
      { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
      'merge',
      { subresource: 'status' },
    );
    kube.seed(Resources.poddisruptionbudgets, {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'ticdc-pdb', namespace: NS, generation: 1 },
      spec: { selector: { matchLabels: { app: 'ticdc' } } },
      status: { observedGeneration: 1, disruptionsAllowed: 0, currentHealthy: 2, desiredHealthy: 2 },
    } as KubeObject);
    const v = await handler.review(evictReq());
    expect(v).toMatchObject({ allowed: false, code: 429 });
    expect(v.message).toContain('the disruption budget ticdc-pdb needs 2 healthy pods and has 2 currently');
    expect(drains(kube)).toHaveLength(0);
    await kube.patch(
      Resources.poddisruptionbudgets,
      NS,
      'ticdc-pdb',
      { status: { disruptionsAllowed: 1, currentHealthy: 3 } },
      'merge',
      { subresource: 'status' },
    );
    expect(await handler.review(evictReq())).toMatchObject({ allowed: false, code: 429 });
    expect(drains(kube)).toHaveLength(1);
  });

  test('a pod on a NotReady node is let go without a drain', async () => {
    const { kube, handler } = setup();
    kube.seed(Resources.nodes, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'node-a' },
      status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }] },
    } as KubeObject);
    // The gate decides on the live pod (not the review's copy): it runs on node-a.
    await kube.patch(Resources.pods, NS, 'ticdc-1', { spec: { nodeName: 'node-a' } }, 'merge');
    expect(await handler.review(deleteReq({}, live()))).toMatchObject({ allowed: true });
    expect(drains(kube)).toHaveLength(0);
  });

  test('the StatefulSet controller: scale-in vs rolling update by ordinal', async () => {
    const { kube, handler } = setup();
    kube.seed(Resources.pods, pod('ticdc-2'));
    await handler.review(deleteReq({ userInfo: { username: STATEFULSET_CONTROLLER } }, live('ticdc-2')));
    await kube.patch(Resources.statefulsets, NS, 'ticdc', { spec: { replicas: 1 } }, 'merge');
    await handler.review(deleteReq({ userInfo: { username: STATEFULSET_CONTROLLER } }, live('ticdc-1')));
    const triggers = Object.fromEntries(
      drains(kube).map((d) => [d.spec.podName, [d.spec.trigger, d.spec.podAction]]),
    );
    expect(triggers).toEqual({ 'ticdc-2': ['RollingUpdate', 'None'], 'ticdc-1': ['ScaleIn', 'None'] });
  });

  test('dry runs create nothing (delete dryRun, eviction deleteOptions.dryRun)', async () => {
    const { kube, handler, events } = setup();
    const a = await handler.review(deleteReq({ dryRun: true }));
    const b = await handler.review(evictReq('ticdc-1', { dryRun: ['All'] }));
    const c = await handler.review(evictReq('ticdc-1', {}, true));
    // Admitted with a warning: kubectl drain --dry-run=server must not retry a 429 for ever.
    expect([a.allowed, b.allowed, c.allowed]).toEqual([true, true, true]);
    for (const v of [a, b, c]) expect(v.warnings?.[0]).toMatch(/would be held until drained: .*would start/);
    expect(drains(kube)).toHaveLength(0);
    expect(kube.callsOf('create')).toHaveLength(0);
    expect(events).toHaveLength(0);
  });

  test('unmanaged, skipped and terminating pods pass without API reads', async () => {
    const { kube, handler } = setup();
    const unmanaged = structuredClone(live());
    unmanaged.metadata.labels = { app: 'web' };
    const skipped = structuredClone(live());
    skipped.metadata.annotations = { 'drain.ticdc.io/skip': 'true' };
    const terminating = structuredClone(live());
    terminating.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    const before = kube.callsOf('get').length;
    expect((await handler.review(deleteReq({}, unmanaged))).allowed).toBe(true);
    const skip = await handler.review(deleteReq({}, skipped));
    expect(skip.allowed).toBe(true);
    expect(skip.warnings?.[0]).toContain('not drained');
    expect((await handler.review(deleteReq({}, terminating))).allowed).toBe(true);
    expect(kube.callsOf('get').length).toBe(before);
  });

  test('an eviction of an unmanaged or missing pod passes after one read', async () => {
    const { kube, handler } = setup();
    const web = pod('web-0');
    web.metadata.labels = {};
    kube.seed(Resources.pods, web);
    expect((await handler.review(evictReq('web-0'))).allowed).toBe(true);
    expect((await handler.review(evictReq('nope'))).allowed).toBe(true);
    expect(drains(kube)).toHaveLength(0);
  });

  test('an eviction with a stale UID precondition passes', async () => {
    const { handler, kube } = setup();
    const v = await handler.review(evictReq('ticdc-1', { preconditions: { uid: 'old-uid' } }));
    expect(v.allowed).toBe(true);
    expect(drains(kube)).toHaveLength(0);
  });

  test('namespace deletion and StatefulSet deletion are never held', async () => {
    const { kube, handler } = setup();
    await kube.patch(Resources.namespaces, undefined, NS, { status: { phase: 'Terminating' } }, 'merge', {
      subresource: 'status',
    });
    expect(
      (
        await handler.review(
          deleteReq({ userInfo: { username: 'system:serviceaccount:kube-system:namespace-controller' } }),
        )
      ).allowed,
    ).toBe(true);
    const { kube: kube2, handler: handler2 } = setup();
    await kube2.delete(Resources.statefulsets, NS, 'ticdc');
    expect(
      (
        await handler2.review(
          deleteReq({
            userInfo: { username: 'system:serviceaccount:kube-system:generic-garbage-collector' },
          }),
        )
      ).allowed,
    ).toBe(true);
    expect(drains(kube)).toHaveLength(0);
    expect(drains(kube2)).toHaveLength(0);
  });

  test('a failed read denies retryably and starts nothing', async () => {
    const { kube, handler } = setup();
    // One injection per read (live pod, namespace, StatefulSet, drain); only the drain read fails.
    kube.failNext(
      'get',
      (call) => (call.type?.endsWith('/capturedrains') ? new Error('connection reset') : undefined),
      4,
    );
    const v = await handler.review(deleteReq());
    expect(v).toMatchObject({ allowed: false, code: 500 });
    expect(v.message).toContain('connection reset');
    expect(drains(kube)).toHaveLength(0);
  });

  test('a read that outlasts the budget is answered in time', async () => {
    const { kube, handler } = setup();
    const slow: KubeClient = Object.create(kube) as KubeClient;
    slow.get = (() => new Promise(() => undefined)) as KubeClient['get'];
    const h = new GateHandler({
      kube: slow,
      events: { event: () => undefined },
      metrics: createGateMetrics(createRegistry({ defaultMetrics: false })),
      budgetMs: 100,
    });
    const t = Date.now();
    const v = await h.review(evictReq());
    expect(Date.now() - t).toBeLessThan(1_000);
    expect(v).toMatchObject({ allowed: false, code: 429 });
    void handler;
  });

  test('a held drain denies with 403 and a Warning event, even for evictions', async () => {
    const { kube, handler, events } = setup();
    await handler.review(evictReq());
    const [d] = drains(kube);
    await kube.patch(
      Resources.capturedrains,
      NS,
      d!.metadata.name,
      {
        status: { phase: 'Failed', reason: 'Timeout', message: 'drain timed out after 10m', podUID: uidOf() },
      },
      'merge',
      { subresource: 'status' },
    );
    const v = await handler.review(evictReq());
    expect(v).toMatchObject({ allowed: false, code: 403 });
    expect(v.message).toContain('drain timed out after 10m');
    expect(events.map((e) => e.reason)).toContain('TerminationBlocked');
  });

  test('case 3: a container restart after the drain voids the release: eviction and delete are held again', async () => {
    const { kube, handler } = setup();
    const restart = (n: number) =>
      kube.patch(
        Resources.pods,
        NS,
        'ticdc-1',
        { status: { containerStatuses: [{ name: 'ticdc', restartCount: n }] } },
        'merge',
        { subresource: 'status' },
      );
    await restart(0);
    expect((await handler.review(evictReq())).allowed).toBe(false);
    const [d] = drains(kube);
    await release(kube, d!.metadata.name);
    await kube.patch(Resources.capturedrains, NS, d!.metadata.name, { status: { podRestarts: 0 } }, 'merge', {
      subresource: 'status',
    });
    expect((await handler.review(evictReq())).allowed).toBe(true);
    // The container restarted since: its new capture may hold work.
    await restart(1);
    const evict = await handler.review(evictReq());
    expect(evict).toMatchObject({ allowed: false, code: 429 });
    expect(evict.message).toContain('container restarted after the drain');
    const del = await handler.review(deleteReq());
    expect(del).toMatchObject({ allowed: false, code: 403 });
    expect(drains(kube)).toHaveLength(1);
    // Drained again (the release now bound to restart count 1): admitted.
    await kube.patch(Resources.capturedrains, NS, d!.metadata.name, { status: { podRestarts: 1 } }, 'merge', {
      subresource: 'status',
    });
    expect((await handler.review(evictReq())).allowed).toBe(true);
  });

  test('a drain for an earlier incarnation does not count', async () => {
    const { kube, handler } = setup();
    // Same pod name, a drain labelled for another UID under this incarnation's name cannot exist;
    // but a Released drain of the old pod must not admit the new one.
    kube.seed(Resources.capturedrains, {
      apiVersion: 'drain.ticdc.io/v1alpha1',
      kind: 'CaptureDrain',
      metadata: {
        name: podDrainName('ticdc-1', 'old'),
        namespace: NS,
        labels: { [DRAIN_LABELS.podUid]: 'old' },
      },
      spec: { podName: 'ticdc-1' },
      status: { phase: 'Completed', releaseTime: '2026-01-01T00:00:00Z', podUID: 'old' },
    } as CaptureDrainObject);
    expect((await handler.review(deleteReq())).allowed).toBe(false);
  });

  test('requests it does not gate are admitted', async () => {
    const { handler } = setup();
    const v = await handler.review({ ...deleteReq(), operation: 'UPDATE' });
    expect(v.allowed).toBe(true);
  });

  describe('forged reviews (the webhook port is reachable by more than the API server)', () => {
    test('a DELETE review for a pod that does not exist starts nothing', async () => {
      const { kube, handler } = setup();
      const ghost = pod('ticdc-7', 'ghost-uid');
      const v = await handler.review(deleteReq({ name: 'ticdc-7' }, ghost));
      expect(v).toMatchObject({ allowed: true });
      expect(v.message).toContain('pod tidb/ticdc-7 does not exist');
      expect(drains(kube)).toHaveLength(0);
    });

    test("a DELETE review whose pod UID is not the live pod's is refused and starts nothing", async () => {
      const { kube, handler } = setup();
      const forged = { ...live(), metadata: { ...live().metadata, uid: 'forged-uid' } };
      const v = await handler.review(deleteReq({}, forged));
      expect(v).toMatchObject({ allowed: false, code: 403 });
      expect(v.message).toMatch(/UID forged-uid\) is not the live pod .* not acted on/);
      expect(drains(kube)).toHaveLength(0);
    });

    test('a DELETE review dressing up an unmanaged pod as a capture pod starts nothing', async () => {
      const { kube, handler } = setup();
      kube.seed(Resources.pods, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'victim', namespace: NS, labels: { app: 'db' } },
        status: { phase: 'Running' },
      });
      // The forger knows its UID and claims the managed label and the StatefulSet.
      const dressed = { ...pod('victim', uidOf('victim')) };
      const v = await handler.review(deleteReq({ name: 'victim' }, dressed));
      expect(v).toMatchObject({ allowed: true });
      expect(drains(kube)).toHaveLength(0);
    });

    test('a review for a namespace the operator does not watch starts nothing and reads nothing', async () => {
      const { kube, handler } = setup({ namespaces: ['elsewhere'] });
      const calls = kube.calls.length;
      const d = await handler.review(deleteReq());
      const e = await handler.review(evictReq());
      expect(d).toMatchObject({ allowed: true });
      expect(d.message).toContain('namespace tidb is not watched by this operator');
      expect(e).toMatchObject({ allowed: true });
      expect(kube.calls.length).toBe(calls);
      expect(drains(kube)).toHaveLength(0);
    });

    test('a review naming no requester starts nothing', async () => {
      const { kube, handler } = setup();
      const v = await handler.review(deleteReq({ userInfo: {} }));
      expect(v).toMatchObject({ allowed: false, code: 403 });
      expect(drains(kube)).toHaveLength(0);
    });

    test('control: the same review of the live incarnation in a watched namespace starts the drain', async () => {
      const { kube, handler } = setup({ namespaces: [NS] });
      const v = await handler.review(deleteReq());
      expect(v).toMatchObject({ allowed: false, code: 403 });
      expect(drains(kube)).toHaveLength(1);
    });
  });
});
