// Pure helpers of `make bench-scale`: percentiles, and the anchors' polling policies replayed on
// recorded drain timelines. A timeline is when the drain started (its first drain request to
// TiCDC) and when its work reached zero (the simulator's drain completion); a polling policy polls
// from the start on its own schedule and releases the pod at its first poll at or after zero.

export interface Timeline {
  /** ms: first drain request of the drain. */
  start: number;
  /** ms: the simulator's moment of zero (drain completed). */
  zero: number;
}

export interface PolicyResult {
  /** ms from zero to the poll that saw it, per timeline. */
  lags: number[];
  /** TiCDC requests per second of each drain under the policy (one request per poll). */
  rates: number[];
}

/** Poll times of a policy for one timeline, ascending, up to and including the first >= zero. */
export type PollSchedule = (t: Timeline) => number[];

/** A fixed polling interval from the start (TiUP: 1 s; tidb-operator v2: a 5 s requeue). */
export function fixedInterval(ms: number): PollSchedule {
  return ({ start, zero }) => {
    const polls: number[] = [];
    for (let t = start; ; t += ms) {
      polls.push(t);
      if (t >= zero) return polls;
    }
  };
}

/**
 * tidb-operator v1: a not-yet-drained drain is a reconcile error, retried with per-item
 * exponential backoff (first delay `baseMs`, doubling, capped at `maxMs`), plus the informer's
 * periodic resync every `resyncMs` counted from `resyncEpoch` (shared by every drain of a run).
 */
export function backoffWithResync(opts: {
  baseMs: number;
  maxMs: number;
  resyncMs: number;
  resyncEpoch: number;
}): PollSchedule {
  return ({ start, zero }) => {
    const polls: number[] = [];
    let delay = opts.baseMs;
    for (let t = start; ;) {
      polls.push(t);
      if (t >= zero) break;
      t += delay;
      delay = Math.min(delay * 2, opts.maxMs);
    }
    const last = polls[polls.length - 1]!;
    const k0 = Math.ceil((start - opts.resyncEpoch) / opts.resyncMs);
    for (let k = Math.max(k0, 0); ; k++) {
      const t = opts.resyncEpoch + k * opts.resyncMs;
      if (t > last) break;
      if (t >= start) polls.push(t);
    }
    polls.sort((a, b) => a - b);
    const release = polls.findIndex((t) => t >= zero);
    return polls.slice(0, release + 1);
  };
}

export function replay(policy: PollSchedule, timelines: Timeline[]): PolicyResult {
  const lags: number[] = [];
  const rates: number[] = [];
  for (const t of timelines) {
    const polls = policy(t);
    const release = polls[polls.length - 1]!;
    lags.push(release - t.zero);
    rates.push(polls.length / Math.max((release - t.start) / 1000, 1));
  }
  return { lags, rates };
}

/** Nearest-rank percentile (p in 0..100) of a list; NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function mean(values: number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}
