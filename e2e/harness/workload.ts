// A TiCDC StatefulSet as users deploy it, on kwok nodes, wired to the operator by annotations;
// the simulator plays TiCDC for its pods.
import { registerSimulator, unregisterSimulator } from './capture-router.js';
import { TicdcSimulator, type SimulatorOptions } from '../ticdc-sim/index.js';
import { eventually, type Cluster } from './cluster.js';

export interface TicdcWorkload {
  namespace: string;
  name: string;
  sim: TicdcSimulator;
}

export function statefulSetManifest(opts: {
  namespace: string;
  name?: string;
  replicas: number;
  endpoint: string;
  annotations?: Record<string, string>;
  /** A volumeClaimTemplate of this name (1Gi, storage class ""), mounted at /data: claims `<it>-<pod>`. */
  volumeClaimTemplate?: string;
}): string {
  const name = opts.name ?? 'ticdc';
  const claim = opts.volumeClaimTemplate;
  const annotations = { 'drain.ticdc.io/endpoint': opts.endpoint, ...opts.annotations };
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: `${name}-peer`, namespace: opts.namespace },
        spec: { clusterIP: 'None', selector: { app: name }, ports: [{ name: 'http', port: 8300 }] },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: {
          name,
          namespace: opts.namespace,
          annotations,
          labels: { 'drain.ticdc.io/managed': 'true' },
        },
        spec: {
          serviceName: `${name}-peer`,
          replicas: opts.replicas,
          podManagementPolicy: 'Parallel',
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name, 'drain.ticdc.io/managed': 'true' } },
            spec: {
              terminationGracePeriodSeconds: 2,
              containers: [
                {
                  name: 'ticdc',
                  image: 'pingcap/ticdc:v8.5.7',
                  ports: [{ containerPort: 8300 }],
                  ...(claim ? { volumeMounts: [{ name: claim, mountPath: '/data' }] } : {}),
                },
              ],
            },
          },
          ...(claim
            ? {
                volumeClaimTemplates: [
                  {
                    metadata: { name: claim },
                    spec: {
                      accessModes: ['ReadWriteOnce'],
                      storageClassName: '',
                      resources: { requests: { storage: '1Gi' } },
                    },
                  },
                ],
              }
            : {}),
        },
      },
    ],
  });
}

/** Deploys the StatefulSet and a simulator whose captures follow its pods. */
export async function deployTicdc(
  cluster: Cluster,
  opts: {
    namespace: string;
    replicas: number;
    name?: string;
    sim?: SimulatorOptions;
    annotations?: Record<string, string>;
    volumeClaimTemplate?: string;
  },
): Promise<TicdcWorkload> {
  const name = opts.name ?? 'ticdc';
  const sim = await startSimulatorForPods(cluster, {
    namespace: opts.namespace,
    selector: `app=${name}`,
    peerService: `${name}-peer`,
    ...(opts.sim ? { sim: opts.sim } : {}),
  });
  await cluster.kubectl(['create', 'namespace', opts.namespace]);
  await cluster.kubectlOk(['apply', '-f', '-'], {
    input: statefulSetManifest({
      namespace: opts.namespace,
      name,
      replicas: opts.replicas,
      endpoint: sim.url,
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
      ...(opts.volumeClaimTemplate ? { volumeClaimTemplate: opts.volumeClaimTemplate } : {}),
    }),
  });
  await waitForCapturesWithWork(sim, opts.replicas);
  return { namespace: opts.namespace, name, sim };
}

/** Until `replicas` captures are registered and each holds work (new captures get it by rebalancing). */
export async function waitForCapturesWithWork(sim: TicdcSimulator, replicas: number): Promise<void> {
  await eventually(`${replicas} captures registered`, async () => sim.captures().length === replicas, {
    timeoutMs: 90_000,
  });
  await eventually(
    'work spread over the captures',
    async () => sim.captures().every((x) => x.dispatchers > 0),
    {
      timeoutMs: 60_000,
    },
  );
}

/**
 * A simulator whose captures follow the pods matching `selector` (kube pod source), advertising
 * `<pod>.<peerService>.<ns>.svc:8300` as TiCDC captures in a StatefulSet do. newarch, 3 changefeeds.
 */
export async function startSimulatorForPods(
  cluster: Cluster,
  opts: { namespace: string; selector: string; peerService: string; sim?: SimulatorOptions },
): Promise<TicdcSimulator> {
  const sim = await TicdcSimulator.start({
    mode: 'newarch',
    changefeeds: 3,
    tablesPerChangefeed: 8,
    moveRatePerSec: 4,
    host: '127.0.0.1',
    ...opts.sim,
    kube: {
      kubeconfigPath: cluster.kubeconfig,
      namespace: opts.namespace,
      selector: opts.selector,
      addressTemplate: `{pod}.${opts.peerService}.{namespace}.svc:8300`,
    },
  });
  // The operator reads each capture's own status at its address: route it (capture-router.ts).
  registerSimulator(sim);
  const stop = sim.stop.bind(sim);
  sim.stop = () => (unregisterSimulator(sim), stop());
  return sim;
}
