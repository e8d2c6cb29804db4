import type { CaptureDrainStatus } from '../../src/api/capturedrain.js';
import type { DrainContext, DrainPolicy } from '../../src/drain/machine.js';
import type { CaptureInfo } from '../../src/ticdc/types.js';

export const T0 = Date.parse('2026-11-21T10:00:00Z');
export const ADDR = 'ticdc-1.ticdc-peer.ns.svc:8300';

export const policy = (over: Partial<DrainPolicy> = {}): DrainPolicy => ({
  podAction: 'Delete',
  timeoutMs: 600_000,
  stallTimeoutMs: 180_000,
  onTimeout: 'Hold',
  apiFlavor: 'Auto',
  trackPod: true,
  ...over,
});

export const captures = (ownerIsTarget = false, withTarget = true): CaptureInfo[] => [
  { id: 'c0', isOwner: !ownerIsTarget, address: 'ticdc-0.ticdc-peer.ns.svc:8300' },
  ...(withTarget ? [{ id: 'c1', isOwner: ownerIsTarget, address: ADDR }] : []),
  { id: 'c2', isOwner: false, address: 'ticdc-2.ticdc-peer.ns.svc:8300' },
];

/** A status as it stands in each phase, as the machine itself would have written it. */
export function statusIn(phase: string): CaptureDrainStatus {
  const started = { startTime: new Date(T0).toISOString(), podUID: 'uid-1' };
  const found = { ...started, captureID: 'c1', captureAddress: ADDR, apiFlavor: 'V2' as const };
  switch (phase) {
    case 'New':
      return {};
    case 'Queued':
      return { phase: 'Queued', reason: 'WaitingForCluster', queuedTime: new Date(T0).toISOString() };
    case 'Pending':
      return { phase: 'Pending', reason: 'Started', ...started };
    case 'ResigningOwner':
      return { phase: 'ResigningOwner', reason: 'TargetIsOwner', ...found };
    case 'Draining':
      return {
        phase: 'Draining',
        reason: 'DrainRequested',
        ...found,
        lastProgressTime: new Date(T0).toISOString(),
        initial: { maintainers: 4, dispatchers: 20 },
        remaining: { maintainers: 2, dispatchers: 10 },
      };
    case 'Drained':
      return { phase: 'Drained', reason: 'CountsZero', ...found, drainedTime: new Date(T0).toISOString() };
    case 'Releasing':
      return {
        phase: 'Releasing',
        reason: 'Drained',
        ...found,
        drainedTime: new Date(T0).toISOString(),
        releaseTime: new Date(T0).toISOString(),
      };
    case 'Completed':
      return { phase: 'Completed', reason: 'Drained', ...found };
    case 'Failed':
      return { phase: 'Failed', reason: 'TimedOut', ...found };
  }
  throw new Error(phase);
}

export function ctx(status: CaptureDrainStatus, over: Partial<DrainContext> = {}): DrainContext {
  return {
    now: T0 + 5000,
    status,
    policy: policy(),
    target: { addresses: [ADDR] },
    pod: { uid: 'uid-1', terminating: false },
    slot: { free: true },
    ...over,
  };
}
