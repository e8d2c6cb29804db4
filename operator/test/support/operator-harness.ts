// Shared by the manager-level tests: an operator configuration for tests, and a simulator pod
// source that follows the in-memory API server's pods (so captures come and go with them).
import {
  TicdcSimulator,
  type PodHandler,
  type PodSource,
  type SimulatorOptions,
} from '../../../e2e/ticdc-sim/index.js';
import type { OperatorConfig } from '../../src/config.js';
import { Resources } from '../../src/kube/port.js';
import type { FakeKube } from './fake-kube.js';

export function testConfig(namespace: string, over: Partial<OperatorConfig> = {}): OperatorConfig {
  return {
    namespaces: [],
    leaderElect: false,
    leaderElectionNamespace: namespace,
    leaderElectionId: 'test',
    leaseDuration: '10s',
    renewDeadline: '7s',
    retryPeriod: '1s',
    identity: 'test',
    httpHost: '127.0.0.1',
    httpPort: 0,
    logLevel: 'silent',
    workers: 2,
    drainHistory: 5,
    defaultTimeout: '10m',
    defaultStallTimeout: '3m',
    defaultOnTimeout: 'Hold',
    allowedEndpoints: [],
    ticdcRequestTimeout: '2s',
    fieldManager: 'capture-drain-operator',
    nodeDrains: false,
    ...over,
  };
}

/** Feeds the simulator's capture registry from the fake API server's pods in one namespace. */
export class FakeKubePodSource implements PodSource {
  private stopWatch: (() => void) | undefined;
  constructor(
    private readonly kube: FakeKube,
    private readonly namespace: string,
  ) {}
  async start(handler: PodHandler): Promise<void> {
    const list = await this.kube.list(Resources.pods, { namespace: this.namespace });
    handler.sync(list.items);
    const w = await this.kube.watch(
      Resources.pods,
      { namespace: this.namespace, resourceVersion: list.resourceVersion },
      (type, pod) => {
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') handler.event(type, pod);
      },
    );
    this.stopWatch = () => w.abort();
  }
  async stop(): Promise<void> {
    this.stopWatch?.();
  }
}

/**
 * A newarch simulator (3 changefeeds, deterministic elections) whose captures follow the fake API
 * server's pods in `namespace`, advertising `<pod>.ticdc-peer.<ns>.svc:8300`.
 */
export function startFakeKubeSimulator(
  kube: FakeKube,
  namespace: string,
  over: Partial<SimulatorOptions> = {},
): Promise<TicdcSimulator> {
  return TicdcSimulator.start({
    mode: 'newarch',
    changefeeds: 3,
    tablesPerChangefeed: 8,
    moveRatePerSec: 20,
    host: '127.0.0.1',
    reelectProbability: 0,
    perCaptureListeners: true,
    // Unit tests keep the real order of events but not the real §9 departure times (5 s / 14 s).
    sigtermDepartureMs: 300,
    sigkillDepartureMs: 600,
    ...over,
    podSource: new FakeKubePodSource(kube, namespace),
    kube: { namespace, addressTemplate: '{pod}.ticdc-peer.{namespace}.svc:8300' },
  });
}
