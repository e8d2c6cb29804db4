// Gauges read from the leader's CaptureDrain cache at scrape time: how many drains are in each
// phase per TiCDC cluster, and for each drain still running its age, effective timeout, estimated
// time to completion and remaining work. The alert rules compare age with timeout (a drain not
// terminal past its timeout is stuck: the state machine should have ended it by then).
//
// Only the leader has a live cache: the source says whether the leadership term is current, and a
// standby (or a former leader, whose cache is stopped and stale) exports none of these series.
import type { Registry } from 'prom-client';
import { parseDuration, type CaptureDrainObject, type Phase } from '../api/capturedrain.js';
import { SETTINGS_ANNOTATIONS } from '../api/names.js';
import type { StatefulSet } from '../kube/objects.js';
import { getOrCreateGauge } from '../observability/metrics.js';
import { isTerminal, type CaptureDrainCache } from './contract.js';
import type { OperatorDefaults } from './settings.js';

export interface DrainStateSource {
  drains: CaptureDrainCache;
  /** Managed StatefulSets by namespace and name (their timeout annotation); undefined: not cached. */
  statefulSet?: (namespace: string, name: string) => StatefulSet | undefined;
  defaults: Pick<OperatorDefaults, 'timeout'>;
  /** False outside a leadership term: nothing is exported then. Default: always live. */
  live?: () => boolean;
  now?: () => number;
}

export interface DrainCountRow {
  namespace: string;
  cluster: string;
  phase: string;
  count: number;
}

export interface ActiveDrainRow {
  namespace: string;
  capturedrain: string;
  pod: string;
  phase: string;
  cluster: string;
  /** Seconds since the drain started (since it was created while it has not started). */
  ageSeconds: number;
  /** The drain's effective timeout: spec, then its StatefulSet's annotation, then the operator's default. */
  timeoutSeconds: number | undefined;
  /** Seconds until status.estimatedCompletionTime (0 once past); undefined without an estimate. */
  etaSeconds: number | undefined;
  remaining: { maintainers?: number; dispatchers?: number; tables?: number };
}

/** The TiCDC cluster a drain belongs to: the endpoint it resolved, else the one its spec names. */
export function clusterOf(d: CaptureDrainObject): string {
  return d.status?.clusterEndpoint ?? d.spec.cluster?.endpoint ?? '';
}

/** StatefulSet pods are named <statefulset>-<ordinal>. */
export function statefulSetNameOf(podName: string): string | undefined {
  const m = /^(.+)-\d+$/.exec(podName);
  return m?.[1];
}

function seconds(text: string | undefined): number | undefined {
  if (!text) return undefined;
  try {
    return parseDuration(text) / 1000;
  } catch {
    return undefined;
  }
}

/** Pure: the rows the gauges export for these drains at `now` (ms). */
export function drainStateRows(
  drains: readonly CaptureDrainObject[],
  opts: Omit<DrainStateSource, 'drains' | 'now' | 'live'> & { now: number },
): { counts: DrainCountRow[]; active: ActiveDrainRow[] } {
  const counts = new Map<string, DrainCountRow>();
  const active: ActiveDrainRow[] = [];
  for (const d of drains) {
    const namespace = d.metadata.namespace ?? '';
    const phase: Phase = d.status?.phase ?? 'Pending';
    const cluster = clusterOf(d);
    const key = JSON.stringify([namespace, cluster, phase]);
    const row = counts.get(key) ?? { namespace, cluster, phase, count: 0 };
    row.count++;
    counts.set(key, row);
    if (isTerminal(phase)) continue;
    const since = Date.parse(d.status?.startTime ?? d.metadata.creationTimestamp ?? '');
    const pod = d.spec.podName ?? '';
    const stsName = pod ? statefulSetNameOf(pod) : undefined;
    const sts = stsName ? opts.statefulSet?.(namespace, stsName) : undefined;
    const timeoutSeconds =
      seconds(d.spec.timeout) ??
      seconds(sts?.metadata.annotations?.[SETTINGS_ANNOTATIONS.timeout]) ??
      seconds(opts.defaults.timeout);
    const eta = Date.parse(d.status?.estimatedCompletionTime ?? '');
    active.push({
      namespace,
      capturedrain: d.metadata.name,
      pod,
      phase,
      cluster,
      ageSeconds: Number.isFinite(since) ? Math.max(0, (opts.now - since) / 1000) : 0,
      timeoutSeconds,
      etaSeconds: Number.isFinite(eta) ? Math.max(0, (eta - opts.now) / 1000) : undefined,
      remaining: d.status?.remaining ?? {},
    });
  }
  return { counts: [...counts.values()], active };
}

const sources = new WeakMap<Registry, DrainStateSource>();

/** Registers the gauges (once per registry) and makes `source` what they read. */
export function exportDrainState(registry: Registry, source: DrainStateSource): void {
  sources.set(registry, source);
  const rows = () => {
    const s = sources.get(registry);
    if (!s || !(s.live?.() ?? true)) return undefined;
    return drainStateRows(s.drains.list(), { ...s, now: (s.now ?? Date.now)() });
  };
  const drain = ['namespace', 'capturedrain'] as const;
  getOrCreateGauge(registry, {
    name: 'capture_drain_drains',
    help: 'CaptureDrain objects by namespace, TiCDC cluster (endpoint) and phase, terminal ones included.',
    labelNames: ['namespace', 'cluster', 'phase'],
    collect() {
      this.reset();
      for (const r of rows()?.counts ?? [])
        this.set({ namespace: r.namespace, cluster: r.cluster, phase: r.phase }, r.count);
    },
  });
  getOrCreateGauge(registry, {
    name: 'capture_drain_drain_age_seconds',
    help: 'Seconds since each non-terminal CaptureDrain started (since creation while not started).',
    labelNames: [...drain, 'pod', 'phase', 'cluster'],
    collect() {
      this.reset();
      for (const r of rows()?.active ?? [])
        this.set(
          {
            namespace: r.namespace,
            capturedrain: r.capturedrain,
            pod: r.pod,
            phase: r.phase,
            cluster: r.cluster,
          },
          r.ageSeconds,
        );
    },
  });
  getOrCreateGauge(registry, {
    name: 'capture_drain_drain_timeout_seconds',
    help: 'Effective timeout of each non-terminal CaptureDrain (spec, StatefulSet annotation, operator default).',
    labelNames: drain,
    collect() {
      this.reset();
      for (const r of rows()?.active ?? [])
        if (r.timeoutSeconds !== undefined)
          this.set({ namespace: r.namespace, capturedrain: r.capturedrain }, r.timeoutSeconds);
    },
  });
  getOrCreateGauge(registry, {
    name: 'capture_drain_drain_eta_seconds',
    help: 'Estimated seconds until each non-terminal CaptureDrain finishes draining (from the observed drain rate).',
    labelNames: [...drain, 'pod'],
    collect() {
      this.reset();
      for (const r of rows()?.active ?? [])
        if (r.etaSeconds !== undefined)
          this.set({ namespace: r.namespace, capturedrain: r.capturedrain, pod: r.pod }, r.etaSeconds);
    },
  });
  getOrCreateGauge(registry, {
    name: 'capture_drain_drain_remaining',
    help: 'Work left on the capture of each non-terminal CaptureDrain, by kind (maintainers, dispatchers, tables).',
    labelNames: [...drain, 'pod', 'kind'],
    collect() {
      this.reset();
      for (const r of rows()?.active ?? [])
        for (const [kind, n] of Object.entries(r.remaining))
          if (typeof n === 'number')
            this.set({ namespace: r.namespace, capturedrain: r.capturedrain, pod: r.pod, kind }, n);
    },
  });
}
