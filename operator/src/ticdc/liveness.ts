// What a capture's own `liveness` integer means (ticdc-api.md §4.5): the same integer names
// different states in different generations, so it is read together with the drain flavour and
// the architecture.
//
//   value | classic (tiflow) | new arch v8.5.7+ | PR #4081 design (flavour V2)
//   0     | Alive            | Alive            | Alive
//   1     | Stopping         | Draining         | Stopping
//   2     | -                | Stopping         | Draining
import type { ApiFlavor, Architecture } from './types.js';

export type LivenessState = 'Alive' | 'Draining' | 'Stopping' | 'Unknown';

export function livenessState(
  flavor: ApiFlavor,
  architecture: Architecture | undefined,
  liveness: number | undefined,
): LivenessState {
  if (liveness === undefined) return 'Unknown';
  if (liveness === 0) return 'Alive';
  if (flavor === 'V2') return liveness === 1 ? 'Stopping' : liveness === 2 ? 'Draining' : 'Unknown';
  if (flavor === 'V2Classic' || architecture === 'Classic') return liveness === 1 ? 'Stopping' : 'Unknown';
  return liveness === 1 ? 'Draining' : liveness === 2 ? 'Stopping' : 'Unknown';
}

/**
 * Does a zero from this server need the target's own liveness to confirm it? The new architecture
 * answers 0 also for "fall back to a hard restart" (a legacy peer, §4.9, §9), and the V2 flavour's
 * dispatcher count is always 0 (§5). Classic TiCDC has no such zero: its 0 is the real count.
 */
export function zeroNeedsConfirmation(flavor: ApiFlavor, architecture: Architecture | undefined): boolean {
  if (flavor === 'V2') return true;
  if (flavor === 'V2Classic') return false;
  return architecture !== 'Classic';
}
