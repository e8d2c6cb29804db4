// Reconciles CaptureDrain objects through the drain state machine:
//   read (cache + pod/StatefulSet) -> resolve settings -> nextAction -> perform -> advance -> persist.
// The status written at the end of each reconcile is the only state; a restarted operator
// resumes from it. One drain at a time per TiCDC cluster (keyed by its endpoint): the oldest waiting
// drain goes first (slot(), from the cache), and before a drain starts it claims the cluster's slot
// Lease in the API server (drain/slot.ts, drain/slot-claims.ts), which makes the claim atomic
// across concurrent reconciles and replicas.
import type { Logger } from 'pino';
import { CaptureDrainSchema, DRAIN_FINALIZER } from '../api/capturedrain.js';
import {
  advance,
  isConfirmedZero,
  nextAction,
  releaseVoided,
  reopenAfterRestart,
  type StepResult,
  type Action,
  type DrainContext,
  type DrainEvent,
  type Outcome,
  type PodView,
  type SlotView,
} from './machine.js';
import { isTicdcAction, performTicdcAction, verifyRelease } from './ticdc-actions.js';
import type { ObjectKey, ReconcileContext, ReconcileResult } from '../kube/controller.js';
import { KubeApiError, Resources, type KubeClient, type KubeObject } from '../kube/port.js';
import { bindSignal } from '../kube/fence.js';
import { patchStatus } from '../kube/status.js';
import type { DrainMetrics } from '../observability/metrics.js';
import { SettingsError, resolveSettings, type DrainSettings, type OperatorDefaults } from './settings.js';
import type { TicdcClientPool } from './ticdc-clients.js';
import { capturesLeftInSession, historyToPrune, holdsSlot, isTerminal, podRestarts } from './contract.js';
import { DRAIN_LABELS } from '../api/names.js';
import type { Pod, StatefulSet, ObjectRef } from '../kube/objects.js';
import { statusWriteNeeded } from './status-writes.js';
import type { CaptureDrainObject, CaptureDrain, CaptureDrainStatus } from '../api/capturedrain.js';
import type { EventSink } from '../kube/events.js';
import { objectRef, ownerStatefulSet } from '../kube/objects.js';
import type { CaptureDrainCache } from './contract.js';
import type { SlotClaims } from './slot-claims.js';
import type { DrainIdentity } from './slot.js';
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
  /** The cluster slot Leases; without them the slot is only as exact as this process's cache. */
  slotClaims?: SlotClaims;
  /**
   * Informer caches of managed pods and StatefulSets: a drain reads its pod and StatefulSet there
   * (a miss, e.g. an unmanaged pod, is read from the API server). The pod is read afresh right
   * before it is deleted.
   */
  pods?: { get(namespace: string, name: string): Pod | undefined };
  statefulSets?: { get(namespace: string, name: string): StatefulSet | undefined };
  /** Finished operator-created drains kept per StatefulSet (contract.ts historyToPrune). Default 5. */
  drainHistory?: number;
}

export const DEFAULT_DRAIN_HISTORY = 5;

/** Steps one reconcile may take while the machine asks to go on at once (start, release). */
export const MAX_STEPS_PER_RECONCILE = 4;

/** A wake this close to the planned look acts at once. */
const EARLY_WAKE_SLACK_MS = 50;
/** What of the pod a drain's plan depends on: its incarnation, termination and restarts. */
const podSignature = (p: PodView | undefined) => (p ? `${p.uid}/${p.terminating}/${p.restarts ?? ''}` : '');

const keyOf = (o: { metadata: { namespace?: string; name?: string } }) =>
  `${o.metadata.namespace}/${o.metadata.name}`;

/** How often a released drain whose pod stays is re-checked for a container restart (a new capture). */
export const RELEASED_RECHECK_MS = 30_000;

/**
 * Which CaptureDrain updates need a reconcile: spec, deletion and finalizer changes, and resyncs.
 * Our own status writes do not, or every write would re-run the drain at once and the machine's
 * backoff (requeueAfter) would never apply.
 */
export function drainUpdateNeedsReconcile(oldObj: KubeObject, newObj: KubeObject): boolean {
  return (
    oldObj === newObj ||
    oldObj.metadata.resourceVersion === newObj.metadata.resourceVersion ||
    oldObj.metadata.generation !== newObj.metadata.generation ||
    oldObj.metadata.deletionTimestamp !== newObj.metadata.deletionTimestamp ||
    // A finalizer gone (not one added, e.g. our own, whose echo would cost a TiCDC poll).
    (oldObj.metadata.finalizers ?? []).some((f) => !(newObj.metadata.finalizers ?? []).includes(f))
  );
}

export class CaptureDrainReconciler {
  /** endpoint -> drain holding it, for the window where our own status write is not yet in the cache. */
  private readonly claims = new Map<string, string>();
  /** drain -> the slot Lease it claimed, released when the drain ends or goes. */
  private readonly leased = new Map<string, { endpoint: string; me: DrainIdentity }>();
  /** Our last write per drain, used while the cache still shows the object we wrote over. */
  private readonly written = new Map<string, { overRV: string | undefined; obj: CaptureDrainObject }>();
  /**
   * The drain's status as last stepped, per drain, with the resourceVersion it was stepped from:
   * probe bookkeeping not worth a write (status-writes.ts) lives here until the next write. Any
   * other writer's change (a new resourceVersion) discards it.
   */
  private readonly memo = new Map<string, { rv: string | undefined; status: CaptureDrainStatus }>();
  /** When this process last wrote each drain's status (probe bookkeeping is written at most every PROBE_WRITE_MS). */
  private readonly writtenAt = new Map<string, number>();
  /**
   * When a running drain's next TiCDC look is due, per drain, with what it was planned on. A wake
   * that changed none of it (another drain's slot hand-over, an unrelated pod event) waits for
   * that time instead of asking TiCDC early: the machine's polling plan stands.
   */
  private readonly due = new Map<string, { at: number; rv: string | undefined; pod: string }>();
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
      this.memo.delete(`${namespace}/${name}`);
      this.due.delete(`${namespace}/${name}`);
      this.writtenAt.delete(`${namespace}/${name}`);
      return this.releaseClaims(`${namespace}/${name}`, ctx.signal);
    }
    const obj = this.latest(cached);
    const parsed = CaptureDrainSchema.safeParse(obj);
    if (!parsed.success) {
      ctx.log.error({ issues: parsed.error.issues }, 'CaptureDrain does not match its schema');
      return;
    }
    const drain = parsed.data;
    const memo = this.memo.get(keyOf(obj));
    const status: CaptureDrainStatus =
      memo && memo.rv === obj.metadata.resourceVersion ? memo.status : (drain.status ?? {});
    if (obj.metadata.deletionTimestamp) return this.finalize(obj, drain, ctx.log, ctx.signal);

    const { pod, statefulSet: owner } = await this.readPod(namespace, drain.spec.podName);
    // Released and gone before its capture left TiCDC's list: the drain still waits for that
    // departure, on the cluster it started on. The pod's StatefulSet is found by the drain's label
    // or the pod's name; its settings count only if they name that same cluster (checked below).
    const statefulSet = owner ?? (!pod && status.phase === 'Releasing' ? this.formerOwner(drain) : undefined);
    const podView = pod?.metadata.uid
      ? {
          uid: pod.metadata.uid,
          terminating: !!pod.metadata.deletionTimestamp,
          ...(podRestarts(pod) !== undefined ? { restarts: podRestarts(pod)! } : {}),
        }
      : undefined;
    const planned = this.due.get(keyOf(obj));
    this.due.delete(keyOf(obj));
    if (
      planned &&
      planned.rv === obj.metadata.resourceVersion &&
      planned.pod === podSignature(podView) &&
      (status.phase === 'Draining' || status.phase === 'Releasing') &&
      planned.at - this.now() > EARLY_WAKE_SLACK_MS
    ) {
      this.due.set(keyOf(obj), planned);
      return { requeueAfterMs: planned.at - this.now() };
    }
    if (isTerminal(status.phase)) {
      // A released drain is bound to the capture it drained: a container restart since voids it.
      if (drain.spec.podName && releaseVoided(status, podView)) {
        const reopened = reopenAfterRestart({
          now: this.now(),
          status,
          policy: {
            podAction: 'None',
            timeoutMs: 1,
            stallTimeoutMs: 1,
            onTimeout: 'Hold',
            apiFlavor: 'Auto',
            trackPod: true,
          },
          target: { addresses: [] },
          ...(podView ? { pod: podView } : {}),
          slot: { free: true },
        })!;
        return this.finish(
          await this.persist(obj, drain, reopened.status, reopened.events, ctx.signal),
          reopened,
        );
      }
      await this.removeFinalizer(obj);
      await this.releaseClaims(keyOf(drain), ctx.signal);
      const keptRunning =
        status.releaseTime &&
        podView &&
        podView.uid === status.podUID &&
        !podView.terminating &&
        status.podRestarts !== undefined;
      return keptRunning ? { requeueAfterMs: RELEASED_RECHECK_MS } : undefined;
    }
    // Recorded before the drain starts: a deletion mid-drain must be seen (finalize below). Its
    // write runs alongside the slot claim's, and both end before the first TiCDC request: when
    // many drains are created at once, each starts one API server round trip sooner.
    const finalizing = obj.metadata.finalizers?.includes(DRAIN_FINALIZER)
      ? undefined
      : this.addFinalizer(obj).catch((err: unknown) =>
          // Without it a deletion mid-drain goes unrecorded; the drain itself must not wait on it.
          ctx.log.warn({ err }, 'Could not add the CaptureDrain finalizer'),
        );
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
    if (settings && !owner && statefulSet && settings.cluster.endpoint !== status.clusterEndpoint) {
      settingsError = `the pod is gone and StatefulSet ${statefulSet.metadata.name} names another TiCDC cluster than the one drained`;
      settings = undefined;
    }

    // The drain's creator is not trusted with the operator's rights (drain/tenancy.ts): refused
    // before any TiCDC request, Secret read, slot claim or pod action.
    const notACapture = pod ? capturePodRefusal(pod, statefulSet) : undefined;
    const untrusted = specRefusal({
      spec: drain.spec,
      ...(statefulSet && !notACapture ? { statefulSet } : {}),
      defaults: this.deps.defaults,
      allowedEndpoints: this.deps.allowedEndpoints ?? [],
    });
    let slot: SlotView = settings ? this.slot(drain, settings.cluster.endpoint) : { free: true };
    // First in line by the cache: claim the slot in the API server before starting (atomic). A drain
    // whose TiCDC client cannot be built yet (a Secret missing) claims nothing: it must not hold the
    // cluster while it retries its settings.
    // Before it starts, a drain learns whether its TiCDC client can be built (its Secrets), queued or
    // not; a refused drain (drain/tenancy.ts) reads no Secret at all.
    const clientError =
      settings && !status.startTime && !notACapture && !untrusted
        ? await this.clientError(namespace, settings)
        : undefined;
    // An operator-made drain belongs to the pod incarnation it was made for (the machine ends it
    // PodReplaced if that pod is gone before it starts): such a drain claims nothing.
    const madeForPodUID = drain.metadata.labels?.[DRAIN_LABELS.podUid];
    if (
      settings &&
      slot.free &&
      !status.startTime &&
      (!drain.spec.podName || pod) &&
      (!madeForPodUID || podView?.uid === madeForPodUID) &&
      !notACapture &&
      !untrusted &&
      !clientError
    )
      slot = await this.claimSlot(obj, settings.cluster.endpoint, ctx.signal);
    await finalizing;
    const working: CaptureDrainStatus = settings
      ? { ...status, clusterEndpoint: settings.cluster.endpoint }
      : status;
    const base: Omit<DrainContext, 'now' | 'status'> = {
      ...(obj.metadata.generation !== undefined ? { generation: obj.metadata.generation } : {}),
      policy: settings?.policy ?? {
        podAction: 'None',
        timeoutMs: 1,
        stallTimeoutMs: 1,
        onTimeout: 'Hold',
        apiFlavor: 'Auto',
        trackPod: !!drain.spec.podName,
      },
      target: settings?.target ?? { addresses: [] },
      ...(podView ? { pod: podView } : {}),
      ...(madeForPodUID ? { madeForPodUID } : {}),
      slot,
    };

    // Step the machine until it waits: a start (discover, then the first drain request) and a
    // release (the confirmed zero, then the pod deletion) each take one reconcile, not a queue
    // turn per step. The status is written once at the end, and before a pod deletion.
    let current = obj;
    let result: StepResult | undefined;
    let confirmedZero: string | undefined;
    /** This reconcile deleted the drained pod (the Releasing status was written just before). */
    let podDeleted = false;
    const events: DrainEvent[] = [];
    let stepping = working;
    for (let n = 0; n < MAX_STEPS_PER_RECONCILE; n++) {
      const dctx: DrainContext = {
        ...base,
        now: this.now(),
        status: stepping,
        ...(confirmedZero ? { confirmedZero } : {}),
      };
      let action: Action = { type: 'wait' };
      let outcome: Outcome;
      if (n === 0 && notACapture) {
        outcome = { type: 'error', kind: 'NotACapturePod', message: notACapture, retryable: false };
      } else if (n === 0 && untrusted && !(drain.spec.podName && !pod)) {
        outcome = { type: 'error', kind: 'Configuration', message: untrusted, retryable: false };
      } else if (n === 0 && settingsError && !(drain.spec.podName && !pod)) {
        // A missing pod explains a missing StatefulSet: let the machine report PodNotFound.
        outcome = { type: 'error', kind: 'Configuration', message: settingsError, retryable: false };
      } else if (n === 0 && clientError?.settings && !slot.free && (!drain.spec.podName || pod)) {
        // Queued behind another drain with settings that do not resolve (a Secret missing): the
        // stallTimeout clock runs on, so it fails Configuration in time instead of waiting its turn.
        outcome = clientError.settings;
      } else {
        action = nextAction(dctx);
        if (action.type === 'deletePod' && (current.status?.phase ?? drain.status?.phase) !== 'Releasing') {
          // The decision to release is on record before the pod goes: a crash right after the
          // deletion resumes in Releasing, not as a drain whose pod vanished. Its events wait for
          // the write after the deletion (the history has them): when many drains release at once,
          // the deletion does not queue behind our own event posts at the API server.
          current = await this.persist(current, drain, stepping, [], ctx.signal, statefulSet);
        }
        // A look the machine repeats anyway (a drain already answered, a departure) is asked once:
        // quick in-request retries would only multiply requests under TiCDC faults.
        const repeat =
          action.type === 'awaitDeparture' || (action.type === 'drain' && (stepping.attempts ?? 0) > 0);
        outcome = await this.perform(action, drain, settings, ctx.log, ctx.signal, repeat, settingsError);
      }
      // Cancelled (leadership lost, stop, timeout): record nothing; the next leader redoes the step.
      ctx.signal.throwIfAborted();
      result = advance({ ...dctx, now: this.now() }, action, outcome);
      podDeleted ||= action.type === 'deletePod' && outcome.type === 'podDeleted';
      events.push(...result.events);
      ctx.log.debug(
        { action: action.type, outcome: outcome.type, phase: result.status.phase },
        'Stepped drain',
      );
      stepping = result.status;
      confirmedZero =
        action.type === 'drain' && isConfirmedZero(action, outcome) ? action.captureId : undefined;
      if (result.requeueAfterMs !== 0) break;
    }
    const persisted = (current.status ?? {}) as CaptureDrainStatus;
    const writtenAt = this.writtenAt.get(keyOf(obj));
    // Right after the deletion, `released` alone is not worth a write of its own: the Releasing
    // write before it holds the decision, and the next write (the capture's departure) carries it.
    // When 200 drains release in the same second, that is 200 writes fewer in front of the
    // deletions. Its events go out now; a crash meanwhile resumes from Releasing with the pod gone.
    const write = podDeleted
      ? statusWriteNeeded(
          persisted,
          { ...result!.status, released: persisted.released },
          this.now(),
          writtenAt,
        )
      : events.length > 0 || statusWriteNeeded(persisted, result!.status, this.now(), writtenAt);
    if (write)
      current = await this.persist(
        current,
        drain,
        result!.status,
        events,
        ctx.signal,
        statefulSet?.metadata.name,
      );
    else {
      this.memo.set(keyOf(obj), { rv: current.metadata.resourceVersion, status: result!.status });
      if (events.length) this.afterWrite(drain, persisted, result!.status, events);
    }
    if (result!.requeueAfterMs && !isTerminal(result!.status.phase))
      this.due.set(keyOf(obj), {
        at: this.now() + result!.requeueAfterMs,
        rv: current.metadata.resourceVersion,
        pod: podSignature(podView),
      });
    return this.finish(current, result!);
  };

  /** Writes `status` over `obj`'s, then what follows a write (events, slot hand-over, metrics). */
  private async persist(
    obj: CaptureDrainObject,
    drain: CaptureDrain,
    status: CaptureDrainStatus,
    events: DrainEvent[],
    signal: AbortSignal,
    statefulSet?: StatefulSet | string,
  ): Promise<CaptureDrainObject> {
    const before = (obj.status ?? {}) as CaptureDrainStatus;
    const kube = bindSignal(this.deps.kube, signal);
    const { object } = await patchStatus(kube, Resources.capturedrains, obj, status, {
      ...(this.deps.fieldManager ? { fieldManager: this.deps.fieldManager } : {}),
    });
    const written = object as CaptureDrainObject;
    this.written.set(keyOf(obj), { overRV: obj.metadata.resourceVersion, obj: written });
    this.writtenAt.set(keyOf(obj), this.now());
    this.memo.set(keyOf(obj), { rv: written.metadata.resourceVersion, status });
    this.afterWrite(drain, before, status, events);
    this.recordKeptCapture(
      drain,
      before,
      status,
      typeof statefulSet === 'string' ? statefulSet : statefulSet?.metadata.name,
    );
    if (isTerminal(status.phase)) {
      this.memo.delete(keyOf(obj));
      await this.removeFinalizer(written);
      if (!isTerminal(before.phase)) await this.pruneHistory(drain);
    }
    return written;
  }

  /** The machine's requeue (0 included: the controller honours it; our status writes do not re-enqueue). */
  private finish(_obj: CaptureDrainObject, result: StepResult): ReconcileResult | void {
    return result.requeueAfterMs === undefined ? undefined : { requeueAfterMs: result.requeueAfterMs };
  }

  private async addFinalizer(obj: CaptureDrainObject): Promise<void> {
    const finalizers = [...(obj.metadata.finalizers ?? []), DRAIN_FINALIZER];
    const patched = await this.deps.kube.patch<CaptureDrainObject>(
      Resources.capturedrains,
      obj.metadata.namespace,
      obj.metadata.name!,
      { metadata: { finalizers, resourceVersion: obj.metadata.resourceVersion } },
      'merge',
    );
    obj.metadata.finalizers = patched.metadata.finalizers ?? finalizers;
    obj.metadata.resourceVersion = patched.metadata.resourceVersion;
  }

  /**
   * Once a drain of a StatefulSet's pod finishes, the StatefulSet's older finished drains beyond
   * the history bound go (only then: never on a hot path). A failure is left for the next one.
   */
  private async pruneHistory(drain: CaptureDrain): Promise<void> {
    const sts = drain.metadata.labels?.[DRAIN_LABELS.statefulSet];
    if (!sts) return;
    const ns = drain.metadata.namespace;
    const pods = this.deps.pods;
    // Without a pod cache nothing is known to be gone: keep everything.
    if (!pods) return;
    const prune = historyToPrune(
      this.deps.drains.list(ns),
      sts,
      this.deps.drainHistory ?? DEFAULT_DRAIN_HISTORY,
      (name) => pods.get(ns, name)?.metadata.uid,
    );
    for (const old of prune)
      await this.deps.kube
        .delete(Resources.capturedrains, ns, old.metadata.name, {
          ...(old.metadata.uid ? { uid: old.metadata.uid } : {}),
        })
        .catch(() => undefined);
  }

  /** Never wedge a deletion: the finalizer goes on every terminal path and on deletion. */
  private async removeFinalizer(obj: CaptureDrainObject): Promise<void> {
    if (!obj.metadata.finalizers?.includes(DRAIN_FINALIZER)) return;
    try {
      await this.deps.kube.patch(
        Resources.capturedrains,
        obj.metadata.namespace,
        obj.metadata.name!,
        {
          metadata: {
            finalizers: obj.metadata.finalizers.filter((f) => f !== DRAIN_FINALIZER),
            resourceVersion: obj.metadata.resourceVersion,
          },
        },
        'merge',
      );
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return;
      throw err;
    }
  }

  /** Deleted: record a drain abandoned mid-way (TiCDC keeps its session on that capture), then let go. */
  private async finalize(
    obj: CaptureDrainObject,
    drain: CaptureDrain,
    log: Logger,
    signal: AbortSignal,
  ): Promise<void> {
    this.written.delete(keyOf(obj));
    await this.releaseClaims(keyOf(drain), signal);
    if (!obj.metadata.finalizers?.includes(DRAIN_FINALIZER)) return;
    const s = drain.status ?? {};
    const midDrain = !!s.startTime && !isTerminal(s.phase) && !!s.captureID && !s.released;
    if (midDrain) {
      const pod = drain.spec.podName
        ? `pod ${drain.spec.podName}`
        : `the capture's process (${s.captureAddress})`;
      const note = `CaptureDrain ${drain.metadata.name} was deleted while ${s.phase}: capture ${s.captureID} (${s.captureAddress}) may be left draining in TiCDC, which then blocks every later drain of the cluster; restart ${pod} to end TiCDC's drain session`;
      log.warn({ capture: s.captureID }, note);
      this.deps.events.event(await this.statefulSetRef(drain), 'Warning', 'DrainAbandoned', 'Finalize', note);
    }
    await this.removeFinalizer(obj);
  }

  /** A drained capture whose pod stays (podAction None by hand, or a Hold failure) blocks TiCDC's next drain. */
  private recordKeptCapture(
    drain: CaptureDrain,
    before: CaptureDrainStatus,
    after: CaptureDrainStatus,
    statefulSet?: string,
  ): void {
    if (isTerminal(before.phase)) return;
    const left = capturesLeftInSession(drain.spec, after);
    if (!left) return;
    const pod = drain.spec.podName;
    const manualKeep = left === 'drained';
    const how = pod ? `restart pod ${pod} (kubectl delete pod ${pod})` : `restart the capture's process`;
    const note = `Capture ${after.captureID} (${after.captureAddress}) ${manualKeep ? 'was drained and kept' : `stays draining after ${after.reason}`}: TiCDC keeps its drain session on it until it restarts, and the next drain of this cluster waits for it; ${how} to end it`;
    void this.statefulSetRef(drain, statefulSet).then((ref) =>
      this.deps.events.event(ref, 'Warning', 'DrainedCaptureKept', after.phase!, note),
    );
  }

  private async statefulSetRef(drain: CaptureDrain, known?: string): Promise<ObjectRef> {
    const name =
      known ??
      drain.metadata.labels?.['drain.ticdc.io/statefulset'] ??
      (drain.spec.podName
        ? (
            await this.readPod(drain.metadata.namespace, drain.spec.podName).catch(
              () => ({}) as { statefulSet?: StatefulSet },
            )
          ).statefulSet?.metadata.name
        : undefined);
    if (name)
      return { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: drain.metadata.namespace, name };
    return {
      apiVersion: drain.apiVersion,
      kind: drain.kind,
      namespace: drain.metadata.namespace,
      name: drain.metadata.name,
      ...(drain.metadata.uid ? { uid: drain.metadata.uid } : {}),
    };
  }

  /** Prefer our own last write while the cache has not caught up with it. */
  private latest(cached: CaptureDrainObject): CaptureDrainObject {
    const w = this.written.get(keyOf(cached));
    if (w && w.overRV === cached.metadata.resourceVersion) return w.obj;
    if (w) this.written.delete(keyOf(cached));
    return cached;
  }

  /** The pod and its StatefulSet, from the informer caches where they hold them. */
  private async readPod(namespace: string, podName: string | undefined) {
    if (!podName) return {};
    const pod =
      this.deps.pods?.get(namespace, podName) ??
      (await this.deps.kube.get<Pod>(Resources.pods, namespace, podName));
    const stsName = ownerStatefulSet(pod)?.name;
    const statefulSet = stsName
      ? (this.deps.statefulSets?.get(namespace, stsName) ??
        (await this.deps.kube.get<StatefulSet>(Resources.statefulsets, namespace, stsName)))
      : undefined;
    return { pod, statefulSet };
  }

  /** The managed StatefulSet a gone pod belonged to: the drain's label, else the pod name's. */
  private formerOwner(drain: CaptureDrain): StatefulSet | undefined {
    const name =
      drain.metadata.labels?.[DRAIN_LABELS.statefulSet] ?? drain.spec.podName?.replace(/-\d+$/, '');
    return name ? this.deps.statefulSets?.get(drain.metadata.namespace, name) : undefined;
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
    // Only drains actually waiting in line count: one stuck on its settings never holds the queue.
    const ahead = others
      .filter((d) => d.status?.phase === 'Queued' && olderThan(d, self))
      .sort((a, b) => (olderThan(a, b) ? -1 : 1))[0];
    return ahead ? { free: false, holder: keyOf(ahead) } : { free: true };
  }

  /** Why the TiCDC client cannot be built now, if it cannot; `settings` when that is a settings error. */
  private async clientError(
    namespace: string,
    settings: DrainSettings,
  ): Promise<{ settings?: Extract<Outcome, { type: 'error' }> } | undefined> {
    return this.deps.clients.get(namespace, settings.cluster).then(
      () => undefined,
      (err: unknown) =>
        err instanceof SettingsError
          ? {
              settings: {
                type: 'error' as const,
                kind: 'Configuration' as const,
                message: err.message,
                retryable: err.retryable,
              },
            }
          : {},
    );
  }

  private async claimSlot(obj: CaptureDrainObject, endpoint: string, signal: AbortSignal): Promise<SlotView> {
    const claims = this.deps.slotClaims;
    if (!claims || !obj.metadata.uid) return { free: true };
    const me = { namespace: obj.metadata.namespace!, name: obj.metadata.name!, uid: obj.metadata.uid };
    const r = await claims.claim(bindSignal(this.deps.kube, signal), endpoint, me);
    if (!r.held) return { free: false, ...(r.holder ? { holder: r.holder } : {}) };
    this.leased.set(keyOf(obj), { endpoint, me });
    return { free: true };
  }

  private async perform(
    action: Action,
    drain: CaptureDrain,
    settings: DrainSettings | undefined,
    log: Logger,
    signal: AbortSignal,
    repeat = false,
    settingsError?: string,
  ): Promise<Outcome> {
    if (action.type === 'wait') return { type: 'none' };
    signal.throwIfAborted();
    if (action.type === 'deletePod' && !action.verify)
      return this.deletePod(drain, action.podUID, log, signal);
    if (action.type !== 'deletePod' && !isTicdcAction(action)) return { type: 'none' };
    // Settings lost on the way (the pod and its StatefulSet gone mid-release): no TiCDC client.
    if (!settings)
      return {
        type: 'error',
        kind: 'Configuration',
        message: settingsError ?? 'the drain has no TiCDC settings',
        retryable: true,
      };
    let client;
    try {
      client = await this.deps.clients.get(drain.metadata.namespace, settings.cluster);
    } catch (err) {
      if (err instanceof SettingsError)
        return { type: 'error', kind: 'Configuration', message: err.message, retryable: err.retryable };
      return kubeError(err);
    }
    if (action.type === 'deletePod') {
      // A fresh, confirmed zero from TiCDC in this reconcile, or no deletion.
      if (action.verify) {
        const refused = await verifyRelease(client, action.verify, signal);
        if (refused) return refused;
      }
      return this.deletePod(drain, action.podUID, log, signal);
    }
    return performTicdcAction(client, action, settings.target, signal, { repeat });
  }

  /** Delete exactly the pod incarnation that was drained; a replacement is never touched. */
  private async deletePod(
    drain: CaptureDrain,
    uid: string,
    log: Logger,
    signal: AbortSignal,
  ): Promise<Outcome> {
    const podName = drain.spec.podName!;
    const ns = drain.metadata.namespace;
    const kube = bindSignal(this.deps.kube, signal);
    // A container restart since the capture was found means a new capture that may hold work.
    const known = (this.memo.get(keyOf(drain))?.status ?? drain.status)?.podRestarts;
    const restarted = (p: Pod | undefined) => {
      const restarts = p ? podRestarts(p) : undefined;
      return p?.metadata.uid === uid && restarts !== undefined && known !== undefined && restarts > known;
    };
    try {
      // The drain was decided on the cached pod: deleted on its resourceVersion, the API server
      // refuses (409) if the pod changed since (a restart included), and only then is it read
      // afresh. One request instead of two when the release waits on a busy API server.
      const cached = this.deps.pods?.get(ns, podName);
      const rv = cached?.metadata.resourceVersion;
      if (cached?.metadata.uid === uid && rv && !restarted(cached)) {
        const deleted = await kube
          .delete(Resources.pods, ns, podName, { uid, resourceVersion: rv })
          .catch((err: unknown) => {
            if (err instanceof KubeApiError && err.isConflict) return undefined; // changed: read it
            throw err;
          });
        if (deleted !== undefined) {
          log.info({ pod: podName, uid, deleted }, 'Deleted drained pod');
          return { type: 'podDeleted' };
        }
      }
      const fresh = await kube.get<Pod>(Resources.pods, ns, podName);
      if (restarted(fresh))
        return kubeError(
          new Error(`pod ${podName} restarted a container since its capture was found; not deleting it`),
        );
      const deleted = await kube.delete(Resources.pods, ns, podName, { uid });
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
    // The gauge counts every drain by phase: recounted only when a phase changed (not per write).
    if (before.phase === after.phase) return;
    m.activeDrains.reset();
    for (const d of this.deps.drains.list()) {
      const p = d.status?.phase ?? 'Pending';
      if (!isTerminal(p)) m.activeDrains.inc({ phase: p });
    }
  }

  /** A finished or deleted drain gives its cluster back to the next one in line. */
  private async releaseClaims(me: string, signal: AbortSignal) {
    const lease = this.leased.get(me);
    if (lease && this.deps.slotClaims) {
      await this.deps.slotClaims.release(bindSignal(this.deps.kube, signal), lease.endpoint, lease.me);
      this.leased.delete(me);
      this.wakeQueued(lease.endpoint, me);
    }
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
