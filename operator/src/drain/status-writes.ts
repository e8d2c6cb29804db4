// Which status changes are worth a write (pure). A user sees the phase, its reason, the counts,
// the conditions, the capture and pod it is bound to, errors and the estimated completion; these
// are written when they change. Probe bookkeeping (when TiCDC was last asked, how often, the
// target's liveness, the rate and the message that repeats the counts) is kept in memory and
// written at most every PROBE_WRITE_MS, together with the next visible change. A restarted
// operator resumes from the written status: the probe fields it lacks only reset backoff counters
// and estimates, none of which a safety rule depends on (a release always asks TiCDC afresh).
import type { CaptureDrainStatus, Condition } from '../api/capturedrain.js';
import { totalOf } from './machine.js';

/** Probe bookkeeping is written at most this often. */
export const PROBE_WRITE_MS = 15_000;
/** An estimated completion is rewritten when it moved by more than this, or a quarter of the time left. */
export const ETA_SLACK_MS = 15_000;
/**
 * Counts that only fell (the drain progressing) are rewritten at most this often; their first
 * reading and their zero at once. A drain of many tables would otherwise write on every one, and
 * 200 concurrent drains made the API server, not TiCDC, what a release waited on.
 */
export const COUNTS_WRITE_MS = 5000;

const PROBE_FIELDS = [
  'message',
  'lastProbeTime',
  'lastProgressTime',
  'attempts',
  'consecutiveErrors',
  'targetLiveness',
  'drainRate',
  'estimatedCompletionTime',
] as const satisfies readonly (keyof CaptureDrainStatus)[];

const ms = (t: string | undefined) => (t ? Date.parse(t) : NaN);

/**
 * A run of failed TiCDC requests younger than this is not written on its own: one failed look
 * that the next one clears (an endpoint answering half its requests with 503) would write twice.
 * A past error (its run over: no errorSince) is kept as information and written with the next write.
 */
export const ERROR_WRITE_MS = 5000;
const ERROR_FIELDS = ['lastError', 'errorSince', 'lastErrorAction'] as const;

function visible(s: CaptureDrainStatus, now: number): unknown {
  const out: Record<string, unknown> = { ...s };
  for (const k of PROBE_FIELDS) delete out[k];
  if (!(now - ms(s.errorSince) >= ERROR_WRITE_MS)) for (const k of ERROR_FIELDS) delete out[k];
  // A condition's message repeats status.message; its type, status and reason are what changes.
  out.conditions = (s.conditions ?? []).map((c: Condition) => [
    c.type,
    c.status,
    c.reason,
    c.observedGeneration ?? null,
    c.lastTransitionTime,
  ]);
  return out;
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.entries(x as Record<string, unknown>)
            .filter(([, y]) => y !== undefined)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : x,
  );
}

/** The estimate appeared, went, or moved by more than its slack (ETA buckets). */
export function etaMoved(before: CaptureDrainStatus, after: CaptureDrainStatus, now: number): boolean {
  const a = ms(before.estimatedCompletionTime);
  const b = ms(after.estimatedCompletionTime);
  if (Number.isNaN(a) !== Number.isNaN(b)) return true;
  if (Number.isNaN(a)) return false;
  return Math.abs(a - b) > Math.max(ETA_SLACK_MS, (a - now) / 4);
}

/**
 * Should `next` be written over the persisted status? Yes when something a user sees changed
 * (phase, reason, counts, conditions, bindings, errors, history, an ETA bucket), or when only
 * probe bookkeeping changed and the persisted one is PROBE_WRITE_MS old. `writtenAt`: when this
 * process last wrote it, if it did (a run of failed probes leaves lastProbeTime behind).
 */
export function statusWriteNeeded(
  persisted: CaptureDrainStatus,
  next: CaptureDrainStatus,
  now: number,
  writtenAt?: number,
): boolean {
  const probed = ms(persisted.lastProbeTime);
  const last = writtenAt === undefined || probed > writtenAt ? probed : writtenAt;
  if (canonical(visible(persisted, now)) !== canonical(visible(next, now))) {
    if (!countsOnlyFell(persisted, next, now)) return true;
    if (Number.isNaN(last) || now - last >= COUNTS_WRITE_MS) return true;
  }
  if (etaMoved(persisted, next, now)) return true;
  const probeChanged = PROBE_FIELDS.some((k) => canonical(persisted[k]) !== canonical(next[k]));
  if (!probeChanged) return false;
  return Number.isNaN(last) || now - last >= PROBE_WRITE_MS;
}

/** Only the remaining counts differ, they were written before, and they fell but not to zero. */
function countsOnlyFell(persisted: CaptureDrainStatus, next: CaptureDrainStatus, now: number): boolean {
  const before = totalOf(persisted.remaining);
  const after = totalOf(next.remaining);
  if (before === undefined || after === undefined || after === 0 || after >= before) return false;
  const rest = (s: CaptureDrainStatus) => canonical({ ...(visible(s, now) as object), remaining: null });
  return rest(persisted) === rest(next);
}
