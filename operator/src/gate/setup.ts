// The pod-termination gate's leader-side wiring: report deletions that bypassed the webhook, and
// nudge StatefulSets whose controller waits to retry a delete the gate now admits. (The webhook
// itself runs on every replica: main.ts starts it with GateHandler and webhook/server.ts.)
import type { CaptureDrainObject } from '../api/capturedrain.js';
import { MANAGED_SELECTOR } from '../api/names.js';
import type { DrainFeature, LeaderContext } from '../drain/setup.js';
import { Resources, type KubeObject } from '../kube/port.js';
import { createGateMetrics } from './metrics.js';
import { StatefulSetNudger } from './nudge.js';
import { UnprotectedDeleteWatcher } from './unprotected.js';

export function setupGate(ctx: LeaderContext, drain: DrainFeature): void {
  const metrics = createGateMetrics(ctx.registry);
  const unprotected = new UnprotectedDeleteWatcher({
    kube: ctx.kube,
    events: ctx.events,
    metrics,
    logger: ctx.logger,
  });
  const nudger = new StatefulSetNudger({ kube: ctx.kube, metrics, logger: ctx.logger });
  for (const s of ctx.scopes)
    ctx.informers
      .informer<KubeObject>(Resources.pods, { ...s, labelSelector: MANAGED_SELECTOR })
      .onUpdate(unprotected.onUpdate)
      .onDelete(unprotected.onDelete);
  for (const inf of drain.drainInformers) {
    inf.onAdd(nudger.onDrain);
    inf.onUpdate((_old: CaptureDrainObject, cur: CaptureDrainObject) => nudger.onDrain(cur));
  }
}
