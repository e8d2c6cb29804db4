// A CaptureDrainReconciler over a FakeKube, without the manager: the drains cache reads the fake,
// events and wake-ups go nowhere; tests give the TiCDC client and whatever else they need.
import type { CaptureDrainObject } from '../../src/api/capturedrain.js';
import { CaptureDrainReconciler, type CaptureDrainReconcilerDeps } from '../../src/drain/controller.js';
import { BUILTIN_DEFAULTS } from '../../src/drain/settings.js';
import type { ObjectKey } from '../../src/kube/controller.js';
import { Resources } from '../../src/kube/port.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { TicdcClient } from '../../src/ticdc/types.js';
import type { FakeKube } from '../support/fake-kube.js';

export function reconcilerOver(
  kube: FakeKube,
  client: TicdcClient,
  over: Partial<CaptureDrainReconcilerDeps> = {},
): CaptureDrainReconciler {
  return new CaptureDrainReconciler({
    kube,
    drains: {
      get: (ns, name) => kube.peek<CaptureDrainObject>(Resources.capturedrains, ns, name),
      list: (ns) => kube.objects<CaptureDrainObject>(Resources.capturedrains, ns),
    },
    clients: { get: () => Promise.resolve(client) },
    events: { event: () => undefined },
    defaults: BUILTIN_DEFAULTS,
    enqueue: () => undefined,
    ...over,
  });
}

/** One reconcile of `key` with a silent logger; `signal` defaults to one that never aborts. */
export function reconcileOnce(
  reconciler: CaptureDrainReconciler,
  key: ObjectKey,
  signal: AbortSignal = new AbortController().signal,
) {
  return reconciler.reconcile(key, { log: silentLogger(), reconcileID: 'test', signal });
}
