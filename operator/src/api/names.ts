// Every name a user sees or writes: labels, annotations, event reasons, identities. Defined once
// here; the controllers, the gate and the CLI import them. docs/design.md describes what each means.

/** The operator's name: field manager, leader-election lease, user agent, webhook configuration. */
export const OPERATOR_NAME = 'capture-drain-operator';
/** `reportingController` of the events the operator writes. */
export const REPORTING_CONTROLLER = `drain.ticdc.io/${OPERATOR_NAME}`;

/** On a StatefulSet and its pod template: the operator drains these capture pods. */
export const MANAGED_LABEL = 'drain.ticdc.io/managed';
/** Label selector of the managed capture pods (and StatefulSets): one informer scope for every controller. */
export const MANAGED_SELECTOR = `${MANAGED_LABEL}=true`;
/** On a pod, "true": the gate admits its deletion and no controller drains it. */
export const SKIP_ANNOTATION = 'drain.ticdc.io/skip';

/** Labels on the CaptureDrains the operator creates for a pod (drain/contract.ts). */
export const DRAIN_LABELS = {
  /** Name of the pod the drain is for. */
  pod: 'drain.ticdc.io/pod',
  /** UID of the pod incarnation the drain is for. */
  podUid: 'drain.ticdc.io/pod-uid',
  /** The StatefulSet that owns the pod. */
  statefulSet: 'drain.ticdc.io/statefulset',
  /** Which controller created it (the spec's trigger, as a label for selectors). */
  trigger: 'drain.ticdc.io/trigger',
} as const;

/** Annotations a TiCDC StatefulSet carries to tell the operator how to reach TiCDC (drain/settings.ts). */
export const SETTINGS_ANNOTATIONS = {
  endpoint: 'drain.ticdc.io/endpoint',
  tlsSecret: 'drain.ticdc.io/tls-secret',
  credentialsSecret: 'drain.ticdc.io/credentials-secret',
  apiFlavor: 'drain.ticdc.io/api-flavor',
  capturePort: 'drain.ticdc.io/capture-port',
  timeout: 'drain.ticdc.io/timeout',
  stallTimeout: 'drain.ticdc.io/stall-timeout',
  onTimeout: 'drain.ticdc.io/on-timeout',
} as const;

/** StatefulSet annotations the rollout controller reads (inputs) and writes (outputs). */
export const ROLLOUT_ANNOTATIONS = {
  /** Input: the user's desired replica count; the controller scales in to it with drains. */
  replicas: 'drain.ticdc.io/replicas',
  /** Input: how long an updated pod may stay not Ready before the rollout reports Blocked. */
  podReadyTimeout: 'drain.ticdc.io/pod-ready-timeout',
  /** Output: Idle | RollingUpdate | ScalingIn | Blocked. */
  phase: 'drain.ticdc.io/rollout-phase',
  /** Output: what the rollout does or waits for, or why it is blocked. */
  message: 'drain.ticdc.io/rollout-message',
  /** Output: the pod being worked on. */
  pod: 'drain.ticdc.io/rollout-pod',
  /** Output: pods still to go, in order. */
  remaining: 'drain.ticdc.io/rollout-remaining',
  /** Output: estimated completion time of the whole rollout (RFC 3339), when known. */
  eta: 'drain.ticdc.io/rollout-eta',
  /** Output: when the current rollout started (RFC 3339). */
  started: 'drain.ticdc.io/rollout-started',
} as const;

/** Set on the StatefulSet by the gate to the last drain whose pod it may now delete. */
export const NUDGE_ANNOTATION = 'drain.ticdc.io/released-drain';

/** The taint the node lifecycle controller and maintenance tools set on a cordoned node. */
export const UNSCHEDULABLE_TAINT = 'node.kubernetes.io/unschedulable';

/** The StatefulSet controller's identity (kube-controller-manager --use-service-account-credentials). */
export const STATEFULSET_CONTROLLER = 'system:serviceaccount:kube-system:statefulset-controller';

/**
 * Controllers that delete pods only when their node is gone or unreachable: PodGC (orphaned pods,
 * pods on out-of-service nodes), the node lifecycle controller and the taint eviction controller
 * (NoExecute taints such as node.kubernetes.io/unreachable). The gate admits their deletes.
 */
export const POD_CLEANUP_CONTROLLERS: readonly string[] = [
  'system:serviceaccount:kube-system:pod-garbage-collector',
  'system:serviceaccount:kube-system:node-controller',
  'system:serviceaccount:kube-system:taint-eviction-controller',
];

/**
 * Reasons a CaptureDrain's `status.reason` takes (drain/machine.ts writes them; each transition is
 * also an event with that reason). docs/troubleshooting.md explains each; a unit test keeps the
 * list, the state machine and the document in step.
 */
export const DRAIN_REASONS = [
  // on the way
  'Created',
  'Started',
  'WaitingForCluster',
  'TargetIsOwner',
  'DrainRequested',
  'DrainStarted',
  'WaitingForPreviousDrain',
  'DrainNotConfirmed',
  'CaptureRestarted',
  'CountsZero',
  // how it ended (Completed, Releasing, or Failed)
  'Drained',
  'Released',
  'ReleaseTimedOut',
  'PodGone',
  'PodReplaced',
  'PodNotFound',
  'CaptureNotFound',
  'CaptureGone',
  'TimedOut',
  'Stalled',
  'SingleCapture',
  'Unsupported',
  'LegacyFallback',
  'Unauthorized',
  'Tls',
  'InvalidRequest',
  'Configuration',
  'NotACapturePod',
] as const;
export type DrainReason = (typeof DRAIN_REASONS)[number];

/** The conditions of a CaptureDrain (drain/conditions.ts). */
export const CONDITION_TYPES = ['Progressing', 'Drained', 'Complete', 'Failed'] as const;
/** Condition reasons besides the phase names and DRAIN_REASONS a condition repeats. */
export const CONDITION_REASONS = {
  countsZero: 'CountsZero',
  inProgress: 'InProgress',
  notCompleted: 'NotCompleted',
  notFailed: 'NotFailed',
} as const;

/**
 * Reasons of the Kubernetes events the rollout, cordon, gate and drain controllers write besides
 * the drain's own transitions (which carry DRAIN_REASONS).
 */
export const EVENT_REASONS = {
  // rollout
  drainStarted: 'DrainStarted',
  rolloutStarted: 'RolloutStarted',
  scaleInStarted: 'ScaleInStarted',
  partitionLowered: 'PartitionLowered',
  partitionRaised: 'PartitionRaised',
  replicasLowered: 'ReplicasLowered',
  podDeleted: 'PodDeleted',
  rolloutBlocked: 'RolloutBlocked',
  rolloutComplete: 'RolloutComplete',
  // cordon
  nodeCordoned: 'NodeCordoned',
  cordonDrainStarted: 'CordonDrainStarted',
  cordonDrainCancelled: 'CordonDrainCancelled',
  cordonDrainBlocked: 'CordonDrainBlocked',
  cordonDrain: 'CordonDrain',
  cordonNodeLocal: 'CordonSkippedNodeLocal',
  // gate
  drainRequested: 'DrainRequested',
  terminationBlocked: 'TerminationBlocked',
  ungatedDeletion: 'UngatedDeletion',
  // drain controller, on the pod's StatefulSet
  drainAbandoned: 'DrainAbandoned',
  drainedCaptureKept: 'DrainedCaptureKept',
} as const;
