// Gathers what decide() needs with live API reads (the webhook runs on every replica, caches run
// only on the leader, and a cache could lag behind the drain that was just released). The reads run
// in parallel under one deadline well inside the webhook's timeout; a failed or late read becomes
// `lookupError`, which decide() answers with a retryable denial.
import { Resources, type KubeClient, type KubeObject } from '../kube/port.js';
import {
  quickDecision,
  selectorMatches,
  type DisruptionBudgetFacts,
  type DrainFacts,
  type GateFacts,
  type GateRequest,
  type NodeFacts,
  type StatefulSetFacts,
} from './decide.js';
import type { CaptureDrainObject } from '../api/capturedrain.js';
import { podDrainOf, podDrainStateOf, releaseVoidedByRestart } from '../drain/contract.js';
import { ownerStatefulSet, type Pod } from '../kube/objects.js';
import { MANAGED_LABEL } from '../api/names.js';

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

/** The node lifecycle controller's view of a node: Ready condition and its NoExecute taints. */
export function nodeFacts(name: string, node: NodeObject | undefined): NodeFacts | undefined {
  // A pod whose Node object is gone is orphaned: PodGC deletes it (admitted by its identity).
  if (!node) return undefined;
  const taint = node.spec?.taints?.find((t) => NOT_READY_TAINTS.has(t.key));
  if (taint) return { name, ready: false, why: `taint ${taint.key}` };
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True')
    return {
      name,
      ready: false,
      why: `Ready ${ready?.status ?? 'missing'}${ready?.reason ? ` (${ready.reason})` : ''}`,
    };
  return { name, ready: true };
}

const NOT_READY_TAINTS = new Set(['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']);

export interface NodeObject extends KubeObject {
  spec?: { taints?: { key: string; effect?: string }[] };
  status?: { conditions?: { type: string; status: string; reason?: string }[] };
}

export interface DisruptionBudgetObject extends KubeObject {
  spec?: {
    selector?: {
      matchLabels?: Record<string, string>;
      matchExpressions?: { key: string; operator: string; values?: string[] }[];
    } | null;
    unhealthyPodEvictionPolicy?: string;
  };
  status?: {
    observedGeneration?: number;
    disruptionsAllowed?: number;
    currentHealthy?: number;
    desiredHealthy?: number;
  };
}

/** The PDBs whose selector matches the pod, as decide() needs them. */
export function disruptionBudgetFacts(
  pod: Pod,
  pdbs: readonly DisruptionBudgetObject[],
): DisruptionBudgetFacts[] {
  return pdbs
    .filter((b) => selectorMatches(b.spec?.selector, pod.metadata.labels))
    .map((b) => ({
      name: b.metadata.name!,
      disruptionsAllowed: b.status?.disruptionsAllowed ?? 0,
      currentHealthy: b.status?.currentHealthy ?? 0,
      desiredHealthy: b.status?.desiredHealthy ?? 0,
      stale: (b.status?.observedGeneration ?? 0) < (b.metadata.generation ?? 0),
      ...(b.spec?.unhealthyPodEvictionPolicy
        ? { unhealthyPodEvictionPolicy: b.spec.unhealthyPodEvictionPolicy }
        : {}),
    }));
}

/**
 * Reads the namespace, the controlling StatefulSet, the pod's drains (every CaptureDrain of the
 * namespace naming the pod: the operator's and hand-made ones), the pod's node and, for an
 * eviction, the PodDisruptionBudgets. Never throws: a failed read is reported in `lookupError`,
 * except the node's, which only ever admits more (an unread node is taken as ready).
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
  const nodeName = pod.spec?.nodeName;
  const evict = req.operation === 'Evict';
  // Read beside the others, but apart: its failure is no lookup error.
  const nodeRead = nodeName
    ? Promise.allSettled([bounded(kube.get<NodeObject>(Resources.nodes, undefined, nodeName), signal)])
    : Promise.resolve([]);
  const results = await Promise.allSettled([
    bounded(kube.get<KubeObject>(Resources.namespaces, undefined, ns), signal),
    owner
      ? bounded(
          kube.get<KubeObject & { spec?: { replicas?: number } }>(Resources.statefulsets, ns, owner.name),
          signal,
        )
      : Promise.resolve(undefined),
    bounded(kube.list<CaptureDrainObject>(Resources.capturedrains, { namespace: ns }), signal),
    evict
      ? bounded(kube.list<DisruptionBudgetObject>(Resources.poddisruptionbudgets, { namespace: ns }), signal)
      : Promise.resolve(undefined),
  ]);
  const [nsRes, stsRes, drainRes, pdbRes] = results;
  const nodeRes = await nodeRead;
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
            managed: sts.metadata.labels?.[MANAGED_LABEL] === 'true',
          } satisfies StatefulSetFacts);
  }
  if (drainRes.status === 'fulfilled')
    facts.drain = drainFacts(podDrainOf(drainRes.value.items, pod.metadata.name!, pod.metadata.uid!), pod);
  if (pdbRes.status === 'fulfilled' && pdbRes.value)
    facts.disruptionBudgets = disruptionBudgetFacts(pod, pdbRes.value.items);
  const node = nodeRes[0];
  const nf = nodeName && node?.status === 'fulfilled' ? nodeFacts(nodeName, node.value) : undefined;
  if (nf) facts.node = nf;
  if (errors.length) facts.lookupError = errors.join('; ');
  return facts;
}
