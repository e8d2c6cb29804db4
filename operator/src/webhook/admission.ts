// admission.k8s.io/v1 AdmissionReview: the parts the gate reads, validated with zod, and the
// response it writes. Unknown fields pass through untouched (the API server adds new ones).
import { z } from 'zod';

const objectMeta = z.looseObject({
  name: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  deletionTimestamp: z.string().nullish(),
});

const kubeObject = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: objectMeta.optional(),
});

const deleteOptions = z.looseObject({
  dryRun: z.array(z.string()).nullish(),
  preconditions: z.looseObject({ uid: z.string().nullish() }).nullish(),
});

export const AdmissionRequestSchema = z.looseObject({
  uid: z.string().min(1),
  kind: z.looseObject({ group: z.string(), version: z.string(), kind: z.string() }),
  resource: z.looseObject({ group: z.string(), version: z.string(), resource: z.string() }),
  subResource: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
  userInfo: z.looseObject({ username: z.string().optional(), groups: z.array(z.string()).nullish() }),
  object: kubeObject.nullish(),
  oldObject: kubeObject.nullish(),
  options: z.looseObject({}).nullish(),
  dryRun: z.boolean().nullish(),
});
export type AdmissionRequest = z.infer<typeof AdmissionRequestSchema>;

export const AdmissionReviewSchema = z.looseObject({
  apiVersion: z.literal('admission.k8s.io/v1'),
  kind: z.literal('AdmissionReview'),
  request: AdmissionRequestSchema,
});

/** An Eviction (policy/v1) as the pods/eviction CREATE carries it. */
export const EvictionSchema = z.looseObject({
  metadata: objectMeta.optional(),
  deleteOptions: deleteOptions.nullish(),
});

export const DeleteOptionsSchema = deleteOptions;

export class AdmissionParseError extends Error {
  override readonly name = 'AdmissionParseError';
}

/** Parses an AdmissionReview body; throws AdmissionParseError with a readable message. */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  const r = AdmissionReviewSchema.safeParse(body);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new AdmissionParseError(`invalid AdmissionReview: ${issues}`);
  }
  return r.data.request;
}

export interface AdmissionVerdict {
  allowed: boolean;
  code?: number;
  message?: string;
  warnings?: string[];
}

const STATUS_REASONS: Record<number, string> = {
  400: 'BadRequest',
  403: 'Forbidden',
  429: 'TooManyRequests',
  500: 'InternalError',
};

export function admissionResponse(uid: string, v: AdmissionVerdict): Record<string, unknown> {
  const response: Record<string, unknown> = { uid, allowed: v.allowed };
  if (!v.allowed || v.message) {
    const code = v.code ?? (v.allowed ? 200 : 403);
    response.status = {
      ...(v.allowed ? {} : { status: 'Failure' }),
      code,
      ...(STATUS_REASONS[code] ? { reason: STATUS_REASONS[code] } : {}),
      ...(v.message ? { message: v.message } : {}),
    };
  }
  if (v.warnings?.length) response.warnings = v.warnings;
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}
