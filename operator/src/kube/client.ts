// KubeClient over undici. One generic REST helper serves every ResourceType the same way (no
// per-type generated classes, no Date conversion: plain JSON in and out). Where the server is and how
// to authenticate comes from a KubeAccess (kubeconfig.ts: a kubeconfig file or the in-cluster
// ServiceAccount); watches are streamed newline-delimited JSON. Tokens and headers are never logged.
import { StringDecoder } from 'node:string_decoder';
import { Agent, request, type Dispatcher } from 'undici';
import type { KubeAccess } from './kubeconfig.js';
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
type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A signal that never aborts (requests without a caller's signal). */
const NEVER = new AbortController().signal;

function parseBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export class RestKubeClient implements KubeClient {
  private readonly requestTimeoutMs: number;
  private readonly watchIdleTimeoutMs: number;
  private readonly dispatcherTtlMs: number;
  /** The connection pool, shared with the views withSignal returns. */
  private readonly pool: {
    dispatcher?: { value: Dispatcher | undefined; createdAt: number };
    /** Aborts of the watches still open (close() ends them first). */
    watches?: Set<() => void>;
  };
  /** Bounds every non-watch request of this view (see fenced). */
  private readonly fence: Fence | undefined;

  constructor(
    private readonly access: KubeAccess,
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
    return new RestKubeClient(this.access, this.opts, { pool: this.pool, fence: combined });
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
    const controller = new AbortController();
    let settled = false;
    let abortedByUs = false;
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
    const abort = () => {
      abortedByUs = true;
      controller.abort();
      resolveDone();
    };
    const watches = (this.pool.watches ??= new Set());
    watches.add(abort);
    void done.finally(() => watches.delete(abort)).catch(() => undefined);
    const query: Query = {
      watch: true,
      resourceVersion: opts.resourceVersion || undefined,
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      timeoutSeconds: opts.timeoutSeconds,
      allowWatchBookmarks: opts.allowWatchBookmarks || undefined,
    };
    // A watch that receives no bytes for watchIdleTimeoutMs is cut and ends cleanly (the caller
    // resumes from its last resourceVersion).
    let idle: NodeJS.Timeout | undefined;
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        abortedByUs = true;
        controller.abort();
        resolveDone();
      }, this.watchIdleTimeoutMs);
      idle.unref?.();
    };
    let res: Dispatcher.ResponseData;
    try {
      res = await this.send('GET', path, query, undefined, 'application/json', controller.signal, false);
    } catch (err) {
      // Connection errors end the watch through done, like a stream error would.
      if (abortedByUs) resolveDone();
      else rejectDone(err);
      return { done, abort: () => undefined };
    }
    if (res.statusCode !== 200) {
      const parsed = parseBody(await res.body.text().catch(() => ''));
      rejectDone(toKubeApiError(res.statusCode, parsed, `watch ${path}: HTTP ${res.statusCode}`));
      return { done, abort: () => undefined };
    }
    armIdle();
    const decoder = new StringDecoder('utf8');
    let buffered = '';
    const deliver = (line: string) => {
      if (settled || !line.trim()) return;
      let event: { type?: string; object?: unknown };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        return; // not a watch event: skip, as client-go's decoder would fail the line
      }
      if (event.type === 'ERROR') {
        // The stream carries a metav1.Status (410 Expired/Gone when the resourceVersion is too old).
        const status = (event.object ?? {}) as { code?: number };
        onEvent('ERROR', event.object as T);
        rejectDone(toKubeApiError(status.code ?? 500, status, `watch ${path}: ERROR event`));
        abortedByUs = true;
        controller.abort();
        return;
      }
      onEvent(event.type as WatchEventType, event.object as T);
    };
    void (async () => {
      try {
        for await (const chunk of res.body) {
          armIdle();
          buffered += decoder.write(chunk as Buffer);
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            deliver(line);
          }
          if (settled) break;
        }
        deliver(buffered + decoder.end());
        resolveDone();
      } catch (err) {
        if (abortedByUs) resolveDone();
        else rejectDone(err);
      } finally {
        clearTimeout(idle);
      }
    })();
    return { done, abort };
  }

  /** Ends the open watches and closes the pooled connections (graceful shutdown). */
  async close(graceMs = 2_000): Promise<void> {
    for (const abort of [...(this.pool.watches ?? [])]) abort(); // watches end cleanly
    const d = this.pool.dispatcher?.value;
    this.pool.dispatcher = undefined;
    if (!d) return;
    // close() waits for the requests in flight: bounded, then cut.
    let timer: NodeJS.Timeout | undefined;
    const closed = d.close().then(() => true);
    const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs)));
    const done = await Promise.race([closed, late]);
    clearTimeout(timer);
    if (!done) await d.destroy().catch(() => undefined);
  }

  // ---- plumbing ----

  private writeQuery(dryRun?: boolean, fieldManager = this.opts.fieldManager): Query {
    return { dryRun: dryRun ? 'All' : undefined, fieldManager };
  }

  private withTypeMeta<T extends KubeObject>(type: ResourceType, obj: T): T {
    return { ...obj, apiVersion: obj.apiVersion ?? apiVersionOf(type), kind: obj.kind ?? type.kind };
  }

  /**
   * The connection pool, rebuilt every dispatcherTtlMs so a rotated CA or client certificate on disk
   * is picked up (the old pool finishes its in-flight requests, then closes).
   */
  private dispatcher(): Dispatcher {
    const now = Date.now();
    const pool = this.pool;
    if (!pool.dispatcher?.value || now - pool.dispatcher.createdAt > this.dispatcherTtlMs) {
      const old = pool.dispatcher?.value;
      const tls = this.access.tls();
      pool.dispatcher = {
        value: new Agent({
          connect: {
            rejectUnauthorized: tls.rejectUnauthorized,
            ...(tls.ca ? { ca: tls.ca } : {}),
            ...(tls.cert ? { cert: tls.cert } : {}),
            ...(tls.key ? { key: tls.key } : {}),
            ...(tls.servername ? { servername: tls.servername } : {}),
          },
        }),
        createdAt: now,
      };
      if (old) void old.close().catch(() => undefined); // waits for in-flight requests
    }
    return pool.dispatcher.value!;
  }

  private async send(
    method: HttpMethod,
    path: string,
    query: Query,
    body: unknown,
    contentType: string,
    signal: AbortSignal,
    bounded: boolean,
  ): Promise<Dispatcher.ResponseData> {
    if (bounded) this.fence?.check(); // watches are not fenced (they only read)
    const url = new URL(this.access.server + path);
    for (const [k, v] of Object.entries(query))
      if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { Accept: 'application/json' };
    const authorization = this.access.authorization();
    if (authorization) headers.Authorization = authorization;
    if (this.opts.userAgent) headers['User-Agent'] = this.opts.userAgent;
    if (body !== undefined) headers['Content-Type'] = contentType;
    const signals = [signal];
    if (bounded) {
      if (this.fence) signals.push(this.fence.signal);
      signals.push(AbortSignal.timeout(this.requestTimeoutMs));
    }
    return request(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher: this.dispatcher(),
      signal: signals.length === 1 ? signals[0] : AbortSignal.any(signals),
    });
  }

  private async request(
    method: HttpMethod,
    path: string,
    query: Query = {},
    body?: unknown,
    contentType = 'application/json',
  ): Promise<unknown> {
    const res = await this.send(method, path, query, body, contentType, NEVER, true);
    const parsed = parseBody(await res.body.text());
    if (res.statusCode < 200 || res.statusCode > 299)
      throw toKubeApiError(res.statusCode, parsed, `${method} ${path}: ${res.statusCode}`);
    return parsed;
  }
}

export function createKubeClient(access: KubeAccess, opts?: KubeClientOptions): RestKubeClient {
  return new RestKubeClient(access, opts);
}
