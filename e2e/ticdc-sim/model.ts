// The work model of one simulated TiCDC cluster: captures (membership), the owner (coordinator)
// and its election, changefeeds with one maintainer each and one dispatcher per table span, and
// the scheduler that moves work on every tick. The drain protocol of each API flavour plugs in
// through DrainPolicy; everything here is flavour-neutral.

import type { Clock } from './clock.js';
import type { Rng } from './random.js';

export type SimMode = 'newarch' | 'v2' | 'stub' | 'tiflow';
export const SIM_MODES: readonly SimMode[] = ['newarch', 'v2', 'stub', 'tiflow'];

/** Capture-wide liveness. Old arch only knows alive and stopping (§2.3); new arch all three (§4.5). */
export type Liveness = 'alive' | 'draining' | 'stopping';

/** Why a capture left the membership. Only `crash-injected` is a deliberate fault. */
export type RemovalCause =
  | 'crash-injected'
  /** Static mode: the process got SIGTERM and exited (which does not drain, §2.5, §4.8). */
  | 'removed'
  /** Static mode: the process got SIGKILL (not an injected fault: a real loss if it held work). */
  | 'killed'
  /** Its pod got a deletionTimestamp: SIGTERM, exit, no drain. */
  | 'pod-deleted'
  /** Its pod vanished without a deletionTimestamp being seen (force delete, relist gap). */
  | 'pod-gone'
  /** A container restart: the process restarted, so the old capture is gone (new UUID, §1). */
  | 'pod-restarted'
  /** The pod phase became Failed or Succeeded. */
  | 'pod-stopped';

export interface CaptureSpec {
  /** Advertise address, host:port. */
  address: string;
  name?: string;
  podName?: string;
  podUid?: string;
  /**
   * newarch only: this process runs a pre-v8.5.7 binary (drain protocol version 0) in a rolling
   * upgrade (§4.9): as coordinator it serves the stub; as a peer it makes drains answer 0 at once.
   */
  legacy?: boolean;
}

/** How a capture's process ended: SIGTERM (graceful) or SIGKILL (forced delete, node loss, crash). */
export type ExitSignal = 'SIGTERM' | 'SIGKILL';

/** A process that ended but whose capture key is still registered (§9 Departure). */
export interface CaptureExit {
  signal: ExitSignal;
  cause: RemovalCause;
  /** Simulated time of the signal. */
  at: number;
  /** Simulated time at which the capture leaves the membership (its etcd key goes away). */
  leavesAt: number;
}

export interface Capture extends CaptureSpec {
  readonly id: string;
  readonly pid: number;
  readonly joinedAt: number;
  liveness: Liveness;
  /** Set once the process got its signal: it answers nothing but stays listed until `leavesAt`. */
  exit?: CaptureExit;
}

/** True while the capture's process runs (it answers HTTP, campaigns, takes and moves work). */
export const running = (c: Capture): boolean => c.exit === undefined;

export interface WorkCounts {
  maintainers: number;
  dispatchers: number;
}

/** A capture that left the membership while still holding work (the invariant the operator protects). */
export interface Violation extends WorkCounts {
  captureId: string;
  address: string;
  name?: string;
  podName?: string;
  podUid?: string;
  liveness: Liveness;
  wasOwner: boolean;
  cause: RemovalCause;
  /** True for crash injections: expected by the test that asked for them. */
  injected: boolean;
  /** Simulated time (ms) and wall-clock time of the removal. */
  time: number;
  wallTime: string;
}

export type SimEvent =
  | { type: 'capture-joined'; captureId: string; address: string; podName?: string }
  | ({
      type: 'capture-exited';
      captureId: string;
      address: string;
      signal: ExitSignal;
      cause: RemovalCause;
      leavesAt: number;
    } & WorkCounts)
  | ({ type: 'capture-left'; captureId: string; address: string; cause: RemovalCause } & WorkCounts)
  | { type: 'owner-changed'; owner: string | null; previous: string | null }
  | { type: 'liveness-changed'; captureId: string; liveness: Liveness }
  | {
      type: 'drain';
      captureId: string;
      phase: 'started' | 'completed' | 'session-lost' | 'cleared' | 'ignored';
      /** cleared: how long the coordinator still answers 1 to a drain of another capture (§4.3). */
      clearHandshakeMs?: number;
    }
  | { type: 'violation'; violation: Violation };

/** The drain protocol of a flavour, as seen by the scheduler. */
export interface DrainPolicy {
  /** Captures whose work is being moved off right now. */
  sources(): string[];
  /** True when the coordinator schedules nothing at all (new arch after failover, §4.3). */
  frozen(): boolean;
  /** Called at the start of every tick (completion checks, timers). */
  tick(): void;
  /** The coordinator went away: in-memory drain state is lost (§4.3). */
  onOwnerLost(previous: string): void;
  onCaptureRemoved(capture: Capture): void;
}

const NO_DRAIN: DrainPolicy = {
  sources: () => [],
  frozen: () => false,
  tick: () => {},
  onOwnerLost: () => {},
  onCaptureRemoved: () => {},
};

export interface ClusterOptions {
  changefeeds: number;
  tablesPerChangefeed: number;
  /** Dispatchers moved per second off drain targets (and off removed captures). */
  moveRatePerSec: number;
  /** Maintainers moved per second (default: moveRatePerSec). */
  maintainerMoveRatePerSec: number;
  /** Units per second moved from the most to the least loaded alive capture. */
  rebalanceRatePerSec: number;
  /** No owner for this long after the owner resigned or died (v8.5.7: about 10 ms, §9 Resign). */
  electionDelayMs: number;
  /** A capture whose process got SIGTERM stays listed this long (§9 Departure: about 5 s). */
  sigtermDepartureMs: number;
  /** A capture whose process was killed stays listed this long (etcd session TTL, §9: about 14 s). */
  sigkillDepartureMs: number;
  /** A new coordinator needs this long before it can serve drains (§4.2 "not bootstrapped"). */
  bootstrapDelayMs: number;
  /** Chance that a resigning owner wins the next election again while it is alive (§2.4, §4.4). */
  reelectProbability: number;
  /** Old arch: a capture answers 503 ErrServerIsNotReady for this long after joining (§2.1). */
  readyDelayMs: number;
  /** Old arch has no maintainers: the owner schedules tables itself. */
  hasMaintainers: boolean;
}

interface Changefeed {
  id: string;
  maintainer: string | null;
  dispatchers: (string | null)[];
}

type Kind = 'maintainers' | 'dispatchers';
const MAX_UNITS_PER_TICK = 100_000;
/** Whole units in a budget; tolerant of float sums (ten ticks of 0.1 make 1). */
const whole = (budget: number) => Math.floor(budget + 1e-9);

export class Cluster {
  private readonly members = new Map<string, Capture>();
  private readonly feeds: Changefeed[] = [];
  private ownerId: string | null = null;
  private bootstrapAt = 0;
  private election: { at: number; resigned?: string; exclude?: string } | null = null;
  private lastTick: number;
  private readonly budget = { maintainers: 0, dispatchers: 0, rebalance: 0 };
  private initialPlaced = false;
  private nextPid = 1000;
  private readonly listeners = new Set<(e: SimEvent) => void>();
  readonly violations: Violation[] = [];
  /** Fault: work stops moving. */
  stalled = false;
  /** Fault: every owner change leaves the cluster without owner at least this long. */
  leaderlessMs = 0;
  policy: DrainPolicy = NO_DRAIN;

  constructor(
    readonly opts: ClusterOptions,
    readonly clock: Clock,
    readonly rng: Rng,
  ) {
    this.lastTick = clock.now();
    for (let c = 0; c < opts.changefeeds; c++) {
      this.feeds.push({
        id: `changefeed-${c}`,
        maintainer: null,
        dispatchers: new Array<string | null>(opts.tablesPerChangefeed).fill(null),
      });
    }
  }

  now(): number {
    return this.clock.now();
  }

  on(listener: (e: SimEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(e: SimEvent): void {
    for (const l of this.listeners) l(e);
  }

  // ---- membership -------------------------------------------------------------------------

  /** Captures in join order, including draining and stopping ones (§3: the list shows every registered capture). */
  list(): Capture[] {
    return [...this.members.values()];
  }

  get(id: string): Capture | undefined {
    return this.members.get(id);
  }

  /** The capture at an address; a running process wins over a departed one still listed there. */
  byAddress(address: string): Capture | undefined {
    const at = this.list().filter((c) => c.address === address);
    return at.find(running) ?? at[0];
  }

  /** Captures whose process runs (a Service only routes to these). */
  processes(): Capture[] {
    return this.list().filter(running);
  }

  size(): number {
    return this.members.size;
  }

  /** A new process registers: fresh UUID every time (§1 Capture ID). The first member becomes owner. */
  join(spec: CaptureSpec, opts: { bootstrapNow?: boolean } = {}): Capture {
    const capture: Capture = {
      ...spec,
      id: this.rng.uuid(),
      pid: this.nextPid++,
      joinedAt: this.now(),
      liveness: 'alive',
    };
    this.members.set(capture.id, capture);
    this.emit({
      type: 'capture-joined',
      captureId: capture.id,
      address: capture.address,
      podName: capture.podName,
    });
    if (this.ownerId === null && this.election === null)
      this.becomeOwner(capture.id, opts.bootstrapNow === true);
    return capture;
  }

  /**
   * The capture leaves the membership at once (crash, SIGTERM exit, pod deleted). Work it still
   * holds is recorded as a violation and then rescheduled reactively.
   */
  leave(id: string, cause: RemovalCause, at = this.now()): Violation | undefined {
    const capture = this.members.get(id);
    if (!capture) return undefined;
    const counts = this.countsOf(id);
    let violation: Violation | undefined;
    // A process that already exited was judged at its signal (its work was lost then).
    if (capture.exit === undefined) violation = this.judge(capture, cause);
    for (const f of this.feeds) {
      if (f.maintainer === id) f.maintainer = null;
      for (let i = 0; i < f.dispatchers.length; i++) if (f.dispatchers[i] === id) f.dispatchers[i] = null;
    }
    this.members.delete(id);
    this.emit({ type: 'capture-left', captureId: id, address: capture.address, cause, ...counts });
    if (violation) this.emit({ type: 'violation', violation });
    this.policy.onCaptureRemoved(capture);
    if (this.ownerId === id) this.loseOwner({}, at);
    return violation;
  }

  /**
   * The capture's process gets `signal` (§4.8, §9 Departure). It stops answering at once and holds
   * its work frozen (recorded as a violation if it held any); the capture stays listed for the
   * signal's departure delay, then leaves. SIGTERM stops the coordinator first (Close()), so an
   * owner hands over at once; a killed owner keeps its key until the session expires. A second
   * signal can only shorten the stay. Delay 0 leaves at once.
   */
  exit(id: string, cause: RemovalCause, signal: ExitSignal): Violation | undefined {
    const capture = this.members.get(id);
    if (!capture) return undefined;
    const delay = signal === 'SIGTERM' ? this.opts.sigtermDepartureMs : this.opts.sigkillDepartureMs;
    const leavesAt = this.now() + delay;
    if (capture.exit) {
      capture.exit.leavesAt = Math.min(capture.exit.leavesAt, leavesAt);
      this.refresh();
      return undefined;
    }
    if (delay <= 0) return this.leave(id, cause);
    const violation = this.judge(capture, cause);
    capture.exit = { signal, cause, at: this.now(), leavesAt };
    this.emit({
      type: 'capture-exited',
      captureId: id,
      address: capture.address,
      signal,
      cause,
      leavesAt,
      ...this.countsOf(id),
    });
    if (violation) this.emit({ type: 'violation', violation });
    if (signal === 'SIGTERM' && this.ownerId === id) this.loseOwner({});
    return violation;
  }

  /**
   * Processes due departures and a due election now, so their timing does not depend on the
   * scheduler tick. Called by every tick and before every request and state read.
   */
  refresh(): void {
    const now = this.now();
    const due = this.list()
      .filter((c) => c.exit !== undefined && c.exit.leavesAt <= now)
      .sort((a, b) => a.exit!.leavesAt - b.exit!.leavesAt);
    for (const c of due) this.leave(c.id, c.exit!.cause, c.exit!.leavesAt);
    this.runElection();
  }

  /** Records a violation if the capture holds work as its process ends. */
  private judge(capture: Capture, cause: RemovalCause): Violation | undefined {
    const id = capture.id;
    const counts = this.countsOf(id);
    let violation: Violation | undefined;
    if (counts.maintainers + counts.dispatchers > 0) {
      violation = {
        captureId: id,
        address: capture.address,
        ...(capture.name !== undefined && { name: capture.name }),
        ...(capture.podName !== undefined && { podName: capture.podName }),
        ...(capture.podUid !== undefined && { podUid: capture.podUid }),
        ...counts,
        liveness: capture.liveness,
        wasOwner: this.ownerId === id,
        cause,
        injected: cause === 'crash-injected',
        time: this.now(),
        wallTime: new Date().toISOString(),
      };
      this.violations.push(violation);
    }
    return violation;
  }

  setLiveness(id: string, liveness: Liveness): void {
    const c = this.members.get(id);
    if (!c || c.liveness === liveness) return;
    c.liveness = liveness;
    this.emit({ type: 'liveness-changed', captureId: id, liveness });
  }

  /** Old arch: the capture's HTTP API answers once the capture is ready (§2.1). */
  isReady(c: Capture): boolean {
    return this.now() >= c.joinedAt + this.opts.readyDelayMs;
  }

  // ---- owner / coordinator -----------------------------------------------------------------

  get owner(): Capture | undefined {
    return this.ownerId === null ? undefined : this.members.get(this.ownerId);
  }

  /** The coordinator has finished bootstrapping and can serve drains. */
  bootstrapped(): boolean {
    return this.ownerId !== null && this.now() >= this.bootstrapAt;
  }

  electionPending(): boolean {
    return this.election !== null;
  }

  /**
   * The owner steps down (resign API, §2.4 and §4.4). It keeps campaigning while alive, so it may
   * win again; `excludeSelf` (forced failover) keeps it out of this one election when others can win.
   */
  resign(opts: { excludeSelf?: boolean } = {}): string | null {
    const prev = this.ownerId;
    if (prev === null) return null;
    this.loseOwner(opts.excludeSelf ? { exclude: prev } : { resigned: prev });
    return prev;
  }

  /** `at`: when the owner went away (a departure processed late still counts from its due time). */
  private loseOwner(election: { resigned?: string; exclude?: string }, at = this.now()): void {
    const prev = this.ownerId;
    if (prev === null) return;
    this.ownerId = null;
    const delay = Math.max(this.opts.electionDelayMs, this.leaderlessMs);
    this.election = { at: at + delay, ...election };
    this.policy.onOwnerLost(prev);
    this.emit({ type: 'owner-changed', owner: null, previous: prev });
  }

  /** `at`: when the election was due (a late tick or refresh does not delay the bootstrap). */
  private becomeOwner(id: string, bootstrapNow: boolean, at = this.now()): void {
    const prev = this.ownerId;
    this.ownerId = id;
    this.election = null;
    this.bootstrapAt = at + (bootstrapNow ? 0 : this.opts.bootstrapDelayMs);
    this.emit({ type: 'owner-changed', owner: id, previous: prev });
  }

  /**
   * Only alive running captures campaign; a draining or stopping one never becomes owner (§2.3,
   * §4.4). A resigned owner wins again only with reelectProbability (v8.5.7: never while another
   * capture is Alive, §9 Resign) or when it is the only candidate.
   */
  private runElection(): void {
    const e = this.election;
    if (this.ownerId !== null || e === null || this.now() < e.at) return;
    const alive = this.processes().filter((c) => c.liveness === 'alive');
    let candidates = alive.filter((c) => c.id !== e.exclude);
    if (candidates.length === 0) candidates = alive;
    if (candidates.length === 0) {
      e.at = this.now(); // nobody campaigns: stay leaderless until someone can (counted from then)
      return;
    }
    const resigned = candidates.find((c) => c.id === e.resigned);
    const others = candidates.filter((c) => c.id !== e.resigned);
    const winner =
      resigned && (others.length === 0 || this.rng.chance(this.opts.reelectProbability))
        ? resigned
        : this.rng.pick(others);
    if (winner) this.becomeOwner(winner.id, false, e.at);
  }

  // ---- work --------------------------------------------------------------------------------

  countsOf(id: string): WorkCounts {
    let maintainers = 0;
    let dispatchers = 0;
    for (const f of this.feeds) {
      if (f.maintainer === id) maintainers++;
      for (const d of f.dispatchers) if (d === id) dispatchers++;
    }
    return { maintainers, dispatchers };
  }

  /** Work held by nobody (its capture left and it is not rescheduled yet). */
  orphans(): WorkCounts {
    let maintainers = 0;
    let dispatchers = 0;
    for (const f of this.feeds) {
      if (this.opts.hasMaintainers && f.maintainer === null) maintainers++;
      for (const d of f.dispatchers) if (d === null) dispatchers++;
    }
    return { maintainers, dispatchers };
  }

  changefeedCount(): number {
    return this.feeds.length;
  }

  tableCount(): number {
    return this.feeds.reduce((n, f) => n + f.dispatchers.length, 0);
  }

  /** Destinations for work: alive running captures only (draining and stopping ones get no new work, §2.3, §4.3). */
  schedulable(): Capture[] {
    return this.processes().filter((c) => c.liveness === 'alive');
  }

  /** Places all work at once over the current captures: the cluster as it was when the sim started. */
  placeInitial(): void {
    const dests = this.schedulable();
    if (dests.length === 0 || this.initialPlaced) return;
    this.initialPlaced = true;
    let m = 0;
    let d = 0;
    for (const f of this.feeds) {
      if (this.opts.hasMaintainers && f.maintainer === null) f.maintainer = dests[m++ % dests.length]!.id;
      for (let i = 0; i < f.dispatchers.length; i++)
        if (f.dispatchers[i] === null) f.dispatchers[i] = dests[d++ % dests.length]!.id;
    }
  }

  /** One scheduler step. Call periodically; the elapsed simulated time sets how much work moves. */
  tick(): void {
    const now = this.now();
    const dt = Math.max(0, now - this.lastTick);
    this.lastTick = now;
    this.refresh();
    this.policy.tick();
    if (!this.initialPlaced) {
      this.placeInitial();
      return;
    }
    if (this.stalled || this.policy.frozen()) return;
    const dests = this.schedulable();
    if (dests.length === 0) return;

    // Work of an exited process is frozen until its capture leaves (then it is an orphan).
    const sources = new Set(this.policy.sources().filter((id) => this.members.get(id)?.exit === undefined));
    const movable = (holder: string | null) => holder === null || sources.has(holder);
    const accrue = (key: keyof typeof this.budget, rate: number) => {
      const inc = (rate * dt) / 1000;
      this.budget[key] += inc;
      return inc;
    };
    const kinds: Kind[] = this.opts.hasMaintainers ? ['maintainers', 'dispatchers'] : ['dispatchers'];
    for (const kind of kinds) {
      const rate = kind === 'maintainers' ? this.opts.maintainerMoveRatePerSec : this.opts.moveRatePerSec;
      const inc = accrue(kind, rate);
      // Reactive rescheduling of orphans first, then the drain targets (§2.3, §4.3 step 3).
      this.budget[kind] -= this.moveUnits(kind, whole(this.budget[kind]), movable, dests);
      this.budget[kind] = Math.min(this.budget[kind], Math.max(1, inc)); // no burst after idle time
    }
    const inc = accrue('rebalance', this.opts.rebalanceRatePerSec);
    this.budget.rebalance -= this.rebalance(whole(this.budget.rebalance), dests, kinds);
    this.budget.rebalance = Math.min(this.budget.rebalance, Math.max(1, inc));
  }

  /** Moves up to `n` units whose holder matches, each to the least loaded destination. */
  private moveUnits(
    kind: Kind,
    n: number,
    match: (holder: string | null) => boolean,
    dests: Capture[],
  ): number {
    if (n <= 0) return 0;
    const load = new Map(dests.map((c) => [c.id, this.countsOf(c.id)[kind]]));
    const leastLoaded = () => {
      let best: Capture | undefined;
      for (const c of dests) if (best === undefined || load.get(c.id)! < load.get(best.id)!) best = c;
      return best!;
    };
    let moved = 0;
    for (const unit of this.units(kind)) {
      if (moved >= n || moved >= MAX_UNITS_PER_TICK) break;
      if (!match(unit.holder)) continue;
      const dest = leastLoaded();
      if (dest.id === unit.holder) continue;
      unit.set(dest.id);
      load.set(dest.id, load.get(dest.id)! + 1);
      moved++;
    }
    return moved;
  }

  /** Evens out load among alive captures, e.g. onto a newly joined capture. Returns units moved. */
  private rebalance(n: number, dests: Capture[], kinds: Kind[]): number {
    let moved = 0;
    for (let guard = 0; moved < n && guard < MAX_UNITS_PER_TICK; guard++) {
      let progressed = false;
      for (const kind of kinds.slice().reverse()) {
        const loads = dests.map((c) => ({ c, n: this.countsOf(c.id)[kind] }));
        loads.sort((a, b) => a.n - b.n);
        const min = loads[0]!;
        const max = loads[loads.length - 1]!;
        if (max.n - min.n < 2) continue;
        this.moveUnits(kind, 1, (h) => h === max.c.id, [min.c]);
        moved++;
        progressed = true;
        break;
      }
      if (!progressed) break;
    }
    return moved;
  }

  /** Work units interleaved across changefeeds, so moves spread evenly. */
  private *units(kind: Kind): Generator<{ holder: string | null; set: (id: string) => void }> {
    if (kind === 'maintainers') {
      if (!this.opts.hasMaintainers) return;
      for (const f of this.feeds) yield { holder: f.maintainer, set: (id) => (f.maintainer = id) };
      return;
    }
    const width = Math.max(0, ...this.feeds.map((f) => f.dispatchers.length));
    for (let i = 0; i < width; i++)
      for (const f of this.feeds)
        if (i < f.dispatchers.length)
          yield { holder: f.dispatchers[i]!, set: (id) => (f.dispatchers[i] = id) };
  }
}
