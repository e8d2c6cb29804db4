// Status writes for custom resources: a JSON merge patch to the /status subresource that carries
// metadata.resourceVersion, so a write based on a stale read fails with 409 (optimistic
// concurrency) instead of clobbering someone else's update; the caller requeues and recomputes.
// Merge patch replaces lists wholesale, so arrays such as conditions are always sent complete.
import { KubeApiError, type KubeClient, type KubeObject, type ResourceType } from './port.js';
import { createMergePatch, deepEqual } from './patchutil.js';

export interface PatchStatusOptions {
  fieldManager?: string;
}

export interface PatchStatusResult<T> {
  /** False when the status already matched and no request was sent. */
  changed: boolean;
  /** The object as returned by the API server (or `current` when unchanged). */
  object: T;
}

/**
 * Writes `status` as the object's new status. `current` must be the object the status was computed
 * from (its resourceVersion is the precondition). Throws KubeApiError 409 on a stale read.
 */
export async function patchStatus<T extends KubeObject & { status?: unknown }>(
  client: KubeClient,
  type: ResourceType,
  current: T,
  status: NonNullable<T['status']>,
  opts: PatchStatusOptions = {},
): Promise<PatchStatusResult<T>> {
  const { name, namespace, resourceVersion } = current.metadata;
  if (!name) throw new Error(`patchStatus ${type.kind}: metadata.name is required`);
  if (!resourceVersion)
    throw new Error(`patchStatus ${type.kind} ${name}: metadata.resourceVersion is required`);
  if (deepEqual(current.status ?? {}, status ?? {})) return { changed: false, object: current };
  // Keys dropped from status become null (deleted); nested objects are diffed; arrays sent whole.
  const statusPatch = createMergePatch(current.status ?? {}, status ?? {});
  const body = { metadata: { resourceVersion }, status: statusPatch };
  const object = await client.patch<T>(type, namespace, name, body, 'merge', {
    subresource: 'status',
    fieldManager: opts.fieldManager,
  });
  return { changed: true, object };
}

/**
 * Convenience: clone current.status, let `mutate` edit it (e.g. setStatusCondition), then patchStatus.
 */
export async function updateStatus<T extends KubeObject & { status?: object }>(
  client: KubeClient,
  type: ResourceType,
  current: T,
  mutate: (status: NonNullable<T['status']>) => void,
  opts: PatchStatusOptions = {},
): Promise<PatchStatusResult<T>> {
  const draft = structuredClone(current.status ?? {}) as NonNullable<T['status']>;
  mutate(draft);
  return patchStatus(client, type, current, draft, opts);
}

/** True for the 409 a stale status write gets; reconcilers requeue on it rather than failing loudly. */
export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.isConflict;
}
