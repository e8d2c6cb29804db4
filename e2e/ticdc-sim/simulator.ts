// TicdcSimulator: one simulated TiCDC cluster behind an HTTP(S) server, driven programmatically
// (tests), by the CLI, or by Kubernetes pods (e2e).

import type * as http from 'node:http';
import type { Logger } from 'pino';
import { handleApi } from './api.js';
import type { Clock } from './clock.js';
import { ManualClock, RealClock } from './clock.js';
import type { SimControl } from './control.js';
import { handleControl } from './control.js';
import { SimError } from './sim-error.js';
import type { CaptureView, SimState, StaticCaptureSpec } from './views.js';
import { errs } from './errors.js';
import type { FaultConfig, FaultPatch } from './faults.js';
import { FaultInjector } from './faults.js';
import type { Credentials, Flavor } from './flavor.js';
import { createFlavor } from './flavors.js';
import type { SimRequest } from './http-types.js';
import { header } from './http-types.js';
import type { PodSource } from './kube-source.js';
import { KubePodSource, PodCaptureRegistry } from './kube-source.js';
import type { Capture, ExitSignal, SimEvent, SimMode, Violation } from './model.js';
import { Cluster, running, SIM_MODES } from './model.js';
import { Rng } from './random.js';
import type { Listener, TlsOptions } from './server.js';
import { listen, readBody, reset, send } from './server.js';

export { SimError } from './sim-error.js';
export type { CaptureView, SimState, StaticCaptureSpec } from './views.js';

export interface KubeOptions {
  /** Default: KUBECONFIG / ~/.kube/config / in-cluster. */
  kubeconfigPath?: string;
  namespace: string;
  /** Label selector of the capture pods. */
  selector?: string;
  /** Default "{pod}.{service}.{namespace}.svc:8300"; also {ip} and {hostname}. */
  addressTemplate?: string;
  /** Headless service for {service}; default the pod's spec.subdomain, else "ticdc-peer". */
  service?: string;
  /** Pause before a relist after the watch ended or failed (ms, default 1000). */
  retryDelayMs?: number;
}

export interface SimulatorOptions {
  /** API flavour (default newarch). */
  mode?: SimMode;
  /** Static registry: number of captures at start (default 3; ignored with kube/podSource). */
  captures?: number;
  /** Static registry: capture names; an address is the name (with ":8300" added if it has no port). */
  captureNames?: string[];
  /** newarch: the last N static captures run a pre-v8.5.7 binary (rolling upgrade, §4.9). */
  legacyCaptures?: number;
  changefeeds?: number;
  tablesPerChangefeed?: number;
  /** Dispatchers (tables) moved per second off a drain target or a removed capture (default 5). */
  moveRatePerSec?: number;
  /** Maintainers moved per second (default moveRatePerSec). */
  maintainerMoveRatePerSec?: number;
  /** Units per second moved onto under-loaded captures (default moveRatePerSec). */
  rebalanceRatePerSec?: number;
  /** Scheduler tick in simulated ms (default 100). */
  tickMs?: number;
  /** New arch clear handshake after a drained target left (default 1000 simulated ms). */
  clearHandshakeMs?: number;
  /** No owner for this long after the owner resigned or died (default 10, as v8.5.7 §9 Resign). */
  electionDelayMs?: number;
  /** A capture whose process got SIGTERM stays listed this long (default 5000, §9 Departure). */
  sigtermDepartureMs?: number;
  /** A killed capture stays listed this long: the etcd session TTL (default 14000, §9 Departure). */
  sigkillDepartureMs?: number;
  /** A new coordinator is not bootstrapped for this long (default 200). */
  bootstrapDelayMs?: number;
  /** Chance a resigning owner wins again while another capture is Alive (default 0, as v8.5.7 §9). */
  reelectProbability?: number;
  /** Old arch: 503 ErrServerIsNotReady for this long after a capture joined (default 0). */
  readyDelayMs?: number;
  /** Reported server version (default per mode: v8.5.7, v9.0.0-alpha, v8.5.6, v7.5.0). */
  version?: string;
  host?: string;
  /** Main listener port (default 0: any free port). */
  port?: number;
  /** One extra listener per capture: `<capture url>/api/v2/status` is that capture's status. */
  perCaptureListeners?: boolean;
  tls?: TlsOptions;
  /** New arch `client-user-required`: basic auth on the drain route. */
  credentials?: Credentials;
  /** Registry fed by Kubernetes pods instead of static captures. */
  kube?: KubeOptions;
  /** Registry fed by this pod source (tests); takes precedence over `kube`'s real watch. */
  podSource?: PodSource;
  /** Default: RealClock(timeScale). */
  clock?: Clock;
  /** Simulated ms per real ms for the default clock (default 1). */
  timeScale?: number;
  /** Seed of every random draw (default: time-based). */
  seed?: number;
  faults?: FaultPatch;
  /** Logs state changes (joins, leaves, owner changes, drains, violations). */
  logger?: Logger;
  /**
   * Called once per TiCDC API request (not `/sim/` control requests) when its answer went out:
   * arrival time (Date.now()), method, path and HTTP status (0: connection reset, no answer).
   */
  onRequest?: (r: SimRequestRecord) => void;
}

export interface SimRequestRecord {
  at: number;
  method: string;
  path: string;
  status: number;
}

interface CaptureListener {
  listener: Listener;
  /** Bound once the capture has joined. */
  captureId: string | undefined;
}

/** `/capture/<advertise address>/<path>`: the request goes to that capture's own process. */
const CAPTURE_PREFIX = /^\/capture\/([^/]+)(\/.*)?$/;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const num = (v: number | undefined, dflt: number, name: string, min = 0): number => {
  const x = v ?? dflt;
  if (!Number.isFinite(x) || x < min) throw new RangeError(`${name} must be a number >= ${min}, got ${v}`);
  return x;
};

export class TicdcSimulator implements SimControl {
  private main: Listener | undefined;
  private readonly perCapture = new Map<string, CaptureListener>();
  private readonly pendingListeners = new Set<Promise<unknown>>();
  private suppressAutoListener = false;
  private staticSeq = 0;
  private stopTicker: (() => void) | undefined;
  private podSource: PodSource | undefined;
  private stopped = false;

  private constructor(
    readonly cluster: Cluster,
    private readonly flavor: Flavor,
    private readonly injector: FaultInjector,
    readonly clock: Clock,
    private readonly rng: Rng,
    private readonly opts: SimulatorOptions,
  ) {}

  static async start(opts: SimulatorOptions = {}): Promise<TicdcSimulator> {
    const mode = opts.mode ?? 'newarch';
    if (!SIM_MODES.includes(mode)) throw new RangeError(`unknown mode ${String(mode)}`);
    const clock = opts.clock ?? new RealClock(opts.timeScale ?? 1);
    const rng = new Rng(opts.seed);
    const moveRate = num(opts.moveRatePerSec, 5, 'moveRatePerSec');
    const reelect = num(opts.reelectProbability, 0, 'reelectProbability');
    if (reelect > 1) throw new RangeError('reelectProbability must be <= 1');
    const cluster = new Cluster(
      {
        changefeeds: Math.floor(num(opts.changefeeds, 3, 'changefeeds')),
        tablesPerChangefeed: Math.floor(num(opts.tablesPerChangefeed, 8, 'tablesPerChangefeed')),
        moveRatePerSec: moveRate,
        maintainerMoveRatePerSec: num(opts.maintainerMoveRatePerSec, moveRate, 'maintainerMoveRatePerSec'),
        rebalanceRatePerSec: num(opts.rebalanceRatePerSec, moveRate, 'rebalanceRatePerSec'),
        electionDelayMs: num(opts.electionDelayMs, 10, 'electionDelayMs'),
        sigtermDepartureMs: num(opts.sigtermDepartureMs, 5000, 'sigtermDepartureMs'),
        sigkillDepartureMs: num(opts.sigkillDepartureMs, 14_000, 'sigkillDepartureMs'),
        bootstrapDelayMs: num(opts.bootstrapDelayMs, 200, 'bootstrapDelayMs'),
        reelectProbability: reelect,
        readyDelayMs: num(opts.readyDelayMs, 0, 'readyDelayMs'),
        hasMaintainers: mode !== 'tiflow',
      },
      clock,
      rng,
    );
    const injector = new FaultInjector(rng);
    const flavor = createFlavor(mode, cluster, {
      faults: () => injector.config,
      ...(opts.version !== undefined && { version: opts.version }),
      ...(opts.credentials !== undefined && { credentials: opts.credentials }),
      clearHandshakeMs: num(opts.clearHandshakeMs, 1000, 'clearHandshakeMs'),
    });
    cluster.policy = flavor;
    const sim = new TicdcSimulator(cluster, flavor, injector, clock, rng, opts);
    if (opts.faults) sim.setFaults(opts.faults);
    sim.wireEvents();
    try {
      sim.main = await listen(
        sim.requestListener(undefined),
        opts.host ?? '127.0.0.1',
        opts.port ?? 0,
        opts.tls,
      );
      if (opts.podSource || opts.kube) {
        await sim.startPodRegistry();
      } else {
        const names = opts.captureNames ?? [];
        const n = Math.max(names.length, Math.floor(num(opts.captures, 3, 'captures')));
        const legacyFrom = n - Math.floor(num(opts.legacyCaptures, 0, 'legacyCaptures'));
        for (let i = 0; i < n; i++) {
          const name = names[i];
          await sim.addStatic(
            { ...(name !== undefined && { name }), ...(i >= legacyFrom && { legacy: true }) },
            true,
          );
        }
        cluster.placeInitial();
      }
      sim.stopTicker = clock.every(num(opts.tickMs, 100, 'tickMs', 1), () => cluster.tick());
    } catch (err) {
      await sim.stop();
      throw err;
    }
    return sim;
  }

  // ---- HTTP ------------------------------------------------------------------------------

  get url(): string {
    if (!this.main) throw new SimError(500, 'simulator is not listening');
    return this.main.url;
  }

  get mode(): SimMode {
    return this.flavor.mode;
  }

  /** `fixed` is the per-capture listener's binding; undefined for the service listener. */
  private requestListener(fixed: CaptureListener | undefined) {
    return (req: http.IncomingMessage, res: http.ServerResponse) => {
      const record = this.opts.onRequest;
      const path = (req.url ?? '/').split('?')[0]!;
      if (record && path !== '/sim' && !path.startsWith('/sim/')) {
        const at = Date.now();
        const method = req.method ?? 'GET';
        res.on('close', () =>
          record({ at, method, path, status: res.headersSent && res.writableFinished ? res.statusCode : 0 }),
        );
      }
      this.serve(req, res, fixed).catch((err: unknown) => {
        this.opts.logger?.error({ err }, 'simulator request failed');
        if (!res.headersSent) send(res, errs.internal(500));
        else res.destroy();
      });
    };
  }

  private async serve(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    fixed: CaptureListener | undefined,
  ) {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    let path = url.pathname;
    if (path === '/sim' || path.startsWith('/sim/')) {
      const ctl = { method: req.method ?? 'GET', path, query: url.searchParams, headers: req.headers, body };
      send(res, await handleControl(this, ctl));
      return;
    }
    this.cluster.refresh();
    // The capture a request is addressed to: `/capture/<advertise address>/...` (a base URL for
    // clients that map addresses to URLs), else the Host (a proxy-style or DNS-mapped request).
    let addressed: string | undefined;
    const prefixed = CAPTURE_PREFIX.exec(path);
    if (!fixed && prefixed) {
      addressed = decodeURIComponent(prefixed[1]!);
      path = prefixed[2] || '/';
    } else if (!fixed) {
      const host = req.headers.host;
      if (host !== undefined && this.cluster.byAddress(host)) addressed = host;
    }
    const simReq: SimRequest = {
      method: req.method ?? 'GET',
      path,
      query: url.searchParams,
      headers: req.headers,
      body,
    };
    const receiver = this.receiverOf(simReq, fixed, addressed);
    if (!receiver) return reset(req); // no process behind this address: like a refused connection
    const f = this.injector;
    const cfg = f.config;
    const faulty = f.applies(simReq.path);
    const mixed = faulty ? f.drawMixed() : undefined;
    if (faulty && cfg.latencyMs > 0) await sleep(cfg.latencyMs);
    if (mixed === 'timeout') await sleep(cfg.hangMs);
    if (mixed === 'reset-before' || (faulty && f.drawReset())) return reset(req);
    if (mixed === 'error') return send(res, errs.internal(f.mixedErrorStatus()));
    if (mixed === 'garbled-400') return send(res, { ...errs.internal(400), body: f.garble() });
    if (faulty && f.drawError()) return send(res, errs.internal(cfg.errorStatus));
    let answer = handleApi(this.cluster, this.flavor, receiver, simReq, {
      forwardLoop: faulty && cfg.forwardLoop,
    });
    if (mixed === 'reset-after') return reset(req); // handled, but the answer is lost
    if (mixed === 'truncated') answer = { ...answer, body: f.truncate(answer.body) };
    else if (mixed === 'wrong-types') answer = { ...answer, body: f.mangle(answer.body, 'wrong-types') };
    else if (faulty && f.drawMalformed()) answer = { ...answer, body: f.mangle(answer.body) };
    send(res, answer);
  }

  /**
   * The capture a request lands on: the per-capture listener's capture, else the capture named
   * by the sim-only `X-Sim-Capture` header (id or address), else the addressed capture (path
   * prefix or Host), else a random running member (the Service). Undefined when no process runs
   * there (an exited capture still listed answers nothing).
   */
  private receiverOf(
    req: SimRequest,
    fixed: CaptureListener | undefined,
    addressed: string | undefined,
  ): Capture | undefined {
    const live = (c: Capture | undefined) => (c && running(c) ? c : undefined);
    if (fixed) return fixed.captureId === undefined ? undefined : live(this.cluster.get(fixed.captureId));
    const wanted = header(req, 'x-sim-capture') ?? addressed;
    if (wanted !== undefined) return live(this.cluster.get(wanted) ?? this.cluster.byAddress(wanted));
    return this.rng.pick(this.cluster.processes());
  }

  private async openCaptureListener(): Promise<CaptureListener> {
    const entry: CaptureListener = { listener: undefined as unknown as Listener, captureId: undefined };
    entry.listener = await listen(
      this.requestListener(entry),
      this.opts.host ?? '127.0.0.1',
      0,
      this.opts.tls,
    );
    return entry;
  }

  // ---- registry ---------------------------------------------------------------------------

  private wireEvents(): void {
    this.cluster.on((e) => {
      this.log(e);
      if (!this.opts.perCaptureListeners) return;
      if (e.type === 'capture-joined' && !this.suppressAutoListener) {
        const p = this.openCaptureListener()
          .then(async (entry) => {
            if (this.stopped || !this.cluster.get(e.captureId)) return entry.listener.close();
            entry.captureId = e.captureId;
            this.perCapture.set(e.captureId, entry);
          })
          .catch((err: unknown) => this.opts.logger?.error({ err }, 'per-capture listener failed'))
          .finally(() => this.pendingListeners.delete(p));
        this.pendingListeners.add(p);
      } else if (e.type === 'capture-left') {
        const entry = this.perCapture.get(e.captureId);
        this.perCapture.delete(e.captureId);
        void entry?.listener.close();
      }
    });
  }

  private log(e: SimEvent): void {
    const l = this.opts.logger;
    if (!l) return;
    if (e.type === 'violation')
      l.warn({ event: e.type, ...e.violation }, 'capture removed while holding work');
    else l.info({ ...e, event: e.type, type: undefined }, e.type);
  }

  private async startPodRegistry(): Promise<void> {
    const kube = this.opts.kube;
    const registry = new PodCaptureRegistry(this.cluster, {
      ...(kube?.addressTemplate !== undefined && { addressTemplate: kube.addressTemplate }),
      ...(kube?.service !== undefined && { service: kube.service }),
      ...(kube?.namespace !== undefined && { namespace: kube.namespace }),
    });
    this.podSource =
      this.opts.podSource ??
      new KubePodSource({
        namespace: kube!.namespace,
        ...(kube!.kubeconfigPath !== undefined && { kubeconfigPath: kube!.kubeconfigPath }),
        ...(kube!.selector !== undefined && { selector: kube!.selector }),
        ...(kube!.retryDelayMs !== undefined && { retryDelayMs: kube!.retryDelayMs }),
        ...(this.opts.logger !== undefined && { logger: this.opts.logger }),
      });
    await this.podSource.start(registry);
  }

  private get isStatic(): boolean {
    return this.opts.podSource === undefined && this.opts.kube === undefined;
  }

  private async addStatic(spec: StaticCaptureSpec, bootstrapNow: boolean): Promise<Capture> {
    if (spec.legacy && this.flavor.mode !== 'newarch') {
      throw new SimError(400, 'legacy captures exist only in newarch mode (a rolling upgrade from the stub)');
    }
    const seq = this.staticSeq++;
    const name = spec.name ?? `capture-${seq}`;
    let entry: CaptureListener | undefined;
    let address = spec.address;
    if (this.opts.perCaptureListeners) {
      entry = await this.openCaptureListener();
      address ??= `${entry.listener.host}:${entry.listener.port}`;
    }
    address ??=
      spec.name !== undefined
        ? spec.name.includes(':')
          ? spec.name
          : `${spec.name}:8300`
        : `${name}.ticdc-sim:8300`;
    this.suppressAutoListener = true;
    let capture: Capture;
    try {
      capture = this.cluster.join({ address, name, ...(spec.legacy && { legacy: true }) }, { bootstrapNow });
    } finally {
      this.suppressAutoListener = false;
    }
    if (entry) {
      entry.captureId = capture.id;
      this.perCapture.set(capture.id, entry);
    }
    return capture;
  }

  private resolve(idOrAddress: string): Capture {
    const c = this.cluster.get(idOrAddress) ?? this.cluster.byAddress(idOrAddress);
    if (!c) throw new SimError(404, `no capture ${idOrAddress}`);
    return c;
  }

  // ---- programmatic API ---------------------------------------------------------------------

  /** A new capture process joins (static registry only). */
  async addCapture(spec: StaticCaptureSpec = {}): Promise<CaptureView> {
    if (!this.isStatic) throw new SimError(409, 'captures come from Kubernetes pods in this simulator');
    const c = await this.addStatic(spec, false);
    return this.view(c);
  }

  /**
   * The capture's process gets `signal` (no drain, §2.5, §4.8): SIGTERM (default) leaves the list
   * after sigtermDepartureMs, SIGKILL after sigkillDepartureMs (§9 Departure). Returns the
   * violation recorded if it still held work (a real one: not injected).
   */
  async removeCapture(idOrAddress: string, signal: ExitSignal = 'SIGTERM'): Promise<Violation | undefined> {
    if (!this.isStatic) throw new SimError(409, 'delete the pod instead: captures come from Kubernetes pods');
    this.cluster.refresh();
    return this.cluster.exit(
      this.resolve(idOrAddress).id,
      signal === 'SIGKILL' ? 'killed' : 'removed',
      signal,
    );
  }

  /**
   * Crash injection: the process is killed holding its work (recorded with injected: true); the
   * capture stays listed for sigkillDepartureMs. Works for Kubernetes captures too.
   */
  crash(idOrAddress: string): Violation | undefined {
    this.cluster.refresh();
    return this.cluster.exit(this.resolve(idOrAddress).id, 'crash-injected', 'SIGKILL');
  }

  /**
   * Forced coordinator failover; the drain session is lost (§4.3). `resign`: the owner steps down
   * and does not win this election (unless it is the only alive capture); `crash`: the owner dies.
   * Returns the previous owner's id.
   */
  failover(kind: 'resign' | 'crash' = 'resign'): string | null {
    this.cluster.refresh();
    const owner = this.cluster.owner;
    if (!owner) return null;
    if (kind === 'crash') this.cluster.exit(owner.id, 'crash-injected', 'SIGKILL');
    else this.cluster.resign({ excludeSelf: true });
    return owner.id;
  }

  /**
   * newarch: marks a capture as a pre-v8.5.7 process (drain protocol version 0, §4.9). While any
   * alive capture is legacy, a v8.5.7 coordinator answers every drain 0 at once and drains nothing
   * (legacy fallback, §9); a legacy coordinator serves the stub.
   */
  setLegacy(idOrAddress: string, legacy = true): CaptureView {
    if (this.flavor.mode !== 'newarch') throw new SimError(400, 'legacy captures exist only in newarch mode');
    this.cluster.refresh();
    const c = this.resolve(idOrAddress);
    c.legacy = legacy;
    this.opts.logger?.info({ event: 'legacy-changed', captureId: c.id, legacy }, 'legacy-changed');
    return this.view(c);
  }

  /**
   * Another tool (TiUP, the CLI) drains `idOrAddress` through the coordinator, bypassing this
   * simulator's HTTP faults: on newarch the session it opens makes drains of every other capture
   * answer 1 until that capture leaves (§4.3, §9). Returns the answer that tool got.
   */
  holdDrainSession(idOrAddress: string): { status: number; body: unknown } {
    this.cluster.refresh();
    const c = this.resolve(idOrAddress);
    if (!this.flavor.externalDrain) throw new SimError(409, `mode ${this.mode} has no drain session`);
    const r = this.flavor.externalDrain(c.id);
    let body: unknown = r.body;
    try {
      body = JSON.parse(r.body);
    } catch {
      // not JSON: keep the text
    }
    return { status: r.status, body };
  }

  /** Like the resign API: the owner may win again (reelectProbability). */
  resignOwner(): string | null {
    this.cluster.refresh();
    return this.cluster.resign();
  }

  faults(): FaultConfig {
    return this.injector.config;
  }

  setFaults(patch: FaultPatch): FaultConfig {
    const cfg = this.injector.set(patch);
    this.cluster.stalled = cfg.stall;
    this.cluster.leaderlessMs = cfg.leaderlessMs;
    this.opts.logger?.info({ event: 'faults-changed', faults: cfg }, 'faults-changed');
    return cfg;
  }

  clearFaults(): FaultConfig {
    const cfg = this.injector.clear();
    this.cluster.stalled = false;
    this.cluster.leaderlessMs = 0;
    this.opts.logger?.info({ event: 'faults-changed', faults: cfg }, 'faults-changed');
    return cfg;
  }

  violations(): Violation[] {
    return this.cluster.violations.map((v) => ({ ...v }));
  }

  /** Violations not caused by crash injection: each one is a capture that lost work. */
  unintendedViolations(): Violation[] {
    return this.violations().filter((v) => !v.injected);
  }

  private view(c: Capture): CaptureView {
    const url = this.perCapture.get(c.id)?.listener.url;
    return {
      id: c.id,
      address: c.address,
      ...(c.name !== undefined && { name: c.name }),
      ...(c.podName !== undefined && { podName: c.podName }),
      ...(c.podUid !== undefined && { podUid: c.podUid }),
      pid: c.pid,
      isOwner: this.cluster.owner?.id === c.id,
      liveness: c.liveness,
      livenessCode: this.flavor.livenessCode(c.liveness),
      ready: this.cluster.isReady(c),
      legacy: c.legacy === true,
      joinedAt: c.joinedAt,
      ...(c.exit !== undefined && { exit: { ...c.exit } }),
      ...this.cluster.countsOf(c.id),
      ...(url !== undefined && { url }),
    };
  }

  captures(): CaptureView[] {
    this.cluster.refresh();
    return this.cluster.list().map((c) => this.view(c));
  }

  capture(idOrAddress: string): CaptureView | undefined {
    const c = this.cluster.get(idOrAddress) ?? this.cluster.byAddress(idOrAddress);
    return c && this.view(c);
  }

  state(): SimState {
    const c = this.cluster;
    c.refresh();
    return {
      mode: this.flavor.mode,
      version: this.flavor.version,
      url: this.main?.url ?? '',
      time: c.now(),
      owner: c.owner?.id ?? null,
      bootstrapped: c.bootstrapped(),
      electionPending: c.electionPending(),
      frozen: this.flavor.frozen(),
      stalled: c.stalled,
      captures: this.captures(),
      changefeeds: c.changefeedCount(),
      tables: c.tableCount(),
      orphans: c.orphans(),
      drain: this.flavor.snapshot(),
      violations: c.violations.length,
      faults: this.injector.config,
    };
  }

  /** URL of a capture's own listener (perCaptureListeners), by id or advertise address. */
  captureUrl(idOrAddress: string): string | undefined {
    const c = this.cluster.get(idOrAddress) ?? this.cluster.byAddress(idOrAddress);
    return c && this.perCapture.get(c.id)?.listener.url;
  }

  /**
   * Base URL that reaches the process at an advertise address, as a client asking that address
   * directly would (e.g. a node-local `/api/v2/status`): the capture's own listener when it has
   * one, else `<url>/capture/<address>` on the main listener. An address without a running process
   * behind it resets the connection (like a refused one). Fit for the operator's `resolveAddress`.
   */
  resolveAddress(address: string): string {
    const c = this.cluster.byAddress(address);
    const own = c && this.perCapture.get(c.id)?.listener.url;
    return own ?? `${this.url}/capture/${encodeURIComponent(address)}`;
  }

  /** Advertise address → per-capture URL, for clients that reach a capture by its address. */
  addressMap(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const c of this.cluster.list()) {
      const url = this.perCapture.get(c.id)?.listener.url;
      // Two captures at one address (a restarted pod's old key lingers): the running one wins.
      if (url !== undefined && (out[c.address] === undefined || running(c))) out[c.address] = url;
    }
    return out;
  }

  /** Waits until per-capture listeners of joined captures are open (kube registry opens them async). */
  async settled(): Promise<void> {
    for (let i = 0; i < 100 && this.pendingListeners.size > 0; i++)
      await Promise.all([...this.pendingListeners]);
  }

  /** One scheduler step now, in addition to the periodic ones. */
  tick(): void {
    this.cluster.tick();
  }

  /** Moves a ManualClock forward (ticks fire on the way). */
  advance(ms: number): void {
    if (!(this.clock instanceof ManualClock)) throw new SimError(409, 'advance needs a ManualClock');
    this.clock.advance(ms);
  }

  on(listener: (e: SimEvent) => void): () => void {
    return this.cluster.on(listener);
  }

  /** Polls state (real time) until `predicate` holds. */
  async waitFor(predicate: (s: SimState) => boolean, timeoutMs = 10_000, intervalMs = 20): Promise<SimState> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.state();
      if (predicate(s)) return s;
      if (Date.now() >= deadline) throw new SimError(504, `condition not reached within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopTicker?.();
    await this.podSource?.stop();
    await this.settled();
    await Promise.all([...this.perCapture.values()].map((e) => e.listener.close()));
    this.perCapture.clear();
    await this.main?.close();
  }
}
