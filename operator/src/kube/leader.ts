// Lease-based leader election (coordination.k8s.io/v1) with client-go's semantics
// (tools/leaderelection): acquire when the Lease is absent, released or expired; take over with a
// replace that carries resourceVersion (a 409 means someone else won); renew every retryPeriod;
// stop leading when no renewal succeeded within renewDeadline; release on graceful shutdown.
//
// Expiry = renewTime + leaseDurationSeconds < now AND the record has not changed for a whole
// leaseDuration as observed on OUR clock (client-go's observedTime rule). The second half means a
// holder that keeps renewing is never deposed because of clock skew between the two pods.
//
// Each term of leadership is a Fence (port.ts): its signal aborts the moment the term ends (Lease
// taken, renew deadline passed, shutdown), and its check() ends the term synchronously when the renew
// deadline has passed. Deadlines and observation ages use the monotonic clock (performance.now): a
// wall-clock step (NTP, a VM resume) can neither extend nor cut a term. The wall clock is only
// written into the Lease. A term ends at lastRenew + renewDeadline, where lastRenew is when the
// last successful renewal STARTED; a standby cannot take over before lastRenew + leaseDuration, so
// leaseDuration - renewDeadline is the time in-flight work has to stop (it is cancelled at once).
import type { Logger } from 'pino';
import { Registry, type Gauge } from 'prom-client';
import { getOrCreateGauge } from '../observability/metrics.js';
import { silentLogger } from '../observability/logger.js';
import { KubeApiError, Resources, type Fence, type KubeClient, type KubeObject } from './port.js';
import { microTime, parseTime } from './time.js';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** MicroTime: 6 fractional digits. */
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectorOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  /** Unique per process (e.g. `${POD_NAME}_${randomUUID()}`). */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Release the Lease when run()'s signal is aborted. Default true. */
  releaseOnCancel?: boolean;
  /** After abort, wait this long for onStartedLeading's promise before releasing. Default 30 s. */
  gracefulShutdownMs?: number;
  /**
   * Called on acquisition with the term's fence: `term.signal` aborts when leadership ends. May
   * return a promise (e.g. the controllers); after a loss it is awaited at most
   * leaseDuration - renewDeadline.
   */
  onStartedLeading: (signal: AbortSignal, term: Fence) => void | Promise<void>;
  onStoppedLeading?: () => void;
  onNewLeader?: (identity: string) => void;
  logger?: Logger;
  registry?: Registry;
  /** Wall clock in ms, only for the Lease's timestamps (jest fake timers fake it). */
  now?: () => number;
  /** Monotonic clock in ms for deadlines and observation ages. Default performance.now. */
  monotonic?: () => number;
  random?: () => number;
}

type Attempt = 'acquired' | 'held-by-other' | 'failed';

/** The reason a term's signal carries when the Lease was lost (not on a graceful shutdown). */
export class LeadershipLostError extends Error {
  override readonly name = 'LeadershipLostError';
}

interface Term {
  controller: AbortController;
  /** Monotonic start of the last successful acquire/renew attempt. */
  lastRenew: number;
  deadline: NodeJS.Timeout | undefined;
}

export class LeaderElector {
  private readonly opts: LeaderElectorOptions;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly log: Logger;
  private readonly gauge: Gauge<'name'>;
  private readonly now: () => number;
  private readonly monotonic: () => number;
  private readonly random: () => number;
  private leading = false;
  private term: Term | undefined;
  private observed: { resourceVersion?: string; holder?: string; at: number } | undefined;

  constructor(opts: LeaderElectorOptions) {
    this.opts = opts;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    // client-go's validation: the deadline must leave room for retries, and the lease must outlive it.
    if (this.leaseDurationMs <= this.renewDeadlineMs)
      throw new Error('leaseDuration must be greater than renewDeadline');
    if (this.renewDeadlineMs <= this.retryPeriodMs * 1.2)
      throw new Error('renewDeadline must be greater than retryPeriod*1.2');
    if (!opts.identity) throw new Error('leader election identity must not be empty');
    this.now = opts.now ?? Date.now;
    this.monotonic = opts.monotonic ?? (() => performance.now());
    this.random = opts.random ?? Math.random;
    this.log = (opts.logger ?? silentLogger()).child({
      lease: `${opts.namespace}/${opts.name}`,
      identity: opts.identity,
    });
    this.gauge = getOrCreateGauge(opts.registry ?? new Registry(), {
      name: 'leader_election_master_status',
      help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.',
      labelNames: ['name'],
    });
    this.gauge.set({ name: opts.name }, 0);
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder we last observed (may be us). */
  getLeader(): string | undefined {
    return this.observed?.holder || undefined;
  }

  /**
   * Campaigns until elected, then leads until the Lease is lost or `signal` aborts. Resolves in both
   * cases; the caller usually exits the process after a loss (as controller-runtime's manager does).
   */
  async run(signal: AbortSignal = new AbortController().signal): Promise<void> {
    this.log.info('Attempting to acquire leader lease');
    let acquiredAt: number;
    for (;;) {
      if (signal.aborted) return;
      acquiredAt = this.monotonic();
      if ((await this.tryAcquireOrRenew()) === 'acquired') break;
      await sleep(this.retryPeriodMs * (1 + 0.2 * this.random()), signal); // JitterFactor 1.2
    }
    if (signal.aborted) {
      await this.release();
      return;
    }

    const term: Term = { controller: new AbortController(), lastRenew: acquiredAt, deadline: undefined };
    this.term = term;
    this.leading = true;
    this.gauge.set({ name: this.opts.name }, 1);
    this.armDeadline(term);
    this.log.info('Successfully acquired lease');
    const fence: Fence = { signal: term.controller.signal, check: () => this.checkTerm(term) };
    const leadingWork = Promise.resolve()
      .then(() => this.opts.onStartedLeading(term.controller.signal, fence))
      .catch((err: unknown) => this.log.error({ err }, 'onStartedLeading failed'));

    const lost = await this.renewLoop(signal, term);
    clearTimeout(term.deadline);
    if (lost) {
      // The term's signal is aborted already; in-flight work was cancelled with it. Wait (bounded by
      // the margin before a standby may acquire) so nothing of this term overlaps the next one.
      const waited = await raceDeadline(
        leadingWork.then(() => 'done' as const),
        Math.max(0, this.leaseDurationMs - this.renewDeadlineMs),
      );
      if (waited === 'deadline')
        this.log.warn('Leading work did not stop within leaseDuration - renewDeadline');
    } else {
      this.endTerm(term, new Error('shutting down'));
      // Let the controllers finish before others may take over; then hand the Lease back at once.
      await withTimeout(leadingWork, this.opts.gracefulShutdownMs ?? 30_000);
      if (this.opts.releaseOnCancel ?? true) await this.release();
    }
    this.term = undefined;
    try {
      this.opts.onStoppedLeading?.();
    } catch (err) {
      this.log.error({ err }, 'onStoppedLeading failed');
    }
  }

  /** Ends the term (synchronously) once the renew deadline passed on the monotonic clock; throws if over. */
  private checkTerm(term: Term): void {
    this.expireIfDue(term);
    if (term.controller.signal.aborted) throw term.controller.signal.reason as Error;
  }

  /** Ends the term if its renew deadline passed; returns the ms left otherwise. */
  private expireIfDue(term: Term): number {
    if (term.controller.signal.aborted) return 0;
    const left = term.lastRenew + this.renewDeadlineMs - this.monotonic();
    if (left <= 0) this.lose(term, 'Failed to renew lease within the renew deadline');
    return Math.max(0, left);
  }

  /** A timer that ends the term at its deadline even while the renew loop waits on a request. */
  private armDeadline(term: Term): void {
    clearTimeout(term.deadline);
    const fire = () => {
      const left = this.expireIfDue(term);
      if (left > 0) term.deadline = setTimeout(fire, left + 1).unref(); // a timer that fired early
    };
    term.deadline = setTimeout(fire, term.lastRenew + this.renewDeadlineMs - this.monotonic() + 1);
    term.deadline.unref?.();
  }

  private lose(term: Term, why: string): void {
    if (term.controller.signal.aborted) return;
    this.log.error({ reason: why, renewDeadlineMs: this.renewDeadlineMs }, 'Leader election lost');
    this.endTerm(term, new LeadershipLostError(`leader election lost: ${why}`));
  }

  private endTerm(term: Term, reason: Error): void {
    clearTimeout(term.deadline);
    this.leading = false;
    this.gauge.set({ name: this.opts.name }, 0);
    if (!term.controller.signal.aborted) term.controller.abort(reason);
  }

  /** Renews until signal aborts (returns false) or the term ends otherwise (returns true). */
  private async renewLoop(signal: AbortSignal, term: Term): Promise<boolean> {
    const ended = term.controller.signal;
    const either = AbortSignal.any([signal, ended]);
    for (;;) {
      await sleep(this.retryPeriodMs, either);
      if (ended.aborted) return true;
      if (signal.aborted) return false;
      const started = this.monotonic();
      const budget = term.lastRenew + this.renewDeadlineMs - started;
      // A hung request must not keep us leading past the deadline, so race it against the budget.
      const result = budget > 0 ? await raceDeadline(this.tryAcquireOrRenew(), budget) : 'deadline';
      if (ended.aborted) return true; // the deadline timer or a check() ended the term meanwhile
      if (result === 'acquired') {
        // Renewed, but only if the deadline has not passed while the request ran.
        if (this.monotonic() - term.lastRenew < this.renewDeadlineMs) {
          term.lastRenew = started;
          this.armDeadline(term);
          continue;
        }
      }
      if (result === 'held-by-other') {
        this.log.error({ holder: this.observed?.holder }, 'Lease was taken by another candidate');
        this.lose(term, 'the Lease is held by another candidate');
        return true;
      }
      if (this.monotonic() - term.lastRenew >= this.renewDeadlineMs || result === 'deadline') {
        this.lose(term, 'Failed to renew lease within the renew deadline');
        return true;
      }
      if (signal.aborted) return false;
    }
  }

  private async tryAcquireOrRenew(): Promise<Attempt> {
    const { client, namespace, name, identity } = this.opts;
    const now = this.now();
    const desired: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    let lease: Lease | undefined;
    try {
      lease = await client.get<Lease>(Resources.leases, namespace, name);
    } catch (err) {
      this.log.warn({ err }, 'Error retrieving lease');
      return 'failed';
    }
    if (!lease) {
      try {
        const created = await client.create<Lease>(Resources.leases, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: desired,
        });
        this.observe(created);
        return 'acquired';
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409))
          this.log.warn({ err }, 'Error creating lease');
        return 'failed';
      }
    }
    this.observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    if (holder && holder !== identity && !this.isExpired(spec, this.now())) return 'held-by-other';
    if (holder === identity) {
      desired.acquireTime = spec.acquireTime ?? desired.acquireTime;
      desired.leaseTransitions = spec.leaseTransitions ?? 0;
    } else {
      desired.leaseTransitions = (spec.leaseTransitions ?? 0) + 1;
    }
    try {
      // metadata.resourceVersion makes this a compare-and-swap: 409 when another candidate wrote first.
      const updated = await client.replace<Lease>(Resources.leases, {
        ...lease,
        spec: { ...spec, ...desired },
      });
      this.observe(updated);
      return 'acquired';
    } catch (err) {
      if (err instanceof KubeApiError && err.isConflict) return 'failed';
      this.log.warn({ err }, 'Error updating lease');
      return 'failed';
    }
  }

  /** `now` is the wall clock (compared with renewTime); the observation age is monotonic. */
  private isExpired(spec: LeaseSpec, now: number): boolean {
    const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    const renew = parseTime(spec.renewTime ?? spec.acquireTime);
    const byRenewTime = Number.isNaN(renew) || renew + durationMs < now;
    const byObservation = !!this.observed && this.monotonic() - this.observed.at >= durationMs;
    return byRenewTime && byObservation;
  }

  /** Remembers when (monotonic) we saw the record change; reports leader changes. */
  private observe(lease: Lease): void {
    const now = this.monotonic();
    const rv = lease.metadata.resourceVersion;
    const holder = lease.spec?.holderIdentity;
    if (!this.observed || this.observed.resourceVersion !== rv) {
      if (holder && holder !== this.observed?.holder) {
        if (holder !== this.opts.identity) this.log.info({ holder }, 'New leader elected');
        try {
          this.opts.onNewLeader?.(holder);
        } catch (err) {
          this.log.error({ err }, 'onNewLeader failed');
        }
      }
      this.observed = { resourceVersion: rv, holder, at: now };
    }
  }

  /** Hands the Lease back: empty holder, 1 s duration, so another candidate can acquire at once. */
  private async release(): Promise<void> {
    const { client, namespace, name, identity } = this.opts;
    try {
      const lease = await client.get<Lease>(Resources.leases, namespace, name);
      if (!lease || lease.spec?.holderIdentity !== identity) return;
      const now = microTime(this.now());
      await client.replace<Lease>(Resources.leases, {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: lease.spec?.leaseTransitions ?? 0,
        },
      });
      this.log.info('Released leader lease');
    } catch (err) {
      this.log.warn({ err }, 'Failed to release lease');
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

async function raceDeadline<T>(p: Promise<T>, ms: number): Promise<T | 'deadline'> {
  let t: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => (t = setTimeout(() => resolve('deadline'), ms)));
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(t);
  }
}

async function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  await raceDeadline(p, ms);
}
