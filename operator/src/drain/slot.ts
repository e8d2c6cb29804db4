// The TiCDC cluster slot: one drain at a time per cluster (keyed by its endpoint), claimed in the
// API server so that it is atomic across concurrent reconciles and operator replicas.
//
// The claim is a coordination.k8s.io Lease per cluster, in the operator's namespace, named from a
// hash of the endpoint. Its holderIdentity is the drain ("namespace/name/uid") that may start. The
// API server makes the claim atomic: a create of an existing Lease fails (409 AlreadyExists) and
// every change of holder is a replace carrying the resourceVersion that was read (409 Conflict when
// anyone changed it since), so of two drains that race for a free or stale Lease exactly one wins
// and the other sees the winner on its next read. A drain keeps the Lease from its claim until it
// ends (Completed/Failed) or is deleted; a holder that no longer exists (another object with the
// same name, or none) or has ended is stale and may be replaced, again only by one drain.
//
// Pure: names and the verdict on a read Lease; drain/slot-claims.ts does the reads and writes.
import { createHash } from 'node:crypto';
import { isTerminal } from './contract.js';
import type { Phase } from '../api/capturedrain.js';

export const SLOT_LEASE_PREFIX = 'capture-drain-slot-';

/** `capture-drain-slot-<16 hex of sha256(endpoint)>`: a valid name whatever the endpoint. */
export function slotLeaseName(endpoint: string): string {
  return SLOT_LEASE_PREFIX + createHash('sha256').update(endpoint).digest('hex').slice(0, 16);
}

export interface DrainIdentity {
  namespace: string;
  name: string;
  uid: string;
}

export function holderIdentity(d: DrainIdentity): string {
  return `${d.namespace}/${d.name}/${d.uid}`;
}

/** undefined for an empty (released) or foreign holder. */
export function parseHolder(identity: string | undefined): DrainIdentity | undefined {
  const parts = (identity ?? '').split('/');
  if (parts.length !== 3 || parts.some((p) => !p)) return undefined;
  return { namespace: parts[0]!, name: parts[1]!, uid: parts[2]! };
}

/** What the API server says about the Lease's holder, read live (not from a cache). */
export interface HolderState {
  /** undefined: no object of that name; else its uid, phase and whether it is being deleted. */
  found?: { uid: string; phase?: Phase; deleting: boolean };
}

export type ClaimVerdict =
  /** No Lease yet: create it with us as the holder. */
  | { type: 'Create' }
  /** We hold it already. */
  | { type: 'Held' }
  /** Free (released) or stale: replace the holder with us, under the Lease's resourceVersion. */
  | { type: 'TakeOver'; why: string }
  /** Another live drain holds it: wait. */
  | { type: 'Busy'; holder: string }
  /** The holder must be looked up before deciding (the caller reads it and asks again). */
  | { type: 'LookUpHolder'; holder: DrainIdentity };

/**
 * The verdict on the cluster's slot Lease for drain `me`. `lease` undefined: there is none.
 * `holder` is the live state of the current holder, when the caller has read it.
 */
export function claimVerdict(
  me: DrainIdentity,
  lease: { holderIdentity?: string } | undefined,
  holder?: HolderState,
): ClaimVerdict {
  if (!lease) return { type: 'Create' };
  const h = parseHolder(lease.holderIdentity);
  if (!h) return { type: 'TakeOver', why: 'free' };
  if (h.namespace === me.namespace && h.name === me.name && h.uid === me.uid) return { type: 'Held' };
  if (!holder) return { type: 'LookUpHolder', holder: h };
  const f = holder.found;
  if (!f || f.uid !== h.uid) return { type: 'TakeOver', why: `holder ${h.namespace}/${h.name} is gone` };
  if (f.deleting || isTerminal(f.phase))
    return { type: 'TakeOver', why: `holder ${h.namespace}/${h.name} has ended` };
  return { type: 'Busy', holder: `${h.namespace}/${h.name}` };
}
