// Performs the state machine's TiCDC actions and turns every answer, including failures,
// into an Outcome. Shared by the CaptureDrain controller and the CLI.
import { findTarget, sameCaptureAddress } from './address.js';
import {
  isConfirmedZero,
  type Action,
  type DrainAction,
  type DrainTarget,
  type Outcome,
  type TargetView,
} from './machine.js';
import { livenessState, zeroNeedsConfirmation } from '../ticdc/liveness.js';
import {
  isTicdcError,
  type ApiFlavor,
  type Architecture,
  type CaptureInfo,
  type TicdcClient,
} from '../ticdc/types.js';

export type TicdcAction = Extract<Action, { type: 'discover' | 'resign' | 'drain' | 'awaitDeparture' }>;

export function isTicdcAction(a: Action): a is TicdcAction {
  return a.type === 'discover' || a.type === 'resign' || a.type === 'drain' || a.type === 'awaitDeparture';
}

function errorOutcome(err: unknown): Outcome {
  if (isTicdcError(err))
    return { type: 'error', kind: err.kind, message: err.message, retryable: err.retryable };
  return {
    type: 'error',
    kind: 'Transient',
    message: err instanceof Error ? err.message : String(err),
    retryable: true,
  };
}

/**
 * `signal` (the reconcile's) cancels the requests; once it aborted this rejects with its reason
 * instead of returning an Outcome, so the caller records nothing. `repeat`: a look the caller
 * repeats on its own schedule, asked without the client's quick retries.
 */
export async function performTicdcAction(
  unbound: TicdcClient,
  action: TicdcAction,
  target: DrainTarget,
  signal?: AbortSignal,
  opts: { repeat?: boolean } = {},
): Promise<Outcome> {
  const bound = signal && unbound.withSignal ? unbound.withSignal(signal) : unbound;
  const client = opts.repeat && bound.withoutRetries ? bound.withoutRetries() : bound;
  try {
    switch (action.type) {
      case 'discover':
        return await discover(client, action, target, unbound);
      case 'resign': {
        // Whether the target still leads: a list another look read a moment ago answers that (the
        // looks after a resign come RESIGN_POLL_MS apart, past this age).
        const captures = await client.listCaptures({ maxAgeMs: RECENT_LIST_MAX_AGE_MS });
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
        return await drain(client, action);
      case 'awaitDeparture':
        // The rollout looks for the same departure: either one's recent list will do.
        return {
          type: 'departure',
          captures: await client.listCaptures({ maxAgeMs: RECENT_LIST_MAX_AGE_MS }),
        };
    }
  } catch (err) {
    signal?.throwIfAborted();
    return errorOutcome(err);
  }
}

/**
 * How old a capture list may be (ms) for a look that releases nothing: a first discovery (the
 * list the rollout read just before creating the drain), the coordinator check before a resign,
 * the wait for a released capture's departure. A release is decided on a fresh drain answer.
 */
export const RECENT_LIST_MAX_AGE_MS = 1000;

/**
 * What flavour detection found for a cluster's client, and under which coordinator. The API a
 * drain speaks is the coordinator's (requests are forwarded to it), and a coordinator's version
 * changes only with the coordinator (a restart registers a new capture ID): while the same one
 * leads, the next drain of the cluster (a rollout's next pod) reuses the answer instead of probing
 * four routes again. Only successful detections are kept; another coordinator probes afresh.
 */
interface Detected {
  coordinator: string;
  flavor: ApiFlavor;
  architecture: Architecture;
  version?: string;
}
const detections = new WeakMap<TicdcClient, Detected>();

async function discover(
  client: TicdcClient,
  action: Extract<TicdcAction, { type: 'discover' }>,
  target: DrainTarget,
  cacheKey: TicdcClient,
): Promise<Outcome> {
  // A first discovery may use the list the rollout read a moment before creating this drain. A
  // drain looking again (its capture restarted) asks afresh.
  const captures = await client.listCaptures(action.first ? { maxAgeMs: RECENT_LIST_MAX_AGE_MS } : {});
  let found = findTarget(captures, target);
  if (!found) return { type: 'discovered', captures };
  let targetId: string | undefined;
  if (!target.captureId) {
    // Two captures at one address (a restarted process while the old one is still listed, §9):
    // the address itself answers with the live one; a Stopping one is never the target.
    const all = captures.filter((c) => target.addresses.some((a) => sameCaptureAddress(c.address, a)));
    if (all.length > 1) {
      const own = await client.serverStatus(found.address).catch(() => undefined);
      const live = own && all.find((c) => c.id === own.id);
      const stopping = own?.liveness !== undefined && own.liveness !== 0;
      if (!live || stopping) return { type: 'discovered', captures, ambiguous: all.map((c) => c.id).sort() };
      found = live;
      targetId = live.id;
    }
  }
  const chosen = targetId ? { targetId } : {};
  if (action.known)
    return {
      type: 'discovered',
      captures,
      flavor: action.known,
      ...chosen,
      ...(action.architecture ? { architecture: action.architecture } : {}),
    };
  const discovered = ({ flavor, architecture, version }: Omit<Detected, 'coordinator'>): Outcome => ({
    type: 'discovered',
    captures,
    flavor,
    architecture,
    ...chosen,
    ...(version ? { version } : {}),
  });
  const coordinator = captures.find((c) => c.isOwner)?.id;
  const seen = detections.get(cacheKey);
  if (action.flavor === 'Auto' && coordinator && seen?.coordinator === coordinator) return discovered(seen);
  let flavor = action.flavor;
  if (flavor === 'Auto') flavor = await client.detectFlavor(found.id);
  // The stub check (§4.9) runs whatever the setting: an explicit V1 on a v8.5.4-v8.5.6 server
  // would otherwise read the stub's zeros as drained.
  else if (flavor === 'V1') await client.checkV1Drain();
  // The version is informational only: a failure here must not block the drain.
  const version = await client.serverStatus().then(
    (s) => s.version,
    () => undefined,
  );
  const architecture: Architecture =
    flavor === 'V2Classic' ? 'Classic' : flavor === 'V2' ? 'NewArch' : await client.architecture(version);
  const detected = { flavor, architecture, ...(version ? { version } : {}) };
  if (action.flavor === 'Auto' && coordinator) detections.set(cacheKey, { coordinator, ...detected });
  return discovered(detected);
}

/**
 * Drain once. When the answer is 0 (or the `1` TiCDC gives while another session holds the
 * cluster) and the protocol needs it, read the target's own status at its advertise address:
 * liveness Stopping confirms a drain; Alive means TiCDC has not drained it (legacy fallback, or a
 * previous session), and then the holder of that session is looked up.
 */
async function drain(client: TicdcClient, action: DrainAction): Promise<Outcome> {
  const counts = await client.drain(action.flavor, action.captureId);
  const total = (counts.maintainers ?? 0) + (counts.dispatchers ?? 0) + (counts.tables ?? 0);
  if (!zeroNeedsConfirmation(action.flavor, action.architecture) || total > 1 || !action.address)
    return { type: 'drain', counts };
  // The last unit of a drain whose counts already fell, or a fresh session's 1 within the grace
  // (the machine reads nothing into it, whatever the liveness): only a 0 needs the target's status.
  if (total === 1 && (action.progressed || action.skipHolderLookup)) return { type: 'drain', counts };
  const own = await client.serverStatus(action.address);
  const view: TargetView = {
    id: own.id,
    liveness: livenessState(action.flavor, action.architecture, own.liveness),
  };
  if (total === 0 || view.liveness !== 'Alive' || action.flavor !== 'V1' || action.skipHolderLookup)
    return { type: 'drain', counts, target: view };
  const blocker = await findSessionHolder(client, action).catch(() => undefined);
  return { type: 'drain', counts, target: view, ...(blocker ? { blocker } : {}) };
}

/** The registered capture, other than the target, whose own status shows Draining or Stopping. */
async function findSessionHolder(
  client: TicdcClient,
  action: DrainAction,
): Promise<{ id: string; address: string } | undefined> {
  const captures: CaptureInfo[] = await client.listCaptures();
  const others = captures
    .filter((c) => c.id !== action.captureId)
    .sort((a, b) => a.address.localeCompare(b.address));
  const states = await Promise.all(
    others.map((c) =>
      client.serverStatus(c.address).then(
        (s) => (s.id === c.id ? livenessState(action.flavor, action.architecture, s.liveness) : 'Unknown'),
        () => 'Unknown' as const,
      ),
    ),
  );
  const i = states.findIndex((st) => st === 'Draining' || st === 'Stopping');
  return i < 0 ? undefined : { id: others[i]!.id, address: others[i]!.address };
}

/**
 * Before a pod is deleted: a fresh drain answer in this very reconcile. Returns undefined when it
 * is a confirmed zero (delete), else the outcome to hand to the machine (drain again, or retry).
 */
export async function verifyRelease(
  client: TicdcClient,
  verify: DrainAction,
  signal?: AbortSignal,
): Promise<Outcome | undefined> {
  const outcome = await performTicdcAction(client, verify, { addresses: [] }, signal);
  return isConfirmedZero(verify, outcome) ? undefined : outcome;
}
