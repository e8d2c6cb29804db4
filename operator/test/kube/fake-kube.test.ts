// The fake must behave like the API server where controllers depend on it.
import { describe, expect, it } from '@jest/globals';
import type { KubeApiError, KubeObject, WatchEventType } from '../../src/kube/port.js';
import { Resources } from '../../src/kube/port.js';
import { FakeKube, parseLabelSelector, tooManyRequests } from '../support/fake-kube.js';
import { flushMicrotasks } from './helpers.js';

const cd = Resources.capturedrains;
const drain = (name = 'd'): KubeObject => ({
  apiVersion: 'drain.ticdc.io/v1alpha1',
  kind: 'CaptureDrain',
  metadata: { namespace: 'ns', name },
  spec: { podName: 'cdc-0' },
  status: { phase: 'Pending' },
});
const pod = (name: string, labels: Record<string, string> = {}): KubeObject => ({
  metadata: { namespace: 'ns', name, labels },
  spec: { nodeName: 'n1' },
});
const err = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as KubeApiError,
  );

describe('FakeKube', () => {
  it('assigns uid, creationTimestamp, generation 1 and increasing resourceVersions; drops status on create', async () => {
    const f = new FakeKube();
    const a = await f.create(cd, drain('a'));
    const b = await f.create(cd, drain('b'));
    expect(a.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.metadata.generation).toBe(1);
    expect(a.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Number(b.metadata.resourceVersion)).toBeGreaterThan(Number(a.metadata.resourceVersion));
    expect(a.status).toBeUndefined(); // status subresource: ignored on create
    expect((await err(f.create(cd, drain('a'))))!.reason).toBe('AlreadyExists');
    const g = await f.create<KubeObject>(Resources.pods, {
      metadata: { namespace: 'ns', generateName: 'cdc-' },
    });
    expect(g.metadata.name).toMatch(/^cdc-[a-z0-9]{5}$/);
  });

  it('bumps generation on spec changes only, and keeps status and spec writes apart', async () => {
    const f = new FakeKube();
    const d = f.seed(cd, drain());
    const s = await f.patch(cd, 'ns', 'd', { status: { phase: 'Draining' } }, 'merge', {
      subresource: 'status',
    });
    expect(s.metadata.generation).toBe(1);
    expect(s.status).toEqual({ phase: 'Draining' });
    const m = await f.patch(
      cd,
      'ns',
      'd',
      { metadata: { labels: { a: 'b' } }, status: { phase: 'Ignored' } },
      'merge',
    );
    expect(m.metadata.generation).toBe(1); // metadata only
    expect(m.status).toEqual({ phase: 'Draining' }); // status ignored on the main resource
    const sp = await f.patch(cd, 'ns', 'd', { spec: { podName: 'cdc-1' } }, 'merge');
    expect(sp.metadata.generation).toBe(2);
    const st = await f.replace(
      cd,
      { ...sp, spec: { podName: 'ignored' }, status: { phase: 'Drained' } },
      { subresource: 'status' },
    );
    expect(st.spec).toEqual({ podName: 'cdc-1' });
    expect(st.status).toEqual({ phase: 'Drained' });
    expect(d.metadata.uid).toBe(st.metadata.uid);
  });

  it('rejects stale resourceVersions with 409 (replace and merge patch), accepts current ones', async () => {
    const f = new FakeKube();
    const d = f.seed(cd, drain());
    await f.patch(cd, 'ns', 'd', { metadata: { labels: { x: '1' } } }, 'merge');
    expect((await err(f.replace(cd, d)))!.isConflict).toBe(true);
    expect(
      (await err(
        f.patch(
          cd,
          'ns',
          'd',
          { metadata: { resourceVersion: d.metadata.resourceVersion }, spec: { podName: 'x' } },
          'merge',
        ),
      ))!.status,
    ).toBe(409);
    const cur = f.peek(cd, 'ns', 'd')!;
    await expect(f.replace(cd, { ...cur, spec: { podName: 'y' } })).resolves.toMatchObject({
      spec: { podName: 'y' },
    });
    expect((await err(f.replace(cd, { ...drain('nope') })))!.isNotFound).toBe(true);
  });

  it('no-op writes do not bump resourceVersion', async () => {
    const f = new FakeKube();
    const d = f.seed(cd, drain());
    const same = await f.patch(cd, 'ns', 'd', { spec: { podName: 'cdc-0' } }, 'merge');
    expect(same.metadata.resourceVersion).toBe(d.metadata.resourceVersion);
  });

  it('supports JSON patch with test (422 on failure)', async () => {
    const f = new FakeKube();
    const d = f.seed(Resources.pods, {
      ...pod('p'),
      metadata: { ...pod('p').metadata, finalizers: ['a', 'b'] },
    });
    const r = await f.patch(
      Resources.pods,
      'ns',
      'p',
      [
        { op: 'test', path: '/metadata/resourceVersion', value: d.metadata.resourceVersion },
        { op: 'remove', path: '/metadata/finalizers/0' },
      ],
      'json',
    );
    expect(r.metadata.finalizers).toEqual(['b']);
    const e = await err(
      f.patch(
        Resources.pods,
        'ns',
        'p',
        [{ op: 'test', path: '/metadata/resourceVersion', value: 'old' }],
        'json',
      ),
    );
    expect(e!.status).toBe(422);
  });

  it('apply creates when absent (needs a fieldManager to patch)', async () => {
    const f = new FakeKube();
    await f.patch(
      Resources.secrets,
      'ns',
      's',
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { a: 'b' } },
      'apply',
      { fieldManager: 'm' },
    );
    expect(f.peek(Resources.secrets, 'ns', 's')).toMatchObject({ data: { a: 'b' } });
    expect((await err(f.patch(Resources.secrets, 'ns', 's', { data: { a: 'c' } }, 'apply')))!.status).toBe(
      400,
    );
  });

  it('delete: 404 → false, uid precondition, finalizers → deletionTimestamp, last finalizer removal deletes', async () => {
    const f = new FakeKube();
    expect(await f.delete(cd, 'ns', 'missing')).toBe(false);
    const d = f.seed(cd, {
      ...drain(),
      metadata: { ...drain().metadata, finalizers: ['drain.ticdc.io/cleanup'] },
    });
    expect((await err(f.delete(cd, 'ns', 'd', { uid: 'other' })))!.isConflict).toBe(true);
    expect(await f.delete(cd, 'ns', 'd', { uid: d.metadata.uid })).toBe(true);
    const terminating = f.peek(cd, 'ns', 'd')!;
    expect(terminating.metadata.deletionTimestamp).toBeDefined();
    expect(terminating.metadata.generation).toBe(2);
    expect(
      (await err(
        f.patch(cd, 'ns', 'd', { metadata: { finalizers: ['drain.ticdc.io/cleanup', 'new'] } }, 'merge'),
      ))!.status,
    ).toBe(422);
    await f.patch(cd, 'ns', 'd', { metadata: { finalizers: null } }, 'merge');
    expect(f.peek(cd, 'ns', 'd')).toBeUndefined();
  });

  it('pods: graceful deletion lingers until the "kubelet" completes it; grace 0 deletes at once', async () => {
    const f = new FakeKube();
    f.seed(Resources.pods, pod('a'));
    f.seed(Resources.pods, pod('b'));
    await f.delete(Resources.pods, 'ns', 'a');
    expect(f.peek(Resources.pods, 'ns', 'a')!.metadata.deletionGracePeriodSeconds).toBe(30);
    f.completePodTermination('ns', 'a');
    expect(f.peek(Resources.pods, 'ns', 'a')).toBeUndefined();
    await f.delete(Resources.pods, 'ns', 'b', { gracePeriodSeconds: 0 });
    expect(f.peek(Resources.pods, 'ns', 'b')).toBeUndefined();
    expect(await f.delete(Resources.pods, 'ns', 'b', { dryRun: true })).toBe(false);
  });

  it('evict: default deletes the pod; the hook can answer 429; uid precondition', async () => {
    const f = new FakeKube();
    const p = f.seed(Resources.pods, { ...pod('p'), spec: { terminationGracePeriodSeconds: 0 } });
    f.evictHook = () => {
      throw tooManyRequests();
    };
    expect((await err(f.evict('ns', 'p')))!.status).toBe(429);
    f.evictHook = undefined;
    expect((await err(f.evict('ns', 'p', { uid: 'wrong' })))!.isConflict).toBe(true);
    await f.evict('ns', 'p', { uid: p.metadata.uid });
    expect(f.peek(Resources.pods, 'ns', 'p')).toBeUndefined();
    expect((await err(f.evict('ns', 'p')))!.isNotFound).toBe(true);
  });

  it('lists with label/field selectors and pages with continue', async () => {
    const f = new FakeKube();
    for (const n of ['a', 'b', 'c']) f.seed(Resources.pods, pod(n, { app: 'cdc', idx: n }));
    f.seed(Resources.pods, pod('x', { app: 'pd' }));
    expect((await f.list(Resources.pods, { labelSelector: 'app=cdc' })).items).toHaveLength(3);
    expect(
      (await f.list(Resources.pods, { labelSelector: 'app in (cdc,pd),idx!=a' })).items.map(
        (p) => p.metadata.name,
      ),
    ).toEqual(['b', 'c', 'x']);
    expect((await f.list(Resources.pods, { fieldSelector: 'metadata.name=b' })).items).toHaveLength(1);
    expect((await f.list(Resources.pods, { fieldSelector: 'spec.nodeName=n2' })).items).toHaveLength(0);
    const p1 = await f.list(Resources.pods, { limit: 3 });
    expect(p1.items).toHaveLength(3);
    const p2 = await f.list(Resources.pods, { limit: 3, continue: p1.continue });
    expect(p2.items.map((p) => p.metadata.name)).toEqual(['x']);
    expect(p2.continue).toBeUndefined();
    expect(p2.resourceVersion).toBe(p1.resourceVersion);
  });

  it('parses selector syntax', () => {
    const sel = parseLabelSelector('a, !b, c==1, d notin (x)');
    expect(sel({ a: '', c: '1' })).toBe(true);
    expect(sel({ a: '', b: '', c: '1' })).toBe(false);
    expect(sel({ a: '', c: '1', d: 'x' })).toBe(false);
  });

  it('watch: synthetic ADDED from "now", resume after a resourceVersion, selector transitions, bookmarks', async () => {
    const f = new FakeKube();
    f.seed(Resources.pods, pod('a', { app: 'cdc' }));
    const events: Array<[WatchEventType, string | undefined]> = [];
    const h = await f.watch(
      Resources.pods,
      { namespace: 'ns', labelSelector: 'app=cdc', allowWatchBookmarks: true },
      (t, o) => events.push([t, o.metadata.name]),
    );
    await f.patch(Resources.pods, 'ns', 'a', { metadata: { labels: { app: 'other' } } }, 'merge'); // leaves the selector
    await f.patch(Resources.pods, 'ns', 'a', { metadata: { labels: { app: 'cdc' } } }, 'merge'); // re-enters
    f.seed(Resources.pods, pod('z', { app: 'nope' }));
    f.bookmark(Resources.pods);
    await flushMicrotasks();
    expect(events).toEqual([
      ['ADDED', 'a'],
      ['DELETED', 'a'],
      ['ADDED', 'a'],
      ['BOOKMARK', undefined],
    ]);
    h.abort();
    await h.done;

    const rv = f.currentResourceVersion;
    await f.patch(Resources.pods, 'ns', 'a', { spec: { nodeName: 'n9' } }, 'merge');
    const resumed: WatchEventType[] = [];
    const h2 = await f.watch(Resources.pods, { namespace: 'ns', resourceVersion: rv }, (t) =>
      resumed.push(t),
    );
    await flushMicrotasks();
    expect(resumed).toEqual(['MODIFIED']); // only what happened after rv
    f.closeWatches(Resources.pods);
    await h2.done;
  });

  it('watch: 410 after compaction, ERROR events, timeouts and injected errors', async () => {
    const f = new FakeKube();
    const old = f.currentResourceVersion;
    f.seed(Resources.pods, pod('a'));
    f.compact(Resources.pods);
    const seen: WatchEventType[] = [];
    const h = await f.watch(Resources.pods, { resourceVersion: old }, (t) => seen.push(t));
    const e = (await h.done.catch((x: unknown) => x)) as KubeApiError;
    expect(e.isGone).toBe(true);
    expect(seen).toEqual(['ERROR']);

    const h2 = await f.watch(Resources.pods, {}, () => undefined);
    f.watchError(Resources.pods, 500, 'InternalError', 'boom');
    expect(((await h2.done.catch((x: unknown) => x)) as KubeApiError).status).toBe(500);

    const h3 = await f.watch(Resources.pods, { timeoutSeconds: 0.01 }, () => undefined);
    await expect(h3.done).resolves.toBeUndefined();

    f.failNext('watch', new Error('ECONNREFUSED'));
    await expect(f.watch(Resources.pods, {}, () => undefined)).rejects.toThrow('ECONNREFUSED');
    expect(f.watcherCount).toBe(0);
  });

  it('failNext: queued per method, optionally conditional', async () => {
    const f = new FakeKube();
    f.seed(cd, drain());
    f.failNext('get', (call) => (call.name === 'd' ? new Error('flaky') : undefined), 2);
    await expect(f.get(cd, 'ns', 'other')).resolves.toBeUndefined(); // consumed, passed
    await expect(f.get(cd, 'ns', 'd')).rejects.toThrow('flaky');
    await expect(f.get(cd, 'ns', 'd')).resolves.toBeDefined();
    expect(f.callsOf('get')).toHaveLength(3);
  });

  it('returns copies: callers cannot mutate the store', async () => {
    const f = new FakeKube();
    const d = f.seed(cd, drain());
    (d.spec as { podName: string }).podName = 'mutated';
    const got = await f.get(cd, 'ns', 'd');
    expect((got!.spec as { podName: string }).podName).toBe('cdc-0');
  });
});
