// KubeClient over @kubernetes/client-node 2.x. One generic REST helper serves every ResourceType
// the same way (no per-type generated classes, no Date conversion: plain JSON in and out).
// Auth comes from the KubeConfig (tokens, exec plugins, client certs) via applySecurityAuthentication;
// watches use client-node's Watch. Tokens and headers are never logged.
import { HttpMethod, RequestContext, Watch, type KubeConfig } from '@kubernetes/client-node';
import { fetch, type Dispatcher } from 'undici';
import {
  KubeApiError,
  apiVersionOf,
  type DeleteOptions,
  type Fence,
  type KubeClient,
  type KubeObject,
  type ListOptions,
  type ListResult,
  type PatchOptions,
  type PatchType,
  type ResourceType,
  type WatchEventType,
  type WatchHandle,
  type WatchOptions,
} from './port.js';

export interface KubeClientOptions {
  /** User-Agent header. */
  userAgent?: string;
  /** Per-request timeout for non-watch calls. Default 30 s. */
  requestTimeoutMs?: number;
  /**
   * A watch that receives no bytes for this long is cut and reported as a clean close (the informer
   * re-watches from its last resourceVersion). The API server sends bookmarks about once a minute
   * to watchers that ask for them, so the default 90 s only fires on dead connections.
   */
  watchIdleTimeoutMs?: number;
  /** Default fieldManager for every write (required by server-side apply). */
  fieldManager?: string;
  /** How long the HTTP connection pool is reused before it is rebuilt (picks up rotated CA/certs). Default 10 min. */
  dispatcherTtlMs?: number;
}

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml', // the body is JSON, which is valid YAML
};

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** The REST path of a collection, an object or its subresource. */
export function resourcePath(
  type: ResourceType,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  const base = type.group ? `/apis/${type.group}/${type.version}` : `/api/${type.version}`;
  if (type.namespaced && name !== undefined && !namespace) {
    throw new Error(`${type.kind} ${name}: namespace is required for a namespaced resource`);
  }
  const ns = type.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  let path = `${base}${ns}/${type.plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource) path += `/${subresource}`;
  return path;
}

/** Turns an error reply (ideally a metav1.Status) into a KubeApiError. */
export function toKubeApiError(status: number, body: unknown, fallback: string): KubeApiError {
  const s = (typeof body === 'object' && body !== null ? body : {}) as { message?: string; reason?: string };
  return new KubeApiError(status, s.message || fallback, s.reason || REASONS[status], body);
}

type Query = Record<string, string | number | boolean | undefined>;

export class RestKubeClient implements KubeClient {
  private readonly requestTimeoutMs: number;
  private readonly watchIdleTimeoutMs: number;
  private readonly dispatcherTtlMs: number;
  /** The connection pool, shared with the views withSignal returns. */
  private readonly pool: { dispatcher?: { value: Dispatcher | undefined; createdAt: number } };
  /** Bounds every non-watch request of this view (see fenced). */
  private readonly fence: Fence | undefined;

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: KubeClientOptions = {},
    shared?: { pool: RestKubeClient['pool']; fence: Fence },
  ) {
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.watchIdleTimeoutMs = opts.watchIdleTimeoutMs ?? 90_000;
    this.dispatcherTtlMs = opts.dispatcherTtlMs ?? 600_000;
    this.pool = shared?.pool ?? {};
    this.fence = shared?.fence;
  }

  /**
   * A view sharing this client's connections whose requests run fence.check() right before they are
   * sent and are cancelled when fence.signal aborts.
   */
  fenced(fence: Fence): RestKubeClient {
    const outer = this.fence;
    const combined: Fence = outer
      ? {
          signal: AbortSignal.any([outer.signal, fence.signal]),
          check: () => {
            outer.check();
            fence.check();
          },
        }
      : fence;
    return new RestKubeClient(this.kc, this.opts, { pool: this.pool, fence: combined });
  }

  async get<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    try {
      return (await this.request('GET', resourcePath(type, namespace, name))) as T;
    } catch (err) {
      if (err instanceof KubeApiError && err.isNotFound) return undefined;
      throw err;
    }
  }

  async list<T extends KubeObject>(type: ResourceType, opts: ListOptions = {}): Promise<ListResult<T>> {
    const body = (await this.request('GET', resourcePath(type, opts.namespace), {
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      limit: opts.limit,
      continue: opts.continue,
      resourceVersion: opts.resourceVersion,
    })) as { items?: T[]; metadata?: { resourceVersion?: string; continue?: string } };
    // LIST items carry no apiVersion/kind; fill them in so callers can treat them like GET results.
    const items = (body.items ?? []).map((item) => ({
      apiVersion: apiVersionOf(type),
      kind: type.kind,
      ...item,
    }));
    const result: ListResult<T> = { items, resourceVersion: body.metadata?.resourceVersion ?? '' };
    if (body.metadata?.continue) result.continue = body.metadata.continue;
    return result;
  }

  async create<T extends KubeObject>(
    type: ResourceType,
    obj: T,
    opts: { dryRun?: boolean } = {},
  ): Promise<T> {
    const path = resourcePath(type, obj.metadata.namespace);
    return (await this.request(
      'POST',
      path,
      this.writeQuery(opts.dryRun),
      this.withTypeMeta(type, obj),
    )) as T;
  }

  async replace<T extends KubeObject>(
    type: ResourceType,
    obj: T,
    opts: { subresource?: 'status' } = {},
  ): Promise<T> {
    const name = obj.metadata.name;
    if (!name) throw new Error(`replace ${type.kind}: metadata.name is required`);
    const path = resourcePath(type, obj.metadata.namespace, name, opts.subresource);
    return (await this.request('PUT', path, this.writeQuery(), this.withTypeMeta(type, obj))) as T;
  }

  async patch<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    patchType: PatchType,
    opts: PatchOptions = {},
  ): Promise<T> {
    const fieldManager = opts.fieldManager ?? this.opts.fieldManager;
    if (patchType === 'apply' && !fieldManager) throw new Error('server-side apply requires a fieldManager');
    const query: Query = { ...this.writeQuery(opts.dryRun, fieldManager) };
    if (patchType === 'apply' && opts.force) query.force = true;
    const path = resourcePath(type, namespace, name, opts.subresource);
    return (await this.request('PATCH', path, query, patch, PATCH_CONTENT_TYPES[patchType])) as T;
  }

  async delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<boolean> {
    const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
    if (opts.uid || opts.resourceVersion) {
      body.preconditions = {
        ...(opts.uid ? { uid: opts.uid } : {}),
        ...(opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : {}),
      };
    }
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.dryRun) body.dryRun = ['All'];
    try {
      await this.request('DELETE', resourcePath(type, namespace, name), this.writeQuery(opts.dryRun), body);
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.isNotFound) return false;
      throw err;
    }
  }

  async evict(namespace: string, name: string, opts: { uid?: string; dryRun?: boolean } = {}): Promise<void> {
    const deleteOptions: Record<string, unknown> = {};
    if (opts.uid) deleteOptions.preconditions = { uid: opts.uid };
    if (opts.dryRun) deleteOptions.dryRun = ['All'];
    const body = {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name, namespace },
      ...(Object.keys(deleteOptions).length ? { deleteOptions } : {}),
    };
    const path = resourcePath(
      { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
      namespace,
      name,
      'eviction',
    );
    // A 429 (PodDisruptionBudget would be violated) surfaces as KubeApiError status 429.
    await this.request('POST', path, this.writeQuery(opts.dryRun), body);
  }

  async watch<T extends KubeObject>(
    type: ResourceType,
    opts: WatchOptions,
    onEvent: (type: WatchEventType, obj: T) => void,
  ): Promise<WatchHandle> {
    const path = resourcePath(type, opts.namespace);
    const w = new Watch(this.kc);
    // Watch's inactivity timer is private (30 s in 2.0.1); widen it past the ~60 s bookmark period.
    (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = this.watchIdleTimeoutMs;
    let settled = false;
    let abortedByUs = false;
    const stream: { controller?: AbortController } = {}; // set once Watch has connected
    let resolveDone!: () => void;
    let rejectDone!: (err: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      resolveDone = () => {
        if (settled) return;
        settled = true;
        resolve();
      };
      rejectDone = (err) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
    });
    done.catch(() => undefined); // callers may attach late; never an unhandled rejection
    const query: Query = {
      resourceVersion: opts.resourceVersion || undefined,
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      timeoutSeconds: opts.timeoutSeconds,
      allowWatchBookmarks: opts.allowWatchBookmarks || undefined,
    };
    // Watch requests cluster.server + path: with a trailing slash in the kubeconfig server URL that
    // would become "//api/v1/…", so drop our leading slash in that case.
    const server = this.kc.getCurrentCluster()?.server ?? '';
    stream.controller = await w.watch(
      server.endsWith('/') ? path.slice(1) : path,
      query,
      (phase, obj) => {
        if (settled) return;
        if (phase === 'ERROR') {
          // The stream carries a metav1.Status (410 Expired/Gone when the resourceVersion is too old).
          const status = obj as { code?: number; message?: string; reason?: string };
          onEvent('ERROR', obj as T);
          rejectDone(toKubeApiError(status.code ?? 500, status, `watch ${path}: ERROR event`));
          abortedByUs = true;
          stream.controller?.abort();
          return;
        }
        onEvent(phase as WatchEventType, obj as T);
      },
      (err: unknown) => {
        if (!err || abortedByUs) return resolveDone();
        const e = err as { name?: string; statusCode?: number; message?: string };
        if (e.name === 'TimeoutError') return resolveDone(); // idle connection cut: resume from last RV
        if (typeof e.statusCode === 'number') {
          return rejectDone(
            toKubeApiError(
              e.statusCode,
              undefined,
              `watch ${path}: HTTP ${e.statusCode} ${e.message ?? ''}`.trim(),
            ),
          );
        }
        rejectDone(err);
      },
    );
    if (settled) stream.controller.abort(); // an ERROR/close raced the return of watch()
    return {
      done,
      abort: () => {
        abortedByUs = true;
        stream.controller?.abort();
        resolveDone();
      },
    };
  }

  /** Closes the pooled connections (graceful shutdown). */
  async close(): Promise<void> {
    const d = this.pool.dispatcher?.value;
    this.pool.dispatcher = undefined;
    await d?.close();
  }

  // ---- plumbing ----

  private writeQuery(dryRun?: boolean, fieldManager = this.opts.fieldManager): Query {
    return { dryRun: dryRun ? 'All' : undefined, fieldManager };
  }

  private withTypeMeta<T extends KubeObject>(type: ResourceType, obj: T): T {
    return { ...obj, apiVersion: obj.apiVersion ?? apiVersionOf(type), kind: obj.kind ?? type.kind };
  }

  /**
   * client-node 2.0.1 builds a new undici Agent on every applySecurityAuthentication call, i.e. a new
   * TLS connection per request. We keep the first one as a pool and rebuild it every dispatcherTtlMs.
   */
  private pooledDispatcher(fresh: Dispatcher | undefined): Dispatcher | undefined {
    const now = Date.now();
    const pool = this.pool;
    if (!pool.dispatcher || now - pool.dispatcher.createdAt > this.dispatcherTtlMs) {
      const old = pool.dispatcher?.value;
      pool.dispatcher = { value: fresh, createdAt: now };
      if (old && old !== fresh) void old.close().catch(() => undefined); // waits for in-flight requests
    } else if (fresh && fresh !== pool.dispatcher.value) {
      void fresh.close().catch(() => undefined); // unused: holds no sockets, close for tidiness
    }
    return pool.dispatcher.value;
  }

  private async request(
    method: keyof typeof HttpMethod,
    path: string,
    query: Query = {},
    body?: unknown,
    contentType = 'application/json',
  ): Promise<unknown> {
    this.fence?.check();
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(query))
      if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    const ctx = new RequestContext(url.toString(), HttpMethod[method]);
    await this.kc.applySecurityAuthentication(ctx); // Authorization header, client certs, CA
    const headers: Record<string, string> = { ...ctx.getHeaders(), Accept: 'application/json' };
    if (this.opts.userAgent) headers['User-Agent'] = this.opts.userAgent;
    if (body !== undefined) headers['Content-Type'] = contentType;
    this.fence?.check(); // again: authentication may have awaited (a token file read)
    const res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher: this.pooledDispatcher(ctx.getDispatcher() as Dispatcher | undefined),
      signal: this.fence
        ? AbortSignal.any([this.fence.signal, AbortSignal.timeout(this.requestTimeoutMs)])
        : AbortSignal.timeout(this.requestTimeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = undefined;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (!res.ok)
      throw toKubeApiError(res.status, parsed, `${method} ${url.pathname}: ${res.status} ${res.statusText}`);
    return parsed;
  }
}

export function createKubeClient(kc: KubeConfig, opts?: KubeClientOptions): RestKubeClient {
  return new RestKubeClient(kc, opts);
}
