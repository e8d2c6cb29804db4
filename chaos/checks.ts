// The chaos suite's invariants, judged from what was observed after a scenario: the API server's
// pods, StatefulSet and CaptureDrains, the CaptureDrain phase sequence seen by one watch, and the
// simulator's captures, invariant record and request log. Pure: no I/O, no clock (observations
// carry their times), so every rule is unit-tested (checks.test.ts).

/** Phases after which a drain holds nothing and never changes again. */
export const TERMINAL = new Set(['Completed', 'Failed', 'Cancelled']);

export interface PodObs {
  name: string;
  uid: string;
  ready: boolean;
  /** Runs the StatefulSet's update revision. */
  updated: boolean;
  deleting: boolean;
}

export interface CaptureObs {
  id: string;
  podName?: string;
  podUid?: string;
  liveness: string;
  /** Its process got a signal (still listed until it leaves). */
  exited: boolean;
}

export interface ViolationObs {
  captureId: string;
  podName?: string;
  cause: string;
  /** A crash the scenario injected: its loss of work is the fault, not the operator's. */
  injected: boolean;
  maintainers: number;
  dispatchers: number;
}

export interface DrainObs {
  namespace: string;
  name: string;
  uid: string;
  podName?: string;
  trigger?: string;
  phase?: string;
  reason?: string;
  message?: string;
  podUID?: string;
  /** Epoch ms. */
  createdAt: number;
  startTime?: number;
  drainedTime?: number;
  completionTime?: number;
  /** spec.timeout (or the default) in ms. */
  timeoutMs: number;
}

/** One CaptureDrain watch event, in the order the single watch delivered them (etcd order). */
export interface DrainEventObs {
  /** `namespace/name/uid`. */
  key: string;
  /** The TiCDC cluster the drain belongs to (its StatefulSet, or its endpoint). */
  cluster: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  phase?: string;
  started: boolean;
  at: number;
}

export interface ScenarioObservation {
  scenario: string;
  /** Epoch ms of the scenario's start and of the observation. */
  start: number;
  now: number;
  expectedReplicas: number;
  pods: PodObs[];
  captures: CaptureObs[];
  /** Violations recorded since the scenario started. */
  violations: ViolationObs[];
  /** CaptureDrains created since the scenario started. */
  drains: DrainObs[];
  drainEvents: DrainEventObs[];
  /** Arrival times (epoch ms) of the TiCDC requests since the scenario started (errors included). */
  requests: number[];
  /** What a human had to do for the rollout to finish (empty: it finished on its own). */
  human: string[];
  rolloutFinished: boolean;
  /** When the runner saw the rollout (or the scenario's scale-in and scale-out) done, epoch ms. */
  rolloutDoneAt?: number;
  /** Operator SIGKILLs and control-plane faults injected (for the table). */
  kills: number;
  faults: string[];
  /** Leader failovers: kill -> another replica holds the Lease, ms. */
  failoversMs: number[];
  /** What the scenario verified itself (a refused delete, ...). */
  asserted?: Finding[];
}

export interface CheckOptions {
  /**
   * Bound on TiCDC requests per second during the scenario's rollout (from its first drain's start
   * to the rollout done; one drain of the cluster at a time), errors included: the benchmark's
   * rollout goal, 2 (bench-scale measures it over the whole rollout).
   */
  rateBound: number;
  /** true: a rate above the bound breaks the run; false: it is reported only. */
  enforceRate: boolean;
  /** Drain reasons the README documents as intended fail-closed outcomes. */
  intendedFailClosed: ReadonlySet<string>;
  /** Slack on a drain's timeout before it counts as stuck (observation and outage delays). */
  timeoutGraceMs: number;
}

export interface Finding {
  check: string;
  detail: string;
  /** true: an invariant broke (exit 1); false: reported only. */
  breaks: boolean;
}

export interface FailClosed {
  drain: string;
  reason: string;
  intended: boolean;
}

export interface ScenarioResult {
  scenario: string;
  durationMs: number;
  drains: number;
  kills: number;
  faults: string[];
  /** TiCDC requests per second from the first drain's start to the rollout done (drainingRate). */
  rate: number;
  /** The busiest drain's own rate (its start to its end; informational). */
  rateMax: number;
  failClosed: FailClosed[];
  human: string[];
  violations: number;
  failoversMs: number[];
  findings: Finding[];
}

/** Slot-holding: the drain claimed its cluster's slot (it started) and has not ended. */
function holds(e: DrainEventObs): boolean {
  return e.type !== 'DELETED' && e.started && !TERMINAL.has(e.phase ?? '') && e.phase !== 'Queued';
}

/** Pairs of drains seen holding one cluster's slot at once, in the watch's order. */
export function slotOverlaps(events: DrainEventObs[]): string[] {
  const holders = new Map<string, Set<string>>();
  const out: string[] = [];
  for (const e of events) {
    let set = holders.get(e.cluster);
    if (!set) holders.set(e.cluster, (set = new Set()));
    if (!holds(e)) {
      set.delete(e.key);
      continue;
    }
    if (!set.has(e.key)) {
      for (const other of set) out.push(`${e.key} started while ${other} held ${e.cluster}`);
      set.add(e.key);
    }
  }
  return out;
}

/** Pod incarnations (UIDs) that more than one CaptureDrain drained. */
export function drainedTwice(drains: DrainObs[]): string[] {
  const by = new Map<string, string[]>();
  for (const d of drains) {
    if (d.drainedTime === undefined || !d.podUID) continue;
    by.set(d.podUID, [...(by.get(d.podUID) ?? []), d.name]);
  }
  return [...by].filter(([, names]) => names.length > 1).map(([uid, names]) => `${uid}: ${names.join(', ')}`);
}

/** Requests per second in [from, to], at least 1 s (status times have a 1 s resolution). */
function rateIn(requests: number[], from: number, to: number): number {
  const n = requests.filter((t) => t >= from && t <= to).length;
  return n / Math.max((to - from) / 1000, 1);
}

/** TiCDC requests per second over each drain's life (its start to its end or now). */
export function drainRates(drains: DrainObs[], requests: number[], now: number): number[] {
  return drains
    .filter((d) => d.startTime !== undefined)
    .map((d) => rateIn(requests, d.startTime!, d.completionTime ?? now));
}

/**
 * TiCDC requests per second during the rollout, as the benchmark measures a rollout's: from the
 * first drain's start (or creation) to the later of the last drain's end (or now) and the rollout
 * done (`doneAt`, the release's last replacement registered); at least 1 s. 0 without drains. A
 * drain with podAction None ends at its confirmed zero, before the StatefulSet's step and the
 * capture's departure that the same operation still waits on.
 */
export function drainingRate(drains: DrainObs[], requests: number[], now: number, doneAt?: number): number {
  if (!drains.length) return 0;
  const from = Math.min(...drains.map((d) => d.startTime ?? d.createdAt));
  const to = Math.max(doneAt ?? 0, ...drains.map((d) => d.completionTime ?? now));
  return rateIn(requests, from, to);
}

/**
 * Completed drains that kept nothing: drained, or their pod went before (PodReplaced: a drain made
 * for an incarnation another drain already took) or after (PodGone) without them.
 */
const NOT_HELD: ReadonlySet<string> = new Set(['Drained', 'PodGone', 'PodReplaced']);

/** Drains that ended without releasing their pod the normal way, with their reason. */
export function failClosed(drains: DrainObs[], intended: ReadonlySet<string>): FailClosed[] {
  return drains
    .filter((d) => d.phase === 'Failed' || (d.phase === 'Completed' && d.reason && !NOT_HELD.has(d.reason)))
    .map((d) => {
      const reason = d.reason ?? '(none)';
      return { drain: `${d.namespace}/${d.name}`, reason, intended: intended.has(reason) };
    });
}

/** Every rule for one scenario. */
export function checkScenario(o: ScenarioObservation, opts: CheckOptions): ScenarioResult {
  const findings: Finding[] = [];
  const breakIf = (check: string, details: string[]) => {
    for (const detail of details) findings.push({ check, detail, breaks: true });
  };

  const lost = o.violations.filter((v) => !v.injected);
  breakIf(
    'invariant record empty',
    lost.map(
      (v) =>
        `capture ${v.captureId} (${v.podName ?? '?'}) left holding ${v.maintainers} maintainers, ${v.dispatchers} dispatchers (${v.cause})`,
    ),
  );

  const notReady = o.pods.filter((p) => !p.updated || !p.ready || p.deleting).map((p) => p.name);
  breakIf('every pod updated and Ready', [
    ...(o.pods.length !== o.expectedReplicas
      ? [`${o.pods.length} pods, expected ${o.expectedReplicas}`]
      : []),
    ...notReady.map((n) => `${n} not updated/Ready`),
  ]);

  const unregistered = o.pods
    .filter(
      (p) =>
        !o.captures.some(
          (c) => c.podName === p.name && c.podUid === p.uid && !c.exited && c.liveness === 'alive',
        ),
    )
    .map((p) => `${p.name} has no Alive capture`);
  breakIf('every capture registered', unregistered);

  breakIf(
    'no CaptureDrain non-terminal past its timeout',
    o.drains
      .filter((d) => !TERMINAL.has(d.phase ?? ''))
      .filter((d) => o.now - (d.startTime ?? d.createdAt) > d.timeoutMs + opts.timeoutGraceMs)
      .map(
        (d) =>
          `${d.namespace}/${d.name} ${d.phase ?? 'no phase'} for ${Math.round((o.now - (d.startTime ?? d.createdAt)) / 1000)} s`,
      ),
  );

  breakIf('no pod drained twice', drainedTwice(o.drains));
  breakIf('never two drains holding one slot', slotOverlaps(o.drainEvents));

  findings.push(...(o.asserted ?? []).filter((f) => f.breaks));

  const rate = drainingRate(o.drains, o.requests, o.now, o.rolloutDoneAt);
  const rateMax = Math.max(0, ...drainRates(o.drains, o.requests, o.now));
  if (rate > opts.rateBound)
    findings.push({
      check: 'TiCDC requests during the rollout within the bound',
      detail: `${rate.toFixed(2)} req/s > ${opts.rateBound}`,
      breaks: opts.enforceRate,
    });

  const fc = failClosed(o.drains, opts.intendedFailClosed);
  breakIf(
    'fail-closed only for documented reasons',
    fc
      .filter((f) => !f.intended)
      .map((f) => `${f.drain} ended ${f.reason}, not a documented fail-closed reason`),
  );

  if (!o.rolloutFinished) breakIf('rollout finished', ['the rollout did not finish, even with a human']);
  // A human step is acceptable only behind a documented fail-closed outcome.
  if (o.human.length > 0 && !fc.some((f) => f.intended))
    breakIf('a human only after a documented fail-closed outcome', [
      `needed a human (${o.human.join('; ')}) with no documented fail-closed drain`,
    ]);

  return {
    scenario: o.scenario,
    durationMs: o.now - o.start,
    drains: o.drains.length,
    kills: o.kills,
    faults: o.faults,
    rate,
    rateMax,
    failClosed: fc,
    human: o.human,
    violations: lost.length,
    failoversMs: o.failoversMs,
    findings,
  };
}

/**
 * The reasons listed in the README's "Intended fail-closed outcomes" section: the first cell of each
 * table row, in backticks.
 */
export function intendedReasons(readme: string): Set<string> {
  const lines = readme.split('\n');
  const at = lines.findIndex((l) => /^#+\s+Intended fail-closed outcomes/.test(l));
  if (at < 0) return new Set();
  const out = new Set<string>();
  for (const l of lines.slice(at + 1)) {
    if (/^#/.test(l)) break;
    const m = /^\|\s*`([A-Za-z]+)`/.exec(l);
    if (m) out.add(m[1]!);
  }
  return out;
}

/** Parses Go-style durations as the CRD takes them (90s, 10m, 1h30m, 500ms). */
export function durationMs(text: string): number {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let m: RegExpExecArray | null;
  let seen = '';
  while ((m = re.exec(text))) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    seen += m[0];
  }
  if (!seen || seen !== text) throw new Error(`invalid duration "${text}"`);
  return total;
}

const pct = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

/** The table printed at the end (markdown), and the totals row. */
export function table(
  results: ScenarioResult[],
  opts: Pick<CheckOptions, 'rateBound' | 'enforceRate'>,
): string {
  const rateHead = `TiCDC req/s during the rollout (bound ${opts.rateBound}, ${opts.enforceRate ? 'enforced' : 'reported, not enforced'}) / busiest drain`;
  const lines = [
    `| scenario | time | drains | kills | faults | ${rateHead} | fail-closed (reason) | without a human | lost work | invariants |`,
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const broken = r.findings.filter((f) => f.breaks);
    const reported = r.findings.filter((f) => !f.breaks);
    lines.push(
      `| ${r.scenario} | ${(r.durationMs / 1000).toFixed(0)} s | ${r.drains} | ${r.kills} | ${r.faults.join(', ') || '-'} | ${r.rate.toFixed(2)} / ${r.rateMax.toFixed(2)}${reported.length ? ' (over)' : ''} | ${
        r.failClosed.map((f) => `${f.reason}${f.intended ? '' : ' (UNDOCUMENTED)'}`).join(', ') || '-'
      } | ${r.human.length ? `no: ${r.human.join('; ')}` : 'yes'} | ${r.violations} | ${
        broken.length ? `**BROKEN**: ${broken.map((f) => `${f.check}: ${f.detail}`).join('; ')}` : 'ok'
      } |`,
    );
  }
  const fo = results.flatMap((r) => r.failoversMs);
  const all = results.map((r) => r.rate);
  lines.push(
    `| **total** | ${(results.reduce((a, r) => a + r.durationMs, 0) / 1000).toFixed(0)} s | ${results.reduce((a, r) => a + r.drains, 0)} | ${results.reduce((a, r) => a + r.kills, 0)} | ${results.reduce((a, r) => a + r.faults.length, 0)} | ${
      all.length ? (all.reduce((a, b) => a + b, 0) / all.length).toFixed(2) : '-'
    } / ${Math.max(0, ...results.map((r) => r.rateMax)).toFixed(2)} | ${results.reduce((a, r) => a + r.failClosed.length, 0)} | ${
      results.filter((r) => r.human.length === 0).length
    } of ${results.length} | ${results.reduce((a, r) => a + r.violations, 0)} | ${
      results.reduce((a, r) => a + r.findings.filter((f) => f.breaks).length, 0) || 'ok'
    } |`,
  );
  if (fo.length)
    lines.push(
      '',
      `leader failover after SIGKILL (kill -> Lease held by another replica): ${fo.length} kills, p50 ${(pct(fo, 50) / 1000).toFixed(1)} s, max ${(Math.max(...fo) / 1000).toFixed(1)} s`,
    );
  return lines.join('\n');
}
