// Wires the informers and controllers of one operator instance (the leader).
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { parseDuration } from './api/capturedrain.js';
import type { OperatorConfig } from './config.js';
import {
  CaptureDrainReconciler,
  type CaptureDrainCache,
  type CaptureDrainObject,
} from './controllers/capturedrain.js';
import { TicdcClientPool } from './controllers/ticdc-clients.js';
import { Controller, watchInto } from './kube/controller.js';
import type { EventRecorder } from './kube/events.js';
import { InformerSet, type Informer } from './kube/informer.js';
import { Resources, type KubeClient } from './kube/port.js';
import { createDrainMetrics } from './observability/metrics.js';
import { RolloutReconciler, statefulSetKeysOf } from './controllers/rollout.js';
import { createRolloutMetrics } from './rollout/metrics.js';
import { MANAGED_LABEL, type PodObject, type StatefulSetObject } from './rollout/view.js';

export interface Manager {
  informers: InformerSet;
  /** Runs the controllers until the signal aborts; resolves after a graceful stop. */
  run(signal: AbortSignal): Promise<void>;
}

export function createManager(opts: {
  config: OperatorConfig;
  kube: KubeClient;
  events: EventRecorder;
  registry: Registry;
  logger: Logger;
}): Manager {
  const { config, kube, logger, registry } = opts;
  const informers = new InformerSet(kube, { logger });
  const scopes = config.namespaces.length ? config.namespaces.map((namespace) => ({ namespace })) : [{}];
  const drainInformers = scopes.map((s) =>
    informers.informer<CaptureDrainObject>(Resources.capturedrains, s),
  );
  const drains: CaptureDrainCache = {
    get: (ns, name) => drainInformers.map((i) => i.get(ns, name)).find(Boolean),
    list: (ns) => drainInformers.flatMap((i: Informer<CaptureDrainObject>) => i.list(ns)),
  };
  const metrics = createDrainMetrics(registry);
  const clients = new TicdcClientPool(kube, {
    metrics,
    requestTimeoutMs: parseDuration(config.ticdcRequestTimeout),
  });
  let controller: Controller | undefined = undefined;
  const reconciler = new CaptureDrainReconciler({
    kube,
    drains,
    clients,
    events: opts.events,
    metrics,
    defaults: {
      timeout: config.defaultTimeout,
      stallTimeout: config.defaultStallTimeout,
      onTimeout: config.defaultOnTimeout,
      ...(config.defaultEndpoint ? { endpoint: config.defaultEndpoint } : {}),
    },
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
  for (const inf of drainInformers) watchInto(inf, controller);

  // Rollouts and scale-ins of managed StatefulSets (leader only, like everything here).
  const controllers: Controller[] = [controller];
  if (config.rollouts !== false) {
    const managed = { labelSelector: `${MANAGED_LABEL}=true` };
    const stsInformers = scopes.map((s) =>
      informers.informer<StatefulSetObject>(Resources.statefulsets, { ...s, ...managed }),
    );
    const podInformers = scopes.map((s) =>
      informers.informer<PodObject>(Resources.pods, { ...s, ...managed }),
    );
    const merged = <T extends { metadata: { namespace?: string } }>(infs: Informer<T>[]) => ({
      get: (ns: string, name: string) => infs.map((i) => i.get(ns, name)).find(Boolean),
      list: (ns?: string) => infs.flatMap((i) => i.list(ns)),
    });
    const rollout = new Controller({
      name: 'rollout',
      reconcile: new RolloutReconciler({
        kube,
        statefulSets: merged(stsInformers),
        pods: merged(podInformers),
        drains,
        clients,
        events: opts.events,
        metrics: createRolloutMetrics(registry),
        defaults: {
          timeout: config.defaultTimeout,
          stallTimeout: config.defaultStallTimeout,
          onTimeout: config.defaultOnTimeout,
          ...(config.defaultEndpoint ? { endpoint: config.defaultEndpoint } : {}),
        },
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
