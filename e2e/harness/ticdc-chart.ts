// charts/ticdc-example installed with helm on the e2e control plane: a TiCDC StatefulSet of kwok
// pods opted in to the operator, whose captures the simulator plays (kube pod source, advertise
// address <pod>.<release>-peer.<ns>.svc:8300, as the chart's --advertise-addr).
import { join } from 'node:path';
import type { SimulatorOptions, TicdcSimulator } from '../ticdc-sim/index.js';
import { REPO, type Cluster } from './cluster.js';
import { startSimulatorForPods, waitForCapturesWithWork } from './workload.js';

export const TICDC_CHART = join(REPO, 'charts/ticdc-example');

export interface TicdcRelease {
  namespace: string;
  release: string;
  /** StatefulSet name (the release name when it contains "ticdc"). */
  name: string;
  sim: TicdcSimulator;
  /** `helm upgrade --reuse-values` with these --set / --set-json values; returns helm's duration. */
  upgrade(set: Record<string, string>, setJson?: Record<string, unknown>): Promise<number>;
}

function setArgs(set: Record<string, string>, setJson: Record<string, unknown> = {}): string[] {
  return [
    ...Object.entries(set).flatMap(([k, v]) => ['--set', `${k}=${v}`]),
    ...Object.entries(setJson).flatMap(([k, v]) => ['--set-json', `${k}=${JSON.stringify(v)}`]),
  ];
}

export async function installTicdcChart(
  cluster: Cluster,
  opts: {
    namespace: string;
    release?: string;
    replicas: number;
    sim?: SimulatorOptions;
    set?: Record<string, string>;
  },
): Promise<TicdcRelease> {
  const release = opts.release ?? 'ticdc';
  const name = release.includes('ticdc') ? release : `${release}-ticdc`;
  const sim = await startSimulatorForPods(cluster, {
    namespace: opts.namespace,
    selector: `app.kubernetes.io/instance=${release}`,
    peerService: `${name}-peer`,
    ...(opts.sim ? { sim: opts.sim } : {}),
  });
  const helm = async (args: string[]) => {
    const started = Date.now();
    const r = await cluster.helm(args, { timeoutMs: 180_000 });
    if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed: ${r.stderr.trim()}`);
    return Date.now() - started;
  };
  await helm([
    'install',
    release,
    TICDC_CHART,
    '--namespace',
    opts.namespace,
    '--create-namespace',
    '--wait',
    '--timeout',
    '120s',
    ...setArgs({
      replicas: String(opts.replicas),
      'ticdc.endpoint': sim.url,
      // kwok pods terminate after their grace period: keep the suite fast.
      terminationGracePeriodSeconds: '1',
      ...opts.set,
    }),
  ]);
  await waitForCapturesWithWork(sim, opts.replicas);
  return {
    namespace: opts.namespace,
    release,
    name,
    sim,
    upgrade: (set, setJson) =>
      helm([
        'upgrade',
        release,
        TICDC_CHART,
        '--namespace',
        opts.namespace,
        '--reuse-values',
        '--wait',
        '--timeout',
        '120s',
        ...setArgs(set, setJson),
      ]),
  };
}
