// Node cordon controller: when a node becomes unschedulable, drain the capture pods on it and let
// the drain engine delete them (podAction Delete), so the StatefulSet places them on other nodes
// before any eviction arrives. Keyed by node; what to do is decided by cordon/decide.ts.
// Pods and drains wake every cordoned node: a drain finishing or a replacement pod turning Ready
// elsewhere is what lets the next capture of a StatefulSet go.
import type { Logger } from 'pino';
import type { Counter, Gauge, Registry } from 'prom-client';
import type { ObjectKey, ReconcileContext, ReconcileResult } from '../kube/controller.js';
import type { EventRecorder } from '../kube/events.js';
import { KubeApiError, Resources, type KubeClient, type KubeObject } from '../kube/port.js';
import { getOrCreateCounter, getOrCreateGauge } from '../observability/metrics.js';
import { decideNode, isCordoned, type NodeDecision, type NodeLike } from './decide.js';
import { ensurePodDrain } from '../drain/pod-drains.js';
import { EVENT_REASONS } from '../api/names.js';
import { ownerStatefulSet, type Pod, type StatefulSet } from '../kube/objects.js';
import type { CaptureDrainCache } from '../drain/contract.js';
import type { CaptureDrainObject } from '../api/capturedrain.js';

/** Safety net while a cordoned node still holds capture pods (events normally wake it sooner). */
export const CORDON_RECHECK_MS = 30_000;
const RECENT_TTL_MS = 30_000;

export interface NodeMetrics {
  drainsCreated: Counter;
  drainsCancelled: Counter;
  capturePods: Gauge<'node'>;
}

export function createNodeMetrics(registry: Registry): NodeMetrics {
  return {
    drainsCreated: getOrCreateCounter(registry, {
      name: 'capture_drain_node_drains_created_total',
      help: 'CaptureDrains the node cordon controller created for capture pods on cordoned nodes.',
    }),
    drainsCancelled: getOrCreateCounter(registry, {
      name: 'capture_drain_node_drains_cancelled_total',
      help: 'Unstarted node-cordon CaptureDrains deleted because the node was uncordoned or the pod opted out.',
    }),
    capturePods: getOrCreateGauge(registry, {
      name: 'capture_drain_node_cordoned_capture_pods',
      help: 'Managed capture pods still on a cordoned node (not skipped), per node.',
      labelNames: ['node'],
    }),
  };
}

export interface NodeReconcilerDeps {
  kube: KubeClient;
  nodes: { get(namespace: string | undefined, name: string): NodeLike | undefined };
  /** Every managed capture pod (label drain.ticdc.io/managed=true) in the watched namespaces. */
  pods: () => Pod[];
  drains: CaptureDrainCache;
  events: Pick<EventRecorder, 'event'>;
  metrics: NodeMetrics;
}

const NODE_REF = (name: string) => ({ apiVersion: 'v1', kind: 'Node', name });
const podRef = (p: KubeObject) => `${p.metadata.namespace}/${p.metadata.name}`;

export class NodeReconciler {
  /**
   * Drains created here that the informer may not show yet (keeps one-at-a-time exact). Dropped once
   * the cache has them, or after RECENT_TTL_MS in case the drain was deleted before the cache saw it.
   */
  private readonly recent = new Map<string, { drain: CaptureDrainObject; at: number }>();
  /** Nodes last seen cordoned with capture pods, to announce a cordon once. */
  private readonly announced = new Set<string>();
  /** Per node, why each waiting pod (by UID) waited last time: logged and reported on change only. */
  private readonly waits = new Map<string, Map<string, string>>();

  constructor(private readonly deps: NodeReconcilerDeps) {}

  reconcile = async (key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult | void> => {
    const nodeName = key.name;
    const node = this.deps.nodes.get(undefined, nodeName);
    const cordoned = isCordoned(node);
    const pods = this.deps.pods();
    const onNode = pods.filter((p) => p.spec?.nodeName === nodeName && !p.metadata.deletionTimestamp);
    if (!onNode.length) {
      this.settle(nodeName, 0);
      return;
    }
    const { statefulSets, terminatingNamespaces } = cordoned
      ? await this.readOwners(onNode)
      : { statefulSets: new Map(), terminatingNamespaces: new Set<string>() };
    const decision = decideNode({
      nodeName,
      cordoned,
      pods,
      statefulSets,
      terminatingNamespaces,
      drains: this.drains(),
    });
    await this.cancel(nodeName, decision, ctx.log);
    if (!cordoned) {
      this.settle(nodeName, 0);
      for (const d of decision.finishing)
        ctx.log.info(
          { drain: `${d.metadata.namespace}/${d.metadata.name}`, phase: d.status?.phase },
          'Node uncordoned mid-drain; letting the drain finish',
        );
      return;
    }
    const remaining = onNode.length - decision.ignored.length;
    this.settle(nodeName, remaining);
    if (remaining > 0 && !this.announced.has(nodeName)) {
      this.announced.add(nodeName);
      const names = onNode
        .filter((p) => !decision.ignored.some((i) => i.pod === p))
        .map(podRef)
        .sort();
      this.deps.events.event(
        NODE_REF(nodeName),
        'Normal',
        EVENT_REASONS.cordonDrain,
        'Drain',
        `Cordoned node ${nodeName}: draining ${remaining} capture pod${remaining === 1 ? '' : 's'} (${names.join(', ')})`,
      );
    }
    for (const { pod, reason } of decision.ignored)
      ctx.log.debug({ pod: podRef(pod), reason }, 'Cordon leaves this capture pod alone');
    this.reportWaits(nodeName, decision, ctx.log);
    for (const pod of decision.drain) await this.startDrain(nodeName, pod, statefulSets, ctx.log);
    return remaining > 0 ? { requeueAfterMs: CORDON_RECHECK_MS } : undefined;
  };

  private drains(): CaptureDrainObject[] {
    const cached = this.deps.drains.list();
    const seen = new Set(cached.map((d) => `${d.metadata.namespace}/${d.metadata.name}`));
    const now = Date.now();
    for (const [k, r] of [...this.recent])
      if (seen.has(k) || now - r.at > RECENT_TTL_MS) this.recent.delete(k);
    return [...cached, ...[...this.recent.values()].map((r) => r.drain)];
  }

  private async readOwners(onNode: Pod[]) {
    const statefulSets = new Map<string, StatefulSet>();
    const terminatingNamespaces = new Set<string>();
    const namespaces = new Set(onNode.map((p) => p.metadata.namespace ?? ''));
    for (const ns of namespaces) {
      const obj = await this.deps.kube.get<KubeObject & { status?: { phase?: string } }>(
        Resources.namespaces,
        undefined,
        ns,
      );
      if (!obj || obj.metadata.deletionTimestamp || obj.status?.phase === 'Terminating')
        terminatingNamespaces.add(ns);
    }
    for (const pod of onNode) {
      const owner = ownerStatefulSet(pod);
      const ns = pod.metadata.namespace ?? '';
      const key = `${ns}/${owner?.name}`;
      if (!owner || terminatingNamespaces.has(ns) || statefulSets.has(key)) continue;
      const sts = await this.deps.kube.get<StatefulSet>(Resources.statefulsets, ns, owner.name);
      if (sts) statefulSets.set(key, sts);
    }
    return { statefulSets, terminatingNamespaces };
  }

  private async cancel(nodeName: string, decision: NodeDecision, log: Logger) {
    for (const d of decision.cancel) {
      const ref = `${d.metadata.namespace}/${d.metadata.name}`;
      try {
        // The resourceVersion precondition loses to the drain engine starting it meanwhile:
        // then the drain has started and runs to the end.
        await this.deps.kube.delete(Resources.capturedrains, d.metadata.namespace, d.metadata.name, {
          ...(d.metadata.resourceVersion ? { resourceVersion: d.metadata.resourceVersion } : {}),
        });
      } catch (err) {
        if (err instanceof KubeApiError && err.isNotFound) continue;
        throw err;
      }
      this.recent.delete(ref);
      this.deps.metrics.drainsCancelled.inc();
      const why = decision.cordoned
        ? 'the pod opted out (drain.ticdc.io/skip)'
        : `node ${nodeName} uncordoned`;
      log.info({ drain: ref, pod: d.spec.podName }, `Cancelled unstarted cordon drain: ${why}`);
      this.deps.events.event(
        NODE_REF(nodeName),
        'Normal',
        EVENT_REASONS.cordonDrainCancelled,
        'Cancel',
        `Cancelled drain ${ref} of capture pod ${d.spec.podName} before it started: ${why}`,
      );
    }
  }

  private async startDrain(nodeName: string, pod: Pod, statefulSets: Map<string, StatefulSet>, log: Logger) {
    const statefulSet = statefulSets.get(`${pod.metadata.namespace}/${ownerStatefulSet(pod)!.name}`)!;
    const { drain, created } = await ensurePodDrain(this.deps.kube, {
      pod,
      statefulSet,
      trigger: 'NodeCordon',
      podAction: 'Delete',
    });
    const ref = `${drain.metadata.namespace}/${drain.metadata.name}`;
    if (!created) {
      log.debug({ drain: ref, pod: podRef(pod) }, 'Capture pod already has a drain; reusing it');
      return;
    }
    this.recent.set(ref, { drain, at: Date.now() });
    this.deps.metrics.drainsCreated.inc();
    log.info({ drain: ref, pod: podRef(pod), node: nodeName }, 'Started cordon drain of capture pod');
    this.deps.events.event(
      {
        apiVersion: drain.apiVersion,
        kind: drain.kind,
        namespace: drain.metadata.namespace,
        name: drain.metadata.name,
        ...(drain.metadata.uid ? { uid: drain.metadata.uid } : {}),
      },
      'Normal',
      EVENT_REASONS.nodeCordoned,
      'Drain',
      `Node ${nodeName} is cordoned: draining capture pod ${pod.metadata.name}, then deleting it so the StatefulSet reschedules it`,
    );
    this.deps.events.event(
      NODE_REF(nodeName),
      'Normal',
      EVENT_REASONS.cordonDrainStarted,
      'Drain',
      `Draining capture pod ${podRef(pod)} (CaptureDrain ${drain.metadata.name})`,
    );
  }

  /** Pods are re-examined on every pod or drain event: say why one waits only when the reason changes. */
  private reportWaits(nodeName: string, decision: NodeDecision, log: Logger) {
    const before = this.waits.get(nodeName) ?? new Map<string, string>();
    const now = new Map<string, string>();
    for (const { pod, reason, detail } of decision.waiting) {
      const uid = pod.metadata.uid ?? '';
      now.set(uid, reason);
      if (before.get(uid) === reason) continue;
      log.info({ pod: podRef(pod), reason }, `Capture pod waits: ${detail}`);
      if (reason === 'DrainHeld')
        this.deps.events.event(
          NODE_REF(nodeName),
          'Warning',
          EVENT_REASONS.cordonDrainBlocked,
          'Drain',
          `Capture pod ${podRef(pod)} stays on cordoned node ${nodeName}: ${detail}`,
        );
    }
    this.waits.set(nodeName, now);
  }

  private settle(nodeName: string, remaining: number) {
    if (remaining > 0) {
      this.deps.metrics.capturePods.set({ node: nodeName }, remaining);
      return;
    }
    this.deps.metrics.capturePods.remove({ node: nodeName });
    this.announced.delete(nodeName);
    this.waits.delete(nodeName);
  }
}
