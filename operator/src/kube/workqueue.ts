// A rate-limited work queue with client-go semantics (util/workqueue):
// - dirty/processing sets: adding a queued key is a no-op; adding a key that is being processed
//   only marks it dirty, and it is re-queued on done(). One key is never processed concurrently and
//   N triggers collapse into one reconcile (level-triggered).
// - addAfter(key, ms): delayed add; the earliest pending deadline wins.
// - addRateLimited(key): per-key exponential backoff min(base·2^n, max); forget(key) resets it.
// Deviation: after shutDown(), get() resolves undefined at once instead of draining queued keys,
// so a controller that loses leadership stops promptly; in-flight keys finish (shutDownWithDrain).
import { Registry } from 'prom-client';
import { getOrCreateCounter, getOrCreateGauge, getOrCreateHistogram } from '../observability/metrics.js';

export interface RateLimiterOptions {
  /** First retry delay. Default 5 ms (client-go DefaultControllerRateLimiter). */
  baseDelayMs?: number;
  /** Backoff cap. Default 1000 s. */
  maxDelayMs?: number;
}

/** client-go ItemExponentialFailureRateLimiter. */
export class ItemExponentialBackoff {
  private readonly failures = new Map<string, number>();
  private readonly base: number;
  private readonly max: number;

  constructor(opts: RateLimiterOptions = {}) {
    this.base = opts.baseDelayMs ?? 5;
    this.max = opts.maxDelayMs ?? 1_000_000;
  }

  /** The delay before the next retry of key; counts one more failure. */
  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return Math.min(this.base * 2 ** n, this.max);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

export interface WorkQueueOptions extends RateLimiterOptions {
  /** Metric label `name`. */
  name: string;
  /** Metric label `controller` (defaults to name). */
  controller?: string;
  /** Where the workqueue_* metrics go; a private registry when omitted. */
  registry?: Registry;
  /** Monotonic clock in ms for the duration metrics (tests inject one). */
  now?: () => number;
}

const DURATION_BUCKETS = Array.from({ length: 12 }, (_, i) => 1e-8 * 10 ** i); // 10 ns … 1000 s

function queueMetrics(registry: Registry) {
  const labelNames = ['name', 'controller'] as const;
  return {
    depth: getOrCreateGauge(registry, {
      name: 'workqueue_depth',
      help: 'Current depth of workqueue',
      labelNames,
    }),
    adds: getOrCreateCounter(registry, {
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue',
      labelNames,
    }),
    retries: getOrCreateCounter(registry, {
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames,
    }),
    queueDuration: getOrCreateHistogram(registry, {
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames,
      buckets: DURATION_BUCKETS,
    }),
    workDuration: getOrCreateHistogram(registry, {
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes',
      labelNames,
      buckets: DURATION_BUCKETS,
    }),
    // These two are computed at scrape time over every live queue of this registry.
    unfinished: getOrCreateGauge(registry, {
      name: 'workqueue_unfinished_work_seconds',
      help: 'How many seconds of work has been done that is in progress and has not been observed by work_duration',
      labelNames,
      collect() {
        this.reset();
        for (const q of liveQueues(registry)) this.set(q.labels, q.inFlightSeconds().total);
      },
    }),
    longest: getOrCreateGauge(registry, {
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running',
      labelNames,
      collect() {
        this.reset();
        for (const q of liveQueues(registry)) this.set(q.labels, q.inFlightSeconds().longest);
      },
    }),
  };
}

const queuesByRegistry = new WeakMap<Registry, Set<WorkQueue>>();
function liveQueues(registry: Registry): Set<WorkQueue> {
  let set = queuesByRegistry.get(registry);
  if (!set) queuesByRegistry.set(registry, (set = new Set()));
  return set;
}

export class WorkQueue {
  readonly labels: { name: string; controller: string };
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  /** key → time processing started. */
  private readonly processing = new Map<string, number>();
  /** key → time it became dirty (for queue_duration). */
  private readonly addedAt = new Map<string, number>();
  private readonly waiting = new Map<string, { readyAt: number; timer: NodeJS.Timeout }>();
  private readonly getters: Array<(key: string | undefined) => void> = [];
  private readonly drainWaiters: Array<() => void> = [];
  private readonly limiter: ItemExponentialBackoff;
  private readonly metrics: ReturnType<typeof queueMetrics>;
  private readonly registry: Registry;
  private readonly now: () => number;
  private shutdown = false;

  constructor(opts: WorkQueueOptions) {
    this.labels = { name: opts.name, controller: opts.controller ?? opts.name };
    this.limiter = new ItemExponentialBackoff(opts);
    this.now = opts.now ?? (() => performance.now());
    // Without an injected registry the metrics still work, they are just not exported anywhere.
    this.registry = opts.registry ?? new Registry();
    this.metrics = queueMetrics(this.registry);
    liveQueues(this.registry).add(this);
    this.metrics.depth.set(this.labels, 0);
  }

  /** Marks key as needing processing. No-op when already queued, deferred when in flight. */
  add(key: string): void {
    if (this.shutdown || this.dirty.has(key)) return;
    this.metrics.adds.inc(this.labels);
    if (!this.addedAt.has(key)) this.addedAt.set(key, this.now());
    this.dirty.add(key);
    if (this.processing.has(key)) return; // re-queued by done()
    this.enqueue(key);
  }

  /** Adds key after ms; when key is already waiting, the earlier deadline wins. */
  addAfter(key: string, ms: number): void {
    if (this.shutdown) return;
    this.metrics.retries.inc(this.labels);
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const readyAt = Date.now() + ms;
    const pending = this.waiting.get(key);
    if (pending) {
      if (pending.readyAt <= readyAt) return;
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    timer.unref?.();
    this.waiting.set(key, { readyAt, timer });
  }

  /** Adds key after its per-key exponential backoff. */
  addRateLimited(key: string): void {
    this.addAfter(key, this.limiter.when(key));
  }

  /** Resets key's backoff (call after a successful reconcile). */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.limiter.numRequeues(key);
  }

  /** Resolves with the next key to process, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.shutdown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.metrics.depth.set(this.labels, this.queue.length);
      return Promise.resolve(this.startProcessing(key));
    }
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Marks key as processed; if it was re-added meanwhile, it is queued again now. */
  done(key: string): void {
    const started = this.processing.get(key);
    if (started === undefined) return;
    this.processing.delete(key);
    this.metrics.workDuration.observe(this.labels, (this.now() - started) / 1000);
    if (this.dirty.has(key) && !this.shutdown) this.enqueue(key);
    if (this.processing.size === 0) this.drainWaiters.splice(0).forEach((w) => w());
  }

  /** Number of keys ready to be processed (not counting in-flight or delayed ones). */
  len(): number {
    return this.queue.length;
  }

  isShuttingDown(): boolean {
    return this.shutdown;
  }

  /** Stops the queue: pending get() calls resolve undefined; adds are ignored; timers cleared. */
  shutDown(): void {
    if (this.shutdown) return;
    this.shutdown = true;
    for (const w of this.waiting.values()) clearTimeout(w.timer);
    this.waiting.clear();
    this.getters.splice(0).forEach((g) => g(undefined));
    this.queue.length = 0;
    this.metrics.depth.set(this.labels, 0);
    liveQueues(this.registry).delete(this);
  }

  /** shutDown(), then wait until every in-flight key has been marked done(). */
  async shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return;
    await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  /** For the unfinished/longest-running gauges. */
  inFlightSeconds(): { total: number; longest: number } {
    const now = this.now();
    let total = 0;
    let longest = 0;
    for (const started of this.processing.values()) {
      const s = (now - started) / 1000;
      total += s;
      longest = Math.max(longest, s);
    }
    return { total, longest };
  }

  private enqueue(key: string): void {
    const getter = this.getters.shift();
    if (getter) {
      getter(this.startProcessing(key));
      return;
    }
    this.queue.push(key);
    this.metrics.depth.set(this.labels, this.queue.length);
  }

  private startProcessing(key: string): string {
    const now = this.now();
    this.processing.set(key, now);
    this.dirty.delete(key);
    const addedAt = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (addedAt !== undefined) this.metrics.queueDuration.observe(this.labels, (now - addedAt) / 1000);
    return key;
  }
}
