// Reconciles CaptureDrain objects through the drain state machine:
//   read (cache + pod/StatefulSet) -> resolve settings -> nextAction -> perform -> advance -> persist.
// The status written at the end of each reconcile is the only state; a restarted operator
// resumes from it. One drain at a time per TiCDC cluster (keyed by its endpoint).
import type { Logger } from 'pino';
import { CaptureDrainSchema } from '../api/capturedrain.js';
import {
  advance,
  nextAction,
  type Action,
  type DrainContext,
  type DrainEvent,
  type Outcome,
  type SlotView,
} from './machine.js';
import { isTicdcAction, performTicdcAction } from './ticdc-actions.js';
import type { ObjectKey, ReconcileContext, ReconcileResult } from '../kube/controller.js';
import { KubeApiError, Resources, type KubeClient, type KubeObject } from '../kube/port.js';
import { bindSignal } from '../kube/fence.js';
import { patchStatus } from '../kube/status.js';
import type { DrainMetrics } from '../observability/metrics.js';
import { SettingsError, resolveSettings, type DrainSettings, type OperatorDefaults } from './settings.js';
import type { TicdcClientPool } from './ticdc-clients.js';
import { holdsSlot, isTerminal } from './contract.js';
import type { Pod, StatefulSet, ObjectRef } from '../kube/objects.js';
import type { CaptureDrainObject, CaptureDrain, CaptureDrainStatus } from '../api/capturedrain.js';
import type { EventSink } from '../kube/events.js';
import { objectRef, ownerStatefulSet } from '../kube/objects.js';
import type { CaptureDrainCache } from './contract.js';
import { capturePodRefusal, specRefusal, type EndpointPattern } from './tenancy.js';

export interface CaptureDrainReconcilerDeps {
  kube: KubeClient;
  drains: CaptureDrainCache;
  clients: Pick<TicdcClientPool, 'get'>;
  events: EventSink;
  metrics?: DrainMetrics;
  defaults: OperatorDefaults;
  /** Endpoints a CaptureDrain's spec may name besides the StatefulSet's and the defaults (--allowed-endpoints). */
  allowedEndpoints?: readonly EndpointPattern[];
  /** Wakes other drains (queued ones) when a cluster slot frees. */
  enqueue: (key: ObjectKey) => void;
  now?: () => number;
  fieldManager?: string;
}

const keyOf = (o: { metadata: { namespace?: string; name?: string } }) =>
  `${o.metadata.namespace}/${o.metadata.name}`;

export class CaptureDrainReconciler {
  /** endpoint -> drain holding it, for the window where our own status write is not yet in the cache. */
  private readonly claims = new Map<string, string>();
  /** Our last write per drain, used while the cache still shows the object we wrote over. */
  private readonly written = new Map<string, { overRV: string | undefined; obj: CaptureDrainObject }>();
  private readonly now: () => number;

  constructor(private readonly deps: CaptureDrainReconcilerDeps) {
    this.now = deps.now ?? Date.now;
  }

  reconcile = async (key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult | void> => {
    const namespace = key.namespace!;
    const name = key.name;
    const cached = this.deps.drains.get(namespace, name);
    if (!cached) {
      this.written.delete(`${namespace}/${name}`);
      return this.releaseClaims(`${namespace}/${name}`);
    }
    const obj = this.latest(cached);
    const parsed = CaptureDrainSchema.safeParse(obj);
    if (!parsed.success) {
      ctx.log.error({ issues: parsed.error.issues }, 'CaptureDrain does not match its schema');
      return;
    }
    const drain = parsed.data;
    const status: CaptureDrainStatus = drain.status ?? {};
    if (isTerminal(status.phase) || obj.metadata.deletionTimestamp) return this.releaseClaims(keyOf(drain));

    const { pod, statefulSet } = await this.readPod(namespace, drain.spec.podName);
    let settings: DrainSettings | undefined;
    let settingsError: string | undefined;
    try {
      settings = resolveSettings({
        namespace,
        spec: drain.spec,
        ...(pod ? { pod } : {}),
        ...(statefulSet ? { statefulSet } : {}),
        defaults: this.deps.defaults,
      });
    } catch (err) {
      if (!(err instanceof SettingsError)) throw err;
      settingsError = err.message;
    }

    const working: CaptureDrainStatus = settings
      ? { ...status, clusterEndpoint: settings.cluster.endpoint }
      : status;
    const dctx: DrainContext = {
      now: this.now(),
      ...(obj.metadata.generation !== undefined ? { generation: obj.metadata.generation } : {}),
      status: working,
      policy: settings?.policy ?? {
        podAction: 'None',
        timeoutMs: 1,
        stallTimeoutMs: 1,
        onTimeout: 'Hold',
        apiFlavor: 'Auto',
        trackPod: !!drain.spec.podName,
      },
      target: settings?.target ?? { addresses: [] },
      ...(pod?.metadata.uid
        ? { pod: { uid: pod.metadata.uid, terminating: !!pod.metadata.deletionTimestamp } }
        : {}),
      slot: settings ? this.slot(drain, settings.cluster.endpoint) : { free: true },
    };

    let action: Action = { type: 'wait' };
    let outcome: Outcome;
    // The drain's creator is not trusted with the operator's rights (drain/tenancy.ts): refused
    // before any TiCDC request or pod action.
    const notACapture = pod ? capturePodRefusal(pod, statefulSet) : undefined;
    const untrusted = specRefusal({
      spec: drain.spec,
      ...(statefulSet && !notACapture ? { statefulSet } : {}),
      defaults: this.deps.defaults,
      allowedEndpoints: this.deps.allowedEndpoints ?? [],
    });
    if (notACapture) {
      outcome = { type: 'error', kind: 'NotACapturePod', message: notACapture, retryable: false };
    } else if (untrusted && !(drain.spec.podName && !pod)) {
      outcome = { type: 'error', kind: 'Configuration', message: untrusted, retryable: false };
    } else if (settingsError && !(drain.spec.podName && !pod)) {
      // A missing pod explains a missing StatefulSet: let the machine report PodNotFound.
      outcome = { type: 'error', kind: 'Configuration', message: settingsError, retryable: false };
    } else {
      action = nextAction(dctx);
      outcome = await this.perform(action, drain, settings!, ctx.log, ctx.signal);
    }
    // Cancelled (leadership lost, stop, timeout): record nothing; the next leader redoes the step.
    ctx.signal.throwIfAborted();
    const result = advance({ ...dctx, now: this.now() }, action, outcome);
    ctx.log.debug(
      { action: action.type, outcome: outcome.type, phase: result.status.phase },
      'Stepped drain',
    );

    const kube = bindSignal(this.deps.kube, ctx.signal);
    const { object } = await patchStatus(kube, Resources.capturedrains, obj, result.status, {
      ...(this.deps.fieldManager ? { fieldManager: this.deps.fieldManager } : {}),
    });
    this.written.set(keyOf(obj), { overRV: obj.metadata.resourceVersion, obj: object as CaptureDrainObject });
    this.afterWrite(drain, status, result.status, result.events);
    return result.requeueAfterMs === undefined ? undefined : { requeueAfterMs: result.requeueAfterMs };
  };

  /** Prefer our own last write while the cache has not caught up with it. */
  private latest(cached: CaptureDrainObject): CaptureDrainObject {
    const w = this.written.get(keyOf(cached));
    if (w && w.overRV === cached.metadata.resourceVersion) return w.obj;
    if (w) this.written.delete(keyOf(cached));
    return cached;
  }

  private async readPod(namespace: string, podName: string | undefined) {
    if (!podName) return {};
    const pod = await this.deps.kube.get<Pod>(Resources.pods, namespace, podName);
    const stsName = ownerStatefulSet(pod)?.name;
    const statefulSet = stsName
      ? await this.deps.kube.get<StatefulSet>(Resources.statefulsets, namespace, stsName)
      : undefined;
    return { pod, statefulSet };
  }

  /** Is the TiCDC cluster free for this drain? Oldest waiting drain goes first. */
  private slot(self: CaptureDrain, endpoint: string): SlotView {
    const me = keyOf(self);
    if (holdsSlot(self.status ?? {})) return { free: true };
    const claim = this.claims.get(endpoint);
    if (claim && claim !== me) return { free: false, holder: claim };
    const others = this.deps.drains
      .list()
      .filter(
        (d) => keyOf(d) !== me && d.status?.clusterEndpoint === endpoint && !d.metadata.deletionTimestamp,
      );
    const holder = others.find((d) => holdsSlot(d.status ?? {}));
    if (holder) return { free: false, holder: keyOf(holder) };
    const ahead = others
      .filter((d) => !isTerminal(d.status?.phase) && olderThan(d, self))
      .sort((a, b) => (olderThan(a, b) ? -1 : 1))[0];
    return ahead ? { free: false, holder: keyOf(ahead) } : { free: true };
  }

  private async perform(
    action: Action,
    drain: CaptureDrain,
    settings: DrainSettings,
    log: Logger,
    signal: AbortSignal,
  ): Promise<Outcome> {
    if (action.type === 'wait') return { type: 'none' };
    signal.throwIfAborted();
    if (action.type === 'deletePod') return this.deletePod(drain, action.podUID, log, signal);
    if (!isTicdcAction(action)) return { type: 'none' };
    let client;
    try {
      client = await this.deps.clients.get(drain.metadata.namespace, settings.cluster);
    } catch (err) {
      if (err instanceof SettingsError)
        return { type: 'error', kind: 'Configuration', message: err.message, retryable: false };
      return kubeError(err);
    }
    return performTicdcAction(client, action, settings.target, signal);
  }

  /** Delete exactly the pod incarnation that was drained; a replacement is never touched. */
  private async deletePod(
    drain: CaptureDrain,
    uid: string,
    log: Logger,
    signal: AbortSignal,
  ): Promise<Outcome> {
    const podName = drain.spec.podName!;
    try {
      const deleted = await bindSignal(this.deps.kube, signal).delete(
        Resources.pods,
        drain.metadata.namespace,
        podName,
        { uid },
      );
      log.info({ pod: podName, uid, deleted }, 'Deleted drained pod');
      return { type: 'podDeleted' };
    } catch (err) {
      // 409: the UID precondition failed, so the drained incarnation is already gone.
      if (err instanceof KubeApiError && err.isConflict) return { type: 'podDeleted' };
      return kubeError(err);
    }
  }

  private afterWrite(
    drain: CaptureDrain,
    before: CaptureDrainStatus,
    after: CaptureDrainStatus,
    events: DrainEvent[],
  ) {
    const me = keyOf(drain);
    const endpoint = after.clusterEndpoint;
    if (endpoint && holdsSlot(after)) this.claims.set(endpoint, me);
    if (endpoint && !holdsSlot(after) && this.claims.get(endpoint) === me) {
      this.claims.delete(endpoint);
      this.wakeQueued(endpoint, me);
    }
    const ref: ObjectRef = objectRef(drain, drain.apiVersion, drain.kind);
    for (const e of events)
      this.deps.events.event(ref, e.type, e.reason, after.phase ?? 'Pending', e.message);
    this.record(before, after);
  }

  private record(before: CaptureDrainStatus, after: CaptureDrainStatus) {
    const m = this.deps.metrics;
    if (!m) return;
    if (!isTerminal(before.phase) && isTerminal(after.phase)) {
      m.drainsTotal.inc({ phase: after.phase!, reason: after.reason ?? '' });
      const start = Date.parse(after.startTime ?? '');
      const end = Date.parse(after.completionTime ?? '') || this.now();
      if (start) m.drainDuration.observe((end - start) / 1000);
    }
    if (
      after.phase === 'Completed' &&
      before.phase !== 'Completed' &&
      after.drainedTime &&
      after.completionTime
    )
      m.releaseLag.observe((Date.parse(after.completionTime) - Date.parse(after.drainedTime)) / 1000);
    m.activeDrains.reset();
    for (const d of this.deps.drains.list()) {
      const p = d.status?.phase ?? 'Pending';
      if (!isTerminal(p)) m.activeDrains.inc({ phase: p });
    }
  }

  /** A finished or deleted drain gives its cluster back to the next one in line. */
  private releaseClaims(me: string) {
    for (const [endpoint, holder] of this.claims)
      if (holder === me) {
        this.claims.delete(endpoint);
        this.wakeQueued(endpoint, me);
      }
  }

  private wakeQueued(endpoint: string, except: string) {
    for (const d of this.deps.drains.list())
      if (d.status?.clusterEndpoint === endpoint && keyOf(d) !== except && !isTerminal(d.status?.phase))
        this.deps.enqueue({ namespace: d.metadata.namespace, name: d.metadata.name });
  }
}

function olderThan(a: KubeObject, b: KubeObject): boolean {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb;
  return (a.metadata.name ?? '') < (b.metadata.name ?? '');
}

function kubeError(err: unknown): Outcome {
  const message = err instanceof Error ? err.message : String(err);
  return { type: 'error', kind: 'Kubernetes', message, retryable: true };
}
