// Options of createTicdcClient (client.ts). Kept apart so credentials.ts and http.ts share them.
import type { TicdcErrorKind } from './types.js';

export interface TicdcTlsOptions {
  /** PEM CA bundle that signed the TiCDC server certificates (TiCDC `[security] ca-path`). */
  ca?: string | Buffer;
  /** PEM client certificate, needed when TiCDC sets `mtls` or `cert-allowed-cn` (docs/ticdc-api.md §1 "TLS"). */
  cert?: string | Buffer;
  /** PEM private key of `cert`. */
  key?: string | Buffer;
  /** Skip server certificate verification. For tests and emergencies only. */
  insecureSkipVerify?: boolean;
  /** Name to verify the server certificate against (and SNI), when it differs from the URL host. */
  serverName?: string;
}

/** HTTP basic credentials: a TiDB user listed in TiCDC `client-allowed-user` (docs/ticdc-api.md §4.1, §7). */
export interface TicdcCredentials {
  username: string;
  password: string;
}

export interface TicdcRequestInfo {
  /** Route template such as `PUT /api/v1/captures/drain`; never contains a capture id. */
  route: string;
  method: string;
  outcome: 'ok' | TicdcErrorKind;
  /** HTTP status, absent when no answer arrived (timeout, reset, TLS failure). */
  status?: number;
  durationMs: number;
}

export interface TicdcClientOptions {
  /** `http(s)://host:port` of any capture or of the Service. Userinfo, if any, is used as credentials. */
  endpoint: string;
  tls?: TicdcTlsOptions;
  /** Sent as HTTP basic on every request; explicit credentials win over endpoint userinfo. */
  credentials?: TicdcCredentials;
  /** TCP + TLS connection setup bound. Default 5000. */
  connectTimeoutMs?: number;
  /** Bound of one whole request (connection, headers and body). Default 10000. */
  requestTimeoutMs?: number;
  /**
   * Maps a capture advertise address (`host:port`) to a base URL for serverStatus(address).
   * Default `${endpoint scheme}://${address}`.
   */
  resolveAddress?: (address: string) => string | undefined;
  /** Called once per HTTP request; a throwing hook is ignored. */
  onRequest?: (info: TicdcRequestInfo) => void;
  /** Fast in-step retries of idempotent requests on transient failures. Default 2 retries, 100 ms base. */
  retry?: { retries: number; baseDelayMs: number };
  /** Default `capture-drain-operator`. */
  userAgent?: string;
  /**
   * Bounds every request to a scope such as a leadership term: check() runs right before a request
   * is sent and throws to refuse it; requests in flight are cancelled when signal aborts. Refused
   * and cancelled requests reject with the signal's reason, not a TicdcError.
   */
  fence?: RequestFence;
}

export interface RequestFence {
  readonly signal: AbortSignal;
  check(): void;
}
