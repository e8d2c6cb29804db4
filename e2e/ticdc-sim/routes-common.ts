// Routes every flavour serves: capture list, owner resign, health and node-local status
// (§2.1 for the old architecture, §3 for the new one).

import { errs } from './errors.js';
import type { Flavor, Route, RouteContext } from './flavor.js';
import type { SimResponse } from './http-types.js';
import { empty, indentedJson, json } from './http-types.js';
import type { Capture, Cluster } from './model.js';

export const LEGACY_VERSION = 'v8.5.6';

export interface CommonRouteOptions {
  /** Old arch: v1 resign and v1 health answer with an empty body (§2.1). */
  tiflow: boolean;
  healthy(cluster: Cluster, self: Capture): boolean;
}

/**
 * Capture list items: every registered capture (an exited one too, until it left), in an order
 * that changes on every request (Go map iteration, §9 Bodies); drawn from the seeded Rng.
 */
export function captureItems(cluster: Cluster) {
  const ownerId = cluster.owner?.id;
  const items = cluster
    .list()
    .map((c) => ({ id: c.id, is_owner: c.id === ownerId, address: c.address, cluster_id: 'default' }));
  for (let i = items.length - 1; i > 0; i--) {
    const j = cluster.rng.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

function status(flavor: Flavor, ctx: RouteContext, withLiveness: boolean): SimResponse {
  const c = ctx.self;
  // A legacy process in a rolling upgrade (§4.9) reports its own version and the pre-#4522 enum.
  const version = c.legacy ? LEGACY_VERSION : flavor.version;
  const liveness = c.legacy ? (c.liveness === 'alive' ? 0 : 1) : flavor.livenessCode(c.liveness);
  const base = { version, git_hash: flavor.gitHash, id: c.id };
  const isOwner = ctx.cluster.owner?.id === c.id;
  // gin IndentedJSON (§9 Bodies).
  if (!withLiveness) return indentedJson(200, { ...base, pid: c.pid, is_owner: isOwner });
  return indentedJson(200, {
    ...base,
    cluster_id: 'default',
    pid: c.pid,
    is_owner: isOwner,
    liveness,
  });
}

export function commonRoutes(flavor: () => Flavor, opts: CommonRouteOptions): Route[] {
  const resign = (v1: boolean) => (ctx: RouteContext) => {
    ctx.cluster.resign();
    if (v1) return opts.tiflow ? empty(202) : json(202, {});
    return json(200, {});
  };
  const health = (v1: boolean) => (ctx: RouteContext) => {
    if (!opts.healthy(ctx.cluster, ctx.self)) return errs.clusterUnhealthy();
    return v1 && opts.tiflow ? empty(200) : json(200, {});
  };
  return [
    {
      method: 'GET',
      pattern: /^\/api\/v2\/captures$/,
      forward: true,
      handle: (ctx) => {
        const items = captureItems(ctx.cluster);
        return json(200, { total: items.length, items });
      },
    },
    // v1 list: same handler without the wrapper (§3, `from-ticdc-api-v1`).
    {
      method: 'GET',
      pattern: /^\/api\/v1\/captures$/,
      forward: true,
      handle: (ctx) => json(200, captureItems(ctx.cluster)),
    },
    { method: 'POST', pattern: /^\/api\/v2\/owner\/resign$/, forward: true, handle: resign(false) },
    { method: 'POST', pattern: /^\/api\/v1\/owner\/resign$/, forward: true, handle: resign(true) },
    { method: 'GET', pattern: /^\/api\/v2\/health$/, forward: true, handle: health(false) },
    { method: 'GET', pattern: /^\/api\/v1\/health$/, forward: true, handle: health(true) },
    {
      method: 'GET',
      pattern: /^\/api\/v[12]\/status$/,
      forward: false,
      handle: (ctx) => status(flavor(), ctx, true),
    },
    // Old arch /status has no liveness and no cluster_id (§2.1); new arch shares the v2 handler (§3).
    {
      method: 'GET',
      pattern: /^\/status$/,
      forward: false,
      handle: (ctx) => status(flavor(), ctx, !opts.tiflow),
    },
  ];
}
