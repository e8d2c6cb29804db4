// Time source of the simulator. All simulated behaviour (work moves, election delay, clear
// handshake, bootstrap) runs on periodic ticks against `now()`, so a test can drive time by hand
// with ManualClock and get deterministic results.

export interface Clock {
  /** Simulated time in milliseconds. */
  now(): number;
  /** Calls `fn` every `periodMs` of simulated time. Returns a cancel function. */
  every(periodMs: number, fn: () => void): () => void;
}

/** Wall-clock time, optionally sped up: `timeScale` simulated ms pass per real ms. */
export class RealClock implements Clock {
  private readonly origin = Date.now();
  constructor(private readonly timeScale = 1) {
    if (!(timeScale > 0)) throw new RangeError(`timeScale must be > 0, got ${timeScale}`);
  }
  now(): number {
    return (Date.now() - this.origin) * this.timeScale;
  }
  every(periodMs: number, fn: () => void): () => void {
    const timer = setInterval(fn, Math.max(1, periodMs / this.timeScale));
    timer.unref();
    return () => clearInterval(timer);
  }
}

interface ManualTimer {
  periodMs: number;
  due: number;
  fn: () => void;
}

/** Time moves only through advance(); periodic callbacks fire in time order. */
export class ManualClock implements Clock {
  private time: number;
  private readonly timers = new Set<ManualTimer>();
  constructor(start = 0) {
    this.time = start;
  }
  now(): number {
    return this.time;
  }
  every(periodMs: number, fn: () => void): () => void {
    if (!(periodMs > 0)) throw new RangeError(`periodMs must be > 0, got ${periodMs}`);
    const timer: ManualTimer = { periodMs, due: this.time + periodMs, fn };
    this.timers.add(timer);
    return () => this.timers.delete(timer);
  }
  /** Moves time forward by `ms`, firing every periodic callback that falls due on the way. */
  advance(ms: number): void {
    const end = this.time + ms;
    // Bounded: each iteration fires one due timer and pushes its due time forward by > 0.
    for (let guard = 0; guard < 10_000_000; guard++) {
      let next: ManualTimer | undefined;
      for (const t of this.timers) if (t.due <= end && (next === undefined || t.due < next.due)) next = t;
      if (next === undefined) break;
      this.time = next.due;
      next.due += next.periodMs;
      next.fn();
    }
    this.time = end;
  }
}
