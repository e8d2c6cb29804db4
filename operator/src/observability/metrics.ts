// Prometheus registry factory, metric get-or-create helpers (several controllers/queues share one
// registry, and prom-client throws on duplicate names), and the drain metrics the engine records.
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
} from 'prom-client';

export interface RegistryOptions {
  /** Node process metrics (CPU, memory, event loop lag, GC). Default true. */
  defaultMetrics?: boolean;
  defaultLabels?: Record<string, string>;
}

/** A fresh registry (never prom-client's global one, so tests and processes stay isolated). */
export function createRegistry(opts: RegistryOptions = {}): Registry {
  const registry = new Registry();
  if (opts.defaultLabels) registry.setDefaultLabels(opts.defaultLabels);
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

export function getOrCreateCounter<L extends string>(
  registry: Registry,
  cfg: Omit<CounterConfiguration<L>, 'registers'>,
): Counter<L> {
  return (
    (registry.getSingleMetric(cfg.name) as Counter<L> | undefined) ??
    new Counter({ ...cfg, registers: [registry] })
  );
}

export function getOrCreateGauge<L extends string>(
  registry: Registry,
  cfg: Omit<GaugeConfiguration<L>, 'registers'>,
): Gauge<L> {
  return (
    (registry.getSingleMetric(cfg.name) as Gauge<L> | undefined) ??
    new Gauge({ ...cfg, registers: [registry] })
  );
}

export function getOrCreateHistogram<L extends string>(
  registry: Registry,
  cfg: Omit<HistogramConfiguration<L>, 'registers'>,
): Histogram<L> {
  return (
    (registry.getSingleMetric(cfg.name) as Histogram<L> | undefined) ??
    new Histogram({ ...cfg, registers: [registry] })
  );
}

/** 1 s … 1 h: drains take seconds to tens of minutes. */
export const DRAIN_DURATION_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600];
/** Drained → pod released: should be sub-second to a few seconds; the tail shows informer/watch lag. */
export const RELEASE_LAG_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];
/** TiCDC HTTP API calls. */
export const TICDC_REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface DrainMetrics {
  /** Terminal outcomes: phase is Completed/Failed, reason the CamelCase reason. */
  drainsTotal: Counter<'phase' | 'reason'>;
  /** Drains currently in each non-terminal phase. */
  activeDrains: Gauge<'phase'>;
  /** Drain start → terminal phase, in seconds. */
  drainDuration: Histogram;
  /** Drained → pod released (finalizer/gate removed or pod deleted), in seconds. */
  releaseLag: Histogram;
  ticdcRequestDuration: Histogram<'route' | 'method' | 'outcome'>;
  ticdcRequestsTotal: Counter<'route' | 'method' | 'outcome'>;
  webhookRequestsTotal: Counter<'operation' | 'decision'>;
  webhookUnprotectedTotal: Counter;
}

/** The drain metrics, registered once per registry (safe to call repeatedly). */
export function createDrainMetrics(registry: Registry): DrainMetrics {
  return {
    drainsTotal: getOrCreateCounter(registry, {
      name: 'capture_drain_drains_total',
      help: 'CaptureDrains that reached a terminal phase, by phase and reason.',
      labelNames: ['phase', 'reason'],
    }),
    activeDrains: getOrCreateGauge(registry, {
      name: 'capture_drain_active_drains',
      help: 'CaptureDrains currently in each non-terminal phase.',
      labelNames: ['phase'],
    }),
    drainDuration: getOrCreateHistogram(registry, {
      name: 'capture_drain_duration_seconds',
      help: 'Time from drain start to a terminal phase.',
      buckets: DRAIN_DURATION_BUCKETS,
    }),
    releaseLag: getOrCreateHistogram(registry, {
      name: 'capture_drain_release_lag_seconds',
      help: 'Time from Drained to the pod being released.',
      buckets: RELEASE_LAG_BUCKETS,
    }),
    ticdcRequestDuration: getOrCreateHistogram(registry, {
      name: 'capture_drain_ticdc_request_duration_seconds',
      help: 'TiCDC HTTP API request latency.',
      labelNames: ['route', 'method', 'outcome'],
      buckets: TICDC_REQUEST_BUCKETS,
    }),
    ticdcRequestsTotal: getOrCreateCounter(registry, {
      name: 'capture_drain_ticdc_requests_total',
      help: 'TiCDC HTTP API requests.',
      labelNames: ['route', 'method', 'outcome'],
    }),
    webhookRequestsTotal: getOrCreateCounter(registry, {
      name: 'capture_drain_webhook_requests_total',
      help: 'Admission webhook requests by operation and decision.',
      labelNames: ['operation', 'decision'],
    }),
    webhookUnprotectedTotal: getOrCreateCounter(registry, {
      name: 'capture_drain_webhook_unprotected_total',
      help: 'Managed capture pods that started terminating without a drain and without the gate admitting it (webhook down under failurePolicy Ignore, or bypassed).',
    }),
  };
}
