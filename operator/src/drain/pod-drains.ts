// Creates the CaptureDrain for a pod incarnation (rollouts, scale-in, the termination gate, node
// cordon): the I/O half of the pod-drain contract (drain/contract.ts).
import type { CaptureDrainObject } from '../api/capturedrain.js';
import { KubeApiError, Resources, type KubeClient } from '../kube/port.js';
import { podDrainManifest, type PodDrainRequest } from './contract.js';

/**
 * The drain for this pod incarnation: created, or the existing one (whatever its trigger).
 * `created` tells the caller whether it started the drain (for events and metrics).
 */
export async function ensurePodDrain(
  kube: KubeClient,
  req: PodDrainRequest,
  opts: { dryRun?: boolean } = {},
): Promise<{ drain: CaptureDrainObject; created: boolean }> {
  const manifest = podDrainManifest(req);
  const ns = manifest.metadata.namespace;
  const existing = await kube.get<CaptureDrainObject>(Resources.capturedrains, ns, manifest.metadata.name);
  if (existing) return { drain: existing, created: false };
  try {
    const drain = await kube.create(Resources.capturedrains, manifest, opts);
    return { drain, created: true };
  } catch (err) {
    if (!(err instanceof KubeApiError) || err.status !== 409) throw err;
    const raced = await kube.get<CaptureDrainObject>(Resources.capturedrains, ns, manifest.metadata.name);
    if (!raced) throw err;
    return { drain: raced, created: false };
  }
}
