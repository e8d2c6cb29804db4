// Wires the informers and controllers of one operator instance (the leader).
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { MANAGED_SELECTOR, parseDuration } from './api/capturedrain.js';
import type { OperatorConfig } from './config.js';
import {
  CaptureDrainReconciler,
  drainUpdateNeedsReconcile,
  type CaptureDrainCache,
  type CaptureDrainObject,
} from './controllers/capturedrain.js';
import { createNodeController } from './controllers/node.js';
import { TicdcClientPool } from './controllers/ticdc-clients.js';
import { Controller, watchInto } from './kube/controller.js';
import type { EventRecorder } from './kube/events.js';
import { RolloutReconciler, statefulSetKeysOf } from './controllers/rollout.js';
import { createGateMetrics } from './gate/metrics.js';
import { StatefulSetNudger } from './gate/nudge.js';
import { UnprotectedDeleteWatcher } from './gate/unprotected.js';
import { InformerSet, type Informer } from './kube/informer.js';
import { Resources, type KubeClient, type KubeObject } from './kube/port.js';
import { createDrainMetrics } from './observability/metrics.js';
import { createRolloutMetrics } from './rollout/metrics.js';
import type { PodObject, StatefulSetObject } from './rollout/view.js';

export interface Manager {
  informers: InformerSet;
  /** Runs the controllers until the signal aborts; resolves after a graceful stop. */
  run(signal: AbortSignal): Promise<void>;
}

/** One cache over the per-namespace informers of a kind (one informer when all namespaces are watched). */
function mergedCache<T extends KubeObject>(infs: Informer<T>[]) {
  return {
    get: (ns: string, name: string) => infs.map((i) => i.get(ns, name)).find(Boolean),
    list: (ns?: string) => infs.flatMap((i) => i.list(ns)),
  };
}

export function createManager(opts: {
  config: OperatorConfig;
  kube: KubeClient;
  events: EventRecorder;
  registry: Registry;
  logger: Logger;
  /** Advertise address -> URL of that capture, where in-cluster DNS does not reach it (tests). */
  resolveCaptureAddress?: (address: string) => string | undefined;
}): Manager {
  const { config, kube, logger, registry } = opts;
  const informers = new InformerSet(kube, { logger });
  const scopes = config.namespaces.length ? config.namespaces.map((namespace) => ({ namespace })) : [{}];
  const drainInformers = scopes.map((s) =>
    informers.informer<CaptureDrainObject>(Resources.capturedrains, s),
  );
  const drains: CaptureDrainCache = mergedCache(drainInformers);
  const metrics = createDrainMetrics(registry);
  const clients = new TicdcClientPool(kube, {
    metrics,
    requestTimeoutMs: parseDuration(config.ticdcRequestTimeout),
    ...(opts.resolveCaptureAddress ? { resolveCaptureAddress: opts.resolveCaptureAddress } : {}),
  });
  let controller: Controller | undefined = undefined;
  // Operator-wide drain settings, used when neither spec nor StatefulSet annotations say.
  const defaults = {
    timeout: config.defaultTimeout,
    stallTimeout: config.defaultStallTimeout,
    onTimeout: config.defaultOnTimeout,
    ...(config.defaultEndpoint ? { endpoint: config.defaultEndpoint } : {}),
    ...(config.defaultTlsSecret ? { tlsSecret: config.defaultTlsSecret } : {}),
    ...(config.defaultCredentialsSecret ? { credentialsSecret: config.defaultCredentialsSecret } : {}),
  };
  const reconciler = new CaptureDrainReconciler({
    kube,
    drains,
    clients,
    events: opts.events,
    metrics,
    defaults,
    enqueue: (key) => controller?.enqueue(key),
    fieldManager: config.fieldManager,
  });
  controller = new Controller({
    name: 'capturedrain',
    reconcile: reconciler.reconcile,
    workers: config.workers,
    logger,
    registry,
  });
  for (const inf of drainInformers)
    watchInto(inf, controller, { updatePredicate: drainUpdateNeedsReconcile });
  // Node cordon: drain capture pods off unschedulable nodes before evictions arrive.
  const nodeController = config.nodeDrains
    ? createNodeController({
        kube,
        informers,
        scopes,
        drains,
        drainInformers,
        events: opts.events,
        registry,
        logger,
      })
    : undefined;

  // Pod-termination gate, leader side: report deletions that bypassed the webhook, and nudge
  // StatefulSets whose controller waits to retry a delete the gate now admits.
  if (config.webhook) {
    const gateMetrics = createGateMetrics(registry);
    const unprotected = new UnprotectedDeleteWatcher({
      kube,
      events: opts.events,
      metrics: gateMetrics,
      logger,
    });
    const nudger = new StatefulSetNudger({ kube, metrics: gateMetrics, logger });
    for (const s of scopes)
      informers
        .informer<KubeObject>(Resources.pods, { ...s, labelSelector: MANAGED_SELECTOR })
        .onUpdate(unprotected.onUpdate);
    for (const inf of drainInformers) {
      inf.onAdd(nudger.onDrain);
      inf.onUpdate((_old, cur) => nudger.onDrain(cur));
    }
  }

  // Rollouts and scale-ins of managed StatefulSets (leader only, like everything here).
  const controllers: Controller[] = [controller];
  if (nodeController) controllers.push(nodeController);
  if (config.rollouts !== false) {
    const managed = { labelSelector: MANAGED_SELECTOR };
    const stsInformers = scopes.map((s) =>
      informers.informer<StatefulSetObject>(Resources.statefulsets, { ...s, ...managed }),
    );
    const podInformers = scopes.map((s) =>
      informers.informer<PodObject>(Resources.pods, { ...s, ...managed }),
    );
    const rollout = new Controller({
      name: 'rollout',
      reconcile: new RolloutReconciler({
        kube,
        statefulSets: mergedCache(stsInformers),
        pods: mergedCache(podInformers),
        drains,
        clients,
        events: opts.events,
        metrics: createRolloutMetrics(registry),
        defaults,
        fieldManager: config.fieldManager,
      }).reconcile,
      workers: config.workers,
      logger,
      registry,
    });
    for (const inf of stsInformers) watchInto(inf, rollout);
    for (const inf of podInformers) watchInto(inf, rollout, { map: statefulSetKeysOf });
    for (const inf of drainInformers) watchInto(inf, rollout, { map: statefulSetKeysOf });
    controllers.push(rollout);
  }

  return {
    informers,
    async run(signal) {
      informers.start();
      const synced = await informers.waitForSync(signal);
      if (!synced) {
        await informers.stop();
        return;
      }
      logger.info('Caches synced; starting controllers');
      // Resolves once the signal aborts and in-flight reconciles finished.
      await Promise.all(controllers.map((c) => c.start(signal)));
      await informers.stop();
      await clients.close();
    },
  };
}
