// The rollout feature's wiring: managed StatefulSets and their pods, and the drains of those pods,
// feed the rollout controller (drained rolling updates and scale-in).
import { MANAGED_SELECTOR, ROLLOUT_ANNOTATIONS } from '../api/names.js';
import type { DrainFeature, LeaderContext } from '../drain/setup.js';
import { Controller, watchInto } from '../kube/controller.js';
import { mergedCache } from '../kube/informer.js';
import type { Pod, StatefulSet } from '../kube/objects.js';
import { Resources } from '../kube/port.js';
import type { CaptureDrainObject } from '../api/capturedrain.js';
import { RolloutReconciler, statefulSetKeysOf } from './controller.js';
import { createRolloutMetrics } from './metrics.js';

export function setupRollout(ctx: LeaderContext, drain: DrainFeature): Controller {
  const managed = { labelSelector: MANAGED_SELECTOR };
  const stsInformers = ctx.scopes.map((s) =>
    ctx.informers.informer<StatefulSet>(Resources.statefulsets, { ...s, ...managed }),
  );
  const podInformers = ctx.scopes.map((s) =>
    ctx.informers.informer<Pod>(Resources.pods, { ...s, ...managed }),
  );
  const rollout = new Controller({
    name: 'rollout',
    reconcile: new RolloutReconciler({
      kube: ctx.kube,
      statefulSets: mergedCache(stsInformers),
      pods: mergedCache(podInformers),
      drains: drain.drains,
      clients: drain.clients,
      events: ctx.events,
      metrics: createRolloutMetrics(ctx.registry),
      defaults: drain.defaults,
      fieldManager: ctx.fieldManager,
    }).reconcile,
    workers: ctx.workers,
    logger: ctx.logger,
    registry: ctx.registry,
  });
  for (const inf of stsInformers) watchInto(inf, rollout, { updatePredicate: statefulSetChanged });
  for (const inf of podInformers) watchInto(inf, rollout, { map: statefulSetKeysOf });
  // A drain matters to its StatefulSet's rollout when its phase or release changes (or it is
  // created, deleted, relabelled), not on each probe's status write.
  for (const inf of drain.drainInformers)
    watchInto(inf, rollout, { map: statefulSetKeysOf, updatePredicate: drainStepChanged });
  return rollout;
}

/** The parts of a drain the rollout planner acts on (rollout/view.ts drainView). */
export function drainStepChanged(oldObj: CaptureDrainObject, newObj: CaptureDrainObject): boolean {
  const a = oldObj.status ?? {};
  const b = newObj.status ?? {};
  return (
    oldObj === newObj ||
    oldObj.metadata.resourceVersion === newObj.metadata.resourceVersion ||
    a.phase !== b.phase ||
    a.reason !== b.reason ||
    a.released !== b.released ||
    a.releaseTime !== b.releaseTime ||
    a.captureID !== b.captureID ||
    a.podUID !== b.podUID ||
    a.podRestarts !== b.podRestarts ||
    oldObj.metadata.deletionTimestamp !== newObj.metadata.deletionTimestamp ||
    JSON.stringify(oldObj.metadata.labels ?? {}) !== JSON.stringify(newObj.metadata.labels ?? {})
  );
}

/** The rollout's own progress annotations: written by it, never read back as input. */
const PROGRESS_ANNOTATIONS: ReadonlySet<string> = new Set(
  (['phase', 'message', 'pod', 'remaining', 'eta', 'started'] as const).map((k) => ROLLOUT_ANNOTATIONS[k]),
);

/**
 * A StatefulSet update the rollout must look at: anything but its own progress report (a report
 * would otherwise wake the rollout that wrote it, which then reads TiCDC again).
 */
export function statefulSetChanged(oldObj: StatefulSet, newObj: StatefulSet): boolean {
  if (oldObj === newObj || oldObj.metadata.resourceVersion === newObj.metadata.resourceVersion) return true;
  const input = (o: StatefulSet) =>
    JSON.stringify([
      o.metadata.generation,
      o.metadata.deletionTimestamp,
      o.metadata.labels,
      Object.entries(o.metadata.annotations ?? {}).filter(([k]) => !PROGRESS_ANNOTATIONS.has(k)),
      o.spec,
      o.status,
    ]);
  return input(oldObj) !== input(newObj);
}
