import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Informer, InformerSet, stripForCache, type InformerOptions } from '../../src/kube/informer.js';
import { KubeApiError, Resources, type KubeObject } from '../../src/kube/port.js';
import { FakeKube } from '../support/fake-kube.js';
import { memoryLogger } from './helpers.js';

const pods = Resources.pods;
const pod = (name: string, extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({
  metadata: { namespace: 'ns', name, labels: { app: 'cdc' }, ...extra },
  spec: { containers: [] },
});

/** Advance fake time in small steps so promise chains between timers run. */
async function advance(ms: number, step = 10): Promise<void> {
  for (let t = 0; t < ms; t += step) await jest.advanceTimersByTimeAsync(Math.min(step, ms - t));
}

function recorder(inf: Informer) {
  const events: string[] = [];
  inf.onAdd((o) => events.push(`add:${o.metadata.name}`));
  inf.onUpdate((a, b) => events.push(`update:${b.metadata.name}${a === b ? ':resync' : ''}`));
  inf.onDelete((o) => events.push(`delete:${o.metadata.name}`));
  return events;
}

describe('Informer', () => {
  let fake: FakeKube;
  let inf: Informer;
  const make = (opts: Partial<InformerOptions> = {}) => {
    inf = new Informer(fake, {
      type: pods,
      namespace: 'ns',
      random: () => 0.5, // jitter factor exactly 1
      watchTimeoutJitterSeconds: 0,
      ...opts,
    });
    return inf;
  };

  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick'] });
    fake = new FakeKube();
  });
  afterEach(async () => {
    await inf?.stop();
    jest.useRealTimers();
  });

  it('caches listed and watched objects without managedFields and the last-applied annotation', async () => {
    const heavy = (name: string) =>
      pod(name, {
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"big":1}', keep: 'me' },
        managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:spec': {} } }],
      } as Partial<KubeObject['metadata']>);
    fake.seed(pods, heavy('listed'));
    make();
    const seen: KubeObject[] = [];
    inf.onAdd((o) => seen.push(o));
    inf.start();
    expect(await inf.waitForSync()).toBe(true);
    await advance(10);
    await fake.create(pods, heavy('watched'));
    await advance(10);
    expect(seen.map((o) => o.metadata.name)).toEqual(['listed', 'watched']);
    for (const name of ['listed', 'watched']) {
      const cached = inf.get('ns', name)!;
      expect(cached.metadata).not.toHaveProperty('managedFields');
      expect(cached.metadata.annotations).toEqual({ keep: 'me' });
      expect(cached.metadata.labels).toEqual({ app: 'cdc' });
    }
    expect(seen.every((o) => !('managedFields' in o.metadata))).toBe(true);
  });

  it('stripForCache leaves lean objects as they are (no copy)', () => {
    const plain = pod('p');
    expect(stripForCache(plain)).toBe(plain);
    const onlyManaged = pod('m', { managedFields: [] } as Partial<KubeObject['metadata']>);
    expect(stripForCache(onlyManaged).metadata).toEqual({
      namespace: 'ns',
      name: 'm',
      labels: { app: 'cdc' },
    });
  });

  it('lists in pages, syncs, then follows watch events', async () => {
    for (const n of ['a', 'b', 'c', 'd', 'e']) fake.seed(pods, pod(n));
    fake.seed(pods, { ...pod('other'), metadata: { ...pod('other').metadata, namespace: 'elsewhere' } });
    make({ pageSize: 2 });
    const events = recorder(inf);
    inf.start();
    expect(await inf.waitForSync()).toBe(true);
    expect(fake.callsOf('list')).toHaveLength(3);
    expect((fake.callsOf('list')[0]!.opts as { limit: number }).limit).toBe(2);
    expect(
      inf
        .list()
        .map((p) => p.metadata.name)
        .sort(),
    ).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(events.filter((e) => e.startsWith('add:'))).toHaveLength(5);
    await advance(10);
    const watchOpts = fake.callsOf('watch')[0]!.opts as {
      resourceVersion: string;
      allowWatchBookmarks: boolean;
      timeoutSeconds: number;
    };
    expect(watchOpts).toMatchObject({ allowWatchBookmarks: true, timeoutSeconds: 240 });
    expect(watchOpts.resourceVersion).toBe(fake.currentResourceVersion);

    events.length = 0;
    await fake.create(pods, pod('f'));
    await fake.patch(pods, 'ns', 'a', { metadata: { labels: { x: '1' } } }, 'merge');
    await fake.delete(pods, 'ns', 'b', { gracePeriodSeconds: 0 });
    await advance(10);
    expect(events).toEqual(['add:f', 'update:a', 'delete:b']);
    expect(inf.get('ns', 'a')?.metadata.labels).toEqual({ app: 'cdc', x: '1' });
    expect(inf.get('ns', 'b')).toBeUndefined();
    expect(inf.getStats().resourceVersion).toBe(fake.currentResourceVersion);
  });

  it('replays cached objects to add handlers registered after sync', async () => {
    fake.seed(pods, pod('a'));
    make();
    inf.start();
    await inf.waitForSync();
    const late: string[] = [];
    inf.onAdd((o) => late.push(o.metadata.name!));
    expect(late).toEqual(['a']);
  });

  it('tracks bookmark resourceVersions and re-watches from the last one after a clean close', async () => {
    fake.seed(pods, pod('a'));
    make();
    inf.start();
    await inf.waitForSync();
    await advance(10);
    await fake.create(Resources.secrets, { metadata: { namespace: 'ns', name: 's' } }); // moves the global RV
    fake.bookmark(pods);
    await advance(10);
    const bookmarkRV = fake.currentResourceVersion;
    expect(inf.getStats().resourceVersion).toBe(bookmarkRV);
    fake.closeWatches(pods);
    await advance(50);
    const watches = fake.callsOf('watch');
    expect(watches.length).toBeGreaterThanOrEqual(2);
    expect((watches.at(-1)!.opts as { resourceVersion: string }).resourceVersion).toBe(bookmarkRV);
    expect(fake.callsOf('list')).toHaveLength(1); // no relist for a clean close
  });

  it('relists on 410 Gone and emits only the difference', async () => {
    for (const n of ['a', 'b', 'c']) fake.seed(pods, pod(n));
    make({ backoffInitialMs: 10 });
    const events = recorder(inf);
    inf.start();
    await inf.waitForSync();
    await advance(10);
    events.length = 0;
    // Disconnect and keep the informer offline while the world changes behind its back.
    fake.failNext('watch', new Error('connection refused'), 1000);
    fake.closeWatches(pods, new Error('ECONNRESET'));
    await advance(20);
    await fake.delete(pods, 'ns', 'a', { gracePeriodSeconds: 0 });
    await fake.patch(pods, 'ns', 'b', { spec: { nodeName: 'n2' } }, 'merge');
    await fake.create(pods, pod('d'));
    fake.compact(pods); // the informer's resourceVersion is now too old
    fake.clearFailures('watch');
    await advance(2000);
    expect(events.sort()).toEqual(['add:d', 'delete:a', 'update:b']); // nothing for unchanged c
    expect(inf.getStats().relists).toBe(2);
    expect(
      inf
        .list()
        .map((p) => p.metadata.name)
        .sort(),
    ).toEqual(['b', 'c', 'd']);
  });

  it('relists after an ERROR event', async () => {
    fake.seed(pods, pod('a'));
    make();
    inf.start();
    await inf.waitForSync();
    await advance(10);
    fake.watchError(pods, 500, 'InternalError', 'etcd hiccup');
    await advance(1500);
    expect(fake.callsOf('list')).toHaveLength(2);
    expect(inf.hasSynced()).toBe(true);
  });

  it('retries other errors with exponential backoff, and resets it after progress', async () => {
    const attempts: number[] = [];
    const failing = (): Error | undefined => {
      attempts.push(Date.now());
      return new Error('ECONNREFUSED');
    };
    fake.failNext('list', failing, 4);
    const { log, lines } = memoryLogger();
    inf = new Informer(fake, {
      type: pods,
      random: () => 0.5,
      logger: log,
      backoffInitialMs: 100,
      backoffMaxMs: 1000,
      minRelistIntervalMs: 0, // isolate the error backoff from the relist floor
    });
    inf.start();
    await advance(3000);
    expect(inf.hasSynced()).toBe(true);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    expect(gaps).toEqual([100, 200, 400]);
    expect(lines.filter((l) => l.msg === 'List failed; retrying')).toHaveLength(4);
    fake.seed(pods, pod('a'));
    await advance(20);
    expect(inf.getStats().consecutiveFailures).toBe(0);
  });

  it('does not spin when every watch answers 410 (rate-limited relists)', async () => {
    fake.seed(pods, pod('a'));
    fake.failNext('watch', new KubeApiError(410, 'too old resource version', 'Expired'), 10_000);
    make({ backoffInitialMs: 200, backoffMaxMs: 5000 });
    inf.start();
    await advance(20_000, 50);
    const lists = fake.callsOf('list').length;
    expect(lists).toBeGreaterThan(2);
    expect(lists).toBeLessThan(12); // 200, 400, 800, 1600, 3200, 5000… ms apart, never a tight loop
    expect(inf.isHealthy()).toBe(true);
  });

  it('restarts a silent watch (staleness watchdog)', async () => {
    make({ staleAfterMs: 1000, minHealthyWatchMs: 100 });
    inf.start();
    await inf.waitForSync();
    await advance(10);
    expect(fake.callsOf('watch')).toHaveLength(1);
    await advance(1600);
    expect(fake.callsOf('watch').length).toBeGreaterThanOrEqual(2);
    expect(fake.watcherCount).toBe(1); // the old stream was aborted
  });

  it('periodic resync re-delivers every cached object to onUpdate', async () => {
    fake.seed(pods, pod('a'));
    fake.seed(pods, pod('b'));
    make({ resyncPeriodMs: 1000 });
    const events = recorder(inf);
    inf.start();
    await inf.waitForSync();
    events.length = 0;
    await advance(1000);
    expect(events.sort()).toEqual(['update:a:resync', 'update:b:resync']);
  });

  it('survives handler exceptions and rejected promises', async () => {
    make();
    const { log, lines } = memoryLogger();
    inf = new Informer(fake, { type: pods, logger: log, random: () => 0.5 });
    const seen: string[] = [];
    inf.onAdd(() => {
      throw new Error('handler bug');
    });
    inf.onAdd(async () => {
      throw new Error('async handler bug');
    });
    inf.onAdd((o) => seen.push(o.metadata.name!));
    inf.start();
    await inf.waitForSync();
    await advance(10);
    await fake.create(pods, pod('a'));
    await fake.create(pods, pod('b'));
    await advance(10);
    expect(seen).toEqual(['a', 'b']);
    expect(lines.filter((l) => l.msg === 'Informer handler threw')).toHaveLength(2);
    expect(lines.filter((l) => l.msg === 'Informer handler rejected')).toHaveLength(2);
  });

  it('applies label selectors; waitForSync honours abort; stop ends the loop', async () => {
    fake.seed(pods, pod('a'));
    fake.seed(pods, { ...pod('b'), metadata: { namespace: 'ns', name: 'b', labels: { app: 'other' } } });
    fake.failNext('list', new Error('down'), 1);
    make({ labelSelector: 'app=cdc' });
    const ac = new AbortController();
    inf.start();
    const early = inf.waitForSync(ac.signal);
    ac.abort();
    expect(await early).toBe(false);
    await advance(1500); // 200 ms backoff, then the 1 s relist floor
    expect(await inf.waitForSync()).toBe(true);
    expect(inf.list().map((p) => p.metadata.name)).toEqual(['a']);
    await inf.stop();
    const watches = fake.callsOf('watch').length;
    await advance(5000);
    expect(fake.callsOf('watch').length).toBe(watches);
    expect(fake.watcherCount).toBe(0);
  });
});

describe('InformerSet', () => {
  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick'] });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('shares informers per scope and syncs/stops them together', async () => {
    const fake = new FakeKube();
    fake.seed(pods, pod('a'));
    const set = new InformerSet(fake, { random: () => 0.5 });
    const a = set.informer(pods, { namespace: 'ns' });
    expect(set.informer(pods, { namespace: 'ns' })).toBe(a);
    const b = set.informer(Resources.capturedrains, { namespace: 'ns' });
    expect(b).not.toBe(a);
    expect(set.hasSynced()).toBe(false);
    set.start();
    expect(await set.waitForSync()).toBe(true);
    expect(set.hasSynced()).toBe(true);
    expect(set.isHealthy()).toBe(true);
    expect(set.isHealthy(Date.now() + 10 * 60_000)).toBe(false); // no activity for 10 min = wedged
    await set.stop();
  });
});
