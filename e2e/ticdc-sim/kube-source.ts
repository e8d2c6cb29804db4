// Capture registry fed by Kubernetes pods. Each pod incarnation (pod UID + container restarts)
// that is Running and Ready joins as a NEW capture (a fresh UUID, §1 Capture ID); its process ends
// when the pod gets a deletionTimestamp (SIGTERM: the process exits without draining, §2.5, §4.8;
// a zero grace period is a SIGKILL), stops, restarts or disappears (SIGKILL: node loss, forced
// delete, crash). The capture then stays listed for the signal's departure delay (§9 Departure). The pod events come from a PodSource: a real relist+watch loop
// (KubePodSource) or an in-memory one for tests.

import type { Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { CaptureSpec, ExitSignal, RemovalCause } from './model.js';

/** The parts of a V1Pod the registry reads (a V1Pod satisfies it). */
export interface PodLike {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    deletionTimestamp?: Date | string | null;
    deletionGracePeriodSeconds?: number | null;
    annotations?: Record<string, string>;
  };
  spec?: { subdomain?: string; hostname?: string };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { restartCount?: number }[];
  };
}

export type PodEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface PodHandler {
  /** The complete current set, after every (re)list: pods missing from it are gone. */
  sync(pods: PodLike[]): void;
  event(type: PodEventType, pod: PodLike): void;
}

export interface PodSource {
  /** Delivers the initial list before resolving, then keeps delivering until stop(). */
  start(handler: PodHandler): Promise<void>;
  stop(): Promise<void>;
}

export const DEFAULT_ADDRESS_TEMPLATE = '{pod}.{service}.{namespace}.svc:8300';
/** Pod annotation: "true" marks a pre-v8.5.7 binary (newarch rolling upgrade, §4.9). */
export const LEGACY_ANNOTATION = 'ticdc-sim/legacy';

export interface PodRegistryOptions {
  /** Placeholders: {pod} {service} {namespace} {ip} {hostname}. */
  addressTemplate?: string;
  /** Headless service for {service}; default the pod's spec.subdomain, else "ticdc-peer". */
  service?: string;
  /** Namespace for {namespace} when a pod has none. */
  namespace?: string;
}

/** What the registry needs from the cluster model. */
export interface Membership {
  join(spec: CaptureSpec): { id: string };
  /** The capture's process got `signal`; it leaves the membership after that signal's delay. */
  exit(id: string, cause: RemovalCause, signal: ExitSignal): unknown;
}

/** SIGTERM for a graceful deletion, SIGKILL for a zero grace period (forced delete). */
function deletionSignal(pod: PodLike): ExitSignal {
  const grace = pod.metadata?.deletionGracePeriodSeconds;
  return grace === 0 ? 'SIGKILL' : 'SIGTERM';
}

const isDeleting = (pod: PodLike) =>
  pod.metadata?.deletionTimestamp !== undefined && pod.metadata?.deletionTimestamp !== null;

export function renderAddress(template: string, pod: PodLike, opts: PodRegistryOptions): string {
  const name = pod.metadata?.name ?? '';
  const values: Record<string, string> = {
    pod: name,
    hostname: pod.spec?.hostname ?? name,
    service: opts.service ?? pod.spec?.subdomain ?? 'ticdc-peer',
    namespace: pod.metadata?.namespace ?? opts.namespace ?? 'default',
    ip: pod.status?.podIP ?? '',
  };
  return template.replace(/\{(pod|hostname|service|namespace|ip)\}/g, (_, k: string) => values[k] ?? '');
}

function isReady(pod: PodLike): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function restarts(pod: PodLike): number {
  return (pod.status?.containerStatuses ?? []).reduce((n, s) => n + (s.restartCount ?? 0), 0);
}

interface Incarnation {
  key: string;
  captureId: string;
}

export class PodCaptureRegistry implements PodHandler {
  private readonly byUid = new Map<string, Incarnation>();
  /** Incarnations that already left never come back (a new process would have a new UUID). */
  private readonly finished = new Set<string>();
  private readonly template: string;

  constructor(
    private readonly members: Membership,
    private readonly opts: PodRegistryOptions = {},
  ) {
    this.template = opts.addressTemplate ?? DEFAULT_ADDRESS_TEMPLATE;
  }

  /** Capture ID of a pod's current incarnation, if it is a member. */
  captureOf(podUid: string): string | undefined {
    return this.byUid.get(podUid)?.captureId;
  }

  sync(pods: PodLike[]): void {
    const present = new Set(pods.map((p) => p.metadata?.uid).filter((u): u is string => u !== undefined));
    // Gone without a deletion seen (node loss, a relist gap after a forced delete): killed.
    for (const uid of [...this.byUid.keys()]) if (!present.has(uid)) this.drop(uid, 'pod-gone', 'SIGKILL');
    for (const p of pods) this.observe(p);
  }

  event(type: PodEventType, pod: PodLike): void {
    const uid = pod.metadata?.uid;
    if (uid === undefined) return;
    // A DELETED pod whose graceful deletion was not seen before: its deletion decides the signal.
    if (type === 'DELETED') this.drop(uid, 'pod-deleted', isDeleting(pod) ? deletionSignal(pod) : 'SIGKILL');
    else this.observe(pod);
  }

  private observe(pod: PodLike): void {
    const uid = pod.metadata?.uid;
    if (uid === undefined) return;
    const key = `${uid}#${restarts(pod)}`;
    let current = this.byUid.get(uid);
    if (current && current.key !== key) {
      // The container restarted: the old process died (crash, OOM kill); its key lingers.
      this.drop(uid, 'pod-restarted', 'SIGKILL');
      current = undefined;
    }
    const deleting = isDeleting(pod);
    const phase = pod.status?.phase;
    const dead = phase === 'Failed' || phase === 'Succeeded';
    if (current) {
      if (deleting) this.drop(uid, 'pod-deleted', deletionSignal(pod));
      else if (dead) this.drop(uid, 'pod-stopped', phase === 'Succeeded' ? 'SIGTERM' : 'SIGKILL');
      return;
    }
    if (deleting || dead || phase !== 'Running' || !isReady(pod) || this.finished.has(key)) return;
    const name = pod.metadata?.name;
    const capture = this.members.join({
      address: renderAddress(this.template, pod, this.opts),
      ...(name !== undefined && { name, podName: name }),
      podUid: uid,
      ...(pod.metadata?.annotations?.[LEGACY_ANNOTATION] === 'true' && { legacy: true }),
    });
    this.byUid.set(uid, { key, captureId: capture.id });
  }

  private drop(uid: string, cause: RemovalCause, signal: ExitSignal): void {
    const inc = this.byUid.get(uid);
    if (!inc) return;
    this.byUid.delete(uid);
    this.finished.add(inc.key);
    this.members.exit(inc.captureId, cause, signal);
  }
}

/** A PodSource driven by hand (tests): apply and delete pods, or force a relist. */
export class InMemoryPodSource implements PodSource {
  private handler: PodHandler | undefined;
  private readonly pods = new Map<string, PodLike>();

  async start(handler: PodHandler): Promise<void> {
    this.handler = handler;
    handler.sync([...this.pods.values()]);
  }

  async stop(): Promise<void> {
    this.handler = undefined;
  }

  /** Creates or updates a pod (keyed by uid). */
  apply(pod: PodLike): void {
    const uid = pod.metadata?.uid;
    if (uid === undefined) throw new Error('pod needs metadata.uid');
    const existed = this.pods.has(uid);
    this.pods.set(uid, pod);
    this.handler?.event(existed ? 'MODIFIED' : 'ADDED', pod);
  }

  delete(uid: string): void {
    const pod = this.pods.get(uid);
    if (!pod) return;
    this.pods.delete(uid);
    this.handler?.event('DELETED', pod);
  }

  /** Forgets a pod without an event, as a missed watch event would; the next relist notices. */
  forget(uid: string): void {
    this.pods.delete(uid);
  }

  relist(): void {
    this.handler?.sync([...this.pods.values()]);
  }
}

export interface KubePodSourceOptions {
  /** Default: KUBECONFIG / ~/.kube/config / in-cluster. */
  kubeconfigPath?: string;
  namespace: string;
  /** Label selector, e.g. "app.kubernetes.io/component=ticdc". */
  selector?: string;
  /** Pause between a failed or ended watch and the next relist. */
  retryDelayMs?: number;
  logger?: Logger;
}

/**
 * List, then watch from the list's resourceVersion; on any end or error, relist (a full sync is
 * idempotent) after a short pause. Simple and robust; no informer cache needed here.
 */
export class KubePodSource implements PodSource {
  private stopped = false;
  private abort: AbortController | undefined;
  private wake: (() => void) | undefined;
  private endWatch: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: KubePodSourceOptions) {}

  async start(handler: PodHandler): Promise<void> {
    // Loaded lazily: the client is large and only the real-cluster path needs it.
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    if (this.opts.kubeconfigPath !== undefined) kc.loadFromFile(this.opts.kubeconfigPath);
    else kc.loadFromDefault();
    const api = kc.makeApiClient(k8s.CoreV1Api);
    const watch = new k8s.Watch(kc);
    const { namespace, selector } = this.opts;
    const list = async () => {
      const res = await api.listNamespacedPod({
        namespace,
        ...(selector !== undefined && { labelSelector: selector }),
      });
      handler.sync(res.items);
      return res.metadata?.resourceVersion;
    };
    let rv = await list(); // the first list must succeed: fail fast on a bad kubeconfig
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          if (rv === undefined) rv = await list();
          await this.watchOnce(watch, handler, rv);
        } catch (err) {
          this.opts.logger?.warn({ err }, 'pod list/watch failed; retrying');
        }
        rv = undefined;
        if (!this.stopped) await this.pause(this.opts.retryDelayMs ?? 1000);
      }
    })();
  }

  private watchOnce(watch: Watch, handler: PodHandler, rv: string | undefined) {
    const path = `/api/v1/namespaces/${encodeURIComponent(this.opts.namespace)}/pods`;
    return new Promise<void>((resolve) => {
      this.endWatch = resolve;
      const query = {
        ...(this.opts.selector !== undefined && { labelSelector: this.opts.selector }),
        ...(rv !== undefined && { resourceVersion: rv }),
        allowWatchBookmarks: true,
        timeoutSeconds: 300,
      };
      watch
        .watch(
          path,
          query,
          (type: string, obj: PodLike) => {
            if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') handler.event(type, obj);
            else if (type === 'ERROR') {
              // e.g. 410 Gone (resourceVersion too old): relist.
              this.abort?.abort();
              resolve();
            }
          },
          (err: unknown) => {
            if (err && !this.stopped) this.opts.logger?.debug({ err }, 'pod watch ended');
            resolve();
          },
        )
        .then(
          (ac) => {
            this.abort = ac;
            if (this.stopped) ac.abort();
          },
          (err: unknown) => {
            this.opts.logger?.warn({ err }, 'pod watch failed to start');
            resolve();
          },
        );
    });
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.endWatch?.();
    this.wake?.();
    await this.loop;
  }
}
