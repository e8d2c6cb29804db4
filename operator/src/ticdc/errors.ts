// Maps HTTP answers and transport failures to TicdcError kinds (docs/ticdc-api.md §1, §2.2, §4.1, §4.2,
// §5, §6). Messages name the route, the origin, the status and a trimmed error_msg only: never a
// header, a body other than error_msg, or a credential.
import { ErrorBodySchema, type ErrorBody } from './schemas.js';
import { TicdcError, type TicdcErrorKind } from './types.js';

/** Where a failure happened: a route template (no capture id) and the origin it was sent to. */
export interface CallSite {
  route: string;
  origin: string;
}

export type Redactor = (text: string) => string;

const MAX_MSG = 200;

/** Replaces every secret (password, Authorization token) by `***`. Very short secrets are skipped. */
export function makeRedactor(secrets: readonly (string | undefined)[]): Redactor {
  const list = secrets.filter((s): s is string => typeof s === 'string' && s.length >= 4);
  if (list.length === 0) return (t) => t;
  return (text) => list.reduce((acc, s) => acc.split(s).join('***'), text);
}

/** One line, at most MAX_MSG characters. */
export function trimMessage(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > MAX_MSG ? `${line.slice(0, MAX_MSG - 1)}…` : line;
}

/** The TiCDC error body, or undefined when the body is not one (HTML, text, empty, other JSON). */
export function parseErrorBody(text: string): ErrorBody | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = ErrorBodySchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

function includesAny(haystack: string, needles: readonly string[]): boolean {
  return needles.some((n) => haystack.includes(n.toLowerCase()));
}

/** 400 answers (docs/ticdc-api.md §1 "400 vs 500", §2.2, §4.1, §4.2, §5). */
function kindOf400(hay: string): TicdcErrorKind {
  if (includesAny(hay, ['ErrCaptureNotExist', 'capture not exists'])) return 'CaptureNotFound';
  if (includesAny(hay, ['cannot drain the owner', 'cannot drain coordinator'])) return 'OwnerNotDrainable';
  if (includesAny(hay, ['only one capture alive', 'at least 2 captures required'])) return 'OnlyOneCapture';
  // docs/ticdc-api.md §4.2: session race paths of DrainNode. Retryable, not a bug of ours.
  if (includesAny(hay, ['drain already in progress'])) return 'DrainBusy';
  if (includesAny(hay, ['invalid drain epoch', 'drain epoch overflow'])) return 'Transient';
  return 'InvalidRequest';
}

/** 5xx answers other than 503 (docs/ticdc-api.md §1 "No owner", "Forwarding"; §2.5; §3; §4.1; §5). */
function kindOf5xx(hay: string): TicdcErrorKind {
  if (includesAny(hay, ['another drain operation is in progress'])) return 'DrainBusy';
  if (
    includesAny(hay, [
      'not initialized', // V2 coordinator "not initialized, wait a moment" (docs/ticdc-api.md §5)
      'ErrCaptureNotInitialized', // new arch before the server is up (docs/ticdc-api.md §3)
      'ErrOwnerNotFound', // no owner (docs/ticdc-api.md §1)
      'election: no leader', // no owner, new arch (docs/ticdc-api.md §1)
      'cluster is unavailable', // too many forwarding hops, new arch (docs/ticdc-api.md §1)
      'ErrRequestForwardErr', // too many forwarding hops, tiflow (docs/ticdc-api.md §1)
      'ErrNotOwner', // the coordinator changed under the request (docs/ticdc-api.md §4.1 step 3)
      'ErrClusterIsUnhealthy', // health (docs/ticdc-api.md §2.5, §4.7)
      'ErrServerIsNotReady', // tiflow readiness middleware (docs/ticdc-api.md §2.1)
    ])
  )
    return 'NotReady';
  return 'Transient';
}

/**
 * TiCDC's own "no such route" answer: gin's default 404/405 handlers write these plain texts (§9:
 * `GET /api/v1/captures/drain` is a bare 404). A 404 with any other body (an ingress, a proxy, a
 * Service without endpoints, an HTML page) is not TiCDC speaking: it says nothing about the API.
 */
export function isTicdcRouteAbsent(status: number, rawText: string): boolean {
  if (status !== 404 && status !== 405) return false;
  return /^(40[45] )?(page not found|method not allowed)$/i.test(rawText.trim());
}

export function kindOfStatus(status: number, body: ErrorBody | undefined, rawText = ''): TicdcErrorKind {
  const hay = `${body?.error_code ?? ''} ${body?.error_msg ?? ''}`.toLowerCase();
  if (status === 401) return 'Unauthorized';
  // 404: route absent (docs/ticdc-api.md §3, §6). 405: only another method exists, so this route is absent too.
  // Only TiCDC's own route-absent answer counts; a proxy's 404 is a transient failure.
  if (status === 404 || status === 405)
    return isTicdcRouteAbsent(status, rawText) ? 'Unsupported' : 'Transient';
  // §2.2 step 5: any 503 is "retry", except TiUP's version-incompatible case (docs/ticdc-api.md §6).
  if (status === 503) return includesAny(hay, ['ErrVersionIncompatible']) ? 'Unsupported' : 'NotReady';
  // Go's TLS server answers a plain-HTTP request with this 400 (docs/ticdc-api.md §1 "TLS": one port, TLS wraps it).
  if (status === 400 && !body && rawText.includes('HTTP request to an HTTPS server')) return 'Tls';
  // A 4xx whose body is not a TiCDC error body is garbled or not from TiCDC (truncated, a proxy):
  // transient whatever its status, never a verdict on our request.
  if (status >= 400 && status < 500 && !body) return 'Transient';
  if (status === 400) return kindOf400(hay);
  if (status === 408 || status === 429) return 'Transient';
  if (status >= 500) return kindOf5xx(hay);
  return 'InvalidRequest';
}

/** A non-success HTTP answer as a TicdcError. */
export function httpError(site: CallSite, status: number, text: string, redact: Redactor): TicdcError {
  const body = parseErrorBody(text);
  const kind = kindOfStatus(status, body, text);
  const code = body?.error_code ? body.error_code : undefined;
  let msg = body?.error_msg ? trimMessage(body.error_msg) : '';
  if (!body && kind === 'Tls') msg = 'the server speaks TLS: use an https:// endpoint';
  const parts = [`HTTP ${status}`, code, msg].filter((p) => p);
  return new TicdcError(kind, redact(`${site.route} on ${site.origin}: ${parts.join(' ')}`), {
    status,
    ...(code ? { code } : {}),
    route: site.route,
  });
}

/** A body that is not what the route promises (docs/ticdc-api.md §0: never read as "no captures" or "zero work"). */
export function bodyError(site: CallSite, status: number, what: string, redact: Redactor): TicdcError {
  return new TicdcError('Transient', redact(`${site.route} on ${site.origin}: HTTP ${status} ${what}`), {
    status,
    route: site.route,
  });
}

// Node / OpenSSL codes of handshake and verification failures.
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'EPROTO',
]);

function isTlsCode(code: string): boolean {
  return TLS_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_');
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_CLOSED']);

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Error and its causes (undici wraps socket errors), outermost first. */
function chain(err: unknown): { code?: string; message: string }[] {
  const out: { code?: string; message: string }[] = [];
  let cur: unknown = err;
  for (let depth = 0; depth < 5 && cur !== null && cur !== undefined; depth++) {
    if (typeof cur !== 'object') {
      out.push({ message: String(cur) });
      break;
    }
    const e = cur as { code?: unknown; message?: unknown; cause?: unknown };
    out.push({
      ...(typeof e.code === 'string' ? { code: e.code } : {}),
      message: typeof e.message === 'string' ? e.message : '',
    });
    cur = e.cause;
  }
  return out;
}

/**
 * A transport failure (no HTTP answer) as a TicdcError: TLS failures are `Tls`; timeouts, resets,
 * refused connections, DNS failures and everything else are `Transient`.
 */
export function transportError(
  site: CallSite,
  err: unknown,
  redact: Redactor,
  deadlineMs?: number,
): TicdcError {
  const links = chain(err);
  // A connection reset or closed during the handshake (TiCDC restarting) is not a TLS verdict.
  const reset = links.some(
    (l) =>
      (l.code && RESET_CODES.has(l.code)) ||
      /before secure TLS connection was established|socket hang up/i.test(l.message),
  );
  const tls = reset ? undefined : links.find((l) => l.code && isTlsCode(l.code));
  const details = { route: site.route, ...(tls?.code ? { code: tls.code } : {}) };
  const where = `${site.route} on ${site.origin}`;
  if (tls)
    return new TicdcError(
      'Tls',
      redact(`${where}: TLS failure ${tls.code}: ${trimMessage(tls.message)}`),
      details,
    );
  if (deadlineMs !== undefined)
    return new TicdcError('Transient', redact(`${where}: timed out after ${deadlineMs} ms`), {
      route: site.route,
    });
  const timeout = links.find((l) => l.code && TIMEOUT_CODES.has(l.code));
  if (timeout)
    return new TicdcError('Transient', redact(`${where}: ${timeout.code} ${trimMessage(timeout.message)}`), {
      route: site.route,
      code: timeout.code!,
    });
  // Prefer the innermost code (ECONNRESET, ECONNREFUSED, ENOTFOUND) over undici's wrapper.
  const coded = [...links].reverse().find((l) => l.code);
  const text = coded
    ? `${coded.code} ${trimMessage(coded.message)}`
    : trimMessage(links[0]?.message ?? 'unknown error');
  return new TicdcError('Transient', redact(`${where}: ${text}`), {
    route: site.route,
    ...(coded?.code ? { code: coded.code } : {}),
  });
}
