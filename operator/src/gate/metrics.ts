// Metrics of the pod-termination gate.
import type { Counter, Histogram, Registry } from 'prom-client';
import {
  createDrainMetrics,
  getOrCreateCounter,
  getOrCreateGauge,
  getOrCreateHistogram,
} from '../observability/metrics.js';

/**
 * Pods this replica's gate holds: a deletion or eviction of the pod was denied (dry runs aside)
 * and no later one was admitted. The hold starts at the first denial and ends when a deletion or
 * eviction of the pod is admitted (the drain released it; the operator's own delete counts). A pod
 * nobody asks to delete again (a one-off `kubectl delete` whose drain then failed under
 * onTimeout: Hold) is forgotten `forgetAfterMs` after its last denial, so pods that went away by
 * other means do not stay held forever; the failed drain's own alert covers that case.
 */
export class HeldPods {
  private readonly holds = new Map<string, { namespace: string; pod: string; since: number; last: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    readonly forgetAfterMs = 30 * 60_000,
  ) {}

  denied(namespace: string, pod: string): void {
    const key = `${namespace}/${pod}`;
    const t = this.now();
    const h = this.holds.get(key);
    if (h) h.last = t;
    else this.holds.set(key, { namespace, pod, since: t, last: t });
  }

  admitted(namespace: string, pod: string): void {
    this.holds.delete(`${namespace}/${pod}`);
  }

  /** Current holds with their age in seconds; drops the forgotten ones. */
  list(): { namespace: string; pod: string; seconds: number }[] {
    const t = this.now();
    const out: { namespace: string; pod: string; seconds: number }[] = [];
    for (const [key, h] of this.holds) {
      if (t - h.last > this.forgetAfterMs) {
        this.holds.delete(key);
        continue;
      }
      out.push({ namespace: h.namespace, pod: h.pod, seconds: (t - h.since) / 1000 });
    }
    return out;
  }
}

const heldByRegistry = new WeakMap<Registry, HeldPods>();

export interface GateMetrics {
  /** operation delete|evict, decision allowed|denied|error. */
  requests: Counter<'operation' | 'decision'>;
  /** Every decision by its reason (Unmanaged, Skip, Drained, DrainStarted, LookupFailed, ...). */
  decisions: Counter<'operation' | 'reason'>;
  duration: Histogram<'operation'>;
  /** Managed pods that started terminating without the gate's consent. */
  unprotected: Counter;
  /** StatefulSets nudged so their controller retries a delete the gate now admits. */
  nudges: Counter;
  /** Pods held (deletion denied, not since admitted); exported as capture_drain_gate_pod_held_seconds. */
  held: HeldPods;
}

export function createGateMetrics(registry: Registry, opts: { now?: () => number } = {}): GateMetrics {
  const drain = createDrainMetrics(registry);
  let held = heldByRegistry.get(registry);
  if (!held) heldByRegistry.set(registry, (held = new HeldPods(opts.now)));
  const holds = held;
  getOrCreateGauge(registry, {
    name: 'capture_drain_gate_pod_held_seconds',
    help: 'Seconds since the gate first denied the deletion or eviction of a pod that no deletion has been admitted for since.',
    labelNames: ['namespace', 'pod'],
    collect() {
      this.reset();
      for (const h of holds.list()) this.set({ namespace: h.namespace, pod: h.pod }, h.seconds);
    },
  });
  return {
    held: holds,
    requests: drain.webhookRequestsTotal,
    unprotected: drain.webhookUnprotectedTotal,
    decisions: getOrCreateCounter(registry, {
      name: 'capture_drain_webhook_decisions_total',
      help: 'Pod-termination gate decisions by operation and reason.',
      labelNames: ['operation', 'reason'],
    }),
    duration: getOrCreateHistogram(registry, {
      name: 'capture_drain_webhook_request_duration_seconds',
      help: 'Time to answer one admission request.',
      labelNames: ['operation'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    }),
    nudges: getOrCreateCounter(registry, {
      name: 'capture_drain_webhook_statefulset_nudges_total',
      help: 'StatefulSets nudged to retry a pod delete the gate now admits.',
    }),
  };
}
