// The small port through which every controller talks to Kubernetes. client.ts implements it
// over undici (kubeconfig.ts: where the API server is, how to authenticate); test/support/fake-kube.ts implements it in memory for unit tests.

/** Identifies a REST resource. Core group is ''. */
export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export const Resources = {
  pods: { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  nodes: { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false },
  secrets: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true },
  namespaces: { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  persistentvolumeclaims: {
    group: '',
    version: 'v1',
    plural: 'persistentvolumeclaims',
    kind: 'PersistentVolumeClaim',
    namespaced: true,
  },
  persistentvolumes: {
    group: '',
    version: 'v1',
    plural: 'persistentvolumes',
    kind: 'PersistentVolume',
    namespaced: false,
  },
  statefulsets: {
    group: 'apps',
    version: 'v1',
    plural: 'statefulsets',
    kind: 'StatefulSet',
    namespaced: true,
  },
  controllerrevisions: {
    group: 'apps',
    version: 'v1',
    plural: 'controllerrevisions',
    kind: 'ControllerRevision',
    namespaced: true,
  },
  leases: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true },
  events: { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
  validatingwebhookconfigurations: {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    plural: 'validatingwebhookconfigurations',
    kind: 'ValidatingWebhookConfiguration',
    namespaced: false,
  },
  poddisruptionbudgets: {
    group: 'policy',
    version: 'v1',
    plural: 'poddisruptionbudgets',
    kind: 'PodDisruptionBudget',
    namespaced: true,
  },
  selfsubjectreviews: {
    group: 'authentication.k8s.io',
    version: 'v1',
    plural: 'selfsubjectreviews',
    kind: 'SelfSubjectReview',
    namespaced: false,
  },
  capturedrains: {
    group: 'drain.ticdc.io',
    version: 'v1alpha1',
    plural: 'capturedrains',
    kind: 'CaptureDrain',
    namespaced: true,
  },
} as const satisfies Record<string, ResourceType>;

export function apiVersionOf(t: ResourceType): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** Any Kubernetes object as plain JSON (timestamps are RFC 3339 strings, never Date). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
  continue?: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  timeoutSeconds?: number;
  allowWatchBookmarks?: boolean;
}

export interface WatchHandle {
  /** Settles when the stream ends: resolves on a clean close, rejects with KubeApiError or a network error. */
  done: Promise<void>;
  abort(): void;
}

export type PatchType = 'merge' | 'json' | 'apply';

export interface PatchOptions {
  subresource?: 'status' | 'scale';
  fieldManager?: string;
  force?: boolean;
  dryRun?: boolean;
}

export interface DeleteOptions {
  /** Precondition: delete only this incarnation. */
  uid?: string;
  resourceVersion?: string;
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  dryRun?: boolean;
}

/** An HTTP error answered by the API server. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly reason?: string,
    readonly body?: unknown,
  ) {
    super(message);
  }
  get isNotFound(): boolean {
    return this.status === 404;
  }
  get isConflict(): boolean {
    return this.status === 409;
  }
  get isGone(): boolean {
    return this.status === 410;
  }
}

export interface KubeClient {
  /** undefined when the object does not exist. */
  get<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined>;
  list<T extends KubeObject>(type: ResourceType, opts?: ListOptions): Promise<ListResult<T>>;
  watch<T extends KubeObject>(
    type: ResourceType,
    opts: WatchOptions,
    onEvent: (type: WatchEventType, obj: T) => void,
  ): Promise<WatchHandle>;
  create<T extends KubeObject>(type: ResourceType, obj: T, opts?: { dryRun?: boolean }): Promise<T>;
  /** Full replace (PUT); obj.metadata.resourceVersion makes it optimistic. */
  replace<T extends KubeObject>(type: ResourceType, obj: T, opts?: { subresource?: 'status' }): Promise<T>;
  patch<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    patchType: PatchType,
    opts?: PatchOptions,
  ): Promise<T>;
  /** Returns false when the object was already gone (404). */
  delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    opts?: DeleteOptions,
  ): Promise<boolean>;
  /** POST pods/{name}/eviction. */
  evict(namespace: string, name: string, opts?: { uid?: string; dryRun?: boolean }): Promise<void>;
  /**
   * Optional: a view whose requests (not watches) run fence.check() right before they are sent and
   * are cancelled when fence.signal aborts. fenceKubeClient (fence.ts) wraps clients without it.
   */
  fenced?(fence: Fence): KubeClient;
}

/**
 * Bounds requests to a scope, usually one leadership term: `signal` is aborted when the term ends
 * (cancelling requests in flight); check() runs synchronously right before a request is sent and
 * throws when the term is over, ending it first if its deadline already passed on the monotonic
 * clock (timers can fire late, e.g. after the process was paused).
 */
export interface Fence {
  readonly signal: AbortSignal;
  check(): void;
}
