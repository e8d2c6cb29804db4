// The drain feature's wiring: the CaptureDrain informers (one per watched namespace), the TiCDC
// client pool and the CaptureDrain controller. The rollout, cordon and gate features build on what
// it returns (the drain cache and informers, the client pool, the operator's drain defaults).
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { CaptureDrainObject } from '../api/capturedrain.js';
import { Controller, watchInto, type ObjectKey } from '../kube/controller.js';
import type { EventRecorder } from '../kube/events.js';
import { mergedCache, type Informer, type InformerSet } from '../kube/informer.js';
import { Resources, type Fence, type KubeClient } from '../kube/port.js';
import type { Pod, StatefulSet } from '../kube/objects.js';
import { MANAGED_SELECTOR } from '../api/names.js';
import { createDrainMetrics } from '../observability/metrics.js';
import { podRestarts, releaseVoidedByRestart, type CaptureDrainCache } from './contract.js';
import { CaptureDrainReconciler, drainUpdateNeedsReconcile } from './controller.js';
import type { OperatorDefaults } from './settings.js';
import { TicdcClientPool } from './ticdc-clients.js';
import { SlotClaims } from './slot-claims.js';
import type { EndpointPattern } from './tenancy.js';
import { exportDrainState } from './state-metrics.js';

/** What every leader-side feature setup gets from the manager. */
export interface LeaderContext {
  /** Fenced by the leadership term (kube/fence.ts): refused once the term ended. */
  kube: KubeClient;
  /** The current leadership term; bounds the TiCDC requests too. */
  fence: Fence;
  informers: InformerSet;
  /** One entry per watched namespace; `[{}]` when all namespaces are watched. */
  scopes: { namespace?: string }[];
  events: EventRecorder;
  registry: Registry;
  logger: Logger;
  workers: number;
  fieldManager: string;
}

export interface DrainFeature {
  controller: Controller;
  drains: CaptureDrainCache;
  drainInformers: Informer<CaptureDrainObject>[];
  clients: TicdcClientPool;
  defaults: OperatorDefaults;
}

export function setupDrain(
  ctx: LeaderContext,
  opts: {
    defaults: OperatorDefaults;
    ticdcRequestTimeoutMs: number;
    /** Where the cluster slot Leases live (the operator's own namespace, beside its leader Lease). */
    slotNamespace: string;
    /** Advertise address -> URL of that capture, where in-cluster DNS does not reach it (tests). */
    resolveCaptureAddress?: (address: string) => string | undefined;
    /** --allowed-endpoints: what a CaptureDrain's spec.cluster.endpoint may name. */
    allowedEndpoints?: readonly EndpointPattern[];
    /** --drain-history: finished operator-created drains kept per StatefulSet. */
    drainHistory?: number;
  },
): DrainFeature {
  const drainInformers = ctx.scopes.map((s) =>
    ctx.informers.informer<CaptureDrainObject>(Resources.capturedrains, s),
  );
  const drains: CaptureDrainCache = mergedCache(drainInformers);
  // Managed pods and StatefulSets come from informer caches (shared with the rollout, gate and
  // cordon features); a pod outside them (a manual drain of an unmanaged pod) is read live.
  const managed = { labelSelector: MANAGED_SELECTOR };
  const podInformers = ctx.scopes.map((s) =>
    ctx.informers.informer<Pod>(Resources.pods, { ...s, ...managed }),
  );
  const stsInformers = ctx.scopes.map((s) =>
    ctx.informers.informer<StatefulSet>(Resources.statefulsets, { ...s, ...managed }),
  );
  const metrics = createDrainMetrics(ctx.registry);
  const clients = new TicdcClientPool(ctx.kube, {
    metrics,
    requestTimeoutMs: opts.ticdcRequestTimeoutMs,
    fence: ctx.fence,
    ...(opts.resolveCaptureAddress ? { resolveCaptureAddress: opts.resolveCaptureAddress } : {}),
  });
  let controller: Controller | undefined = undefined;
  const reconciler = new CaptureDrainReconciler({
    kube: ctx.kube,
    drains,
    clients,
    events: ctx.events,
    metrics,
    defaults: opts.defaults,
    allowedEndpoints: opts.allowedEndpoints ?? [],
    enqueue: (key) => controller?.enqueue(key),
    fieldManager: ctx.fieldManager,
    slotClaims: new SlotClaims(opts.slotNamespace, ctx.logger),
    pods: mergedCache(podInformers),
    statefulSets: mergedCache(stsInformers),
    ...(opts.drainHistory !== undefined ? { drainHistory: opts.drainHistory } : {}),
  });
  controller = new Controller({
    name: 'capturedrain',
    reconcile: reconciler.reconcile,
    workers: ctx.workers,
    logger: ctx.logger,
    registry: ctx.registry,
  });
  // Our own status writes do not re-run a drain at once: the machine's backoff stands.
  for (const inf of drainInformers)
    watchInto(inf, controller, { updatePredicate: drainUpdateNeedsReconcile });
  // A container restart of a drained pod voids its release (a new capture, maybe with work): the
  // drain starts over at once rather than at its next periodic recheck.
  for (const inf of podInformers)
    watchInto(inf, controller, {
      map: (pod) => drainsWokenBy(pod, drains),
      updatePredicate: (a, b) => a === b || podRestarts(a) !== podRestarts(b),
    });
  // Drains by phase and cluster, age vs timeout, ETA: read from the cache at scrape time. The
  // managed StatefulSets' cache (shared with the rollout feature) gives their timeout annotation.
  exportDrainState(ctx.registry, {
    drains,
    statefulSet: (namespace, name) => {
      for (const c of stsInformers) {
        const sts = c.get(namespace, name);
        if (sts) return sts;
      }
      return undefined;
    },
    defaults: opts.defaults,
    live: () => {
      try {
        ctx.fence.check();
        return true;
      } catch {
        return false;
      }
    },
  });
  return { controller, drains, drainInformers, clients, defaults: opts.defaults };
}

/**
 * The drains a change of this pod concerns: those in Releasing (the pod's deletion or its
 * replacement's arrival ends their wait at once rather than at their next timed look) and those
 * whose release a container restart since voided.
 */
export function drainsWokenBy(pod: Pod, drains: CaptureDrainCache): ObjectKey[] {
  const ns = pod.metadata.namespace;
  if (!ns || !pod.metadata.name) return [];
  return drains
    .list(ns)
    .filter(
      (d) =>
        d.spec.podName === pod.metadata.name &&
        (d.status?.phase === 'Releasing' || releaseVoidedByRestart(d, pod)),
    )
    .map((d) => ({ namespace: ns, name: d.metadata.name }));
}
