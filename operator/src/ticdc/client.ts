// TicdcClient over HTTP (docs/ticdc-api.md). Every answer is validated; every failure is a TicdcError.
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import {
  type CallSite,
  bodyError,
  httpError,
  isTicdcRouteAbsent,
  makeRedactor,
  parseErrorBody,
} from './errors.js';
import { type RawResponse, type Target, Transport, parseBaseUrl } from './http.js';
import type { TicdcClientOptions } from './options.js';
import { type Route, ROUTES, drainRoute, healthRoute, resignRoute, routePath } from './routes.js';
import {
  EmptyObjectSchema,
  ServerStatusSchema,
  TableDrainSchema,
  V1CaptureListSchema,
  V2CaptureListSchema,
  V2DrainSchema,
  V2DrainStatusSchema,
  describeIssues,
} from './schemas.js';
import {
  type ApiFlavor,
  type Architecture,
  type CaptureInfo,
  type DrainCounts,
  type ServerStatus,
  type TicdcClient,
  TicdcError,
  isTicdcError,
} from './types.js';

export type { TicdcClientOptions, TicdcCredentials, TicdcRequestInfo, TicdcTlsOptions } from './options.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_REQUEST_TIMEOUT_MS = 10000;
const DEFAULT_USER_AGENT = 'capture-drain-operator';
/** Prefix of the never-existing capture id used to probe the v1 drain route (docs/ticdc-api.md §4.9). */
export const PROBE_ID_PREFIX = 'capture-drain-probe-';

type Redact = (t: string) => string;

const isSuccess = (status: number) => status >= 200 && status < 300;

/** Parses a JSON body of a success answer with `schema`; anything else is Transient (docs/ticdc-api.md §0; never read as "no work"). */
function parseBody<S extends z.ZodType>(
  res: RawResponse,
  site: CallSite,
  schema: S,
  redact: Redact,
): z.infer<S> {
  if (res.text.trim() === '') throw bodyError(site, res.status, 'empty body where JSON was expected', redact);
  let json: unknown;
  try {
    json = JSON.parse(res.text);
  } catch {
    throw bodyError(site, res.status, 'body is not valid JSON (truncated or not JSON)', redact);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    throw bodyError(site, res.status, `unexpected body: ${describeIssues(parsed.error)}`, redact);
  return parsed.data;
}

/** `ok` statuses → parsed body; other 2xx → Transient; anything else → mapped error. */
function expectBody<S extends z.ZodType>(
  res: RawResponse,
  site: CallSite,
  ok: readonly number[],
  schema: S,
  redact: Redact,
): z.infer<S> {
  if (ok.includes(res.status)) return parseBody(res, site, schema, redact);
  if (isSuccess(res.status)) throw bodyError(site, res.status, 'unexpected success status', redact);
  throw httpError(site, res.status, res.text, redact);
}

/** Like `expectBody`, for answers whose body does not matter but must not be garbage: empty or a JSON object. */
function expectEmptyOrObject(res: RawResponse, site: CallSite, ok: readonly number[], redact: Redact): void {
  if (ok.includes(res.status) && res.text.trim() === '') return;
  expectBody(res, site, ok, EmptyObjectSchema, redact);
}

/** TiCDC's own route-absent answer (a proxy's 404 is Transient and never triggers a fallback). */
const is404 = (err: unknown) => isTicdcError(err) && err.details.status === 404 && err.kind === 'Unsupported';

/** Fast in-step retries of one request: a couple of tries with jitter, never after a timeout. */
export interface RetryPolicy {
  /** Extra attempts after the first. */
  retries: number;
  /** Base delay; attempt n waits base * 2^(n-1) * (0.5..1.5). */
  baseDelayMs: number;
}
export const DEFAULT_RETRY: RetryPolicy = { retries: 2, baseDelayMs: 100 };

function retryableQuickly(err: unknown): boolean {
  if (!isTicdcError(err)) return false;
  if (err.kind !== 'Transient' && err.kind !== 'NotReady') return false;
  // A request that hit its deadline already used its time: do not multiply it.
  return !/timed out after|_TIMEOUT/.test(`${err.message} ${err.details.code ?? ''}`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class HttpTicdcClient implements TicdcClient {
  readonly endpoint: string;

  constructor(
    private readonly transport: Transport,
    private readonly target: Target,
    private readonly resolveAddress: (address: string) => string | undefined,
    private readonly redact: Redact,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
    private readonly signal?: AbortSignal,
    /** The last capture list and when its request started, shared by every view of the client. */
    private readonly recent: { captures?: { at: number; list: CaptureInfo[] } } = {},
  ) {
    this.endpoint = target.origin + target.basePath;
  }

  withSignal(signal: AbortSignal): TicdcClient {
    const both = this.signal ? AbortSignal.any([this.signal, signal]) : signal;
    return new HttpTicdcClient(
      this.transport,
      this.target,
      this.resolveAddress,
      this.redact,
      this.retry,
      both,
      this.recent,
    );
  }

  withoutRetries(): TicdcClient {
    return new HttpTicdcClient(
      this.transport,
      this.target,
      this.resolveAddress,
      this.redact,
      { ...this.retry, retries: 0 },
      this.signal,
      this.recent,
    );
  }

  /**
   * One request, retried quickly on a transient failure (reset, 5xx, garbled body) when the route is
   * idempotent. Resign is not: a retried resign could resign the newly elected coordinator.
   */
  private async call<T>(
    route: Route,
    interpret: (res: RawResponse, site: CallSite) => T,
    opts: { id?: string; body?: unknown; target?: Target; once?: boolean } = {},
  ): Promise<T> {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const retries = opts.once ? 0 : this.retry.retries;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.transport.exchange(
          opts.target ?? this.target,
          route,
          routePath(route, opts.id),
          body,
          interpret,
          this.signal,
        );
      } catch (err) {
        if (attempt >= retries || this.signal?.aborted || !retryableQuickly(err)) throw err;
        const base = this.retry.baseDelayMs * 2 ** attempt;
        await sleep(Math.round(base * (0.5 + Math.random())));
        this.signal?.throwIfAborted();
      }
    }
  }

  async detectFlavor(captureId: string): Promise<ApiFlavor> {
    // 1. V2 (docs/ticdc-api.md §5): the GET status route exists. 200 with a valid body, or a TiCDC 400 (e.g. unknown
    //    capture, checked before the coordinator) → V2. 404/405 → absent. Anything else propagates.
    const isV2 = await this.call(
      ROUTES.v2DrainStatus,
      (res, site) => {
        if (res.status === 200) {
          parseBody(res, site, V2DrainStatusSchema, this.redact); // a 200 must be the real thing
          return true;
        }
        if (res.status === 400 && parseErrorBody(res.text)) return true;
        if (isTicdcRouteAbsent(res.status, res.text)) return false;
        if (isSuccess(res.status))
          throw bodyError(site, res.status, 'unexpected success status', this.redact);
        throw httpError(site, res.status, res.text, this.redact);
      },
      { id: captureId },
    );
    if (isV2) return 'V2';
    await this.checkV1Drain();
    return 'V1';
  }

  async checkV1Drain(): Promise<void> {
    // V1: probe with a capture id that never exists. A real handler answers 400
    //    ErrCaptureNotExist / ErrSchedulerRequestFailed (docs/ticdc-api.md §2.2, §4.2); the pre-v8.5.7 new-arch stub
    //    validates nothing and answers 202 (docs/ticdc-api.md §4.9); 404 means no drain route at all (docs/ticdc-api.md §6).
    const probe = `${PROBE_ID_PREFIX}${randomUUID()}`;
    await this.call(
      ROUTES.v1Drain,
      (res, site): void => {
        if (res.status === 200 || res.status === 202)
          throw new TicdcError(
            'Unsupported',
            `${site.route} on ${site.origin}: the v1 drain route is the no-op stub of new-architecture TiCDC before v8.5.7 (it accepted a non-existent capture); upgrade to v8.5.7+`,
            { status: res.status, route: site.route },
          );
        const err = res.status === 400 ? parseErrorBody(res.text) : undefined;
        const hay = `${err?.error_code ?? ''} ${err?.error_msg ?? ''}`;
        if (err && /ErrCaptureNotExist|ErrSchedulerRequestFailed/.test(hay)) return;
        if (isTicdcRouteAbsent(res.status, res.text))
          throw new TicdcError(
            'Unsupported',
            `${site.route} on ${site.origin}: HTTP ${res.status}: this TiCDC server has no drain API`,
            {
              status: res.status,
              route: site.route,
            },
          );
        if (isSuccess(res.status))
          throw bodyError(site, res.status, 'unexpected success status', this.redact);
        throw httpError(site, res.status, res.text, this.redact);
      },
      { body: { capture_id: probe } },
    );
  }

  async architecture(version?: string): Promise<Architecture> {
    // Releases before v8.5 are classic (tiflow) whatever the binary: the new architecture started there.
    const m = /^v?(\d+)\.(\d+)\./.exec(version ?? '');
    if (m && (Number(m[1]) < 8 || (Number(m[1]) === 8 && Number(m[2]) < 5))) return 'Classic';
    // The classic architecture (tiflow >= v6.6) has POST /api/v2/captures/{id}/drain and answers a
    // capture that does not exist with a TiCDC 400; the new architecture has no such route (§3).
    const probe = `${PROBE_ID_PREFIX}${randomUUID()}`;
    return this.call(
      ROUTES.v2ClassicDrain,
      (res, site): Architecture => {
        if (isTicdcRouteAbsent(res.status, res.text)) return 'NewArch';
        if (res.status >= 400 && res.status < 500 && res.status !== 401 && parseErrorBody(res.text))
          return 'Classic';
        // A 503 from a classic drain (e.g. ErrGetAllStoresFailed, §9) is still the classic route.
        if (res.status === 503 && parseErrorBody(res.text)) return 'Classic';
        if (isSuccess(res.status))
          throw bodyError(site, res.status, 'a drain of a non-existent capture succeeded', this.redact);
        throw httpError(site, res.status, res.text, this.redact);
      },
      { id: probe },
    );
  }

  async listCaptures(opts: { maxAgeMs?: number } = {}): Promise<CaptureInfo[]> {
    const at = Date.now();
    const last = this.recent.captures;
    if (last && opts.maxAgeMs !== undefined && at - last.at <= opts.maxAgeMs) return [...last.list];
    const list = await this.fetchCaptures();
    // Answers may arrive out of order: keep the one asked for last.
    if (!this.recent.captures || this.recent.captures.at <= at) this.recent.captures = { at, list };
    return [...list];
  }

  private async fetchCaptures(): Promise<CaptureInfo[]> {
    let raw: z.infer<typeof V1CaptureListSchema>;
    let route: Route = ROUTES.v2Captures;
    try {
      raw = await this.call(
        route,
        (res, site) => expectBody(res, site, [200], V2CaptureListSchema, this.redact).items,
      );
    } catch (err) {
      if (!is404(err)) throw err;
      // tiflow before v6.6 has only the v1 list (docs/ticdc-api.md §2.1).
      route = ROUTES.v1Captures;
      raw = await this.call(route, (res, site) =>
        expectBody(res, site, [200], V1CaptureListSchema, this.redact),
      );
    }
    // The answering server is itself a capture: an empty list is a bad answer, never "no captures".
    if (raw.length === 0)
      throw new TicdcError('Transient', `${route.template} on ${this.target.origin}: empty capture list`, {
        status: 200,
        route: route.template,
      });
    return raw.map((c) => ({
      id: c.id,
      isOwner: c.is_owner,
      address: c.address,
      ...(c.cluster_id !== undefined ? { clusterId: c.cluster_id } : {}),
    }));
  }

  async resignOwner(flavor: ApiFlavor): Promise<void> {
    // v2: 200 {}; v1: 202 {} (new arch) or 202 empty (tiflow) (docs/ticdc-api.md §2.1, §3).
    await this.call(
      resignRoute(flavor),
      (res, site) => expectEmptyOrObject(res, site, [200, 202], this.redact),
      {
        once: true,
      },
    );
  }

  async drain(flavor: ApiFlavor, captureId: string): Promise<DrainCounts> {
    const route = drainRoute(flavor);
    const ok = [200, 202];
    switch (flavor) {
      case 'V2':
        return this.call(
          route,
          (res, site) => {
            const b = expectBody(res, site, ok, V2DrainSchema, this.redact);
            return { maintainers: b.current_maintainer_count, dispatchers: b.current_dispatcher_count };
          },
          { id: captureId },
        );
      case 'V1':
        return this.call(
          route,
          (res, site) => ({
            tables: expectBody(res, site, ok, TableDrainSchema, this.redact).current_table_count,
          }),
          { body: { capture_id: captureId } },
        );
      case 'V2Classic':
        return this.call(
          route,
          (res, site) => ({
            tables: expectBody(res, site, ok, TableDrainSchema, this.redact).current_table_count,
          }),
          { id: captureId },
        );
    }
  }

  async health(flavor: ApiFlavor): Promise<void> {
    // 200 {} (v2) or 200 empty (tiflow v1); 500 ErrClusterIsUnhealthy → NotReady (docs/ticdc-api.md §2.5, §4.7).
    await this.call(healthRoute(flavor), (res, site) => expectEmptyOrObject(res, site, [200], this.redact));
  }

  async serverStatus(address?: string): Promise<ServerStatus> {
    const target =
      address === undefined
        ? this.target
        : parseBaseUrl(this.resolveAddress(address) ?? `${this.target.origin.split(':')[0]}://${address}`)
            .target;
    const read = (route: Route) =>
      this.call(route, (res, site) => expectBody(res, site, [200], ServerStatusSchema, this.redact), {
        target,
      });
    let s: z.infer<typeof ServerStatusSchema>;
    try {
      s = await read(ROUTES.v2Status);
    } catch (err) {
      if (!is404(err)) throw err;
      s = await read(ROUTES.legacyStatus); // tiflow before v6.6 (docs/ticdc-api.md §2.1)
    }
    return {
      version: s.version,
      id: s.id,
      isOwner: s.is_owner,
      ...(s.git_hash !== undefined ? { gitHash: s.git_hash } : {}),
      ...(s.cluster_id !== undefined ? { clusterId: s.cluster_id } : {}),
      ...(s.pid !== undefined ? { pid: s.pid } : {}),
      ...(s.liveness !== undefined ? { liveness: s.liveness } : {}),
    };
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new TicdcError('InvalidRequest', `${name} must be a positive number`);
  return value;
}

/**
 * Creates a client for one TiCDC cluster. Throws TicdcError('InvalidRequest') for a bad endpoint or
 * options (no network I/O happens here).
 */
export function createTicdcClient(opts: TicdcClientOptions): TicdcClient {
  const { target, username, password } = parseBaseUrl(opts.endpoint);
  const scheme = target.origin.startsWith('https:') ? 'https' : 'http';
  if (scheme === 'http' && opts.tls && (opts.tls.ca || opts.tls.cert || opts.tls.key))
    throw new TicdcError(
      'InvalidRequest',
      'TLS options were given but the TiCDC endpoint is http://; use https://',
    );
  if (opts.tls && (opts.tls.cert === undefined) !== (opts.tls.key === undefined))
    throw new TicdcError('InvalidRequest', 'a TLS client certificate needs both cert and key');

  const creds =
    opts.credentials ?? (username !== undefined ? { username, password: password ?? '' } : undefined);
  const token = creds
    ? Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64')
    : undefined;
  const redact = makeRedactor([creds?.password, token]);

  const transport = new Transport({
    connectTimeoutMs: positive('connectTimeoutMs', opts.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS),
    requestTimeoutMs: positive('requestTimeoutMs', opts.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS),
    ...(opts.tls ? { tls: opts.tls } : {}),
    ...(token ? { authorization: `Basic ${token}` } : {}),
    userAgent: opts.userAgent ?? DEFAULT_USER_AGENT,
    ...(opts.onRequest ? { onRequest: opts.onRequest } : {}),
    ...(opts.fence ? { fence: opts.fence } : {}),
    redact,
  });
  const resolveAddress = opts.resolveAddress ?? ((address: string) => `${scheme}://${address}`);
  return new HttpTicdcClient(transport, target, resolveAddress, redact, opts.retry ?? DEFAULT_RETRY);
}
