// HTTP endpoints for Prometheus and the kubelet: /metrics, /healthz (liveness: the process and its
// informers are not wedged), /readyz (readiness: this replica serves what every replica serves, the
// admission webhook; caches synced when there is no leader election) and /leaderz (this replica holds
// the lease and its controllers run on synced caches; also the capture_drain_leader_ready gauge).
// Checks follow controller-runtime's healthz.Checker: a function that throws (or returns an error
// string / false) to fail. `?verbose` lists every check, as the API server's probes do.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { silentLogger } from './logger.js';
import { getOrCreateGauge } from './metrics.js';

/** Fails by throwing, returning false, or returning a non-empty message. */
export type Checker = () => void | boolean | string | Promise<void | boolean | string>;

export interface ProbeServerOptions {
  registry: Registry;
  port: number;
  host?: string;
  logger?: Logger;
  healthChecks?: Record<string, Checker>;
  readyChecks?: Record<string, Checker>;
  /** Checks of /leaderz and the capture_drain_leader_ready gauge; none: never leader-ready. */
  leaderChecks?: Record<string, Checker>;
  /** How long a single check may take before it counts as failed. Default 5 s. */
  checkTimeoutMs?: number;
}

export class ProbeServer {
  private readonly server: Server;
  private readonly health = new Map<string, Checker>();
  private readonly ready = new Map<string, Checker>();
  private readonly leader = new Map<string, Checker>();
  private readonly log: Logger;
  private shuttingDown = false;

  constructor(private readonly opts: ProbeServerOptions) {
    this.log = (opts.logger ?? silentLogger()).child({ component: 'probe-server' });
    this.health.set('ping', () => undefined);
    this.ready.set('shutdown', () => (this.shuttingDown ? 'shutting down' : undefined));
    for (const [n, c] of Object.entries(opts.healthChecks ?? {})) this.health.set(n, c);
    for (const [n, c] of Object.entries(opts.readyChecks ?? {})) this.ready.set(n, c);
    for (const [n, c] of Object.entries(opts.leaderChecks ?? {})) this.leader.set(n, c);
    const leaderReady = () => this.leaderReady();
    getOrCreateGauge(opts.registry, {
      name: 'capture_drain_leader_ready',
      help: 'Whether this replica holds the leader lease and runs its controllers on synced caches (as /leaderz).',
      async collect() {
        this.set((await leaderReady()) ? 1 : 0);
      },
    });
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error({ err }, 'Probe handler failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    this.server.keepAliveTimeout = 5_000;
  }

  addHealthCheck(name: string, check: Checker): void {
    this.health.set(name, check);
  }

  addReadyCheck(name: string, check: Checker): void {
    this.ready.set(name, check);
  }

  addLeaderCheck(name: string, check: Checker): void {
    this.leader.set(name, check);
  }

  /** Whether /leaderz passes: at least one leader check, all passing. */
  async leaderReady(): Promise<boolean> {
    if (this.leader.size === 0) return false;
    const errors = await Promise.all([...this.leader.values()].map((c) => this.run(c)));
    return errors.every((e) => e === undefined);
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host ?? '0.0.0.0', () => {
        this.server.off('error', reject);
        const port = (this.server.address() as AddressInfo).port;
        this.log.info({ port }, 'Serving metrics and probes');
        resolve(port);
      });
    });
  }

  /** Fail /readyz from now on (call first on SIGTERM so traffic drains). */
  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  /** Stops accepting connections, lets in-flight requests finish (bounded), then closes. */
  async close(graceMs = 5_000): Promise<void> {
    this.shuttingDown = true;
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const t = setTimeout(() => this.server.closeAllConnections(), graceMs);
    t.unref();
    await closed;
    clearTimeout(t);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    switch (url.pathname) {
      case '/metrics': {
        const body = await this.opts.registry.metrics();
        res.writeHead(200, { 'Content-Type': this.opts.registry.contentType }).end(body);
        return;
      }
      case '/healthz':
      case '/livez':
        return this.respondChecks(this.health, url, res);
      case '/readyz':
        return this.respondChecks(this.ready, url, res);
      case '/leaderz':
        if (this.leader.size === 0) {
          res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('no leader checks\n');
          return;
        }
        return this.respondChecks(this.leader, url, res);
      default:
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    }
  }

  private async respondChecks(checks: Map<string, Checker>, url: URL, res: ServerResponse): Promise<void> {
    const exclude = new Set(url.searchParams.getAll('exclude'));
    const results = await Promise.all(
      [...checks]
        .filter(([name]) => !exclude.has(name))
        .map(async ([name, check]) => ({ name, error: await this.run(check) })),
    );
    const failed = results.filter((r) => r.error !== undefined);
    const ok = failed.length === 0;
    let body: string;
    if (url.searchParams.has('verbose') || !ok) {
      body = results
        .map((r) => (r.error === undefined ? `[+]${r.name} ok` : `[-]${r.name} failed: ${r.error}`))
        .join('\n');
      body += ok ? '\nhealthz check passed\n' : '\nhealthz check failed\n';
    } else {
      body = 'ok';
    }
    if (!ok) this.log.debug({ failed: failed.map((f) => f.name), path: url.pathname }, 'Probe failed');
    res
      .writeHead(ok ? 200 : 500, {
        'Content-Type': 'text/plain; charset=utf-8',
        'X-Content-Type-Options': 'nosniff',
      })
      .end(body);
  }

  /** undefined = passed, otherwise the failure reason. */
  private async run(check: Checker): Promise<string | undefined> {
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      t = setTimeout(() => resolve('timed out'), this.opts.checkTimeoutMs ?? 5_000);
    });
    try {
      const r = await Promise.race([Promise.resolve().then(check), timeout]);
      if (r === false) return 'check returned false';
      if (typeof r === 'string' && r) return r;
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(t);
    }
  }
}

export function createProbeServer(opts: ProbeServerOptions): ProbeServer {
  return new ProbeServer(opts);
}

/** Readiness check: every informer has synced. */
export function syncedCheck(source: { hasSynced(): boolean }): Checker {
  return () => (source.hasSynced() ? undefined : 'informer caches not synced');
}

/** Liveness check: no informer loop is wedged. */
export function informersHealthyCheck(source: { isHealthy(): boolean }): Checker {
  return () => (source.isHealthy() ? undefined : 'an informer has made no progress for too long');
}
