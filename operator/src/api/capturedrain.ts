// CaptureDrain (drain.ticdc.io/v1alpha1): zod schemas for what the operator reads and writes.
// crds/capturedrain.yaml is the schema the API server enforces; test/api.test.ts keeps the two
// in step (enums, defaults, required fields).
import { z } from 'zod';
import type { KubeObject } from '../kube/port.js';

export const GROUP = 'drain.ticdc.io';
export const VERSION = 'v1alpha1';
export const KIND = 'CaptureDrain';
export const PLURAL = 'capturedrains';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const PHASES = [
  'Pending',
  'Queued',
  'ResigningOwner',
  'Draining',
  'Drained',
  'Releasing',
  'Completed',
  'Failed',
] as const;
export type Phase = (typeof PHASES)[number];

export const API_FLAVORS = ['Auto', 'V1', 'V2', 'V2Classic'] as const;
export const POD_ACTIONS = ['None', 'Delete'] as const;
export type PodAction = (typeof POD_ACTIONS)[number];
export const TIMEOUT_POLICIES = ['Release', 'Hold'] as const;
export type TimeoutPolicy = (typeof TIMEOUT_POLICIES)[number];
export const TRIGGERS = [
  'Manual',
  'RollingUpdate',
  'ScaleIn',
  'Eviction',
  'PodDeletion',
  'NodeCordon',
] as const;
export type Trigger = (typeof TRIGGERS)[number];

/** Go-style durations as users write them: 90s, 10m, 1h30m, 500ms. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';

export function parseDuration(text: string): number {
  if (!new RegExp(DURATION_PATTERN).test(text))
    throw new Error(`invalid duration "${text}" (use e.g. 90s, 10m, 1h30m)`);
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) total += Number(m[1]) * unit[m[2]!]!;
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  return `${Math.floor(m / 60)}h${m % 60 ? `${m % 60}m` : ''}`;
}

/** DNS subdomain name (RFC 1123), as Kubernetes requires of Secret names. */
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export function isDnsSubdomain(name: string): boolean {
  return name.length <= 253 && new RegExp(DNS_SUBDOMAIN_PATTERN).test(name);
}
/** Longest timeout or stallTimeout the CRD accepts. */
export const MAX_DURATION = '24h';

const secretRef = z.object({ name: z.string().min(1) });

export const ClusterRefSchema = z.object({
  endpoint: z.string().optional(),
  tlsSecretRef: secretRef.optional(),
  credentialsSecretRef: secretRef.optional(),
  apiFlavor: z.enum(API_FLAVORS).optional(),
  insecureSkipVerify: z.boolean().optional(),
});
export type ClusterRef = z.infer<typeof ClusterRefSchema>;

export const CaptureDrainSpecSchema = z.object({
  podName: z.string().min(1).optional(),
  captureAddress: z.string().optional(),
  cluster: ClusterRefSchema.optional(),
  podAction: z.enum(POD_ACTIONS).optional(),
  timeout: z.string().optional(),
  stallTimeout: z.string().optional(),
  onTimeout: z.enum(TIMEOUT_POLICIES).optional(),
  trigger: z.enum(TRIGGERS).optional(),
});
export type CaptureDrainSpec = z.infer<typeof CaptureDrainSpecSchema>;

const counts = z.object({
  maintainers: z.number().int().nonnegative().optional(),
  dispatchers: z.number().int().nonnegative().optional(),
  tables: z.number().int().nonnegative().optional(),
});
export type WorkCounts = z.infer<typeof counts>;

export const ConditionSchema = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: z.number().int().optional(),
  lastTransitionTime: z.string(),
  reason: z.string(),
  message: z.string(),
});
export type Condition = z.infer<typeof ConditionSchema>;

export const HistoryEntrySchema = z.object({
  phase: z.enum(PHASES),
  time: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
});
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;

export const CaptureDrainStatusSchema = z.object({
  phase: z.enum(PHASES).optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  podUID: z.string().optional(),
  captureID: z.string().optional(),
  captureAddress: z.string().optional(),
  clusterEndpoint: z.string().optional(),
  apiFlavor: z.enum(['V1', 'V2', 'V2Classic']).optional(),
  /** Classic (tiflow) or NewArch: decides what the target's liveness integer means. */
  serverArchitecture: z.enum(['Classic', 'NewArch']).optional(),
  serverVersion: z.string().optional(),
  /** The target's own liveness as last read from its status (Alive, Draining, Stopping, Unknown). */
  targetLiveness: z.string().optional(),
  /** The capture TiCDC confirmed drained; the release is bound to it and to podUID. */
  drainedCaptureID: z.string().optional(),
  /** Container restarts of the pod when its capture was found; more later means a new capture. */
  podRestarts: z.number().int().optional(),
  /** The capture holding TiCDC's previous drain session, while this drain waits for it. */
  blockingCapture: z.string().optional(),
  ownerResigned: z.boolean().optional(),
  resignAttempts: z.number().int().optional(),
  initial: counts.optional(),
  remaining: counts.optional(),
  lastProbeTime: z.string().optional(),
  lastProgressTime: z.string().optional(),
  drainRate: z.string().optional(),
  estimatedCompletionTime: z.string().optional(),
  queuedTime: z.string().optional(),
  startTime: z.string().optional(),
  drainedTime: z.string().optional(),
  releaseTime: z.string().optional(),
  completionTime: z.string().optional(),
  attempts: z.number().int().optional(),
  consecutiveErrors: z.number().int().optional(),
  /** The action whose requests fail in a row (backoff is per request, not per drain). */
  lastErrorAction: z.string().optional(),
  /** When the current run of errors began (a Secret missing for longer than stallTimeout fails). */
  errorSince: z.string().optional(),
  lastError: z.string().optional(),
  released: z.boolean().optional(),
  conditions: z.array(ConditionSchema).optional(),
  observedGeneration: z.number().int().optional(),
  history: z.array(HistoryEntrySchema).optional(),
});
export type CaptureDrainStatus = z.infer<typeof CaptureDrainStatusSchema>;

export const CaptureDrainSchema = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata: z
    .object({
      name: z.string(),
      namespace: z.string(),
      uid: z.string().optional(),
      generation: z.number().int().optional(),
      resourceVersion: z.string().optional(),
      creationTimestamp: z.string().optional(),
      deletionTimestamp: z.string().optional(),
      labels: z.record(z.string(), z.string()).optional(),
      annotations: z.record(z.string(), z.string()).optional(),
      ownerReferences: z.array(z.any()).optional(),
    })
    .loose(),
  spec: CaptureDrainSpecSchema,
  status: CaptureDrainStatusSchema.optional(),
});
export type CaptureDrain = z.infer<typeof CaptureDrainSchema>;
/** A CaptureDrain as read from the API server (metadata always present). */
export type CaptureDrainObject = CaptureDrain & KubeObject;

/** On CaptureDrains: removed by the operator once a deletion mid-drain has been recorded. */
export const DRAIN_FINALIZER = 'drain.ticdc.io/record-abandoned-drain';

export const DEFAULTS = {
  podAction: 'None' as PodAction,
  timeout: '10m',
  stallTimeout: '3m',
  onTimeout: 'Hold' as TimeoutPolicy,
  trigger: 'Manual' as Trigger,
  apiFlavor: 'Auto' as const,
};
