import { describe, expect, test } from '@jest/globals';
import type { CaptureDrainStatus } from '../../src/api/capturedrain.js';
import {
  COUNTS_WRITE_MS,
  ERROR_WRITE_MS,
  PROBE_WRITE_MS,
  etaMoved,
  statusWriteNeeded,
} from '../../src/drain/status-writes.js';

const T0 = Date.parse('2026-11-21T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const base: CaptureDrainStatus = {
  phase: 'Draining',
  reason: 'DrainRequested',
  message: 'Draining: 10 tables remaining',
  captureID: 'c1',
  remaining: { tables: 10 },
  lastProbeTime: iso(T0),
  attempts: 3,
  targetLiveness: 'Draining',
  estimatedCompletionTime: iso(T0 + 60_000),
  conditions: [
    { type: 'Progressing', status: 'True', reason: 'Draining', message: 'a', lastTransitionTime: iso(T0) },
  ],
};

describe('statusWriteNeeded', () => {
  test('probe bookkeeping alone is not written before PROBE_WRITE_MS', () => {
    const next: CaptureDrainStatus = {
      ...base,
      lastProbeTime: iso(T0 + 1000),
      attempts: 4,
      message: 'Draining: 10 tables remaining (again)',
      estimatedCompletionTime: iso(T0 + 61_000),
      conditions: [{ ...base.conditions![0]!, message: 'b' }],
    };
    expect(statusWriteNeeded(base, next, T0 + 1000)).toBe(false);
    expect(
      statusWriteNeeded(base, { ...next, lastProbeTime: iso(T0 + PROBE_WRITE_MS) }, T0 + PROBE_WRITE_MS),
    ).toBe(true);
    // Nothing changed at all: never written.
    expect(statusWriteNeeded(base, base, T0 + 10 * PROBE_WRITE_MS)).toBe(false);
  });

  test('probe bookkeeping is throttled from the last write, not only the last successful probe', () => {
    // A run of failed looks leaves lastProbeTime behind; a write 1 s ago holds the next one off.
    const next: CaptureDrainStatus = { ...base, consecutiveErrors: 2, message: 'Retrying after error: 503' };
    const now = T0 + PROBE_WRITE_MS + 5000;
    expect(statusWriteNeeded(base, next, now)).toBe(true);
    expect(statusWriteNeeded(base, next, now, now - 1000)).toBe(false);
    expect(statusWriteNeeded(base, next, now, now - PROBE_WRITE_MS)).toBe(true);
  });

  test('what a user sees is written at once: phase, reason, counts, conditions, errors, bindings', () => {
    const now = T0 + 1000;
    const changes: Partial<CaptureDrainStatus>[] = [
      { phase: 'Releasing' },
      { reason: 'WaitingForPreviousDrain' },
      { remaining: { tables: 11 } },
      { remaining: { tables: 0 } },
      { conditions: [{ ...base.conditions![0]!, status: 'False' }] },
      { lastError: 'Transient: 503', errorSince: iso(now - ERROR_WRITE_MS) },
      { released: true },
      { drainedTime: iso(now) },
    ];
    for (const c of changes) expect(statusWriteNeeded(base, { ...base, ...c }, now)).toBe(true);
  });

  test('a run of failed requests is written once it lasted ERROR_WRITE_MS; one the next look clears, never', () => {
    const failing = (since: number): CaptureDrainStatus => ({
      ...base,
      lastError: 'Transient: 503',
      errorSince: iso(since),
      lastErrorAction: 'drain',
      consecutiveErrors: 1,
    });
    expect(statusWriteNeeded(base, failing(T0 + 1000), T0 + 1000)).toBe(false);
    expect(statusWriteNeeded(base, failing(T0 + 1000), T0 + 1000 + ERROR_WRITE_MS - 1)).toBe(false);
    expect(statusWriteNeeded(base, failing(T0 + 1000), T0 + 1000 + ERROR_WRITE_MS)).toBe(true);
    // Written while it lasted: its end is written too.
    expect(statusWriteNeeded(failing(T0), base, T0 + ERROR_WRITE_MS + 500)).toBe(true);
    // A past error (the run over) is information for the next write, not a write of its own; nor
    // is a new run that replaces it while young.
    const past: CaptureDrainStatus = { ...base, lastError: 'Transient: 503' };
    expect(statusWriteNeeded(base, past, T0 + 1000)).toBe(false);
    expect(statusWriteNeeded(past, failing(T0 + 1000), T0 + 1500)).toBe(false);
  });

  test('counts that only fell are written at most every COUNTS_WRITE_MS; their zero at once', () => {
    const fell = (n: number, at: number): CaptureDrainStatus => ({
      ...base,
      remaining: { tables: n },
      lastProbeTime: iso(at),
    });
    expect(statusWriteNeeded(base, fell(9, T0 + 1000), T0 + 1000)).toBe(false);
    expect(statusWriteNeeded(base, fell(5, T0 + COUNTS_WRITE_MS - 1), T0 + COUNTS_WRITE_MS - 1)).toBe(false);
    expect(statusWriteNeeded(base, fell(5, T0 + COUNTS_WRITE_MS), T0 + COUNTS_WRITE_MS)).toBe(true);
    expect(statusWriteNeeded(base, fell(0, T0 + 1000), T0 + 1000)).toBe(true);
    // With anything else a user sees, at once.
    expect(statusWriteNeeded(base, { ...fell(9, T0 + 1000), phase: 'Drained' }, T0 + 1000)).toBe(true);
    // The first reading of counts, at once.
    const { remaining: _r, ...none } = base;
    expect(statusWriteNeeded(none, fell(9, T0 + 1000), T0 + 1000)).toBe(true);
  });

  test('an ETA is written when it appears, goes, or leaves its bucket', () => {
    const now = T0 + 1000;
    const { estimatedCompletionTime: _eta, ...noEta } = base;
    expect(etaMoved(noEta, base, now)).toBe(true);
    expect(etaMoved(base, noEta, now)).toBe(true);
    expect(etaMoved(base, { ...base, estimatedCompletionTime: iso(T0 + 70_000) }, now)).toBe(false);
    expect(etaMoved(base, { ...base, estimatedCompletionTime: iso(T0 + 90_000) }, now)).toBe(true);
    expect(statusWriteNeeded(base, { ...base, estimatedCompletionTime: iso(T0 + 90_000) }, now)).toBe(true);
  });
});
