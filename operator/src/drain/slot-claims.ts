// Claims and releases a TiCDC cluster's slot Lease (the rules and why they are atomic:
// drain/slot.ts). Reads the Lease and the holder live, writes with create (409 when it exists) or
// a replace carrying the resourceVersion read (409 when anyone changed it since): a lost race is
// reported as busy and the caller looks again on its next reconcile.
import { Resources, KubeApiError, type KubeClient, type KubeObject } from '../kube/port.js';
import { microTime } from '../kube/time.js';
import { OPERATOR_NAME, SETTINGS_ANNOTATIONS } from '../api/names.js';
import type { CaptureDrainObject } from '../api/capturedrain.js';
import { claimVerdict, holderIdentity, slotLeaseName, type DrainIdentity, type HolderState } from './slot.js';

interface SlotLease extends KubeObject {
  spec?: { holderIdentity?: string; acquireTime?: string; leaseTransitions?: number };
}

export type ClaimResult = { held: true } | { held: false; holder?: string };

export class SlotClaims {
  constructor(
    private readonly namespace: string,
    private readonly log?: { info(o: object, msg: string): void },
  ) {}

  /** Claims the slot of `endpoint` for `me`, or says who holds it. */
  async claim(kube: KubeClient, endpoint: string, me: DrainIdentity): Promise<ClaimResult> {
    const name = slotLeaseName(endpoint);
    const lease = await kube.get<SlotLease>(Resources.leases, this.namespace, name);
    let verdict = claimVerdict(me, lease?.spec ?? (lease ? {} : undefined));
    if (verdict.type === 'LookUpHolder')
      verdict = claimVerdict(me, lease!.spec ?? {}, await this.holderState(kube, verdict.holder));
    const identity = holderIdentity(me);
    try {
      switch (verdict.type) {
        case 'Held':
          return { held: true };
        case 'Busy':
          return { held: false, holder: verdict.holder };
        case 'Create':
          await kube.create<SlotLease>(Resources.leases, {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: {
              name,
              namespace: this.namespace,
              labels: { 'app.kubernetes.io/managed-by': OPERATOR_NAME },
              annotations: { [SETTINGS_ANNOTATIONS.endpoint]: endpoint },
            },
            spec: { holderIdentity: identity, acquireTime: microTime(), leaseTransitions: 0 },
          });
          break;
        case 'TakeOver':
          await kube.replace<SlotLease>(Resources.leases, {
            ...lease!,
            spec: {
              ...lease!.spec,
              holderIdentity: identity,
              acquireTime: microTime(),
              leaseTransitions: (lease!.spec?.leaseTransitions ?? 0) + 1,
            },
          });
          break;
        default:
          return { held: false };
      }
    } catch (err) {
      // Someone else created or changed the Lease first: they won this round.
      if (err instanceof KubeApiError && err.isConflict) return { held: false };
      throw err;
    }
    this.log?.info(
      {
        endpoint,
        lease: `${this.namespace}/${name}`,
        ...(verdict.type === 'TakeOver' ? { why: verdict.why } : {}),
      },
      'Claimed the TiCDC cluster slot',
    );
    return { held: true };
  }

  /** Frees the slot if `me` holds it (a 409 means it changed hands already). */
  async release(kube: KubeClient, endpoint: string, me: DrainIdentity): Promise<void> {
    const name = slotLeaseName(endpoint);
    const lease = await kube.get<SlotLease>(Resources.leases, this.namespace, name);
    if (!lease || lease.spec?.holderIdentity !== holderIdentity(me)) return;
    try {
      await kube.replace<SlotLease>(Resources.leases, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: '' },
      });
    } catch (err) {
      if (!(err instanceof KubeApiError && (err.isConflict || err.isNotFound))) throw err;
    }
  }

  private async holderState(kube: KubeClient, h: DrainIdentity): Promise<HolderState> {
    const d = await kube.get<CaptureDrainObject>(Resources.capturedrains, h.namespace, h.name);
    if (!d) return {};
    return {
      found: {
        uid: d.metadata.uid ?? '',
        ...(d.status?.phase ? { phase: d.status.phase } : {}),
        deleting: !!d.metadata.deletionTimestamp,
      },
    };
  }
}
