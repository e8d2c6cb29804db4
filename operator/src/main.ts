// `capture-drain operator`: configuration, logger, Kubernetes client, leader election,
// controllers and the probe/metrics server; graceful shutdown on SIGTERM.
import { parseDuration } from './api/capturedrain.js';
import { CONFIG_USAGE, ConfigError, loadConfig } from './config.js';
import { createKubeClient } from './kube/client.js';
import { KubeconfigError, loadKubeAccess, type KubeAccess } from './kube/kubeconfig.js';
import { EventRecorder } from './kube/events.js';
import { LeaderElector } from './kube/leader.js';
import { createManager } from './manager.js';
import { createLogger } from './observability/logger.js';
import { createRegistry } from './observability/metrics.js';
import { createProbeServer, informersHealthyCheck, syncedCheck } from './observability/server.js';
import { GateHandler } from './gate/handler.js';
import { whoAmI } from './kube/identity.js';
import { createGateMetrics } from './gate/metrics.js';
import { FileCertSource, SecretCertSource } from './webhook/cert-sources.js';
import { WebhookServer } from './webhook/server.js';
import { OPERATOR_NAME, REPORTING_CONTROLLER } from './api/names.js';

export async function operatorCommand(
  argv: string[],
  io: { out: (line: string) => void; err: (line: string) => void; signal?: AbortSignal },
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(CONFIG_USAGE);
    return 0;
  }
  let config;
  try {
    config = loadConfig(argv);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`capture-drain operator: ${err.message}\n\n${CONFIG_USAGE}`);
    return 64;
  }
  const logger = createLogger({ level: config.logLevel });
  let access: KubeAccess;
  try {
    access = loadKubeAccess(config.kubeconfig);
  } catch (err) {
    if (!(err instanceof KubeconfigError)) throw err;
    io.err(`capture-drain operator: ${err.message}`);
    return 1;
  }
  const kube = createKubeClient(access, {
    fieldManager: config.fieldManager,
    userAgent: OPERATOR_NAME,
  });
  const registry = createRegistry();
  const events = new EventRecorder({
    client: kube,
    reportingController: REPORTING_CONTROLLER,
    reportingInstance: config.identity.slice(0, 128),
    logger,
  });
  const manager = createManager({ config, kube, events, registry, logger });
  // Warm the caches first: their LISTs overlap the rest of the start (probe server, webhook
  // certificate, identity lookup) and the Lease acquisition (or a standby's wait).
  manager.startCaches();
  const probes = createProbeServer({
    registry,
    port: config.httpPort,
    host: config.httpHost,
    logger,
    healthChecks: { informers: informersHealthyCheck(manager.informers) },
  });
  const port = await probes.listen();
  logger.info(
    {
      port,
      identity: config.identity,
      namespaces: config.namespaces,
      apiServer: access.server,
      auth: access.source,
    },
    'Operator starting',
  );

  const stop = new AbortController();
  io.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  // The pod-termination gate's webhook runs on every replica, leader or not.
  const webhookStop = new AbortController();
  stop.signal.addEventListener('abort', () => webhookStop.abort(), { once: true });
  let webhookDone: Promise<void> = Promise.resolve();
  if (config.webhook) {
    const w = config.webhook;
    const source =
      w.certMode === 'files'
        ? new FileCertSource(w.certDir)
        : new SecretCertSource({
            kube,
            namespace: config.leaderElectionNamespace,
            secretName: w.secret,
            webhookConfiguration: w.configuration,
            hosts: w.hosts,
            logger,
          });
    const operatorUsername = await whoAmI(kube).catch((err: unknown) => {
      logger.warn(
        { err: (err as Error).message },
        'Could not learn the operator user name (SelfSubjectReview): its deletes of released pods pass the gate only as drained',
      );
      return undefined;
    });
    logger.info({ operatorUsername }, 'Termination gate knows the operator as');
    const gate = new GateHandler({
      kube,
      events,
      metrics: createGateMetrics(registry),
      logger,
      ...(operatorUsername ? { operatorUsername } : {}),
      namespaces: config.namespaces,
    });
    const webhook = new WebhookServer({
      host: w.host,
      port: w.port,
      source,
      review: (req) => gate.review(req),
      logger,
      registry,
      // Files: pick up a renewed mounted Secret soon; operator mode: renewal is months ahead.
      refreshMs: w.certMode === 'files' ? 10_000 : 60_000,
    });
    probes.addReadyCheck('webhook', webhook.readyCheck);
    webhookDone = webhook.run(webhookStop.signal);
  }
  let lost = false;
  const synced = syncedCheck(manager.informers);
  if (config.leaderElect) {
    // /readyz: what every replica serves (the webhook, checked above); a standby and a leader still
    // syncing are ready. /leaderz (and capture_drain_leader_ready): holding the lease, caches synced.
    probes.addLeaderCheck('leader', () =>
      elector.isLeader() ? undefined : `standby (lease held by ${elector.getLeader() ?? 'nobody yet'})`,
    );
    probes.addLeaderCheck('informers', synced);
    const elector: LeaderElector = new LeaderElector({
      client: kube,
      namespace: config.leaderElectionNamespace,
      name: config.leaderElectionId,
      identity: config.identity,
      logger,
      registry,
      leaseDurationMs: parseDuration(config.leaseDuration),
      renewDeadlineMs: parseDuration(config.renewDeadline),
      retryPeriodMs: parseDuration(config.retryPeriod),
      onStartedLeading: (signal, term) => manager.run(signal, term),
      onStoppedLeading: () => {
        if (!stop.signal.aborted) lost = true;
      },
    });
    await elector.run(stop.signal);
    await manager.informers.stop(); // a standby that never led stops its caches here
  } else {
    // The only replica is the leader: ready once its caches synced, on both endpoints.
    probes.addReadyCheck('informers', synced);
    probes.addLeaderCheck('informers', synced);
    await manager.run(stop.signal);
  }
  webhookStop.abort();
  await webhookDone;
  await events.flush();
  await probes.close();
  await kube.close();
  logger.info({ lost }, 'Operator stopped');
  // Like controller-runtime's manager: a lost lease ends the process so it restarts clean.
  return lost ? 1 : 0;
}
