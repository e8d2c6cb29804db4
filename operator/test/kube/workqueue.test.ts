import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Registry } from 'prom-client';
import { ItemExponentialBackoff, WorkQueue } from '../../src/kube/workqueue.js';

async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? Number.NaN;
}

describe('WorkQueue', () => {
  it('dedups keys that are already queued', async () => {
    const q = new WorkQueue({ name: 't' });
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
  });

  it('never hands out a key that is being processed; re-queues it on done()', async () => {
    const q = new WorkQueue({ name: 't' });
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a'); // while processing: only marked dirty
    q.add('a');
    expect(q.len()).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done('a');
    await Promise.resolve();
    expect(second).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0);
  });

  it('get() waits for an item', async () => {
    const q = new WorkQueue({ name: 't' });
    const p = q.get();
    q.add('x');
    await expect(p).resolves.toBe('x');
  });

  it('shutDown resolves pending getters with undefined and ignores adds', async () => {
    const q = new WorkQueue({ name: 't' });
    const p = q.get();
    q.shutDown();
    await expect(p).resolves.toBeUndefined();
    q.add('a');
    expect(q.len()).toBe(0);
    await expect(q.get()).resolves.toBeUndefined();
    expect(q.isShuttingDown()).toBe(true);
  });

  it('shutDownWithDrain waits for in-flight keys', async () => {
    const q = new WorkQueue({ name: 't' });
    q.add('a');
    await q.get();
    let drained = false;
    const p = q.shutDownWithDrain().then(() => (drained = true));
    await Promise.resolve();
    expect(drained).toBe(false);
    q.done('a');
    await p;
    expect(drained).toBe(true);
  });

  describe('with fake timers', () => {
    beforeEach(() => {
      jest.useFakeTimers();
    });
    afterEach(() => {
      jest.useRealTimers();
    });

    it('addAfter: the earliest deadline wins', async () => {
      const q = new WorkQueue({ name: 't' });
      q.addAfter('k', 1000);
      q.addAfter('k', 100);
      await jest.advanceTimersByTimeAsync(99);
      expect(q.len()).toBe(0);
      await jest.advanceTimersByTimeAsync(1);
      expect(q.len()).toBe(1);
      expect(await q.get()).toBe('k');
      q.done('k');
      await jest.advanceTimersByTimeAsync(2000);
      expect(q.len()).toBe(0); // the 1000 ms timer was replaced, not kept

      q.addAfter('j', 100);
      q.addAfter('j', 5000); // later: ignored
      await jest.advanceTimersByTimeAsync(100);
      expect(q.len()).toBe(1);
    });

    it('addRateLimited backs off exponentially per key; forget resets', async () => {
      const q = new WorkQueue({ name: 't', baseDelayMs: 10, maxDelayMs: 1000 });
      q.addRateLimited('k'); // 10 ms
      expect(q.numRequeues('k')).toBe(1);
      await jest.advanceTimersByTimeAsync(10);
      expect(await q.get()).toBe('k');
      q.done('k');
      q.addRateLimited('k'); // 20 ms
      await jest.advanceTimersByTimeAsync(19);
      expect(q.len()).toBe(0);
      await jest.advanceTimersByTimeAsync(1);
      expect(q.len()).toBe(1);
      q.forget('k');
      expect(q.numRequeues('k')).toBe(0);
    });

    it('shutDown cancels delayed adds', async () => {
      const q = new WorkQueue({ name: 't' });
      q.addAfter('k', 10);
      q.shutDown();
      await jest.advanceTimersByTimeAsync(20);
      expect(q.len()).toBe(0);
    });
  });

  it('records workqueue_* metrics', async () => {
    const registry = new Registry();
    let now = 0;
    const q = new WorkQueue({ name: 'drains', registry, now: () => now });
    q.add('a');
    q.add('a');
    q.add('b');
    const labels = { name: 'drains', controller: 'drains' };
    expect(await metricValue(registry, 'workqueue_adds_total', labels)).toBe(2);
    expect(await metricValue(registry, 'workqueue_depth', labels)).toBe(2);
    now = 1500;
    await q.get();
    now = 4000;
    expect(await metricValue(registry, 'workqueue_unfinished_work_seconds', labels)).toBeCloseTo(2.5);
    expect(await metricValue(registry, 'workqueue_longest_running_processor_seconds', labels)).toBeCloseTo(
      2.5,
    );
    q.done('a');
    q.addRateLimited('a');
    expect(await metricValue(registry, 'workqueue_retries_total', labels)).toBe(1);
    const text = await registry.metrics();
    expect(text).toMatch(/workqueue_queue_duration_seconds_count\{name="drains",controller="drains"\} 1/);
    expect(text).toMatch(/workqueue_work_duration_seconds_sum\{name="drains",controller="drains"\} 2\.5/);
    // Two queues can share one registry.
    const other = new WorkQueue({ name: 'pods', registry });
    other.add('x');
    expect(await metricValue(registry, 'workqueue_depth', { name: 'pods' })).toBe(1);
    q.shutDown();
    other.shutDown();
  });
});

describe('ItemExponentialBackoff', () => {
  it('computes min(base·2^n, max) with client-go defaults', () => {
    const b = new ItemExponentialBackoff();
    expect([1, 2, 3, 4].map(() => b.when('k'))).toEqual([5, 10, 20, 40]);
    for (let i = 0; i < 40; i++) b.when('k');
    expect(b.when('k')).toBe(1_000_000);
    expect(b.when('other')).toBe(5);
    b.forget('k');
    expect(b.when('k')).toBe(5);
  });
});
