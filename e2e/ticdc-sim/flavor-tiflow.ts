// Old architecture, pingcap/tiflow (§2): `PUT /api/v1/captures/drain` and
// `POST /api/v2/captures/{id}/drain`, table counts, one drain target at a time.

import { bindDrainRequest } from './binding.js';
import { errs } from './errors.js';
import type { DrainSnapshot, Flavor, FlavorOptions, Route, RouteContext } from './flavor.js';
import type { SimResponse } from './http-types.js';
import { json } from './http-types.js';
import type { Capture, Cluster, Liveness } from './model.js';
import { commonRoutes } from './routes-common.js';

export class TiflowFlavor implements Flavor {
  readonly mode = 'tiflow' as const;
  readonly version: string;
  readonly gitHash = 'sim0000000000000000000000000000000v750';
  readonly routes: readonly Route[];
  /** The drain target set through the API; scheduler state of the owner, lost on failover (§2.3). */
  private target: string | null = null;

  constructor(
    private readonly cluster: Cluster,
    private readonly opts: FlavorOptions,
  ) {
    this.version = opts.version ?? 'v7.5.0';
    this.routes = [
      // Healthy once every changefeed's scheduler is initialized (§2.5), i.e. the owner bootstrapped.
      ...commonRoutes(() => this, { tiflow: true, healthy: (c) => c.bootstrapped() }),
      {
        method: 'PUT',
        pattern: /^\/api\/v1\/captures\/drain$/,
        forward: true,
        handle: (ctx) => {
          const bound = bindDrainRequest(ctx.req.body);
          if ('error' in bound) return errs.invalidParam(bound.error);
          return this.drain(ctx, bound.captureId);
        },
      },
      {
        method: 'POST',
        pattern: /^\/api\/v2\/captures\/([^/]+)\/drain$/,
        forward: true,
        handle: (ctx) => this.drain(ctx, decodeURIComponent(ctx.params[0]!)),
      },
    ];
  }

  /** HandleOwnerDrainCapture + owner.handleDrainCaptures (§2.2, §2.3). */
  private drain(ctx: RouteContext, id: string): SimResponse {
    const c = this.cluster;
    if (c.size() <= 1) return errs.schedulerRequestFailed('only one capture alive');
    const capture = c.get(id);
    if (!capture) return errs.captureNotExist(id);
    return this.drainAsOwner(ctx.self, id);
  }

  /** Another tool's drain reaching the owner (its target blocks every other one, §2.3). */
  externalDrain(id: string): SimResponse {
    const owner = this.cluster.owner;
    if (!owner || owner.exit) return errs.ownerNotFound();
    if (this.cluster.size() <= 1) return errs.schedulerRequestFailed('only one capture alive');
    if (!this.cluster.get(id)) return errs.captureNotExist(id);
    return this.drainAsOwner(owner, id);
  }

  private drainAsOwner(self: Capture, id: string): SimResponse {
    const c = this.cluster;
    if (id === self.id) return errs.schedulerRequestFailed('cannot drain the owner');
    // The owner job checks the TiKV stores first; its error is a 503 (§2.2 step 5, §9 Classic).
    if (this.opts.faults().storesUnavailable) return errs.getAllStoresFailed();
    // A changefeed whose scheduler is not initialized adds 1, so the count is never falsely 0.
    if (!c.bootstrapped()) return json(202, { current_table_count: c.changefeedCount() });
    const count = c.countsOf(id).dispatchers;
    if (count > 0) {
      if (this.target === null) {
        this.target = id;
        c.setLiveness(id, 'stopping'); // IsStopping heartbeat → capture-wide Stopping, never undone
        c.emit({ type: 'drain', captureId: id, phase: 'started' });
      } else if (this.target !== id) {
        // "drain capture request ignored, since there is capture draining": logged, still 202.
        c.emit({ type: 'drain', captureId: id, phase: 'ignored' });
      }
    }
    return json(202, { current_table_count: count });
  }

  /** Without a target, the scheduler drains any non-owner capture in state Stopping (§2.3). */
  private autoTarget(): string | null {
    const ownerId = this.cluster.owner?.id;
    const found = this.cluster
      .list()
      .find(
        (m) => m.id !== ownerId && m.liveness === 'stopping' && this.cluster.countsOf(m.id).dispatchers > 0,
      );
    return found?.id ?? null;
  }

  tick(): void {
    if (this.target !== null && this.cluster.countsOf(this.target).dispatchers === 0) {
      this.cluster.emit({ type: 'drain', captureId: this.target, phase: 'completed' });
      this.target = null;
    }
  }

  sources(): string[] {
    if (!this.cluster.bootstrapped()) return [];
    const t = this.target ?? this.autoTarget();
    return t === null ? [] : [t];
  }

  frozen(): boolean {
    return false;
  }

  onOwnerLost(): void {
    this.target = null;
  }

  onCaptureRemoved(capture: Capture): void {
    if (this.target === capture.id) this.target = null;
  }

  /** Old arch enum: Alive=0, Stopping=1 (§2.5). */
  livenessCode(l: Liveness): number {
    return l === 'alive' ? 0 : 1;
  }
  noOwner() {
    return errs.ownerNotFound();
  }
  forwardLimit() {
    return errs.forwardLimitTiflow();
  }
  notReady(receiver: Capture) {
    return this.cluster.isReady(receiver) ? undefined : errs.serverNotReady();
  }
  snapshot(): DrainSnapshot {
    return {
      mode: 'tiflow',
      target: this.target,
      autoTarget: this.target === null ? this.autoTarget() : null,
    };
  }
}
