// Rollout metrics, registered once per registry.
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { getOrCreateCounter, getOrCreateGauge, getOrCreateHistogram } from '../observability/metrics.js';

export interface RolloutMetrics {
  /** 1 for the StatefulSet's current phase, 0 for the others. */
  phase: Gauge<'namespace' | 'statefulset' | 'phase'>;
  /** Pods still to be drained and replaced or removed. */
  podsRemaining: Gauge<'namespace' | 'statefulset'>;
  /** Estimated seconds until the rollout is done (absent when unknown). */
  etaSeconds: Gauge<'namespace' | 'statefulset'>;
  /** Actions taken: Drain, SetPartition, SetReplicas, DeletePod. */
  stepsTotal: Counter<'step'>;
  /** Whole rollouts / scale-ins, first step to idle. */
  duration: Histogram;
}

export const ROLLOUT_PHASES = ['Idle', 'RollingUpdate', 'ScalingIn', 'Blocked'] as const;

export function createRolloutMetrics(registry: Registry): RolloutMetrics {
  const sts = ['namespace', 'statefulset'] as const;
  return {
    phase: getOrCreateGauge(registry, {
      name: 'capture_drain_rollout_phase',
      help: 'Rollout phase of each managed StatefulSet (1 = current).',
      labelNames: [...sts, 'phase'],
    }),
    podsRemaining: getOrCreateGauge(registry, {
      name: 'capture_drain_rollout_pods_remaining',
      help: 'Pods of a managed StatefulSet still to be drained and replaced or removed.',
      labelNames: sts,
    }),
    etaSeconds: getOrCreateGauge(registry, {
      name: 'capture_drain_rollout_eta_seconds',
      help: 'Estimated time until the rollout or scale-in of a managed StatefulSet is done.',
      labelNames: sts,
    }),
    stepsTotal: getOrCreateCounter(registry, {
      name: 'capture_drain_rollout_steps_total',
      help: 'Rollout actions taken, by step.',
      labelNames: ['step'],
    }),
    duration: getOrCreateHistogram(registry, {
      name: 'capture_drain_rollout_duration_seconds',
      help: 'Duration of completed rollouts and scale-ins.',
      buckets: [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400],
    }),
  };
}
