// The TiCDC API pipeline of one request, after it reached a capture: route match (gin: absent
// route or wrong method → 404), the old-arch ready middleware, forwarding to the owner, handler.

import type { Flavor } from './flavor.js';
import type { SimRequest, SimResponse } from './http-types.js';
import { plainError } from './errors.js';
import { header, notFound } from './http-types.js';
import type { Capture, Cluster } from './model.js';

/** Both generations refuse to forward more than twice (§1 Forwarding, `maxForwardTimes = 2`). */
export const MAX_FORWARD_TIMES = 2;
export const FORWARD_TIMES_HEADER = 'TiCDC-ForwardTimes';

export function handleApi(
  cluster: Cluster,
  flavor: Flavor,
  receiver: Capture,
  req: SimRequest,
  opts: { forwardLoop?: boolean } = {},
): SimResponse {
  const route = flavor.routes.find((r) => r.method === req.method && r.pattern.test(req.path));
  if (!route) return notFound();
  const params = route.pattern.exec(req.path)!.slice(1);
  // The ready middleware guards the /api/v1 and /api/v2 groups only, not /status (§2.1).
  const notReady = req.path.startsWith('/api/') ? flavor.notReady(receiver) : undefined;
  if (notReady) return notReady;
  let self = receiver;
  if (route.forward && cluster.owner?.id !== receiver.id) {
    // The receiving capture proxies to the owner with the hop count incremented. A loop (stale
    // owner views) ends at the first capture that sees more than the limit.
    const hops = Number.parseInt(header(req, FORWARD_TIMES_HEADER) ?? '0', 10) || 0;
    if (hops > MAX_FORWARD_TIMES || opts.forwardLoop) return flavor.forwardLimit();
    const owner = cluster.owner;
    if (!owner) return flavor.noOwner();
    // A killed owner keeps its key until its session expires (§9 Departure): the proxy cannot connect.
    if (owner.exit) return plainError(500, `dial tcp ${owner.address}: connect: connection refused`);
    // The forwarded request passes the owner's middleware too.
    const ownerNotReady = flavor.notReady(owner);
    if (ownerNotReady) return ownerNotReady;
    self = owner;
  }
  return route.handle({ cluster, self, req, params });
}
