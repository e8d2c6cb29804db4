// Transport: one keep-alive undici Pool per origin, a deadline per request, basic auth, and the
// onRequest hook. It returns raw answers; client.ts interprets them per route.
import { Pool } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { type CallSite, type Redactor, kindOfStatus, parseErrorBody, transportError } from './errors.js';
import type { TicdcRequestInfo, TicdcTlsOptions } from './options.js';
import type { Route } from './routes.js';
import { TicdcError, isTicdcError } from './types.js';

/** Where requests go: an origin (pooled) and an optional path prefix. No userinfo. */
export interface Target {
  origin: string;
  basePath: string;
}

export interface RawResponse {
  status: number;
  text: string;
}

export interface TransportConfig {
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  tls?: TicdcTlsOptions;
  /** Full `Authorization` header value, if any. */
  authorization?: string;
  userAgent: string;
  onRequest?: (info: TicdcRequestInfo) => void;
  redact: Redactor;
}

/** Captures are few; addresses of restarted pods may change, so old pools are closed past this. */
const MAX_POOLS = 32;
/** Capture lists and status bodies are small; refuse anything absurd. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** Parses a base URL: http(s) only, userinfo stripped (it is returned apart), no query or fragment. */
export function parseBaseUrl(url: string): { target: Target; username?: string; password?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TicdcError(
      'InvalidRequest',
      'TiCDC endpoint is not a valid URL (expected http(s)://host:port)',
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new TicdcError('InvalidRequest', `TiCDC endpoint scheme ${u.protocol} is not http: or https:`);
  const basePath = u.pathname.replace(/\/+$/, '');
  return {
    target: { origin: u.origin, basePath },
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

export class Transport {
  private readonly pools = new Map<string, Pool>();
  private closed = false;

  constructor(private readonly cfg: TransportConfig) {}

  private pool(origin: string): Pool {
    const existing = this.pools.get(origin);
    if (existing) {
      this.pools.delete(origin); // most recently used last
      this.pools.set(origin, existing);
      return existing;
    }
    const { tls } = this.cfg;
    const https = origin.startsWith('https:');
    const pool = new Pool(origin, {
      connections: 4,
      // TiCDC shares its port between HTTP and gRPC (cmux, docs/ticdc-api.md §1 "One port"): stay on HTTP/1.1.
      allowH2: false,
      connectTimeout: this.cfg.connectTimeoutMs,
      // Backstops only: the per-request deadline below is the real bound.
      headersTimeout: this.cfg.requestTimeoutMs + 1000,
      bodyTimeout: this.cfg.requestTimeoutMs + 1000,
      maxResponseSize: MAX_RESPONSE_BYTES,
      ...(https && tls
        ? {
            connect: {
              ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
              ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
              ...(tls.key !== undefined ? { key: tls.key } : {}),
              ...(tls.serverName ? { servername: tls.serverName } : {}),
              rejectUnauthorized: !tls.insecureSkipVerify,
            },
          }
        : {}),
    });
    this.pools.set(origin, pool);
    while (this.pools.size > MAX_POOLS) {
      const [oldest, old] = this.pools.entries().next().value as [string, Pool];
      this.pools.delete(oldest);
      old.close().catch(() => undefined);
    }
    return pool;
  }

  /**
   * Sends one request and hands the raw answer to `interpret`, which returns a value or throws a
   * TicdcError. Transport failures become TicdcErrors here. The hook sees exactly one outcome.
   */
  async exchange<T>(
    target: Target,
    route: Route,
    path: string,
    body: string | undefined,
    interpret: (res: RawResponse, site: CallSite) => T,
  ): Promise<T> {
    const site: CallSite = { route: route.template, origin: target.origin };
    const started = performance.now();
    let status: number | undefined;
    let outcome: TicdcRequestInfo['outcome'] = 'Transient';
    try {
      const res = await this.send(target, route, path, body, site);
      status = res.status;
      const value = interpret(res, site);
      outcome =
        res.status >= 200 && res.status < 300
          ? 'ok'
          : kindOfStatus(res.status, parseErrorBody(res.text), res.text);
      return value;
    } catch (err) {
      const e = isTicdcError(err) ? err : transportError(site, err, this.cfg.redact);
      outcome = e.kind;
      throw e;
    } finally {
      this.report({
        route: route.template,
        method: route.method,
        outcome,
        ...(status !== undefined ? { status } : {}),
        durationMs: performance.now() - started,
      });
    }
  }

  private report(info: TicdcRequestInfo): void {
    try {
      this.cfg.onRequest?.(info);
    } catch {
      // Metrics must never break a drain.
    }
  }

  private async send(
    target: Target,
    route: Route,
    path: string,
    body: string | undefined,
    site: CallSite,
  ): Promise<RawResponse> {
    if (this.closed)
      throw new TicdcError('InvalidRequest', `${site.route}: the TiCDC client is closed`, {
        route: site.route,
      });
    const headers: IncomingHttpHeaders = { 'user-agent': this.cfg.userAgent, accept: 'application/json' };
    if (this.cfg.authorization) headers.authorization = this.cfg.authorization;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error('deadline')), this.cfg.requestTimeoutMs);
    timer.unref();
    try {
      const res = await this.pool(target.origin).request({
        path: target.basePath + path,
        method: route.method,
        headers,
        body: body ?? null,
        signal: deadline.signal,
      });
      const text = await res.body.text();
      return { status: res.statusCode, text };
    } catch (err) {
      if (isTicdcError(err)) throw err;
      const deadlineMs = deadline.signal.aborted ? this.cfg.requestTimeoutMs : undefined;
      const e = transportError(site, err, this.cfg.redact, deadlineMs);
      // A TiCDC server with `mtls` or `cert-allowed-cn` (docs/ticdc-api.md §1 "TLS") may just close the connection
      // when no client certificate is presented. Still Transient (a restart looks the same), but say so.
      if (e.details.code === 'UND_ERR_SOCKET' && target.origin.startsWith('https:') && !this.cfg.tls?.cert)
        e.message += ' (no client certificate configured: the server may require one)';
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((p) => p.close()));
  }
}
