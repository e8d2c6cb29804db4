// Wires the features of one operator instance (the leader): each feature folder exports one setup
// function; the drain feature comes first because rollout, cordon and the gate build on it.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { parseDuration } from './api/capturedrain.js';
import type { OperatorConfig } from './config.js';
import { setupCordon } from './cordon/setup.js';
import { setupDrain, type LeaderContext } from './drain/setup.js';
import { parseEndpointPatterns } from './drain/tenancy.js';
import { setupGate } from './gate/setup.js';
import type { Controller } from './kube/controller.js';
import { TermFence, fenceKubeClient, signalFence, type Fence } from './kube/fence.js';
import type { EventRecorder } from './kube/events.js';
import { InformerSet } from './kube/informer.js';
import type { KubeClient } from './kube/port.js';
import { setupRollout } from './rollout/setup.js';

export interface Manager {
  informers: InformerSet;
  /**
   * Runs the controllers until the signal aborts; resolves after a graceful stop. `term` (the
   * leadership term; default: the signal) fences every Kubernetes request and TiCDC call the
   * controllers make: refused once it ended, cancelled in flight when it ends.
   */
  run(signal: AbortSignal, term?: Fence): Promise<void>;
  /**
   * Starts the informers now (LIST + WATCH), before run(): a standby keeps warm caches, as
   * controller-runtime's manager does, so a start or a failover does not wait for the LISTs after
   * the Lease is won. Reads only; controllers (and every write) still wait for the term.
   */
  startCaches(): void;
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
  const { config, logger, registry } = opts;
  // Informers read with the plain client; every request the features send goes through the fence.
  const informers = new InformerSet(opts.kube, { logger });
  const term = new TermFence();
  const ctx: LeaderContext = {
    kube: fenceKubeClient(opts.kube, term),
    fence: term,
    informers,
    scopes: config.namespaces.length ? config.namespaces.map((namespace) => ({ namespace })) : [{}],
    events: opts.events,
    registry,
    logger,
    workers: config.workers,
    fieldManager: config.fieldManager,
  };
  // Operator-wide drain settings, used when neither spec nor StatefulSet annotations say.
  const defaults = {
    timeout: config.defaultTimeout,
    stallTimeout: config.defaultStallTimeout,
    onTimeout: config.defaultOnTimeout,
    ...(config.defaultEndpoint ? { endpoint: config.defaultEndpoint } : {}),
    ...(config.defaultTlsSecret ? { tlsSecret: config.defaultTlsSecret } : {}),
    ...(config.defaultCredentialsSecret ? { credentialsSecret: config.defaultCredentialsSecret } : {}),
  };
  const drain = setupDrain(ctx, {
    defaults,
    ticdcRequestTimeoutMs: parseDuration(config.ticdcRequestTimeout),
    slotNamespace: config.leaderElectionNamespace,
    drainHistory: config.drainHistory,
    ...(opts.resolveCaptureAddress
      ? { resolveCaptureAddress: opts.resolveCaptureAddress }
      : config.captureUrlTemplate
        ? {
            resolveCaptureAddress: (a: string) =>
              config.captureUrlTemplate!.replace('{address}', encodeURIComponent(a)),
          }
        : {}),
    allowedEndpoints: parseEndpointPatterns(config.allowedEndpoints),
  });
  const controllers: Controller[] = [drain.controller];
  // Node cordon: drain capture pods off unschedulable nodes before evictions arrive.
  if (config.nodeDrains) controllers.push(setupCordon(ctx, drain));
  // Pod-termination gate, leader side (the webhook itself runs on every replica, see main.ts).
  if (config.webhook) setupGate(ctx, drain);
  // Rollouts and scale-ins of managed StatefulSets (leader only, like everything here).
  if (config.rollouts !== false) controllers.push(setupRollout(ctx, drain));

  return {
    informers,
    startCaches: () => informers.start(),
    async run(signal, fence) {
      term.begin(fence ?? signalFence(signal));
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
      await drain.clients.close();
    },
  };
}
