// An in-memory KubeClient for controller unit tests. It models the API-server behaviour
// controllers depend on, simply but honestly:
// - one cluster-wide, monotonically increasing resourceVersion; 409 on a stale resourceVersion
//   (replace, or a merge patch that carries metadata.resourceVersion);
// - generation bumps on spec (non-metadata, non-status) changes, never on status writes;
// - a status subresource: main writes keep the stored status, /status writes change only status;
// - delete with uid/resourceVersion preconditions; finalizers and pod grace periods set
//   deletionTimestamp instead of deleting; removing the last finalizer then deletes;
// - watch with resourceVersion resume, synthetic ADDED for "from now", 410 after compact(),
//   bookmarks on demand, selector transitions turning into ADDED/DELETED;
// - label selectors (equality, set-based, existence) and simple field selectors;
// - failure injection (failNext) and an eviction hook.
// Server-side apply is approximated as "create if absent, else merge patch" (no field ownership).
import { randomUUID } from 'node:crypto';
import {
  KubeApiError,
  apiVersionOf,
  type DeleteOptions,
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
} from '../../src/kube/port.js';
import {
  applyJsonPatch,
  applyMergePatch,
  deepEqual,
  PatchError,
  type JsonPatchOp,
} from '../../src/kube/patchutil.js';
import { rfc3339 } from '../../src/kube/time.js';

export type FakeMethod = 'get' | 'list' | 'watch' | 'create' | 'replace' | 'patch' | 'delete' | 'evict';

export interface FakeCall {
  method: FakeMethod;
  type?: string;
  namespace?: string;
  name?: string;
  patchType?: PatchType;
  subresource?: string;
  opts?: unknown;
  body?: unknown;
}

export interface FakeKubeOptions {
  /** Plurals without a status subresource. Default: secrets, configmaps, leases, events, controllerrevisions, serviceaccounts. */
  noStatusSubresource?: string[];
  /** Pods deleted with a grace period > 0 linger with deletionTimestamp until completePodTermination(). Default true. */
  gracefulPodDeletion?: boolean;
  /** Wall clock for timestamps. */
  now?: () => number;
}

export type EvictHook = (
  namespace: string,
  name: string,
  opts: { uid?: string; dryRun?: boolean },
) => void | Promise<void>;

interface HistoryEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  obj: KubeObject;
  prev?: KubeObject;
}

interface Watcher {
  type: ResourceType;
  opts: WatchOptions;
  onEvent: (type: WatchEventType, obj: KubeObject) => void;
  queue: Array<[WatchEventType, KubeObject]>;
  scheduled: boolean;
  closed: boolean;
  finish: (err?: unknown) => void;
  timer?: NodeJS.Timeout;
}

function status(code: number, reason: string, message: string): KubeApiError {
  return new KubeApiError(code, message, reason, {
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    message,
    reason,
    code,
  });
}

export function notFound(type: ResourceType, name: string): KubeApiError {
  return status(404, 'NotFound', `${type.plural} "${name}" not found`);
}

export function conflict(
  type: ResourceType,
  name: string,
  why = 'the object has been modified; please apply your changes to the latest version and try again',
): KubeApiError {
  return status(409, 'Conflict', `Operation cannot be fulfilled on ${type.plural} "${name}": ${why}`);
}

export function tooManyRequests(
  message = "Cannot evict pod as it would violate the pod's disruption budget.",
): KubeApiError {
  return status(429, 'TooManyRequests', message);
}

function typeKey(t: ResourceType): string {
  return `${t.group}/${t.version}/${t.plural}`;
}

function objKey(ns: string | undefined, name: string): string {
  return `${ns ?? ''}/${name}`;
}

const clone = <T>(v: T): T => structuredClone(v);

// ---- selectors ----

type LabelRequirement = (labels: Record<string, string>) => boolean;

/** Parses a label selector: a=b, a==b, a!=b, a in (x,y), a notin (x), a, !a. */
export function parseLabelSelector(selector: string | undefined): LabelRequirement {
  if (!selector?.trim()) return () => true;
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  const reqs: LabelRequirement[] = parts.map((raw) => {
    const p = raw.trim();
    let m: RegExpMatchArray | null;
    if ((m = p.match(/^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      const [, key, op, list] = m as unknown as [string, string, string, string];
      const values = new Set(list.split(',').map((v) => v.trim()));
      return op === 'in'
        ? (l) => key in l && values.has(l[key]!)
        : (l) => !(key in l) || !values.has(l[key]!);
    }
    if ((m = p.match(/^([^\s!=]+)\s*(==|=|!=)\s*(\S*)$/))) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
    }
    if ((m = p.match(/^!\s*(\S+)$/))) {
      const key = m[1]!;
      return (l) => !(key in l);
    }
    if (/^\S+$/.test(p)) return (l) => p in l;
    throw status(400, 'BadRequest', `unable to parse requirement: "${p}"`);
  });
  return (labels) => reqs.every((r) => r(labels));
}

/** Field selectors: comma-separated path=value / path!=value on dotted paths (metadata.name, spec.nodeName, …). */
export function parseFieldSelector(selector: string | undefined): (obj: KubeObject) => boolean {
  if (!selector?.trim()) return () => true;
  const reqs = selector.split(',').map((raw) => {
    const m = raw.trim().match(/^([^!=]+)(==|=|!=)(.*)$/);
    if (!m) throw status(400, 'BadRequest', `invalid field selector: "${raw}"`);
    const [, path, op, value] = m as unknown as [string, string, string, string];
    return (obj: KubeObject) => {
      let v: unknown = obj;
      for (const seg of path.split('.'))
        v = v && typeof v === 'object' ? (v as Record<string, unknown>)[seg] : undefined;
      const s = v === undefined || v === null ? '' : String(v);
      return op === '!=' ? s !== value : s === value;
    };
  });
  return (obj) => reqs.every((r) => r(obj));
}

// ---- the fake ----

export class FakeKube implements KubeClient {
  readonly calls: FakeCall[] = [];
  /** Called for evict(); default behaviour (when unset) deletes the pod like the API server. */
  evictHook: EvictHook | undefined;
  private readonly store = new Map<string, Map<string, KubeObject>>();
  private readonly history = new Map<string, HistoryEvent[]>();
  private readonly compactedRV = new Map<string, number>();
  private readonly watchers = new Set<Watcher>();
  private readonly failures = new Map<FakeMethod, Array<Error | ((call: FakeCall) => Error | undefined)>>();
  private readonly noStatus: Set<string>;
  private readonly gracefulPods: boolean;
  private readonly now: () => number;
  private rv = 1000;

  constructor(opts: FakeKubeOptions = {}) {
    this.noStatus = new Set(
      opts.noStatusSubresource ?? [
        'secrets',
        'configmaps',
        'leases',
        'events',
        'controllerrevisions',
        'serviceaccounts',
      ],
    );
    this.gracefulPods = opts.gracefulPodDeletion ?? true;
    this.now = opts.now ?? Date.now;
  }

  // ---- test helpers ----

  /** The next `times` calls of `method` fail with `error` (a function may decide per call; undefined = pass). */
  failNext(method: FakeMethod, error: Error | ((call: FakeCall) => Error | undefined), times = 1): void {
    const list = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i++) list.push(error);
    this.failures.set(method, list);
  }

  /** Drops pending failNext injections (of one method, or all). */
  clearFailures(method?: FakeMethod): void {
    if (method) this.failures.delete(method);
    else this.failures.clear();
  }

  /** Recorded calls of one method. */
  callsOf(method: FakeMethod): FakeCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Stores an object, status included, as if it already existed (watchers see ADDED); returns the stored copy. */
  seed<T extends KubeObject>(type: ResourceType, obj: T): T {
    return this.doCreate(type, clone(obj), true, true);
  }

  /** Current objects of a type (optionally one namespace), as copies. */
  objects<T extends KubeObject>(type: ResourceType, namespace?: string): T[] {
    return [...this.bucket(type).values()]
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .map((o) => clone(o) as T);
  }

  /** Synchronous read for assertions. */
  peek<T extends KubeObject>(type: ResourceType, namespace: string | undefined, name: string): T | undefined {
    const o = this.bucket(type).get(objKey(type.namespaced ? namespace : undefined, name));
    return o ? (clone(o) as T) : undefined;
  }

  get currentResourceVersion(): string {
    return String(this.rv);
  }

  /** Forget history up to now: watches from an older resourceVersion get ERROR 410 Expired. */
  compact(type: ResourceType): void {
    this.compactedRV.set(typeKey(type), this.rv);
    this.history.set(typeKey(type), []);
  }

  /** Sends a BOOKMARK with the current resourceVersion to watchers that allowed bookmarks. */
  bookmark(type: ResourceType): void {
    const obj = {
      apiVersion: apiVersionOf(type),
      kind: type.kind,
      metadata: { resourceVersion: String(this.rv) },
    };
    for (const w of this.watchersOf(type)) if (w.opts.allowWatchBookmarks) this.push(w, 'BOOKMARK', obj);
  }

  /** Sends an ERROR event carrying a Status to watchers of type; the stream then ends with that error. */
  watchError(type: ResourceType, code = 410, reason = 'Expired', message = 'too old resource version'): void {
    const st = { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message };
    for (const w of this.watchersOf(type)) {
      this.push(w, 'ERROR', st as unknown as KubeObject);
      this.afterFlush(() => w.finish(new KubeApiError(code, message, reason, st)));
    }
  }

  /** Ends watches of type (all when omitted): cleanly, or with a (network) error. */
  closeWatches(type?: ResourceType, err?: Error): void {
    for (const w of [...this.watchers])
      if (!type || typeKey(w.type) === typeKey(type)) this.afterFlush(() => w.finish(err));
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Plays the kubelet: a terminating pod is removed for good. */
  completePodTermination(namespace: string, name: string): void {
    const type = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
    const cur = this.bucket(type).get(objKey(namespace, name));
    if (cur?.metadata.deletionTimestamp && !(cur.metadata.finalizers ?? []).length) this.remove(type, cur);
  }

  // ---- KubeClient ----

  async get<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    this.begin({ method: 'get', type: typeKey(type), namespace, name });
    return this.peek<T>(type, namespace, name);
  }

  async list<T extends KubeObject>(type: ResourceType, opts: ListOptions = {}): Promise<ListResult<T>> {
    this.begin({ method: 'list', type: typeKey(type), namespace: opts.namespace, opts });
    const match = this.matcher(opts);
    let snapshotRV = this.rv;
    let offset = 0;
    if (opts.continue) {
      const token = JSON.parse(Buffer.from(opts.continue, 'base64').toString()) as {
        rv: number;
        offset: number;
      };
      snapshotRV = token.rv;
      offset = token.offset;
      if (snapshotRV < (this.compactedRV.get(typeKey(type)) ?? 0)) {
        throw status(
          410,
          'Expired',
          'The provided continue parameter is too old to display a consistent list result.',
        );
      }
    }
    const all = [...this.bucket(type).values()]
      .filter(
        (o) => (!opts.namespace || !type.namespaced || o.metadata.namespace === opts.namespace) && match(o),
      )
      .sort((a, b) =>
        objKey(a.metadata.namespace, a.metadata.name!).localeCompare(
          objKey(b.metadata.namespace, b.metadata.name!),
        ),
      );
    const end = opts.limit ? offset + opts.limit : all.length;
    const items = all.slice(offset, end).map((o) => clone(o) as T);
    const result: ListResult<T> = { items, resourceVersion: String(snapshotRV) };
    if (end < all.length)
      result.continue = Buffer.from(JSON.stringify({ rv: snapshotRV, offset: end })).toString('base64');
    return result;
  }

  async watch<T extends KubeObject>(
    type: ResourceType,
    opts: WatchOptions,
    onEvent: (type: WatchEventType, obj: T) => void,
  ): Promise<WatchHandle> {
    this.begin({ method: 'watch', type: typeKey(type), namespace: opts.namespace, opts });
    const match = this.matcher(opts);
    let finish!: (err?: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      finish = (err?: unknown) => {
        if (w.closed) return;
        w.closed = true;
        clearTimeout(w.timer);
        this.watchers.delete(w);
        if (err) reject(err);
        else resolve();
      };
    });
    done.catch(() => undefined);
    const w: Watcher = {
      type,
      opts,
      onEvent: onEvent as (t: WatchEventType, o: KubeObject) => void,
      queue: [],
      scheduled: false,
      closed: false,
      finish: (err) => finish(err),
    };
    this.watchers.add(w);
    if (opts.timeoutSeconds) {
      w.timer = setTimeout(() => w.finish(), opts.timeoutSeconds * 1000);
      w.timer.unref?.();
    }
    const from = opts.resourceVersion ? Number(opts.resourceVersion) : 0;
    if (!from) {
      // "Start at most recent": synthetic ADDED for everything that exists now.
      for (const o of this.bucket(type).values()) {
        if ((!opts.namespace || o.metadata.namespace === opts.namespace) && match(o))
          this.push(w, 'ADDED', o);
      }
    } else if (from < (this.compactedRV.get(typeKey(type)) ?? 0)) {
      const st = {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        code: 410,
        reason: 'Expired',
        message: `too old resource version: ${from}`,
      };
      this.push(w, 'ERROR', st as unknown as KubeObject);
      this.afterFlush(() => w.finish(new KubeApiError(410, st.message, 'Expired', st)));
    } else {
      for (const ev of this.history.get(typeKey(type)) ?? []) if (ev.rv > from) this.deliver(w, ev);
    }
    return { done, abort: () => w.finish() };
  }

  async create<T extends KubeObject>(
    type: ResourceType,
    obj: T,
    opts: { dryRun?: boolean } = {},
  ): Promise<T> {
    this.begin({
      method: 'create',
      type: typeKey(type),
      namespace: obj.metadata.namespace,
      name: obj.metadata.name,
      body: obj,
      opts,
    });
    return this.doCreate(type, clone(obj), !opts.dryRun);
  }

  async replace<T extends KubeObject>(
    type: ResourceType,
    obj: T,
    opts: { subresource?: 'status' } = {},
  ): Promise<T> {
    const { namespace, name } = obj.metadata;
    this.begin({
      method: 'replace',
      type: typeKey(type),
      namespace,
      name,
      subresource: opts.subresource,
      body: obj,
    });
    const cur = this.mustGet(type, namespace, name ?? '');
    this.checkPreconditions(type, cur, obj.metadata.resourceVersion, obj.metadata.uid);
    return this.write(type, cur, clone(obj), opts.subresource === 'status') as T;
  }

  async patch<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    patchType: PatchType,
    opts: PatchOptions = {},
  ): Promise<T> {
    this.begin({
      method: 'patch',
      type: typeKey(type),
      namespace,
      name,
      patchType,
      subresource: opts.subresource,
      body: patch,
      opts,
    });
    const ns = type.namespaced ? namespace : undefined;
    let cur = this.bucket(type).get(objKey(ns, name));
    if (!cur && patchType === 'apply' && !opts.subresource) {
      return this.doCreate(
        type,
        { ...(clone(patch) as T), metadata: { ...(patch as T).metadata, name, namespace: ns } },
        !opts.dryRun,
      );
    }
    if (!cur) throw notFound(type, name);
    if (patchType === 'apply' && !opts.fieldManager)
      throw status(400, 'BadRequest', 'PATCH requests with apply require a fieldManager');
    let next: KubeObject;
    try {
      next = (
        patchType === 'json' ? applyJsonPatch(cur, patch as JsonPatchOp[]) : applyMergePatch(cur, patch)
      ) as KubeObject;
    } catch (err) {
      if (err instanceof PatchError) throw status(422, 'Invalid', err.message);
      throw err;
    }
    // A resourceVersion in the patch is a precondition (optimistic concurrency).
    const patchedRV = next.metadata?.resourceVersion;
    if (patchedRV !== cur.metadata.resourceVersion) {
      this.checkPreconditions(type, cur, patchedRV, undefined);
    }
    if (opts.dryRun) return clone(next) as T;
    cur = this.bucket(type).get(objKey(ns, name))!;
    return this.write(type, cur, next, opts.subresource === 'status') as T;
  }

  async delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<boolean> {
    this.begin({ method: 'delete', type: typeKey(type), namespace, name, opts });
    const cur = this.bucket(type).get(objKey(type.namespaced ? namespace : undefined, name));
    if (!cur) return false;
    if (opts.uid && opts.uid !== cur.metadata.uid) {
      throw conflict(
        type,
        name,
        `Precondition failed: UID in precondition: ${opts.uid}, UID in object meta: ${cur.metadata.uid}`,
      );
    }
    if (opts.resourceVersion && opts.resourceVersion !== cur.metadata.resourceVersion) {
      throw conflict(
        type,
        name,
        `Precondition failed: ResourceVersion in precondition: ${opts.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`,
      );
    }
    if (opts.dryRun) return true;
    const finalizers = cur.metadata.finalizers ?? [];
    const grace = this.graceSeconds(type, cur, opts);
    if (!finalizers.length && grace === 0) {
      this.remove(type, cur);
      return true;
    }
    if (cur.metadata.deletionTimestamp) return true; // already terminating
    const next = clone(cur);
    next.metadata.deletionTimestamp = rfc3339(this.now() + grace * 1000);
    next.metadata.deletionGracePeriodSeconds = grace;
    if (next.metadata.generation) next.metadata.generation++; // as rest.BeforeDelete does
    this.commit(type, cur, next);
    return true;
  }

  async evict(namespace: string, name: string, opts: { uid?: string; dryRun?: boolean } = {}): Promise<void> {
    this.begin({ method: 'evict', namespace, name, opts });
    const pods = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
    const cur = this.bucket(pods).get(objKey(namespace, name));
    if (!cur) throw notFound(pods, name);
    if (opts.uid && opts.uid !== cur.metadata.uid)
      throw conflict(pods, name, 'Precondition failed: UID mismatch');
    if (this.evictHook) await this.evictHook(namespace, name, opts);
    if (!opts.dryRun) await this.delete(pods, namespace, name, opts.uid ? { uid: opts.uid } : {});
  }

  // ---- internals ----

  private begin(call: FakeCall): void {
    this.calls.push(call);
    const queue = this.failures.get(call.method);
    if (!queue?.length) return;
    const next = queue.shift()!;
    const err = typeof next === 'function' ? next(call) : next;
    if (err) throw err;
  }

  private bucket(type: ResourceType): Map<string, KubeObject> {
    let b = this.store.get(typeKey(type));
    if (!b) this.store.set(typeKey(type), (b = new Map()));
    return b;
  }

  private mustGet(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const cur = this.bucket(type).get(objKey(type.namespaced ? namespace : undefined, name));
    if (!cur) throw notFound(type, name);
    return cur;
  }

  private matcher(opts: { labelSelector?: string; fieldSelector?: string }): (o: KubeObject) => boolean {
    const labels = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(opts.fieldSelector);
    return (o) => labels(o.metadata.labels ?? {}) && fields(o);
  }

  private hasStatus(type: ResourceType): boolean {
    return !this.noStatus.has(type.plural);
  }

  private graceSeconds(type: ResourceType, cur: KubeObject, opts: DeleteOptions): number {
    if (type.plural !== 'pods' || !this.gracefulPods) return 0;
    if (opts.gracePeriodSeconds !== undefined) return opts.gracePeriodSeconds;
    const spec = cur.spec as { terminationGracePeriodSeconds?: number } | undefined;
    return spec?.terminationGracePeriodSeconds ?? 30;
  }

  private checkPreconditions(
    type: ResourceType,
    cur: KubeObject,
    rv: string | undefined,
    uid: string | undefined,
  ): void {
    const name = cur.metadata.name ?? '';
    if (uid && uid !== cur.metadata.uid)
      throw conflict(
        type,
        name,
        `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${cur.metadata.uid}`,
      );
    if (rv && rv !== cur.metadata.resourceVersion) throw conflict(type, name);
  }

  private doCreate<T extends KubeObject>(
    type: ResourceType,
    obj: T,
    persist: boolean,
    keepStatus = false,
  ): T {
    const meta = obj.metadata ?? {};
    if (!meta.name && meta.generateName)
      meta.name = meta.generateName + Math.random().toString(36).slice(2, 7);
    if (!meta.name) throw status(422, 'Invalid', `${type.kind} is invalid: metadata.name: Required value`);
    if (type.namespaced && !meta.namespace)
      throw status(422, 'Invalid', `${type.kind} ${meta.name}: metadata.namespace: Required value`);
    if (!type.namespaced) delete meta.namespace;
    const key = objKey(meta.namespace, meta.name);
    if (this.bucket(type).has(key))
      throw status(409, 'AlreadyExists', `${type.plural} "${meta.name}" already exists`);
    if (meta.resourceVersion)
      throw status(422, 'Invalid', 'resourceVersion should not be set on objects to be created');
    const stored = {
      ...obj,
      apiVersion: apiVersionOf(type),
      kind: type.kind,
      metadata: {
        ...meta,
        uid: randomUUID(),
        creationTimestamp: rfc3339(this.now()),
        generation: 1,
      },
    } as T;
    delete stored.metadata.deletionTimestamp;
    // With a status subresource the API server ignores status on create (strategy PrepareForCreate).
    if (!keepStatus && this.hasStatus(type) && type.plural !== 'pods') delete (stored as KubeObject).status;
    if (!persist)
      return clone({ ...stored, metadata: { ...stored.metadata, resourceVersion: String(this.rv) } });
    stored.metadata.resourceVersion = String(++this.rv);
    this.bucket(type).set(key, stored);
    this.record(type, { rv: this.rv, type: 'ADDED', obj: stored });
    return clone(stored);
  }

  /** Applies a main-resource or /status write the way the API server's strategies do. */
  private write(type: ResourceType, cur: KubeObject, incoming: KubeObject, statusWrite: boolean): KubeObject {
    const next: KubeObject = statusWrite
      ? { ...clone(cur), status: incoming.status } // /status: only status changes
      : { ...incoming, ...(this.hasStatus(type) ? { status: clone(cur.status) } : {}) };
    if (next.status === undefined) delete next.status;
    // Server-owned metadata cannot be changed by clients.
    next.apiVersion = apiVersionOf(type);
    next.kind = type.kind;
    next.metadata = {
      ...(statusWrite ? cur.metadata : incoming.metadata),
      name: cur.metadata.name,
      uid: cur.metadata.uid,
      creationTimestamp: cur.metadata.creationTimestamp,
      generation: cur.metadata.generation,
      resourceVersion: cur.metadata.resourceVersion,
    };
    if (cur.metadata.namespace) next.metadata.namespace = cur.metadata.namespace;
    if (cur.metadata.deletionTimestamp) {
      next.metadata.deletionTimestamp = cur.metadata.deletionTimestamp;
      next.metadata.deletionGracePeriodSeconds = cur.metadata.deletionGracePeriodSeconds;
    } else {
      delete next.metadata.deletionTimestamp;
      delete next.metadata.deletionGracePeriodSeconds;
    }
    if (!statusWrite && cur.metadata.deletionTimestamp) {
      // Finalizers may only be removed once deletion started.
      const added = (next.metadata.finalizers ?? []).filter(
        (f) => !(cur.metadata.finalizers ?? []).includes(f),
      );
      if (added.length)
        throw status(
          422,
          'Invalid',
          `metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted`,
        );
    }
    if (!statusWrite && specChanged(cur, next)) next.metadata.generation = (cur.metadata.generation ?? 0) + 1;
    if (deepEqual(cur, next)) return clone(cur); // a no-op write does not bump resourceVersion
    if (
      next.metadata.deletionTimestamp &&
      !(next.metadata.finalizers ?? []).length &&
      !this.lingers(type, next)
    ) {
      next.metadata.resourceVersion = cur.metadata.resourceVersion;
      this.remove(type, next);
      return clone(next);
    }
    return this.commit(type, cur, next);
  }

  /** A terminating pod with a grace period stays until the "kubelet" finishes it. */
  private lingers(type: ResourceType, obj: KubeObject): boolean {
    return type.plural === 'pods' && this.gracefulPods && (obj.metadata.deletionGracePeriodSeconds ?? 0) > 0;
  }

  private commit(type: ResourceType, cur: KubeObject, next: KubeObject): KubeObject {
    next.metadata.resourceVersion = String(++this.rv);
    this.bucket(type).set(objKey(next.metadata.namespace, next.metadata.name!), next);
    this.record(type, { rv: this.rv, type: 'MODIFIED', obj: next, prev: cur });
    return clone(next);
  }

  private remove(type: ResourceType, cur: KubeObject): void {
    this.bucket(type).delete(objKey(cur.metadata.namespace, cur.metadata.name!));
    const gone = clone(cur);
    gone.metadata.resourceVersion = String(++this.rv);
    this.record(type, { rv: this.rv, type: 'DELETED', obj: gone });
  }

  private record(type: ResourceType, ev: HistoryEvent): void {
    const h = this.history.get(typeKey(type)) ?? [];
    h.push(ev);
    this.history.set(typeKey(type), h);
    for (const w of this.watchersOf(type)) this.deliver(w, ev);
  }

  private watchersOf(type: ResourceType): Watcher[] {
    return [...this.watchers].filter((w) => typeKey(w.type) === typeKey(type));
  }

  /** Translates a change into what this watcher sees, honouring namespace and selectors. */
  private deliver(w: Watcher, ev: HistoryEvent): void {
    const inScope = (o: KubeObject | undefined) =>
      !!o && (!w.opts.namespace || o.metadata.namespace === w.opts.namespace) && this.matcher(w.opts)(o);
    const now = inScope(ev.obj);
    if (ev.type !== 'MODIFIED') {
      if (now) this.push(w, ev.type, ev.obj);
      return;
    }
    const before = inScope(ev.prev);
    if (now && before) this.push(w, 'MODIFIED', ev.obj);
    else if (now) this.push(w, 'ADDED', ev.obj);
    else if (before) this.push(w, 'DELETED', ev.obj);
  }

  /** Events are delivered asynchronously (in order), like a real stream: no re-entrancy into writers. */
  private push(w: Watcher, type: WatchEventType, obj: KubeObject): void {
    if (w.closed) return;
    w.queue.push([type, clone(obj)]);
    if (w.scheduled) return;
    w.scheduled = true;
    queueMicrotask(() => {
      w.scheduled = false;
      for (let item = w.queue.shift(); item && !w.closed; item = w.queue.shift()) {
        try {
          w.onEvent(item[0], item[1]);
        } catch {
          // a consumer's exception does not break the stream
        }
      }
    });
  }

  /** Runs fn after already-queued events were delivered. */
  private afterFlush(fn: () => void): void {
    queueMicrotask(() => queueMicrotask(fn));
  }
}

/** Spec = everything but metadata and status (apiVersion/kind never change). */
function specChanged(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => {
    const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
    return rest;
  };
  return !deepEqual(strip(a), strip(b));
}
