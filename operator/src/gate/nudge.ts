// When the gate denied a StatefulSet controller delete (rolling update without partition, or a
// plain scale-in), that controller retries with exponential backoff, which grows to minutes while a
// drain runs. Once the drain releases the pod, touching the StatefulSet (an annotation naming the
// drain) makes the controller sync at once, and its retried delete passes the gate.
import type { Logger } from 'pino';
import { Resources, type KubeClient, type KubeObject } from '../kube/port.js';
import { silentLogger } from '../observability/logger.js';
import type { GateMetrics } from './metrics.js';
import type { CaptureDrainObject } from '../api/capturedrain.js';
import { DRAIN_LABELS, NUDGE_ANNOTATION } from '../api/names.js';
import { podDrainState, releaseVoidedByRestart } from '../drain/contract.js';
import { heldDrainAdmitted } from './decide.js';

const NUDGED_TRIGGERS = new Set(['RollingUpdate', 'ScaleIn']);
const MAX_REMEMBERED = 10_000;

export class StatefulSetNudger {
  private readonly log: Logger;
  /** Drains already nudged for (by UID), so a resync does not nudge again. */
  private readonly done = new Set<string>();
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    private readonly opts: {
      kube: KubeClient;
      metrics?: Pick<GateMetrics, 'nudges'>;
      logger?: Logger;
    },
  ) {
    this.log = (opts.logger ?? silentLogger()).child({ component: 'gate-nudge' });
  }

  /** Informer add/update handler for CaptureDrains. */
  readonly onDrain = (drain: CaptureDrainObject): void => {
    if (!this.wants(drain)) return;
    const key = drain.metadata.uid ?? `${drain.metadata.namespace}/${drain.metadata.name}`;
    if (this.done.has(key)) return;
    this.remember(key);
    const p = this.nudge(drain).catch((err: unknown) => {
      this.done.delete(key); // try again on the next event
      this.log.warn(
        { err: (err as Error).message, drain: drain.metadata.name },
        'Could not nudge the StatefulSet',
      );
    });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  };

  /**
   * A released drain (or a held one the gate admits anyway: no capture, or the last capture of a
   * scale-in) for a pod the StatefulSet controller is waiting to delete.
   */
  wants(drain: CaptureDrainObject): boolean {
    const labels = drain.metadata.labels ?? {};
    const podUid = labels[DRAIN_LABELS.podUid];
    return (
      !!podUid &&
      !!labels[DRAIN_LABELS.statefulSet] &&
      NUDGED_TRIGGERS.has(drain.spec.trigger ?? '') &&
      drain.spec.podAction !== 'Delete' &&
      (podDrainState(drain, podUid) === 'Released' ||
        (podDrainState(drain, podUid) === 'Held' &&
          heldDrainAdmitted(drain.status?.reason, drain.spec.trigger)))
    );
  }

  /** Patches the StatefulSet when the drained pod incarnation still runs. True when it patched. */
  async nudge(drain: CaptureDrainObject): Promise<boolean> {
    const ns = drain.metadata.namespace;
    const labels = drain.metadata.labels!;
    const pod = await this.opts.kube.get<KubeObject>(Resources.pods, ns, drain.spec.podName!);
    if (!pod || pod.metadata.uid !== labels[DRAIN_LABELS.podUid] || pod.metadata.deletionTimestamp)
      return false;
    // A container restart since the drain voids the release: nothing to retry yet.
    if (releaseVoidedByRestart(drain, pod)) return false;
    const sts = labels[DRAIN_LABELS.statefulSet]!;
    await this.opts.kube.patch(
      Resources.statefulsets,
      ns,
      sts,
      { metadata: { annotations: { [NUDGE_ANNOTATION]: drain.metadata.name } } },
      'merge',
    );
    this.opts.metrics?.nudges.inc();
    this.log.info(
      { statefulSet: `${ns}/${sts}`, pod: pod.metadata.name, drain: drain.metadata.name },
      'Pod drained; StatefulSet nudged to retry its delete',
    );
    return true;
  }

  async flush(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  private remember(key: string): void {
    this.done.add(key);
    if (this.done.size > MAX_REMEMBERED) this.done.delete(this.done.values().next().value!);
  }
}
