// Gathers what decide() needs with live API reads (the webhook runs on every replica, caches run
// only on the leader, and a cache could lag behind the drain that was just released). The reads run
// in parallel under one deadline well inside the webhook's timeout; a failed or late read becomes
// `lookupError`, which decide() answers with a retryable denial.
import { Resources, type KubeClient, type KubeObject } from '../kube/port.js';
import {
  quickDecision,
  type DrainFacts,
  type GateFacts,
  type GateRequest,
  type StatefulSetFacts,
} from './decide.js';
import type { CaptureDrainObject } from '../api/capturedrain.js';
import { podDrainName, podDrainStateOf, releaseVoidedByRestart } from '../drain/contract.js';
import { ownerStatefulSet, type Pod } from '../kube/objects.js';

export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
}

/** Settles with `p`, or rejects with DeadlineError once `signal` aborts. */
export function bounded<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new DeadlineError('deadline exceeded'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new DeadlineError('API read took too long'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * The drain as the gate sees it for this pod: its UID and its container restarts now. A release
 * voided by a container restart since the drain (a new capture, maybe with work) is not Released.
 */
export function drainFacts(drain: CaptureDrainObject | undefined, pod: Pod): DrainFacts | undefined {
  if (!drain) return undefined;
  const s = drain.status;
  return {
    name: drain.metadata.name,
    state: podDrainStateOf(drain, pod),
    ...(releaseVoidedByRestart(drain, pod) ? { captureRestarted: true } : {}),
    ...(s?.phase ? { phase: s.phase } : {}),
    ...(drain.spec.podAction ? { podAction: drain.spec.podAction } : {}),
    ...(s?.reason ? { reason: s.reason } : {}),
    ...(s?.message ? { message: s.message } : {}),
  };
}

/** The live pod an eviction names (an eviction request carries no pod). */
export async function readPod(
  kube: KubeClient,
  namespace: string,
  name: string,
  signal: AbortSignal,
): Promise<Pod | undefined> {
  return bounded(kube.get<Pod>(Resources.pods, namespace, name), signal);
}

/**
 * Reads the namespace, the controlling StatefulSet and the pod's drain. Never throws: a failed
 * read is reported in `lookupError`.
 */
export async function gatherFacts(
  kube: KubeClient,
  req: GateRequest,
  signal: AbortSignal,
): Promise<GateFacts> {
  const base: GateFacts = { ...req, namespaceTerminating: false, statefulSet: undefined, drain: undefined };
  if (quickDecision(req)) return base;
  const pod = req.pod!;
  const ns = pod.metadata.namespace!;
  const owner = ownerStatefulSet(pod);
  const results = await Promise.allSettled([
    bounded(kube.get<KubeObject>(Resources.namespaces, undefined, ns), signal),
    owner
      ? bounded(
          kube.get<KubeObject & { spec?: { replicas?: number } }>(Resources.statefulsets, ns, owner.name),
          signal,
        )
      : Promise.resolve(undefined),
    bounded(
      kube.get<CaptureDrainObject>(
        Resources.capturedrains,
        ns,
        podDrainName(pod.metadata.name!, pod.metadata.uid!),
      ),
      signal,
    ),
  ]);
  const [nsRes, stsRes, drainRes] = results;
  const errors = results
    .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    .map((r) => (r.reason instanceof Error ? r.reason.message : String(r.reason)));
  const facts: GateFacts = { ...base };
  if (nsRes.status === 'fulfilled') {
    const n = nsRes.value as (KubeObject & { status?: { phase?: string } }) | undefined;
    facts.namespaceTerminating = !n || !!n.metadata.deletionTimestamp || n.status?.phase === 'Terminating';
  }
  if (owner && stsRes.status === 'fulfilled') {
    const sts = stsRes.value;
    // A StatefulSet recreated under the same name is not the pod's owner.
    facts.statefulSet =
      !sts || sts.metadata.uid !== owner.uid
        ? 'gone'
        : ({
            name: owner.name,
            uid: owner.uid,
            deleting: !!sts.metadata.deletionTimestamp,
            replicas: sts.spec?.replicas ?? 1,
          } satisfies StatefulSetFacts);
  }
  if (drainRes.status === 'fulfilled') facts.drain = drainFacts(drainRes.value, pod);
  if (errors.length) facts.lookupError = errors.join('; ');
  return facts;
}
