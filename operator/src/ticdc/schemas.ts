// zod schemas of every TiCDC response body the client reads. Unknown extra fields are tolerated
// (z.object strips them); missing fields, wrong types and negative or fractional counts are not.
import { z } from 'zod';

const count = z.number().int().nonnegative();

/** `{"error_msg","error_code"}` of both generations (docs/ticdc-api.md §1 "Error body"). */
export const ErrorBodySchema = z.object({
  error_msg: z.string(),
  error_code: z.string().optional(),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** PUT /api/v2/captures/{id}/drain (docs/ticdc-api.md §5). */
export const V2DrainSchema = z.object({
  current_maintainer_count: count,
  current_dispatcher_count: count,
});

/** PUT /api/v1/captures/drain and POST /api/v2/captures/{id}/drain (docs/ticdc-api.md §2.2, §4.1). */
export const TableDrainSchema = z.object({ current_table_count: count });

/**
 * GET /api/v2/captures/{id}/drain (docs/ticdc-api.md §5). Only read to detect the V2 flavour; its content is not
 * trusted for progress (it says `is_draining: false` alike for done, never started and lost).
 */
export const V2DrainStatusSchema = z.object({
  is_draining: z.boolean(),
  draining_capture_id: z.string().optional(),
  remaining_maintainer_count: count.optional(),
});

/** One capture of GET /api/v{1,2}/captures (docs/ticdc-api.md §2.1, §3). */
export const CaptureSchema = z.object({
  id: z.string().min(1),
  is_owner: z.boolean(),
  address: z.string().min(1),
  cluster_id: z.string().optional(),
});

/** GET /api/v1/captures: bare array (docs/ticdc-api.md §2.1, §3). */
export const V1CaptureListSchema = z.array(CaptureSchema);

/** GET /api/v2/captures: `{total, items}` (docs/ticdc-api.md §2.1, §3). `items` null (a Go nil slice) is rejected. */
export const V2CaptureListSchema = z.object({
  total: count.optional(),
  items: V1CaptureListSchema,
});

/**
 * GET /api/v2/status and GET /status (docs/ticdc-api.md §2.1, §3, §4.5). tiflow's /status has no liveness and no
 * cluster_id; liveness is a raw integer whose meaning depends on the version.
 */
export const ServerStatusSchema = z.object({
  version: z.string(),
  git_hash: z.string().optional(),
  id: z.string().min(1),
  cluster_id: z.string().optional(),
  pid: z.number().int().optional(),
  is_owner: z.boolean(),
  liveness: count.optional(),
});

/** Resign and health answer `{}` (new arch, v2) or an empty body (tiflow v1): any object is fine. */
export const EmptyObjectSchema = z.object({});

/** Short, value-free description of the first validation issue, e.g. `items.1.id: Invalid input: ...`. */
export function describeIssues(error: z.ZodError): string {
  const first = error.issues[0];
  if (!first) return 'invalid body';
  const where = first.path.length > 0 ? `${first.path.map(String).join('.')}: ` : '';
  const more = error.issues.length > 1 ? ` (+${error.issues.length - 1} more)` : '';
  return `${where}${first.message}${more}`;
}
