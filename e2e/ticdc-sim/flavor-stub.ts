// New architecture before v8.5.7 (§4.9): `PUT /api/v1/captures/drain` is a no-op stub. A
// process-global counter answers {"current_table_count":10} on every 10th call and 0 otherwise;
// no validation, no auth, nothing moves.

import type { DrainSnapshot, Flavor, FlavorOptions, Route } from './flavor.js';
import type { SimResponse } from './http-types.js';
import { json } from './http-types.js';
import { errs } from './errors.js';
import type { Capture, Cluster, Liveness } from './model.js';
import { commonRoutes } from './routes-common.js';

/** The stub handler. The counter is per process, i.e. per capture that ends up handling the call. */
export class StubDrainRoute {
  readonly calls = new Map<string, number>();
  route(): Route {
    return {
      method: 'PUT',
      pattern: /^\/api\/v1\/captures\/drain$/,
      forward: true,
      handle: ({ self }) => this.answer(self),
    };
  }

  answer(self: Capture): SimResponse {
    const n = (this.calls.get(self.id) ?? 0) + 1;
    this.calls.set(self.id, n);
    return json(202, { current_table_count: n % 10 === 0 ? 10 : 0 });
  }
}

/** New arch health: only the coordinator's own liveness counts (§4.5, §4.7). */
export function newArchHealthy(_cluster: Cluster, self: Capture): boolean {
  return self.liveness === 'alive';
}

export class StubFlavor implements Flavor {
  readonly mode = 'stub' as const;
  readonly version: string;
  readonly gitHash = 'sim0000000000000000000000000000000v856';
  readonly routes: readonly Route[];
  private readonly stub = new StubDrainRoute();

  constructor(_cluster: Cluster, opts: FlavorOptions) {
    this.version = opts.version ?? 'v8.5.6';
    this.routes = [
      ...commonRoutes(() => this, { tiflow: false, healthy: newArchHealthy }),
      this.stub.route(),
    ];
  }

  /** Before #4522 the enum is Alive=0, Stopping=1, and Stopping is never actually set (§4.5). */
  livenessCode(l: Liveness): number {
    return l === 'alive' ? 0 : 1;
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
  sources(): string[] {
    return [];
  }
  frozen(): boolean {
    return false;
  }
  tick(): void {}
  onOwnerLost(): void {}
  onCaptureRemoved(): void {}
  snapshot(): DrainSnapshot {
    return { mode: 'stub', calls: Object.fromEntries(this.stub.calls) };
  }
}
