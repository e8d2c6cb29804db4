// pingcap/ticdc new architecture, v8.5.7+ (§3, §4.1–4.5): `PUT /api/v1/captures/drain` is the only
// drain route, driven by a single coordinator-side drain session.

import { authenticate, bindDrainRequest } from './binding.js';
import { errs } from './errors.js';
import type { DrainSnapshot, Flavor, FlavorOptions, Route, RouteContext } from './flavor.js';
import type { SimResponse } from './http-types.js';
import { json } from './http-types.js';
import type { Capture, Cluster, Liveness } from './model.js';
import { commonRoutes } from './routes-common.js';
import { newArchHealthy, StubDrainRoute } from './flavor-stub.js';

interface Session {
  target: string;
  /** DRAINING and STOPPING observed with nothing left: the API answers 0 (§4.3 completion sequence). */
  completed: boolean;
}

export class NewArchFlavor implements Flavor {
  readonly mode = 'newarch' as const;
  readonly version: string;
  readonly gitHash = 'sim0000000000000000000000000000000v857';
  readonly routes: readonly Route[];
  /** One session per cluster; it lives until the target leaves the membership (§4.3). */
  private session: Session | null = null;
  /** The clear broadcast after the target left must be acknowledged before a new session (§4.3). */
  private clearUntil: number | null = null;
  /** Only the last completed target is remembered after it left (§4.2 first row). */
  private tombstone: string | null = null;
  /** A legacy (pre-v8.5.7) coordinator serves the stub (§4.9). */
  private readonly stub = new StubDrainRoute();

  constructor(
    private readonly cluster: Cluster,
    private readonly opts: FlavorOptions,
  ) {
    this.version = opts.version ?? 'v8.5.7';
    this.routes = [
      ...commonRoutes(() => this, { tiflow: false, healthy: newArchHealthy }),
      {
        method: 'PUT',
        pattern: /^\/api\/v1\/captures\/drain$/,
        forward: true,
        handle: (ctx) => this.drainRoute(ctx),
      },
    ];
  }

  /** api/v1/api.go drainCapture, after forwarding (§4.1): auth, bind, owner check, DrainNode. */
  private drainRoute(ctx: RouteContext): SimResponse {
    if (ctx.self.legacy) return this.stub.answer(ctx.self);
    if (this.opts.credentials) {
      const denied = authenticate(ctx.req, this.opts.credentials);
      if (denied) return denied;
    }
    const bound = bindDrainRequest(ctx.req.body);
    if ('error' in bound) return errs.invalidParam(bound.error);
    return this.drainAsOwner(ctx.self, bound.captureId);
  }

  private drainAsOwner(self: Capture, target: string): SimResponse {
    if (target === self.id) return errs.schedulerRequestFailed('cannot drain the owner');
    const remaining = this.drainNode(target);
    return typeof remaining === 'number' ? json(202, { current_table_count: remaining }) : remaining;
  }

  /** Another tool's PUT reaching the coordinator (the session it opens blocks every other target). */
  externalDrain(target: string): SimResponse {
    const owner = this.cluster.owner;
    if (!owner || owner.exit) return errs.noLeader();
    if (owner.legacy) return this.stub.answer(owner);
    return this.drainAsOwner(owner, target);
  }

  /** coordinator/controller_drain.go DrainNode, in the order of the §4.2 table. */
  drainNode(target: string): number | SimResponse {
    const c = this.cluster;
    const capture = c.get(target);
    if (!capture) return this.tombstone === target ? 0 : errs.captureNotExist(target);
    if (this.session && this.session.target !== target) return 1;
    if (!this.session && this.clearUntil !== null && c.now() < this.clearUntil) return 1;
    if (!c.bootstrapped()) return 1;
    // Legacy fallback: "the caller is expected to continue with the legacy hard-restart removal
    // flow"; this 0 does not mean drained (§4.2, §4.9).
    if (!this.session && c.list().some((m) => m.legacy && m.liveness === 'alive')) return 0;
    if (!this.session) {
      this.session = { target, completed: false };
      this.tombstone = null;
      this.clearUntil = null;
      if (capture.liveness === 'alive') c.setLiveness(target, 'draining');
      // A node already Stopping answers applied=STOPPING: both observed at once, so a new
      // coordinator answers 0 on the first call once nothing is left (§4.6, §9 Coordinator change).
      else if (capture.liveness === 'stopping' && this.remaining(target) === 0) this.session.completed = true;
      c.emit({ type: 'drain', captureId: target, phase: 'started' });
    }
    if (this.session.completed) return 0;
    return Math.max(this.remaining(target), 1);
  }

  /** drainRemainingEstimate: the maximum (not the sum) of the counters (§4.2). */
  private remaining(target: string): number {
    const { maintainers, dispatchers } = this.cluster.countsOf(target);
    return Math.max(maintainers, dispatchers);
  }

  tick(): void {
    const c = this.cluster;
    if (this.clearUntil !== null && c.now() >= this.clearUntil) this.clearUntil = null;
    const s = this.session;
    if (!s || s.completed) return;
    const target = c.get(s.target);
    if (!target || this.remaining(s.target) > 0) return;
    // remaining == 0 and DRAINING observed → STOPPING; once STOPPING is observed → complete.
    if (target.liveness === 'draining') c.setLiveness(s.target, 'stopping');
    else if (target.liveness === 'stopping') {
      s.completed = true;
      c.emit({ type: 'drain', captureId: s.target, phase: 'completed' });
    }
  }

  sources(): string[] {
    const s = this.session;
    return s && !s.completed && this.cluster.get(s.target) ? [s.target] : [];
  }

  /** A coordinator without a session that sees a DRAINING or STOPPING node schedules nothing (§4.3). */
  frozen(): boolean {
    return this.session === null && this.cluster.list().some((m) => m.liveness !== 'alive');
  }

  /** The session, clear state and tombstone live only in coordinator memory (§4.3 failover). */
  onOwnerLost(): void {
    if (this.session)
      this.cluster.emit({ type: 'drain', captureId: this.session.target, phase: 'session-lost' });
    this.session = null;
    this.clearUntil = null;
    this.tombstone = null;
  }

  onCaptureRemoved(capture: Capture): void {
    const s = this.session;
    if (!s || s.target !== capture.id) return;
    // Removed after completion → tombstone (0); before → no tombstone (400 afterwards) (§4.3).
    this.tombstone = s.completed ? capture.id : null;
    this.session = null;
    this.clearUntil = this.cluster.now() + this.opts.clearHandshakeMs;
    this.cluster.emit({
      type: 'drain',
      captureId: capture.id,
      phase: 'cleared',
      clearHandshakeMs: this.opts.clearHandshakeMs,
    });
  }

  livenessCode(l: Liveness): number {
    return l === 'alive' ? 0 : l === 'draining' ? 1 : 2;
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
    return {
      mode: 'newarch',
      session: this.session && { ...this.session },
      clearing: this.clearUntil !== null,
      tombstone: this.tombstone,
    };
  }
}
