// What an API flavour provides: its route table, its drain protocol (a DrainPolicy for the
// scheduler), its liveness integers and its forwarding errors.

import type { FaultConfig } from './faults.js';
import type { SimRequest, SimResponse } from './http-types.js';
import type { Capture, Cluster, DrainPolicy, Liveness, SimMode } from './model.js';

export interface RouteContext {
  cluster: Cluster;
  /** The capture that runs the handler: the owner for forwarded routes, else the receiver. */
  self: Capture;
  req: SimRequest;
  /** Regex capture groups of the route pattern. */
  params: string[];
}

export interface Route {
  method: string;
  pattern: RegExp;
  /** Proxied to the owner when the receiving capture is not the owner (§1 Forwarding). */
  forward: boolean;
  handle(ctx: RouteContext): SimResponse;
}

export interface Credentials {
  username: string;
  password: string;
}

/** Drain bookkeeping of a flavour, for GET /sim/state. */
export type DrainSnapshot =
  | {
      mode: 'newarch';
      session: { target: string; completed: boolean } | null;
      clearing: boolean;
      tombstone: string | null;
    }
  | { mode: 'v2'; session: { target: string } | null }
  | { mode: 'tiflow'; target: string | null; autoTarget: string | null }
  | { mode: 'stub'; calls: Record<string, number> };

export interface Flavor extends DrainPolicy {
  readonly mode: SimMode;
  readonly version: string;
  readonly gitHash: string;
  readonly routes: readonly Route[];
  /** The integer `liveness` of /api/v2/status for this version (§4.5 table). */
  livenessCode(l: Liveness): number;
  /** Forwarding found no owner (§1 "No owner"). */
  noOwner(): SimResponse;
  /** More than 2 forwarding hops (§1 "Forwarding"). */
  forwardLimit(): SimResponse;
  /** Old arch CheckServerReadyMiddleware: 503 before the receiving capture is ready (§2.1). */
  notReady(receiver: Capture): SimResponse | undefined;
  snapshot(): DrainSnapshot;
  /**
   * Another client (TiUP, the CLI) asks the coordinator to drain `target`, bypassing the HTTP
   * layer; returns the answer it got. Undefined when the flavour has no drain session (stub).
   */
  externalDrain?(target: string): SimResponse;
}

export interface FlavorOptions {
  version?: string;
  credentials?: Credentials;
  /** New arch: the clear handshake after a drained target left (§4.3). */
  clearHandshakeMs: number;
  /** The current faults (a flavour reads the ones that act inside the server). */
  faults: () => FaultConfig;
}
