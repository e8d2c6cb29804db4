// Shared Kubernetes object helpers: the shapes of the Pods and StatefulSets the operator reads,
// a pod's controlling StatefulSet, its ordinal, its readiness, and object references for events.
// Pure: no API access.
import type { KubeObject } from './port.js';

export interface PodCondition {
  type: string;
  status: string;
  lastTransitionTime?: string;
}

/** The fields of a Pod the operator reads. */
/** A pod volume, as far as the node-local check reads it. */
export interface PodVolume {
  name: string;
  hostPath?: unknown;
  persistentVolumeClaim?: { claimName?: string };
  /** Generic ephemeral volume: its claim is named `<pod>-<volume>`. */
  ephemeral?: unknown;
}

export interface Pod extends KubeObject {
  spec?: { nodeName?: string; volumes?: PodVolume[] };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: PodCondition[];
    /** A container restart starts a new capture process (a new capture ID). */
    containerStatuses?: { name?: string; restartCount?: number }[];
  };
}

/** The fields of a StatefulSet the operator reads. */
export interface StatefulSet extends KubeObject {
  spec?: {
    replicas?: number;
    serviceName?: string;
    updateStrategy?: { type?: string; rollingUpdate?: { partition?: number; maxUnavailable?: unknown } };
    template?: { metadata?: { labels?: Record<string, string> } };
  };
  status?: { observedGeneration?: number; updateRevision?: string; currentRevision?: string };
}

export interface PersistentVolumeClaim extends KubeObject {
  spec?: { volumeName?: string };
}

interface NodeSelectorTerm {
  matchExpressions?: { key?: string; operator?: string; values?: string[] }[];
  matchFields?: { key?: string; operator?: string; values?: string[] }[];
}

export interface PersistentVolume extends KubeObject {
  spec?: {
    local?: { path?: string };
    hostPath?: { path?: string };
    nodeAffinity?: { required?: { nodeSelectorTerms?: NodeSelectorTerm[] } };
  };
}

/** The object an event is about. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
}

/** The StatefulSet that controls the pod (its controller owner reference): name and UID. */
export function ownerStatefulSet(pod: KubeObject | undefined): { name: string; uid: string } | undefined {
  const ref = pod?.metadata.ownerReferences?.find((r) => r.kind === 'StatefulSet' && r.controller);
  return ref ? { name: ref.name, uid: ref.uid } : undefined;
}

/** The ordinal of a StatefulSet pod named `<statefulSet>-<n>`; undefined for any other name. */
export function podOrdinal(podName: string, statefulSet: string): number | undefined {
  if (!podName.startsWith(`${statefulSet}-`)) return undefined;
  const rest = podName.slice(statefulSet.length + 1);
  return /^(0|[1-9][0-9]*)$/.test(rest) ? Number(rest) : undefined;
}

/** The pod's Ready condition, if it has one. */
export function readyCondition(pod: Pod): PodCondition | undefined {
  return pod.status?.conditions?.find((c) => c.type === 'Ready');
}

export function isPodReady(pod: Pod): boolean {
  return readyCondition(pod)?.status === 'True';
}

/** A reference to the object for events. */
export function objectRef(obj: KubeObject, apiVersion: string, kind: string): ObjectRef {
  return {
    apiVersion,
    kind,
    name: obj.metadata.name ?? '',
    ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
    ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
  };
}
