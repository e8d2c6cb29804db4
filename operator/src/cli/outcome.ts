// The outcome of a drain as the CLI reports it: one word and an exit code, shared by `drain` (which
// runs the state machine itself) and `status` (which follows CaptureDrains the operator runs).
import type { CaptureDrainStatus } from '../api/capturedrain.js';

export const EXIT = {
  drained: 0,
  timedOut: 2,
  failed: 3,
  legacyFallback: 4,
  usage: 64,
  interrupted: 130,
} as const;

/** What happened, in one word, for the final line: the JSON `result` and the text verdict agree with the exit code. */
export type DrainResult =
  'Drained' | 'LegacyFallback' | 'WaitingForPreviousDrain' | 'TimedOut' | 'Stalled' | 'Failed';

export function resultFor(status: CaptureDrainStatus): DrainResult {
  if (status.phase === 'Completed' && status.drainedTime) return 'Drained';
  if (status.reason === 'LegacyFallback') return 'LegacyFallback';
  // Timed out while TiCDC's previous drain session still held the cluster.
  if (
    status.reason === 'TimedOut' &&
    status.history?.some((h) => h.reason === 'WaitingForPreviousDrain') &&
    !status.history.some((h) => h.reason === 'DrainStarted')
  )
    return 'WaitingForPreviousDrain';
  if (status.reason === 'TimedOut') return 'TimedOut';
  if (status.reason === 'Stalled') return 'Stalled';
  return 'Failed';
}

export const RESULT_TEXT: Record<DrainResult, string> = {
  Drained: 'TiCDC confirmed the capture holds no work',
  LegacyFallback:
    'not drained: TiCDC asks for a hard restart because a capture of the cluster runs a pre-v8.5.7 version; nothing was moved',
  WaitingForPreviousDrain:
    "not drained: TiCDC's previous drain session (a drained capture still running) blocked this drain until the timeout; restart that capture",
  TimedOut: 'not drained: timed out',
  Stalled: 'not drained: no progress (stalled)',
  Failed: 'not drained',
};

export function exitCodeFor(status: CaptureDrainStatus): number {
  if (status.phase === 'Completed' && status.drainedTime) return EXIT.drained;
  if (status.reason === 'TimedOut' || status.reason === 'Stalled') return EXIT.timedOut;
  if (status.reason === 'LegacyFallback') return EXIT.legacyFallback;
  return EXIT.failed;
}
