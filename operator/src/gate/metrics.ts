// Metrics of the pod-termination gate.
import type { Counter, Histogram, Registry } from 'prom-client';
import { createDrainMetrics, getOrCreateCounter, getOrCreateHistogram } from '../observability/metrics.js';

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
}

export function createGateMetrics(registry: Registry): GateMetrics {
  const drain = createDrainMetrics(registry);
  return {
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
