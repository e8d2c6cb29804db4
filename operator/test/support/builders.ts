// Shared test builders for the Kubernetes objects the operator reads: capture Pods of a managed
// StatefulSet, the StatefulSet, and the CaptureDrain the operator creates for a pod. Defaults are
// a Running, Ready, managed pod `ticdc-<n>` owned by StatefulSet `ticdc`; every test states only
// what it cares about.
import type {
  CaptureDrainObject,
  CaptureDrainStatus,
  PodAction,
  Trigger,
} from '../../src/api/capturedrain.js';
import { DRAIN_LABELS, MANAGED_LABEL, SKIP_ANNOTATION } from '../../src/api/names.js';
import { podDrainName } from '../../src/drain/contract.js';
import type { Pod, StatefulSet } from '../../src/kube/objects.js';
import type { OwnerReference } from '../../src/kube/port.js';

export const STS_NAME = 'ticdc';

/** The controller owner reference a StatefulSet puts on its pods. */
export function statefulSetOwner(name = STS_NAME, uid = `sts-${name}`): OwnerReference {
  return { apiVersion: 'apps/v1', kind: 'StatefulSet', name, uid, controller: true };
}

export interface PodOptions {
  namespace?: string;
  uid?: string;
  /** Owning StatefulSet name; `null` for a pod without an owner. */
  statefulSet?: string | null;
  statefulSetUid?: string;
  /** The managed label (default true). */
  managed?: boolean;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Sets the skip annotation. */
  skip?: boolean;
  terminating?: boolean;
  creationTimestamp?: string;
  node?: string;
  /** Pod phase (default Running); `null` leaves it out. */
  phase?: string | null;
  podIP?: string;
  /** The Ready condition (default true); `null` leaves the conditions out. */
  ready?: boolean | null;
  readySince?: string;
  /** Extra spec fields (hostname, subdomain, ...). */
  spec?: Record<string, unknown>;
}

export function capturePod(name: string, o: PodOptions = {}): Pod {
  const sts = o.statefulSet === undefined ? STS_NAME : o.statefulSet;
  const annotations = { ...o.annotations, ...(o.skip ? { [SKIP_ANNOTATION]: 'true' } : {}) };
  const labels = { ...(o.managed === false ? {} : { [MANAGED_LABEL]: 'true' }), ...o.labels };
  const ready =
    o.ready === null
      ? undefined
      : [
          {
            type: 'Ready',
            status: o.ready === false ? 'False' : 'True',
            ...(o.readySince ? { lastTransitionTime: o.readySince } : {}),
          },
        ];
  const spec = { ...(o.node ? { nodeName: o.node } : {}), ...o.spec };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.namespace ?? 'tidb',
      uid: o.uid ?? `${name}-uid`,
      labels,
      ...(Object.keys(annotations).length ? { annotations } : {}),
      ...(o.terminating ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}),
      ...(o.creationTimestamp ? { creationTimestamp: o.creationTimestamp } : {}),
      ...(sts ? { ownerReferences: [statefulSetOwner(sts, o.statefulSetUid)] } : {}),
    },
    ...(Object.keys(spec).length ? { spec } : {}),
    status: {
      ...(o.phase === null ? {} : { phase: o.phase ?? 'Running' }),
      ...(o.podIP ? { podIP: o.podIP } : {}),
      ...(ready ? { conditions: ready } : {}),
    },
  };
}

export interface StatefulSetOptions {
  namespace?: string;
  uid?: string;
  replicas?: number;
  managed?: boolean;
  annotations?: Record<string, string>;
  deleting?: boolean;
  generation?: number;
  spec?: StatefulSet['spec'];
  status?: StatefulSet['status'];
}

export function statefulSet(name = STS_NAME, o: StatefulSetOptions = {}): StatefulSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name,
      namespace: o.namespace ?? 'tidb',
      uid: o.uid ?? `sts-${name}`,
      ...(o.generation !== undefined ? { generation: o.generation } : {}),
      ...(o.managed === false ? {} : { labels: { [MANAGED_LABEL]: 'true' } }),
      ...(o.annotations ? { annotations: o.annotations } : {}),
      ...(o.deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}),
    },
    spec: { replicas: o.replicas ?? 3, ...o.spec },
    ...(o.status ? { status: o.status } : {}),
  };
}

/** The CaptureDrain the operator creates for `pod` (name, labels and spec as drain/contract.ts makes them). */
export function podDrain(
  pod: Pod,
  o: { trigger?: Trigger; podAction?: PodAction; status?: CaptureDrainStatus; statefulSet?: string } = {},
): CaptureDrainObject {
  const trigger = o.trigger ?? 'PodDeletion';
  const sts = o.statefulSet ?? pod.metadata.ownerReferences?.[0]?.name;
  return {
    apiVersion: 'drain.ticdc.io/v1alpha1',
    kind: 'CaptureDrain',
    metadata: {
      name: podDrainName(pod.metadata.name!, pod.metadata.uid!),
      namespace: pod.metadata.namespace!,
      labels: {
        [DRAIN_LABELS.pod]: pod.metadata.name!,
        [DRAIN_LABELS.podUid]: pod.metadata.uid!,
        [DRAIN_LABELS.trigger]: trigger,
        ...(sts ? { [DRAIN_LABELS.statefulSet]: sts } : {}),
      },
    },
    spec: { podName: pod.metadata.name!, podAction: o.podAction ?? 'Delete', trigger },
    ...(o.status ? { status: o.status } : {}),
  } as CaptureDrainObject;
}
