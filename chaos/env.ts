// The world a chaos run acts on: one charts/ticdc-example release on the real control plane played
// by the simulator, the operator fleet (chart ServiceAccount, termination gate behind one webhook
// address), a CaptureDrain watch, the simulator's request log, and the reads that turn all of it
// into a ScenarioObservation for checks.ts.
import { join } from 'node:path';
import { createKubeClient } from '../operator/src/kube/client.js';
import { loadKubeconfigFile } from '../operator/src/kube/kubeconfig.js';
import { Resources, type KubeClient, type KubeObject, type WatchHandle } from '../operator/src/kube/port.js';
import { captureUrlArgs } from '../e2e/harness/capture-router.js';
import { eventually, type Cluster } from '../e2e/harness/cluster.js';
import { installOperatorIdentity } from '../e2e/harness/operator.js';
import { installTicdcChart, type TicdcRelease } from '../e2e/harness/ticdc-chart.js';
import { applyGateWebhook, caBundles } from '../e2e/harness/webhook.js';
import { Rng } from '../e2e/ticdc-sim/random.js';
import type { SimRequestRecord } from '../e2e/ticdc-sim/simulator.js';
import {
  durationMs,
  TERMINAL,
  type DrainEventObs,
  type DrainObs,
  type PodObs,
  type ScenarioObservation,
} from './checks.js';
import { Fleet } from './fleet.js';

export interface EnvOptions {
  cluster: Cluster;
  /** Namespace of the TiCDC release; the operator's is `<namespace>-op`. */
  namespace: string;
  replicas: number;
  operators: number;
  seed: number;
  logDir: string;
  /** Dispatchers moved per second off a drained capture. */
  moveRatePerSec: number;
  drainTimeout: string;
  stallTimeout: string;
}

export interface Pod extends KubeObject {
  spec: { nodeName?: string };
  status?: {
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; restartCount?: number }[];
  };
}
export interface Sts extends KubeObject {
  spec: { replicas: number };
  status?: { updateRevision?: string; currentRevision?: string };
}
export interface Drain extends KubeObject {
  spec: { podName?: string; trigger?: string; timeout?: string };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    podUID?: string;
    startTime?: string;
    drainedTime?: string;
    completionTime?: string;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (t: string | undefined) => (t ? Date.parse(t) : undefined);
export const STS = 'ticdc';
export const ROLLOUT_ANNOTATION = 'chaos.ticdc.io/rollout';

export class ChaosEnv {
  readonly drainEvents: DrainEventObs[] = [];
  private watch: WatchHandle | undefined;
  private watching = true;
  private watchLoop: Promise<void> | undefined;
  private rollouts = 0;
  readonly rng: Rng;

  private constructor(
    readonly opts: EnvOptions,
    readonly kube: KubeClient & { close(): Promise<void> },
    readonly release: TicdcRelease,
    readonly fleet: Fleet,
    readonly opNamespace: string,
    /** Arrival times of every TiCDC request the simulator answered (errors and resets included). */
    readonly requests: number[],
    /** The same requests with route and answer, for CHAOS_DUMP timelines. */
    readonly requestLog: SimRequestRecord[],
  ) {
    this.rng = new Rng(opts.seed);
  }

  get cluster(): Cluster {
    return this.opts.cluster;
  }
  get ns(): string {
    return this.opts.namespace;
  }
  get sim() {
    return this.release.sim;
  }

  static async create(opts: EnvOptions): Promise<ChaosEnv> {
    const c = opts.cluster;
    const opNs = `${opts.namespace}-op`;
    const kube = createKubeClient(loadKubeconfigFile(c.kubeconfig));
    const requests: number[] = [];
    const requestLog: SimRequestRecord[] = [];
    const release = await installTicdcChart(c, {
      namespace: opts.namespace,
      replicas: opts.replicas,
      sim: {
        moveRatePerSec: opts.moveRatePerSec,
        seed: opts.seed,
        onRequest: (r) => {
          requests.push(r.at);
          if (process.env.CHAOS_DUMP) requestLog.push(r);
        },
      },
      set: {
        'drain.timeout': opts.drainTimeout,
        'drain.stallTimeout': opts.stallTimeout,
        'drain.podReadyTimeout': '3m',
      },
    });
    const kubeconfig = await installOperatorIdentity(c, opNs, join(c.stateDir, 'chaos-operators'));
    const fleet = new Fleet({
      kubeconfig,
      namespace: opNs,
      logDir: opts.logDir,
      args: [
        ...(await captureUrlArgs()),
        '--namespaces',
        opts.namespace,
        '--log-level',
        process.env.CHAOS_LOG_LEVEL ?? 'info',
      ],
      kube,
      restartDelayMs: () => 1000 + Math.floor(Math.random() * 2000),
    });
    const env = new ChaosEnv(opts, kube, release, fleet, opNs, requests, requestLog);
    await fleet.webhookPort();
    await fleet.start(opts.operators);
    await env.webhook('Ignore');
    await eventually('caBundle published by the operator', async () => (await caBundles(c)).every(Boolean), {
      timeoutMs: 60_000,
    });
    env.startWatch();
    return env;
  }

  /** Applies the chart's webhook configuration at the fleet's address under `failurePolicy`. */
  async webhook(failurePolicy: 'Ignore' | 'Fail'): Promise<void> {
    await applyGateWebhook(this.cluster, {
      releaseNamespace: this.opNamespace,
      port: await this.fleet.webhookPort(),
      namespaces: [this.ns],
      failurePolicy,
    });
  }

  private startWatch(): void {
    this.watchLoop = (async () => {
      while (this.watching) {
        try {
          this.watch = await this.kube.watch<Drain>(
            Resources.capturedrains,
            { namespace: this.ns, timeoutSeconds: 120 },
            (type, d) => {
              if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
              this.drainEvents.push({
                key: `${d.metadata.namespace}/${d.metadata.name}/${d.metadata.uid}`,
                cluster: d.metadata.namespace!,
                type,
                ...(d.status?.phase ? { phase: d.status.phase } : {}),
                started: !!d.status?.startTime,
                at: Date.now(),
              });
            },
          );
          await this.watch.done.catch(() => undefined);
        } catch {
          // the API server is down (a fault of the run): retry
        }
        if (this.watching) await sleep(500);
      }
    })();
  }

  /** A template change: the StatefulSet gets a new update revision. */
  async bumpTemplate(): Promise<void> {
    this.rollouts++;
    await this.cluster.kubectlOk([
      'patch',
      'statefulset',
      STS,
      '-n',
      this.ns,
      '--type=merge',
      '-p',
      JSON.stringify({
        spec: {
          template: { metadata: { annotations: { [ROLLOUT_ANNOTATION]: `${Date.now()}-${this.rollouts}` } } },
        },
      }),
    ]);
  }

  async sts(): Promise<Sts> {
    return (await this.kube.get<Sts>(Resources.statefulsets, this.ns, STS))!;
  }
  async pods(): Promise<Pod[]> {
    return (
      await this.kube.list<Pod>(Resources.pods, {
        namespace: this.ns,
        labelSelector: `app.kubernetes.io/instance=${this.release.release}`,
      })
    ).items.sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
  }
  async drains(): Promise<Drain[]> {
    return (await this.kube.list<Drain>(Resources.capturedrains, { namespace: this.ns })).items;
  }

  /** The simulator's drain session target while a drain runs (the capture being drained). */
  drainingCapture() {
    const snap = this.sim.state().drain;
    const session = snap.mode === 'newarch' ? snap.session : null;
    return session && !session.completed ? this.sim.capture(session.target) : undefined;
  }

  async waitDraining(timeoutMs = 90_000) {
    return eventually('a capture draining', async () => this.drainingCapture(), {
      timeoutMs,
      intervalMs: 50,
    });
  }

  /** What kubelet does after a crash: the container restarts (restartCount + 1). */
  async restartContainer(pod: string): Promise<void> {
    const p = await this.kube.get<Pod>(Resources.pods, this.ns, pod);
    if (!p) return;
    const n = (p.status?.containerStatuses?.[0]?.restartCount ?? 0) + 1;
    await this.cluster.kubectlOk([
      'patch',
      'pod',
      pod,
      '-n',
      this.ns,
      '--subresource=status',
      '--type=strategic',
      '-p',
      JSON.stringify({ status: { containerStatuses: [{ name: 'ticdc', restartCount: n }] } }),
    ]);
  }

  private podObs(pods: Pod[], sts: Sts): PodObs[] {
    return pods.map((p) => ({
      name: p.metadata.name!,
      uid: p.metadata.uid!,
      ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
      updated: p.metadata.labels?.['controller-revision-hash'] === sts.status?.updateRevision,
      deleting: !!p.metadata.deletionTimestamp,
    }));
  }

  /** Rollout state: done (every pod updated, Ready, registered, no drain running) or failed closed. */
  async rolloutState(since: number, replicas: number): Promise<'done' | 'failed' | 'running'> {
    const [sts, pods, drains] = await Promise.all([this.sts(), this.pods(), this.drains()]);
    const mine = drains.filter((d) => Date.parse(d.metadata.creationTimestamp!) >= since - 1000);
    if (mine.some((d) => d.status?.phase === 'Failed')) return 'failed';
    if (sts.metadata.annotations?.['drain.ticdc.io/rollout-phase'] === 'Blocked') return 'failed';
    const obs = this.podObs(pods, sts);
    const captures = this.sim.captures();
    const registered = obs.every((p) =>
      captures.some((c) => c.podUid === p.uid && !c.exit && c.liveness === 'alive'),
    );
    const done =
      sts.spec.replicas === replicas &&
      obs.length === replicas &&
      obs.every((p) => p.updated && p.ready && !p.deleting) &&
      registered &&
      captures.length === replicas &&
      drains.every((d) => TERMINAL.has(d.status?.phase ?? '')) &&
      (sts.metadata.annotations?.['drain.ticdc.io/rollout-phase'] ?? 'Idle') === 'Idle';
    return done ? 'done' : 'running';
  }

  async observe(
    base: Pick<
      ScenarioObservation,
      | 'scenario'
      | 'start'
      | 'human'
      | 'rolloutFinished'
      | 'rolloutDoneAt'
      | 'kills'
      | 'faults'
      | 'failoversMs'
      | 'asserted'
    >,
    seq: { events: number; violations: number },
    expectedReplicas: number,
    /** Drains of the scenario deleted meanwhile (the human's step), as last read. */
    removed?: Drain[],
  ): Promise<ScenarioObservation> {
    const [sts, pods, drains] = await Promise.all([this.sts(), this.pods(), this.drains()]);
    const now = Date.now();
    const seen = new Set(drains.map((d) => d.metadata.uid));
    const drainObs: DrainObs[] = [...drains, ...(removed ?? []).filter((d) => !seen.has(d.metadata.uid))]
      .filter((d) => Date.parse(d.metadata.creationTimestamp!) >= base.start - 1000)
      .map((d) => ({
        namespace: d.metadata.namespace!,
        name: d.metadata.name!,
        uid: d.metadata.uid!,
        ...(d.spec.podName ? { podName: d.spec.podName } : {}),
        ...(d.spec.trigger ? { trigger: d.spec.trigger } : {}),
        ...(d.status?.phase ? { phase: d.status.phase } : {}),
        ...(d.status?.reason ? { reason: d.status.reason } : {}),
        ...(d.status?.message ? { message: d.status.message } : {}),
        ...(d.status?.podUID ? { podUID: d.status.podUID } : {}),
        createdAt: Date.parse(d.metadata.creationTimestamp!),
        ...(ms(d.status?.startTime) !== undefined ? { startTime: ms(d.status?.startTime)! } : {}),
        ...(ms(d.status?.drainedTime) !== undefined ? { drainedTime: ms(d.status?.drainedTime)! } : {}),
        ...(ms(d.status?.completionTime) !== undefined
          ? { completionTime: ms(d.status?.completionTime)! }
          : {}),
        timeoutMs: durationMs(d.spec.timeout ?? this.opts.drainTimeout),
      }));
    return {
      ...base,
      now,
      expectedReplicas,
      pods: this.podObs(pods, sts),
      captures: this.sim.captures().map((c) => ({
        id: c.id,
        ...(c.podName ? { podName: c.podName } : {}),
        ...(c.podUid ? { podUid: c.podUid } : {}),
        liveness: c.liveness,
        exited: !!c.exit,
      })),
      violations: this.sim
        .violations()
        .slice(seq.violations)
        .map((v) => ({
          captureId: v.captureId,
          ...(v.podName ? { podName: v.podName } : {}),
          cause: v.cause,
          injected: v.injected,
          maintainers: v.maintainers,
          dispatchers: v.dispatchers,
        })),
      drains: drainObs,
      drainEvents: this.drainEvents.slice(seq.events),
      requests: this.requests.filter((t) => t >= base.start),
    };
  }

  async close(): Promise<void> {
    this.watching = false;
    this.watch?.abort();
    await this.fleet.stop();
    await this.watchLoop;
    await this.sim.stop();
    await this.kube.close();
  }
}
