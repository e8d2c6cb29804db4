// Leader-side safety net for the gate: a managed pod that starts terminating (or is found gone
// without being seen terminating) although the gate would have denied its deletion right now (drain
// not released, no skip annotation, namespace and StatefulSet alive) was deleted ungated: the webhook
// was down under failurePolicy Ignore, timed out, or was bypassed (e.g. removed). It cannot be
// undone; it is counted, logged and reported as a Warning event on the pod so the gap is visible.
import type { Logger } from 'pino';
import type { KubeClient, KubeObject } from '../kube/port.js';
import { silentLogger } from '../observability/logger.js';
import { decide } from './decide.js';
import { gatherFacts } from './facts.js';
import type { GateMetrics } from './metrics.js';
import type { EventSink } from '../kube/events.js';
import type { Pod } from '../kube/objects.js';
import { EVENT_REASONS } from '../api/names.js';
import { objectRef } from '../kube/objects.js';

export interface UnprotectedDeleteWatcherOptions {
  kube: KubeClient;
  events: EventSink;
  metrics: Pick<GateMetrics, 'unprotected'>;
  logger?: Logger;
  /** Bound on the reads of one check. Default 10 s. */
  timeoutMs?: number;
}

export class UnprotectedDeleteWatcher {
  private readonly log: Logger;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly opts: UnprotectedDeleteWatcherOptions) {
    this.log = (opts.logger ?? silentLogger()).child({ component: 'gate-unprotected' });
  }

  /** Informer update handler: reacts to the moment a pod gets its deletionTimestamp. */
  readonly onUpdate = (oldPod: KubeObject, newPod: KubeObject): void => {
    if (oldPod.metadata.deletionTimestamp || !newPod.metadata.deletionTimestamp) return;
    const p = this.check(oldPod as Pod).catch((err: unknown) =>
      this.log.warn(
        { err: (err as Error).message, pod: newPod.metadata.name },
        'Unprotected-delete check failed',
      ),
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  };

  /**
   * Informer delete handler: a pod that vanished without this watcher seeing it terminate (the
   * terminating update fell into a watch gap and a relist found the pod gone) is judged by its last
   * known state. Pods seen terminating were judged then and are skipped here.
   */
  readonly onDelete = (pod: KubeObject): void => {
    if (pod.metadata.deletionTimestamp) return;
    this.onUpdate(pod, { ...pod, metadata: { ...pod.metadata, deletionTimestamp: 'deleted' } });
  };

  /**
   * Judges the pod as it was just before it started terminating. True when it went ungated;
   * undefined when the facts could not be read (nothing is claimed then).
   */
  async check(before: Pod): Promise<boolean | undefined> {
    const facts = await gatherFacts(
      this.opts.kube,
      { operation: 'Delete', dryRun: false, username: '', pod: before },
      AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
    );
    if (facts.lookupError) {
      this.log.debug({ pod: before.metadata.name, err: facts.lookupError }, 'Cannot judge a pod deletion');
      return undefined;
    }
    const decision = decide(facts);
    if (decision.allowed) return false;
    const id = `${before.metadata.namespace}/${before.metadata.name}`;
    this.opts.metrics.unprotected.inc();
    this.log.warn(
      { pod: id, drain: facts.drain?.name, drainState: facts.drain?.state ?? 'None' },
      'Capture pod is terminating without a completed drain: the deletion bypassed the gate (webhook unavailable under failurePolicy Ignore?)',
    );
    this.opts.events.event(
      objectRef(before, 'v1', 'Pod'),
      'Warning',
      EVENT_REASONS.ungatedDeletion,
      'Delete',
      `Capture pod ${id} is being deleted without a completed drain (the termination gate did not hold it): its TiCDC work moves reactively`,
    );
    return true;
  }

  /** Waits for checks in flight (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }
}
