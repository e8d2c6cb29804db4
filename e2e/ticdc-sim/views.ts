// Views of the simulator's state, shared by the programmatic API (simulator.ts) and the control
// routes (control.ts).

import type { FaultConfig } from './faults.js';
import type { DrainSnapshot } from './flavor.js';
import type { CaptureExit, Liveness, SimMode, WorkCounts } from './model.js';

export interface CaptureView extends WorkCounts {
  id: string;
  address: string;
  name?: string;
  podName?: string;
  podUid?: string;
  pid: number;
  isOwner: boolean;
  liveness: Liveness;
  /** The integer /api/v2/status reports for this mode (§4.5). */
  livenessCode: number;
  ready: boolean;
  /** Pre-v8.5.7 binary in a newarch rolling upgrade (§4.9). */
  legacy: boolean;
  joinedAt: number;
  /** Set once the process got its signal; the capture is still listed until exit.leavesAt. */
  exit?: CaptureExit;
  /** Per-capture listener URL, when perCaptureListeners is on. */
  url?: string;
}

export interface SimState {
  mode: SimMode;
  version: string;
  url: string;
  /** Simulated time, ms. */
  time: number;
  owner: string | null;
  bootstrapped: boolean;
  electionPending: boolean;
  /** New arch: scheduling frozen after a failover lost the drain session (§4.3). */
  frozen: boolean;
  stalled: boolean;
  captures: CaptureView[];
  changefeeds: number;
  tables: number;
  orphans: WorkCounts;
  drain: DrainSnapshot;
  violations: number;
  faults: FaultConfig;
}

export interface StaticCaptureSpec {
  name?: string;
  /** Default: the per-capture listener's address, else derived from the name. */
  address?: string;
  /** newarch: a pre-v8.5.7 process (§4.9). */
  legacy?: boolean;
}
