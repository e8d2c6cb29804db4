// Route table of the TiCDC HTTP API (docs/ticdc-api.md §2.1, §3, §5). A route's `template` is what
// metrics and error messages show: it never contains a capture id, so label cardinality stays bounded.
import type { ApiFlavor } from './types.js';

export type HttpMethod = 'GET' | 'PUT' | 'POST';

export interface Route {
  readonly method: HttpMethod;
  /** Path with `{id}` placeholders, e.g. `/api/v2/captures/{id}/drain`. */
  readonly path: string;
  /** `METHOD path-template`, e.g. `PUT /api/v1/captures/drain`. */
  readonly template: string;
}

function route(method: HttpMethod, path: string): Route {
  return { method, path, template: `${method} ${path}` };
}

export const ROUTES = {
  /** PR #4081 design (docs/ticdc-api.md §5): drain status, used only to detect the V2 flavour. */
  v2DrainStatus: route('GET', '/api/v2/captures/{id}/drain'),
  /** PR #4081 design (docs/ticdc-api.md §5): 202 {current_maintainer_count, current_dispatcher_count}. */
  v2Drain: route('PUT', '/api/v2/captures/{id}/drain'),
  /** Both generations (docs/ticdc-api.md §2.2, §4.1): body {capture_id}, 202 {current_table_count}. */
  v1Drain: route('PUT', '/api/v1/captures/drain'),
  /** tiflow >= v6.6 (docs/ticdc-api.md §2.1): no body, 202 {current_table_count}. */
  v2ClassicDrain: route('POST', '/api/v2/captures/{id}/drain'),
  /** 200 {total, items} (docs/ticdc-api.md §2.1, §3). */
  v2Captures: route('GET', '/api/v2/captures'),
  /** 200 bare array (docs/ticdc-api.md §2.1, §3). */
  v1Captures: route('GET', '/api/v1/captures'),
  /** 200 {} (docs/ticdc-api.md §2.1, §3). */
  v2Resign: route('POST', '/api/v2/owner/resign'),
  /** 202, body {} (new arch) or empty (tiflow) (docs/ticdc-api.md §2.1, §3). */
  v1Resign: route('POST', '/api/v1/owner/resign'),
  /** 200 {} or 500 CDC:ErrClusterIsUnhealthy (docs/ticdc-api.md §2.5, §3). */
  v2Health: route('GET', '/api/v2/health'),
  /** 200 with an empty body on tiflow (docs/ticdc-api.md §2.1). */
  v1Health: route('GET', '/api/v1/health'),
  /** Node-local status with liveness (docs/ticdc-api.md §2.1, §3, §4.5). */
  v2Status: route('GET', '/api/v2/status'),
  /** Legacy node-local status: no liveness, no cluster_id on tiflow (docs/ticdc-api.md §2.1). */
  legacyStatus: route('GET', '/status'),
} as const satisfies Record<string, Route>;

/** Fills `{id}` with the URL-encoded capture id. */
export function routePath(r: Route, captureId?: string): string {
  if (!r.path.includes('{id}')) return r.path;
  if (captureId === undefined) throw new Error(`route ${r.template} needs a capture id`);
  return r.path.replace('{id}', encodeURIComponent(captureId));
}

export function drainRoute(flavor: ApiFlavor): Route {
  switch (flavor) {
    case 'V2':
      return ROUTES.v2Drain;
    case 'V1':
      return ROUTES.v1Drain;
    case 'V2Classic':
      return ROUTES.v2ClassicDrain;
  }
}

/** V1 servers answer the v1 routes; V2 and V2Classic servers have the v2 ones (docs/ticdc-api.md §2.1, §3). */
export function resignRoute(flavor: ApiFlavor): Route {
  return flavor === 'V1' ? ROUTES.v1Resign : ROUTES.v2Resign;
}

export function healthRoute(flavor: ApiFlavor): Route {
  return flavor === 'V1' ? ROUTES.v1Health : ROUTES.v2Health;
}
