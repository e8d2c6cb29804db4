// A controller in the controller-runtime mould: a keyed, rate-limited work queue drained by N
// workers that call a level-triggered reconcile(key). Result handling mirrors controller-runtime's
// reconcileHandler (pkg/internal/controller/controller.go):
//   error            → addRateLimited, result="error" (a requeueAfter returned with it is ignored)
//   TerminalError    → no requeue, result="error", counted in terminal_reconcile_errors_total
//   {requeueAfterMs} → forget + addAfter, result="requeue_after" ("requeue" for 0: again at once;
//                      controller-runtime drops a 0 here, we honour it, as a filtered status write
//                      no longer re-enqueues the key)
//   otherwise        → forget, result="success"
// A throw of a non-Error value is a "panic": recovered, counted, and treated as an error.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { getOrCreateCounter, getOrCreateGauge, getOrCreateHistogram } from '../observability/metrics.js';
import { silentLogger } from '../observability/logger.js';
import type { KubeObject } from './port.js';
import { WorkQueue, type RateLimiterOptions } from './workqueue.js';

/** Identifies the object to reconcile; namespace is absent for cluster-scoped objects. */
export interface ObjectKey {
  namespace?: string;
  name: string;
}

export interface ReconcileResult {
  /** Reconcile again after this delay (resets the key's error backoff). */
  requeueAfterMs?: number;
}

export interface ReconcileContext {
  /** pino child with {controller, namespace, name, reconcileID}. */
  log: Logger;
  reconcileID: string;
  /**
   * Aborted when the signal start() was given aborts (with leader election: the moment the
   * leadership term ends), when the controller stops, or when reconcileTimeoutMs elapses. Pass it
   * to every TiCDC request and Kubernetes write, and check it before each side effect: after it
   * aborted the reconcile must not write anything.
   */
  signal: AbortSignal;
}

export type Reconciler = (key: ObjectKey, ctx: ReconcileContext) => Promise<ReconcileResult | void>;

/** An error that retrying cannot fix (e.g. an invalid spec): the key is not requeued. */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** True for a TerminalError anywhere in the cause chain (errors.Is semantics). */
export function isTerminalError(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 16; e = e.cause, depth++) {
    if (e instanceof TerminalError) return true;
  }
  return false;
}

export interface ControllerOptions {
  name: string;
  reconcile: Reconciler;
  /** MaxConcurrentReconciles. Default 1. */
  workers?: number;
  logger?: Logger;
  registry?: Registry;
  rateLimiter?: RateLimiterOptions;
  /** Aborts ctx.signal after this long. The reconcile must honour the signal. */
  reconcileTimeoutMs?: number;
  /** stop() waits at most this long for in-flight reconciles. Default 30 s. */
  gracefulShutdownMs?: number;
}

/** controller-runtime's reconcile_time_seconds buckets (5 ms … 60 s). */
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25,
  1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

function controllerMetrics(registry: Registry) {
  const controller = ['controller'] as const;
  return {
    total: getOrCreateCounter(registry, {
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
    }),
    errors: getOrCreateCounter(registry, {
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: controller,
    }),
    terminal: getOrCreateCounter(registry, {
      name: 'controller_runtime_terminal_reconcile_errors_total',
      help: 'Total number of terminal reconciliation errors per controller',
      labelNames: controller,
    }),
    panics: getOrCreateCounter(registry, {
      name: 'controller_runtime_reconcile_panics_total',
      help: 'Total number of reconciliation panics per controller',
      labelNames: controller,
    }),
    timeouts: getOrCreateCounter(registry, {
      name: 'controller_runtime_reconcile_timeouts_total',
      help: 'Total number of reconciliation timeouts per controller',
      labelNames: controller,
    }),
    time: getOrCreateHistogram(registry, {
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: controller,
      buckets: RECONCILE_BUCKETS,
    }),
    active: getOrCreateGauge(registry, {
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller',
      labelNames: controller,
    }),
    max: getOrCreateGauge(registry, {
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller',
      labelNames: controller,
    }),
  };
}

export function keyToString(key: ObjectKey): string {
  return key.namespace ? `${key.namespace}/${key.name}` : key.name;
}

export function keyFromString(s: string): ObjectKey {
  const i = s.indexOf('/');
  return i < 0 ? { name: s } : { namespace: s.slice(0, i), name: s.slice(i + 1) };
}

export function keyOf(obj: KubeObject): ObjectKey {
  const { namespace, name } = obj.metadata;
  return namespace ? { namespace, name: name ?? '' } : { name: name ?? '' };
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly opts: ControllerOptions;
  private readonly log: Logger;
  private readonly metrics: ReturnType<typeof controllerMetrics>;
  private readonly labels: { controller: string };
  private readonly stopping = new AbortController();
  /** start()'s signal (one leadership term), or stopping's when none was given. */
  private term: AbortSignal = this.stopping.signal;
  private running: Promise<void> | undefined;

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.labels = { controller: opts.name };
    this.log = (opts.logger ?? silentLogger()).child({ controller: opts.name });
    const registry = opts.registry ?? new Registry();
    this.metrics = controllerMetrics(registry);
    for (const result of ['success', 'error', 'requeue', 'requeue_after']) {
      this.metrics.total.inc({ controller: opts.name, result }, 0);
    }
    this.metrics.errors.inc(this.labels, 0);
    this.metrics.terminal.inc(this.labels, 0);
    this.metrics.panics.inc(this.labels, 0);
    this.metrics.active.set(this.labels, 0);
    this.queue = new WorkQueue({ name: opts.name, controller: opts.name, registry, ...opts.rateLimiter });
  }

  enqueue(key: ObjectKey | string): void {
    this.queue.add(typeof key === 'string' ? key : keyToString(key));
  }

  enqueueAfter(key: ObjectKey | string, ms: number): void {
    this.queue.addAfter(typeof key === 'string' ? key : keyToString(key), ms);
  }

  /** Starts the workers; resolves once the controller has stopped (signal aborted or stop()). */
  start(signal?: AbortSignal): Promise<void> {
    if (this.running) throw new Error(`controller ${this.name} already started`);
    const workers = Math.max(1, this.opts.workers ?? 1);
    this.metrics.max.set(this.labels, workers);
    this.log.info({ workers }, 'Starting workers');
    if (signal) this.term = AbortSignal.any([signal, this.stopping.signal]);
    this.running = Promise.all(Array.from({ length: workers }, () => this.worker())).then(() => {
      this.log.info('All workers finished');
    });
    if (signal?.aborted) void this.stop();
    else signal?.addEventListener('abort', () => void this.stop(), { once: true });
    return this.running;
  }

  /** Stops taking work, aborts in-flight reconciles' signals and waits (bounded) for them. */
  async stop(): Promise<void> {
    if (!this.stopping.signal.aborted) {
      this.log.info('Stopping controller');
      this.stopping.abort(new Error(`controller ${this.name} stopping`));
    }
    const drained = this.queue.shutDownWithDrain();
    const grace = this.opts.gracefulShutdownMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), grace);
      timer.unref?.();
    });
    const late = await Promise.race([drained.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late)
      this.log.warn({ graceMs: grace }, 'In-flight reconciles did not finish in time; giving up waiting');
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.metrics.active.inc(this.labels);
      try {
        await this.reconcileHandler(key);
      } catch (err) {
        // reconcileHandler catches everything; this guards the worker against our own bugs.
        this.log.error({ err }, 'Unexpected error in reconcile handler');
      } finally {
        this.metrics.active.dec(this.labels);
        this.queue.done(key);
      }
    }
  }

  private async reconcileHandler(keyString: string): Promise<void> {
    const key = keyFromString(keyString);
    const reconcileID = randomUUID();
    const log = this.log.child({
      ...(key.namespace ? { namespace: key.namespace } : {}),
      name: key.name,
      reconcileID,
    });
    // The term's abort reaches ac synchronously (listeners run inside abort()), so a reconcile that
    // checks ctx.signal after any await sees it; its requests in flight are cancelled through it.
    const ac = new AbortController();
    const term = this.term;
    const onStop = () => ac.abort(term.reason);
    if (term.aborted) onStop();
    else term.addEventListener('abort', onStop, { once: true });
    let timedOut = false;
    const timeout = this.opts.reconcileTimeoutMs
      ? setTimeout(() => {
          timedOut = true;
          ac.abort(new Error(`reconcile timed out after ${this.opts.reconcileTimeoutMs} ms`));
        }, this.opts.reconcileTimeoutMs)
      : undefined;
    const started = performance.now();
    let result: ReconcileResult | void = undefined;
    let failure: { err: unknown } | undefined;
    try {
      result = await this.opts.reconcile(key, { log, reconcileID, signal: ac.signal });
    } catch (err) {
      failure = { err };
    } finally {
      clearTimeout(timeout);
      term.removeEventListener('abort', onStop);
      this.metrics.time.observe(this.labels, (performance.now() - started) / 1000);
    }

    if (failure) {
      let err = failure.err;
      if (!(err instanceof Error)) {
        // JS lets anything be thrown; treat it like a recovered Go panic.
        this.metrics.panics.inc(this.labels);
        err = new Error(`reconcile panicked: ${String(err)}`, { cause: err });
      }
      if (timedOut) this.metrics.timeouts.inc(this.labels);
      if (term.aborted) {
        // Cancelled with the term (or a stop): not a failure of the object; the next leader redoes it.
        this.metrics.total.inc({ controller: this.name, result: 'error' });
        log.info({ reason: String(term.reason) }, 'Reconcile cancelled');
        return;
      }
      this.metrics.errors.inc(this.labels);
      this.metrics.total.inc({ controller: this.name, result: 'error' });
      if (isTerminalError(err)) {
        this.metrics.terminal.inc(this.labels);
        this.queue.forget(keyString); // not retried; drop its backoff state so the map does not grow
        log.error({ err }, 'Reconciler error (terminal, not requeued)');
      } else {
        this.queue.addRateLimited(keyString);
        log.error({ err, retries: this.queue.numRequeues(keyString) }, 'Reconciler error');
      }
      return;
    }

    // A requested requeue is honoured whatever its delay: 0 means "again, now" (the key is still
    // being processed, so add() marks it dirty and done() queues it again).
    const after = result?.requeueAfterMs;
    if (after !== undefined) {
      this.queue.forget(keyString);
      this.queue.addAfter(keyString, Math.max(0, after));
      this.metrics.total.inc({ controller: this.name, result: after > 0 ? 'requeue_after' : 'requeue' });
      return;
    }
    this.queue.forget(keyString);
    this.metrics.total.inc({ controller: this.name, result: 'success' });
  }
}

// ---- Mapping informer events to keys (controller-runtime's handler package) ----

/** Maps an object from an event to the keys to reconcile. */
export type MapFunc = (obj: KubeObject) => ObjectKey[];

/** handler.EnqueueRequestForObject. */
export const mapToSelf: MapFunc = (obj) => [keyOf(obj)];

/**
 * handler.EnqueueRequestForOwner: keys of owners with this group and kind (any version).
 * controllerOnly (default true) follows only the managing controller reference.
 */
export function mapToOwner(
  owner: { group: string; kind: string; namespaced?: boolean },
  controllerOnly = true,
): MapFunc {
  return (obj) =>
    (obj.metadata.ownerReferences ?? [])
      .filter((ref) => {
        const group = ref.apiVersion.includes('/') ? ref.apiVersion.split('/')[0] : '';
        return (
          ref.kind === owner.kind && group === owner.group && (!controllerOnly || ref.controller === true)
        );
      })
      .map((ref) =>
        owner.namespaced !== false && obj.metadata.namespace
          ? { namespace: obj.metadata.namespace, name: ref.name }
          : { name: ref.name },
      );
}

/** What watchInto needs from an informer. */
export interface EventSource<T extends KubeObject> {
  onAdd(fn: (obj: T) => void): unknown;
  onUpdate(fn: (oldObj: T, newObj: T) => void): unknown;
  onDelete(fn: (obj: T) => void): unknown;
}

export interface WatchIntoOptions<T extends KubeObject> {
  map?: MapFunc;
  /** Filters updates (e.g. generation changed); adds and deletes always pass. */
  updatePredicate?: (oldObj: T, newObj: T) => boolean;
}

/** Wires informer events to controller.enqueue through a mapping function (default: the object itself). */
export function watchInto<T extends KubeObject>(
  source: EventSource<T>,
  controller: Pick<Controller, 'enqueue'>,
  opts: WatchIntoOptions<T> = {},
): void {
  const map = opts.map ?? mapToSelf;
  const enqueueAll = (obj: T) => map(obj).forEach((k) => controller.enqueue(k));
  source.onAdd(enqueueAll);
  source.onUpdate((oldObj, newObj) => {
    if (opts.updatePredicate && !opts.updatePredicate(oldObj, newObj)) return;
    // An update can move ownership: reconcile both the old and the new mapping.
    const keys = new Set([...map(oldObj), ...map(newObj)].map(keyToString));
    keys.forEach((k) => controller.enqueue(k));
  });
  source.onDelete(enqueueAll);
}

/** predicate.GenerationChangedPredicate (resyncs with equal objects pass so they still re-reconcile). */
export function generationChanged<T extends KubeObject>(oldObj: T, newObj: T): boolean {
  return oldObj === newObj || oldObj.metadata.generation !== newObj.metadata.generation;
}
