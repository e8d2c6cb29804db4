// `make demo`: a local control plane, a simulated 4-capture TiCDC cluster and the operator;
// applies a CaptureDrain, prints live progress and the final status, then stops everything.
import { join } from 'node:path';
import { formatDuration } from '../../operator/src/api/capturedrain.js';
import { REPO, eventually, startCluster, stopCluster, type Cluster } from '../harness/cluster.js';
import type { OperatorProcess } from '../harness/operator.js';
import { installOperatorIdentity, startOperator } from '../harness/operator.js';
import { deployTicdc, type TicdcWorkload } from '../harness/workload.js';

const NS = 'demo';
const STATE = join(REPO, 'e2e/controlplane/.state-demo');
const say = (line: string) => console.log(line);

interface Status {
  phase?: string;
  reason?: string;
  message?: string;
  remaining?: Record<string, number>;
  estimatedCompletionTime?: string;
  history?: { phase: string; time: string; reason?: string; message?: string }[];
}

async function main(): Promise<number> {
  let cluster: Cluster | undefined;
  let ticdc: TicdcWorkload | undefined;
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

    say('== Deploying a TiCDC StatefulSet (4 kwok pods) with a simulated TiCDC cluster (3 changefeeds)');
    ticdc = await deployTicdc(cluster, { namespace: NS, replicas: 4, sim: { moveRatePerSec: 2 } });
    for (const cap of ticdc.sim.captures())
      say(
        `   ${cap.podName}  capture ${cap.id.slice(0, 8)}  ${cap.isOwner ? 'coordinator' : '           '}  ${cap.maintainers} maintainers, ${cap.dispatchers} dispatchers`,
      );

    say('== Starting the operator (as its chart ServiceAccount, RBAC enforced)');
    const kubeconfig = await installOperatorIdentity(cluster, NS, join(STATE, 'operators'));
    operator = startOperator({ kubeconfig, namespace: NS, logDir: join(STATE, 'logs') });

    const target = ticdc.sim.captures().find((x) => x.isOwner)!.podName!;
    say(`== kubectl apply: CaptureDrain demo-drain for ${target} (the coordinator), podAction Delete`);
    const manifest = {
      apiVersion: 'drain.ticdc.io/v1alpha1',
      kind: 'CaptureDrain',
      metadata: { name: 'demo-drain', namespace: NS },
      spec: { podName: target, podAction: 'Delete' },
    };
    await cluster.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(manifest) });

    let last = '';
    const t0 = Date.now();
    const final = await eventually(
      'the drain to finish',
      async () => {
        const obj = await cluster!.getJson<{ status?: Status }>([
          'get',
          'capturedrain',
          'demo-drain',
          '-n',
          NS,
        ]);
        const s = obj.status ?? {};
        const counts = s.remaining
          ? Object.entries(s.remaining)
              .map(([k, v]) => `${k}=${v}`)
              .join(' ')
          : '';
        const eta = s.estimatedCompletionTime
          ? `ETA ${formatDuration(Date.parse(s.estimatedCompletionTime) - Date.now())}`
          : '';
        const line = `${(s.phase ?? 'Pending').padEnd(15)} ${counts.padEnd(24)} ${eta.padEnd(9)} ${s.message ?? ''}`;
        if (line !== last) say(`   [${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${line}`);
        last = line;
        return s.phase === 'Completed' || s.phase === 'Failed' ? s : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 300 },
    );

    say('== Final status');
    say((await cluster.kubectlOk(['get', 'cdrain', '-n', NS, '-o', 'wide'])).trimEnd());
    for (const h of final.history ?? [])
      say(`   ${h.time}  ${h.phase.padEnd(15)} ${h.reason ?? ''}  ${h.message ?? ''}`);
    await eventually('the pod to be back', async () => ticdc!.sim.captures().length === 4, {
      timeoutMs: 60_000,
    });
    say(`== ${target} was recreated by its StatefulSet and registered as a new capture:`);
    for (const cap of ticdc.sim.captures())
      say(
        `   ${cap.podName}  capture ${cap.id.slice(0, 8)}  ${cap.isOwner ? 'coordinator' : '           '}  ${cap.maintainers} maintainers, ${cap.dispatchers} dispatchers`,
      );
    const violations = ticdc.sim.violations();
    say(`== Captures removed while still holding work: ${violations.length}`);
    return final.phase === 'Completed' && violations.length === 0 ? 0 : 1;
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
