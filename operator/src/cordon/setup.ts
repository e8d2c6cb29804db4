// The cordon feature's wiring: nodes, managed capture pods and the drains feed the node controller,
// which drains the capture pods of cordoned nodes one StatefulSet pod at a time.
import { MANAGED_SELECTOR } from '../api/names.js';
import type { DrainFeature, LeaderContext } from '../drain/setup.js';
import { Controller, watchInto, type ObjectKey } from '../kube/controller.js';
import type { Pod } from '../kube/objects.js';
import { Resources } from '../kube/port.js';
import { NodeReconciler, createNodeMetrics } from './controller.js';
import { isCordoned, type NodeLike } from './decide.js';

/**
 * The node controller wired to its informers: nodes (cluster-wide), managed capture pods (the
 * shared informer per watched namespace) and the CaptureDrain informers the manager already runs.
 */
export function setupCordon(ctx: LeaderContext, drain: DrainFeature): Controller {
  const opts = { ...ctx, drains: drain.drains, drainInformers: drain.drainInformers };
  const nodes = opts.informers.informer<NodeLike>(Resources.nodes);
  const podInformers = opts.scopes.map((s) =>
    opts.informers.informer<Pod>(Resources.pods, { ...s, labelSelector: MANAGED_SELECTOR }),
  );
  const reconciler = new NodeReconciler({
    kube: opts.kube,
    nodes,
    pods: () => podInformers.flatMap((i) => i.list()),
    drains: opts.drains,
    events: opts.events,
    metrics: createNodeMetrics(opts.registry),
  });
  const controller = new Controller({
    name: 'node',
    reconcile: reconciler.reconcile,
    // One worker: the one-at-a-time rule per StatefulSet spans nodes.
    workers: 1,
    logger: opts.logger,
    registry: opts.registry,
  });
  watchInto(nodes, controller, {
    updatePredicate: (a, b) => a === b || isCordoned(a) !== isCordoned(b),
  });
  // A pod or drain change may open the next turn on any cordoned node.
  const wake = (): ObjectKey[] =>
    nodes
      .list()
      .filter((n) => isCordoned(n))
      .map((n) => ({ name: n.metadata.name! }));
  for (const inf of podInformers) watchInto(inf, controller, { map: wake });
  for (const inf of opts.drainInformers) watchInto(inf, controller, { map: wake });
  return controller;
}
