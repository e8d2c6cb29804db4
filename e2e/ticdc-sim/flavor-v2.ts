// The drain API of closed PR #4081 (§5): PUT and GET /api/v2/captures/{id}/drain with maintainer
// and dispatcher counts. Never merged upstream; the operator speaks it as flavour V2. The v1
// drain route of that code base is still the pre-v8.5.7 stub (§4.9).

import { errs, plainError } from './errors.js';
import type { DrainSnapshot, Flavor, FlavorOptions, Route, RouteContext } from './flavor.js';
import type { SimResponse } from './http-types.js';
import { json } from './http-types.js';
import type { Capture, Cluster, Liveness } from './model.js';
import { commonRoutes } from './routes-common.js';
import { newArchHealthy, StubDrainRoute } from './flavor-stub.js';

export class V2Flavor implements Flavor {
  readonly mode = 'v2' as const;
  readonly version: string;
  readonly gitHash = 'sim00000000000000000000000000000pr4081';
  readonly routes: readonly Route[];
  /** Drain state in coordinator memory; cleared on completion or when the target leaves (§5). */
  private session: { target: string } | null = null;
  private readonly stub = new StubDrainRoute();

  constructor(
    private readonly cluster: Cluster,
    opts: FlavorOptions,
  ) {
    this.version = opts.version ?? 'v9.0.0-alpha';
    const path = /^\/api\/v2\/captures\/([^/]+)\/drain$/;
    this.routes = [
      ...commonRoutes(() => this, { tiflow: false, healthy: newArchHealthy }),
      { method: 'PUT', pattern: path, forward: true, handle: (ctx) => this.put(ctx) },
      { method: 'GET', pattern: path, forward: true, handle: (ctx) => this.get(ctx) },
      this.stub.route(),
    ];
  }

  private put(ctx: RouteContext): SimResponse {
    return this.drain(ctx.self, decodeURIComponent(ctx.params[0]!));
  }

  /** Another tool's PUT reaching the coordinator. */
  externalDrain(target: string): SimResponse {
    const owner = this.cluster.owner;
    if (!owner || owner.exit) return errs.noLeader();
    return this.drain(owner, target);
  }

  private drain(self: Capture, id: string): SimResponse {
    const c = this.cluster;
    const target = c.get(id);
    // Checked before the coordinator, so a removed node is 400 (§5).
    if (!target) return errs.captureNotExist(id);
    if (!c.bootstrapped()) return plainError(500, 'not initialized, wait a moment');
    if (c.size() < 2) return errs.invalidParam('at least 2 captures required for drain operation');
    if (id === self.id) return errs.invalidParam('cannot drain coordinator node');
    if (this.session && this.session.target !== id)
      return plainError(500, 'another drain operation is in progress');
    if (!this.session) {
      const { maintainers, dispatchers } = c.countsOf(id);
      // Already drained (Stopping, nothing left): idempotent, nothing to start.
      if (!(target.liveness === 'stopping' && maintainers + dispatchers === 0)) {
        this.session = { target: id };
        if (target.liveness === 'alive') c.setLiveness(id, 'draining');
        c.emit({ type: 'drain', captureId: id, phase: 'started' });
      }
    }
    // The PR always reports 0 dispatchers (a TODO, §5): only the GET's remaining counts or the
    // target's liveness tell whether dispatchers are left.
    const { maintainers } = c.countsOf(id);
    return json(202, { current_maintainer_count: maintainers, current_dispatcher_count: 0 });
  }

  /**
   * The trap (§0, §5): is_draining false alike when finished, never started, another capture is
   * draining, or the session was lost in a failover. `draining_capture_id` and
   * `remaining_dispatcher_count` are omitempty.
   */
  private get(ctx: RouteContext): SimResponse {
    const id = decodeURIComponent(ctx.params[0]!);
    if (!this.cluster.get(id)) return errs.captureNotExist(id);
    if (this.session?.target !== id) return json(200, { is_draining: false, remaining_maintainer_count: 0 });
    const { maintainers, dispatchers } = this.cluster.countsOf(id);
    return json(200, {
      is_draining: true,
      draining_capture_id: id,
      remaining_maintainer_count: maintainers,
      ...(dispatchers !== 0 && { remaining_dispatcher_count: dispatchers }),
    });
  }

  /** Completion sets the node Stopping and clears the target (§5). */
  tick(): void {
    const s = this.session;
    if (!s) return;
    const { maintainers, dispatchers } = this.cluster.countsOf(s.target);
    if (maintainers + dispatchers > 0) return;
    this.cluster.setLiveness(s.target, 'stopping');
    this.session = null;
    this.cluster.emit({ type: 'drain', captureId: s.target, phase: 'completed' });
  }

  sources(): string[] {
    return this.session ? [this.session.target] : [];
  }

  /** After a failover only the lost drain halts (the node stays draining); other scheduling goes on. */
  frozen(): boolean {
    return false;
  }

  onOwnerLost(): void {
    if (this.session)
      this.cluster.emit({ type: 'drain', captureId: this.session.target, phase: 'session-lost' });
    this.session = null;
  }

  onCaptureRemoved(capture: Capture): void {
    if (this.session?.target === capture.id) this.session = null;
  }

  /** PR #4081 enum: Alive=0, Stopping=1, Draining=2 (§4.5 last column). */
  livenessCode(l: Liveness): number {
    return l === 'alive' ? 0 : l === 'stopping' ? 1 : 2;
  }
  noOwner() {
    return errs.noLeader();
  }
  forwardLimit() {
    return errs.forwardLimitNewArch();
  }
  notReady() {
    return undefined;
  }
  snapshot(): DrainSnapshot {
    return { mode: 'v2', session: this.session && { ...this.session } };
  }
}
