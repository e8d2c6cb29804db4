// Performs the state machine's TiCDC actions and turns every answer, including failures,
// into an Outcome. Shared by the CaptureDrain controller and the CLI.
import { findTarget } from './address.js';
import type { Action, DrainTarget, Outcome } from './machine.js';
import { isTicdcError, type TicdcClient } from '../ticdc/types.js';

export type TicdcAction = Extract<Action, { type: 'discover' | 'resign' | 'drain' | 'awaitDeparture' }>;

export function isTicdcAction(a: Action): a is TicdcAction {
  return a.type === 'discover' || a.type === 'resign' || a.type === 'drain' || a.type === 'awaitDeparture';
}

/**
 * `signal` (the reconcile's) cancels the requests; once it aborted this rejects with its reason
 * instead of returning an Outcome, so the caller records nothing.
 */
export async function performTicdcAction(
  unbound: TicdcClient,
  action: TicdcAction,
  target: DrainTarget,
  signal?: AbortSignal,
): Promise<Outcome> {
  const client = signal && unbound.withSignal ? unbound.withSignal(signal) : unbound;
  try {
    switch (action.type) {
      case 'discover': {
        const captures = await client.listCaptures();
        const found = findTarget(captures, target);
        if (!found) return { type: 'discovered', captures };
        if (action.known) return { type: 'discovered', captures, flavor: action.known };
        const flavor = action.flavor === 'Auto' ? await client.detectFlavor(found.id) : action.flavor;
        // The version is informational only: a failure here must not block the drain.
        const version = await client.serverStatus().then(
          (s) => s.version,
          () => undefined,
        );
        return { type: 'discovered', captures, flavor, ...(version ? { version } : {}) };
      }
      case 'resign': {
        const captures = await client.listCaptures();
        const target = captures.find((c) => c.id === action.captureId);
        if (target?.isOwner) {
          await client.resignOwner(action.flavor);
          return { type: 'resign', captures, resignIssued: true, healthy: false };
        }
        // After a coordinator change, wait until the cluster is healthy (tidb-operator #4665).
        const healthy = await client.health(action.flavor).then(
          () => true,
          (err: unknown) => {
            if (isTicdcError(err) && err.retryable) return false;
            throw err;
          },
        );
        return { type: 'resign', captures, resignIssued: false, healthy };
      }
      case 'drain':
        return { type: 'drain', counts: await client.drain(action.flavor, action.captureId) };
      case 'awaitDeparture':
        return { type: 'departure', captures: await client.listCaptures() };
    }
  } catch (err) {
    signal?.throwIfAborted();
    if (isTicdcError(err))
      return { type: 'error', kind: err.kind, message: err.message, retryable: err.retryable };
    return {
      type: 'error',
      kind: 'Transient',
      message: err instanceof Error ? err.message : String(err),
      retryable: true,
    };
  }
}
