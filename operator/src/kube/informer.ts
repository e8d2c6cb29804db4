// A list-watch cache (client-go reflector + indexer, reduced to what controllers need).
// Why our own and not client-node's makeInformer: that one stops for good on any non-410 error,
// sends no allowWatchBookmarks/timeoutSeconds and has no resync (client-node 2.x src/informer.ts).
//
// Loop: paged LIST → WATCH from the list's resourceVersion (bookmarks on, server timeout with
// jitter) → on a clean close, WATCH again from the last seen resourceVersion → on 410 Gone or an
// ERROR event, relist and diff against the cache → on any other error, retry after exponential
// backoff. The backoff only resets after a watch made progress (received an event or ran a while),
// so "LIST ok → WATCH 410 → LIST …" cannot spin (the 410 infinite-loop trap). A watchdog restarts a
// watch that has been silent for too long. Nothing makes the loop exit except stop().
import type { Logger } from 'pino';
import { silentLogger } from '../observability/logger.js';
import type { EventSource } from './controller.js';
import {
  KubeApiError,
  type KubeClient,
  type KubeObject,
  type ResourceType,
  type WatchEventType,
  type WatchHandle,
} from './port.js';

export interface InformerOptions {
  type: ResourceType;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** LIST page size. Default 500. */
  pageSize?: number;
  /** Server-side watch timeout; a random 0…watchTimeoutJitterSeconds is added. Default 240 (+60). */
  watchTimeoutSeconds?: number;
  watchTimeoutJitterSeconds?: number;
  /** Re-deliver every cached object to onUpdate(obj, obj) this often. 0/undefined = off. */
  resyncPeriodMs?: number;
  /** Error backoff: initial 200 ms, doubling, capped at 30 s. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Floor between two LISTs. Default 1 s. */
  minRelistIntervalMs?: number;
  /** Restart a watch that delivered nothing (not even a bookmark) for this long. Default 180 s. */
  staleAfterMs?: number;
  /** A watch that ran at least this long counts as progress even without events. Default 10 s. */
  minHealthyWatchMs?: number;
  logger?: Logger;
  /** For jitter; tests may pin it. */
  random?: () => number;
  /**
   * Applied to every object before it is cached (LIST items and watch events). Default
   * stripForCache: drops what the operator never reads (managedFields, kubectl's last-applied copy).
   */
  transform?: (obj: KubeObject) => KubeObject;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Drops managedFields and kubectl's last-applied annotation: often the larger part of an object
 * (~30 KiB of a pod's managedFields), and nothing the operator reads. Writes never send cached
 * objects back whole (status and metadata writes are patches), so nothing is lost on the server.
 */
export function stripForCache<T extends KubeObject>(obj: T): T {
  const meta = obj.metadata as (KubeObject['metadata'] & { managedFields?: unknown }) | undefined;
  if (!meta || (meta.managedFields === undefined && meta.annotations?.[LAST_APPLIED] === undefined))
    return obj;
  const { managedFields: _dropped, ...rest } = meta;
  void _dropped;
  const metadata: KubeObject['metadata'] = rest;
  if (rest.annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _last, ...annotations } = rest.annotations;
    void _last;
    metadata.annotations = annotations;
  }
  return { ...obj, metadata };
}

export interface InformerStats {
  resourceVersion: string;
  synced: boolean;
  lastSyncAt?: number;
  lastEventAt?: number;
  lastActivityAt: number;
  relists: number;
  watches: number;
  errors: number;
  consecutiveFailures: number;
}

type AddHandler<T> = (obj: T) => unknown;
type UpdateHandler<T> = (oldObj: T, newObj: T) => unknown;
type DeleteHandler<T> = (obj: T) => unknown;

function cacheKey(obj: KubeObject): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;
}

export class Informer<T extends KubeObject = KubeObject> implements EventSource<T> {
  readonly type: ResourceType;
  private readonly opts: Required<
    Omit<InformerOptions, 'namespace' | 'labelSelector' | 'fieldSelector' | 'logger' | 'type' | 'transform'>
  > &
    Pick<InformerOptions, 'namespace' | 'labelSelector' | 'fieldSelector'>;
  private readonly log: Logger;
  private cache = new Map<string, T>();
  private readonly addHandlers: AddHandler<T>[] = [];
  private readonly updateHandlers: UpdateHandler<T>[] = [];
  private readonly deleteHandlers: DeleteHandler<T>[] = [];
  private resourceVersion = '';
  private synced = false;
  private syncWaiters: Array<(ok: boolean) => void> = [];
  private started = false;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private currentWatch: WatchHandle | undefined;
  private interruptWatch: (() => void) | undefined;
  private wakeSleep: (() => void) | undefined;
  private sawErrorEvent = false;
  private watchEvents = 0;
  private lastWatchProgressAt = 0;
  private lastListStartedAt = Number.NEGATIVE_INFINITY;
  private timers: NodeJS.Timeout[] = [];
  private readonly transform: (obj: T) => T;
  private readonly stats: InformerStats = {
    resourceVersion: '',
    synced: false,
    lastActivityAt: Date.now(),
    relists: 0,
    watches: 0,
    errors: 0,
    consecutiveFailures: 0,
  };

  constructor(
    private readonly client: KubeClient,
    options: InformerOptions,
  ) {
    this.type = options.type;
    this.transform = (options.transform as ((obj: T) => T) | undefined) ?? stripForCache;
    this.opts = {
      namespace: options.namespace,
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      pageSize: options.pageSize ?? 500,
      watchTimeoutSeconds: options.watchTimeoutSeconds ?? 240,
      watchTimeoutJitterSeconds: options.watchTimeoutJitterSeconds ?? 60,
      resyncPeriodMs: options.resyncPeriodMs ?? 0,
      backoffInitialMs: options.backoffInitialMs ?? 200,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
      minRelistIntervalMs: options.minRelistIntervalMs ?? 1000,
      staleAfterMs: options.staleAfterMs ?? 180_000,
      minHealthyWatchMs: options.minHealthyWatchMs ?? 10_000,
      random: options.random ?? Math.random,
    };
    this.log = (options.logger ?? silentLogger()).child({
      informer: options.type.plural,
      ...(options.namespace ? { namespace: options.namespace } : {}),
      ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
    });
  }

  // ---- handlers ----

  /** Registers an add handler; objects already cached are replayed to it (as controller-runtime does). */
  onAdd(fn: AddHandler<T>): this {
    this.addHandlers.push(fn);
    for (const obj of this.cache.values()) this.call(fn, obj);
    return this;
  }

  onUpdate(fn: UpdateHandler<T>): this {
    this.updateHandlers.push(fn);
    return this;
  }

  onDelete(fn: DeleteHandler<T>): this {
    this.deleteHandlers.push(fn);
    return this;
  }

  // ---- cache reads ----

  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(`${namespace ?? ''}/${name}`);
  }

  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once the first LIST has been delivered; false if aborted or stopped first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.stopped || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        this.syncWaiters = this.syncWaiters.filter((w) => w !== done);
        resolve(false);
      };
      const done = (ok: boolean) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      this.syncWaiters.push(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * False when the loop looks wedged: no list/watch activity for longer than the watchdog, the
   * maximum backoff and a margin together could explain. Failing API calls still count as activity.
   */
  isHealthy(now = Date.now()): boolean {
    if (!this.started || this.stopped) return true;
    return now - this.stats.lastActivityAt <= this.opts.staleAfterMs + this.opts.backoffMaxMs + 60_000;
  }

  getStats(): InformerStats {
    return { ...this.stats, resourceVersion: this.resourceVersion, synced: this.synced };
  }

  // ---- lifecycle ----

  start(): void {
    if (this.started) return;
    this.started = true;
    this.stats.lastActivityAt = Date.now();
    const check = Math.max(10, Math.min(10_000, Math.floor(this.opts.staleAfterMs / 4)));
    this.every(check, () => this.watchdog());
    if (this.opts.resyncPeriodMs > 0) this.every(this.opts.resyncPeriodMs, () => this.resync());
    this.loop = this.runForever();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.timers.forEach((t) => clearInterval(t));
    this.timers = [];
    this.currentWatch?.abort();
    this.interruptWatch?.();
    this.wakeSleep?.();
    this.syncWaiters.splice(0).forEach((w) => w(false));
    await this.loop;
  }

  // ---- the loop ----

  private async runForever(): Promise<void> {
    // run() handles its own errors; this outer loop only exists so that a bug there cannot end it.
    while (!this.stopped) {
      try {
        await this.run();
      } catch (err) {
        this.log.error({ err }, 'Informer loop crashed; restarting');
        await this.sleep(this.opts.backoffMaxMs);
      }
    }
  }

  private async run(): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        if (this.stopped) return;
        const progressed = await this.watchOnce();
        if (progressed) this.stats.consecutiveFailures = 0;
        else await this.sleep(this.nextBackoff());
      } catch (err) {
        if (this.stopped) return;
        this.stats.errors++;
        this.touch();
        const gone = err instanceof KubeApiError && err.isGone;
        if (gone || this.sawErrorEvent) {
          needList = true;
          this.log.info(
            { err: err instanceof Error ? err.message : String(err) },
            'Watch expired; relisting',
          );
        } else {
          this.log.warn({ err }, needList ? 'List failed; retrying' : 'Watch failed; retrying');
        }
        await this.sleep(this.nextBackoff());
      }
    }
  }

  private nextBackoff(): number {
    const n = this.stats.consecutiveFailures++;
    const base = Math.min(this.opts.backoffInitialMs * 2 ** n, this.opts.backoffMaxMs);
    return Math.round(base * (0.8 + 0.4 * this.opts.random())); // ±20% jitter so replicas desynchronise
  }

  private async relist(): Promise<void> {
    const wait = this.lastListStartedAt + this.opts.minRelistIntervalMs - Date.now();
    if (wait > 0) await this.sleep(wait);
    if (this.stopped) return;
    this.lastListStartedAt = Date.now();
    this.stats.relists++;
    const items: T[] = [];
    let cont: string | undefined;
    let rv: string;
    do {
      // Unset resourceVersion: a consistent (quorum) read, which also supports paging.
      const page = await this.client.list<T>(this.type, {
        namespace: this.opts.namespace,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
        limit: this.opts.pageSize,
        continue: cont,
      });
      for (const item of page.items) items.push(this.transform(item));
      rv = page.resourceVersion;
      cont = page.continue || undefined;
      this.touch();
    } while (cont && !this.stopped);
    if (this.stopped) return;
    this.replace(items, rv);
  }

  /** Swaps the cache for a fresh LIST and emits the difference. */
  private replace(items: T[], rv: string): void {
    const old = this.cache;
    const next = new Map<string, T>();
    for (const item of items) next.set(cacheKey(item), item);
    this.cache = next;
    this.resourceVersion = rv;
    this.sawErrorEvent = false;
    for (const [key, obj] of old) if (!next.has(key)) this.emitDelete(obj);
    for (const [key, obj] of next) {
      const prev = old.get(key);
      if (!prev) this.emitAdd(obj);
      else if (prev.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emitUpdate(prev, obj);
    }
    const first = !this.synced;
    this.synced = true;
    this.stats.lastSyncAt = Date.now();
    if (first) {
      this.log.info({ count: items.length, resourceVersion: rv }, 'Informer synced');
      this.syncWaiters.splice(0).forEach((w) => w(true));
    }
  }

  /** One WATCH; resolves with whether it made progress; throws on errors. */
  private async watchOnce(): Promise<boolean> {
    this.sawErrorEvent = false;
    this.watchEvents = 0;
    const startedAt = Date.now();
    this.lastWatchProgressAt = startedAt;
    const timeoutSeconds =
      this.opts.watchTimeoutSeconds +
      Math.floor(this.opts.random() * (this.opts.watchTimeoutJitterSeconds + 1));
    this.stats.watches++;
    this.touch();
    const handle = await this.client.watch<T>(
      this.type,
      {
        namespace: this.opts.namespace,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
      },
      (type, obj) => this.onWatchEvent(type, obj),
    );
    if (this.stopped) {
      handle.abort();
      return false;
    }
    this.currentWatch = handle;
    let stale = false;
    const interrupted = new Promise<void>((resolve) => {
      this.interruptWatch = () => {
        stale = true;
        resolve();
      };
    });
    try {
      await Promise.race([handle.done, interrupted]);
    } finally {
      this.currentWatch = undefined;
      this.interruptWatch = undefined;
    }
    const ranLongEnough = Date.now() - startedAt >= this.opts.minHealthyWatchMs;
    if (stale && !this.stopped) {
      this.log.warn({ staleAfterMs: this.opts.staleAfterMs }, 'Watch silent for too long; restarting it');
      handle.abort();
      return ranLongEnough;
    }
    if (this.sawErrorEvent) throw new KubeApiError(500, 'watch ERROR event', 'WatchError');
    return this.watchEvents > 0 || ranLongEnough;
  }

  private onWatchEvent(type: WatchEventType, obj: T): void {
    if (this.stopped) return;
    if (type === 'ERROR') {
      // The client also rejects `done` with a KubeApiError; the flag makes any ERROR trigger a relist.
      this.sawErrorEvent = true;
      this.log.info({ status: obj }, 'Watch ERROR event');
      return;
    }
    this.watchEvents++;
    this.stats.consecutiveFailures = 0; // a live stream: the next failure starts the backoff afresh
    this.lastWatchProgressAt = Date.now();
    this.stats.lastEventAt = this.lastWatchProgressAt;
    this.touch();
    const rv = obj?.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (type === 'BOOKMARK') return;
    obj = this.transform(obj);
    const key = cacheKey(obj);
    const prev = this.cache.get(key);
    if (type === 'DELETED') {
      this.cache.delete(key);
      this.emitDelete(obj);
    } else {
      this.cache.set(key, obj);
      if (prev) this.emitUpdate(prev, obj);
      else this.emitAdd(obj);
    }
  }

  private watchdog(): void {
    if (this.currentWatch && Date.now() - this.lastWatchProgressAt > this.opts.staleAfterMs) {
      this.interruptWatch?.();
    }
  }

  private resync(): void {
    if (!this.synced || this.stopped) return;
    for (const obj of this.cache.values()) this.emitUpdate(obj, obj);
  }

  // ---- helpers ----

  private emitAdd(obj: T): void {
    for (const fn of this.addHandlers) this.call(fn, obj);
  }

  private emitUpdate(oldObj: T, newObj: T): void {
    for (const fn of this.updateHandlers) this.call(fn, oldObj, newObj);
  }

  private emitDelete(obj: T): void {
    for (const fn of this.deleteHandlers) this.call(fn, obj);
  }

  /** A handler's exception (or rejected promise) is logged and never reaches the loop. */
  private call<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): void {
    try {
      const r = fn(...args);
      if (r instanceof Promise)
        r.catch((err: unknown) => this.log.error({ err }, 'Informer handler rejected'));
    } catch (err) {
      this.log.error({ err }, 'Informer handler threw');
    }
  }

  private touch(): void {
    this.stats.lastActivityAt = Date.now();
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref?.();
    this.timers.push(t);
  }

  /** A sleep that stop() cuts short. */
  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wakeSleep = undefined;
        resolve();
      }, ms);
      t.unref?.();
      this.wakeSleep = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}

/** One informer per (type, namespace, selectors), started, synced, checked and stopped together. */
export class InformerSet {
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private started = false;

  constructor(
    private readonly client: KubeClient,
    private readonly defaults: Omit<
      InformerOptions,
      'type' | 'namespace' | 'labelSelector' | 'fieldSelector'
    > = {},
  ) {}

  informer<T extends KubeObject>(
    type: ResourceType,
    scope: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {},
  ): Informer<T> {
    const key = JSON.stringify([
      type.group,
      type.version,
      type.plural,
      scope.namespace,
      scope.labelSelector,
      scope.fieldSelector,
    ]);
    let inf = this.informers.get(key);
    if (!inf) {
      inf = new Informer<KubeObject>(this.client, { ...this.defaults, ...scope, type });
      this.informers.set(key, inf);
      if (this.started) inf.start();
    }
    return inf as unknown as Informer<T>;
  }

  start(): void {
    this.started = true;
    for (const inf of this.informers.values()) inf.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((inf) => inf.stop()));
  }

  hasSynced(): boolean {
    return [...this.informers.values()].every((inf) => inf.hasSynced());
  }

  async waitForSync(signal?: AbortSignal): Promise<boolean> {
    const results = await Promise.all([...this.informers.values()].map((inf) => inf.waitForSync(signal)));
    return results.every(Boolean);
  }

  isHealthy(now = Date.now()): boolean {
    return [...this.informers.values()].every((inf) => inf.isHealthy(now));
  }
}

/** One cache over the per-namespace informers of a kind (one informer when all namespaces are watched). */
export function mergedCache<T extends KubeObject>(infs: Informer<T>[]) {
  return {
    get: (ns: string, name: string) => infs.map((i) => i.get(ns, name)).find(Boolean),
    list: (ns?: string) => infs.flatMap((i) => i.list(ns)),
  };
}
