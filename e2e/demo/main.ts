// `make demo`: a local control plane, the ticdc-example chart (4 kwok pods whose captures the TiCDC
// simulator plays) and the operator; `helm upgrade --set image.tag=...` then rolls every capture pod
// through a drain, one at a time. Prints live progress and what happened, then stops everything.
import { captureUrlArgs } from '../harness/capture-router.js';
import { join } from 'node:path';
import { formatDuration } from '../../operator/src/api/capturedrain.js';
import { REPO, eventually, startCluster, stopCluster, type Cluster } from '../harness/cluster.js';
import type { OperatorProcess } from '../harness/operator.js';
import { installOperatorIdentity, startOperator } from '../harness/operator.js';
import { installTicdcChart, type TicdcRelease } from '../harness/ticdc-chart.js';

const NS = 'demo';
const REPLICAS = 4;
const STATE = join(REPO, 'e2e/controlplane/.state-demo');
const say = (line: string) => console.log(line);

interface Drain {
  metadata: { name: string; creationTimestamp: string };
  spec: { podName: string; trigger?: string };
  status?: {
    phase?: string;
    reason?: string;
    remaining?: Record<string, number>;
    ownerResigned?: boolean;
    startTime?: string;
    drainedTime?: string;
    completionTime?: string;
  };
}
interface StatefulSet {
  metadata: { generation: number; annotations?: Record<string, string> };
  spec: { replicas: number; updateStrategy: { rollingUpdate?: { partition?: number } } };
  status: { observedGeneration?: number; updateRevision?: string };
}

function printCaptures(ticdc: TicdcRelease) {
  for (const cap of [...ticdc.sim.captures()].sort((a, b) =>
    (a.podName ?? '').localeCompare(b.podName ?? ''),
  ))
    say(
      `   ${(cap.podName ?? '?').padEnd(8)} capture ${cap.id.slice(0, 8)}  ${cap.isOwner ? 'coordinator' : '           '}  ${cap.maintainers} maintainers, ${cap.dispatchers} dispatchers`,
    );
}

async function main(): Promise<number> {
  let cluster: Cluster | undefined;
  let ticdc: TicdcRelease | undefined;
  let operator: OperatorProcess | undefined;
  const stop = async () => {
    await operator?.stop();
    await ticdc?.sim.stop();
    await stopCluster(STATE);
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    say(
      '== Starting a local Kubernetes control plane (kube-apiserver, etcd, controller-manager, scheduler, kwok)',
    );
    await stopCluster(STATE);
    cluster = await startCluster(STATE);
    await cluster.kubectlOk(['apply', '--server-side', '-f', join(REPO, 'crds/capturedrain.yaml')]);
    await cluster.kubectlOk(['wait', '--for=condition=Established', 'crd/capturedrains.drain.ticdc.io']);

    say(
      `== helm install ticdc charts/ticdc-example: ${REPLICAS} capture pods (kwok), simulated TiCDC, 3 changefeeds`,
    );
    ticdc = await installTicdcChart(cluster, {
      namespace: NS,
      replicas: REPLICAS,
      sim: { moveRatePerSec: 3 },
    });
    printCaptures(ticdc);
    const c = cluster;
    const sts = () => c.getJson<StatefulSet>(['get', 'statefulset', ticdc!.name, '-n', NS]);
    say(
      `   partition held at ${(await sts()).spec.updateStrategy.rollingUpdate?.partition}: nothing rolls undrained`,
    );

    say('== Starting the operator (as its chart ServiceAccount, RBAC enforced)');
    const kubeconfig = await installOperatorIdentity(cluster, NS, join(STATE, 'operators'));
    operator = startOperator({
      kubeconfig,
      namespace: NS,
      logDir: join(STATE, 'logs'),
      extraArgs: ['--namespaces', NS, ...(await captureUrlArgs())],
    });

    say(
      '== helm upgrade ticdc --set image.tag=v8.5.8 (a new pod template: every capture pod must be replaced)',
    );
    const t0 = Date.now();
    const upgrade = ticdc.upgrade({ 'image.tag': 'v8.5.8' });
    let last = '';
    const drainLine = (d: Drain) => {
      const s = d.status ?? {};
      const counts = s.remaining
        ? Object.entries(s.remaining)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')
        : '';
      return `${d.spec.podName}:${s.phase ?? 'Pending'}${counts ? ` (${counts})` : ''}`;
    };
    await eventually(
      'the drained rollout to finish',
      async () => {
        const s = await sts();
        const drains = (await c.getJson<{ items: Drain[] }>(['get', 'capturedrains', '-n', NS])).items.filter(
          (d) => d.spec.trigger === 'RollingUpdate' && d.status?.phase !== 'Completed',
        );
        const ann = s.metadata.annotations ?? {};
        const phase = ann['drain.ticdc.io/rollout-phase'] ?? '-';
        const eta = ann['drain.ticdc.io/rollout-eta']
          ? ` ETA ${formatDuration(Date.parse(ann['drain.ticdc.io/rollout-eta']) - Date.now())}`
          : '';
        const line = `${phase.padEnd(13)} partition=${s.spec.updateStrategy.rollingUpdate?.partition}${eta}  ${drains.map(drainLine).join(' ')}  ${ann['drain.ticdc.io/rollout-message'] ?? ''}`;
        if (line !== last) say(`   [${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${line}`);
        last = line;
        const pods = await c.getJson<{
          items: { metadata: { labels?: Record<string, string> } }[];
        }>(['get', 'pods', '-n', NS, '-l', `app.kubernetes.io/instance=${ticdc!.release}`]);
        return (
          s.status.observedGeneration === s.metadata.generation &&
          phase === 'Idle' &&
          pods.items.length === REPLICAS &&
          pods.items.every(
            (p) => p.metadata.labels?.['controller-revision-hash'] === s.status.updateRevision,
          ) &&
          ticdc!.sim.captures().length === REPLICAS
        );
      },
      { timeoutMs: 300_000, intervalMs: 300 },
    );
    const helmMs = await upgrade;
    const tookMs = Date.now() - t0;

    say('== What happened');
    const drains = (await c.getJson<{ items: Drain[] }>(['get', 'capturedrains', '-n', NS])).items
      .filter((d) => d.spec.trigger === 'RollingUpdate')
      .sort((a, b) => Date.parse(a.status?.startTime ?? '') - Date.parse(b.status?.startTime ?? ''));
    for (const d of drains) {
      const s = d.status ?? {};
      const drainSecs = (Date.parse(s.drainedTime ?? '') - Date.parse(s.startTime ?? '')) / 1000;
      say(
        `   ${d.spec.podName.padEnd(8)} ${d.metadata.name.padEnd(18)} ${(s.phase ?? '').padEnd(10)} ${(s.reason ?? '').padEnd(8)} drained in ${drainSecs.toFixed(1)} s${s.ownerResigned ? '  (coordinator: resigned first)' : ''}`,
      );
    }
    say((await c.kubectlOk(['get', 'cdrain', '-n', NS, '-o', 'wide'])).trimEnd());
    say(`   events on the StatefulSet:`);
    const events = await c.getJson<{
      items: {
        reason: string;
        note: string;
        regarding: { kind: string };
        metadata: { creationTimestamp: string };
      }[];
    }>(['get', 'events.events.k8s.io', '-n', NS]);
    for (const e of events.items
      .filter((x) => x.regarding.kind === 'StatefulSet')
      .sort((a, b) => a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp)))
      say(`     ${e.reason.padEnd(18)} ${e.note}`);
    say('== The captures now (every pod a new incarnation, registered as a new capture):');
    printCaptures(ticdc);
    say(
      `   rollout of ${REPLICAS} captures: ${(tookMs / 1000).toFixed(1)} s (helm upgrade --wait returned after ${(helmMs / 1000).toFixed(1)} s; the partition is held at ${(await sts()).spec.updateStrategy.rollingUpdate?.partition} again)`,
    );
    const violations = ticdc.sim.violations();
    say(`== Captures removed while still holding work: ${violations.length}`);
    for (const v of violations) say(`   ${JSON.stringify(v)}`);
    const ok =
      drains.length === REPLICAS &&
      drains.every((d) => d.status?.phase === 'Completed' && d.status.reason === 'Drained') &&
      violations.length === 0;
    return ok ? 0 : 1;
  } finally {
    say('== Stopping everything the demo started');
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
