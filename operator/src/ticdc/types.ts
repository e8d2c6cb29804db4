// The contract between the drain engine and TiCDC. The HTTP client (client.ts) implements
// TicdcClient; the state machine only sees these shapes and TicdcError kinds.

/** The drain protocol a cluster speaks (see docs/ticdc-api.md). */
export type ApiFlavor = 'V2' | 'V1' | 'V2Classic';
export type ApiFlavorSetting = 'Auto' | ApiFlavor;

/** Classic (pingcap/tiflow, or pingcap/ticdc without --newarch) or the new architecture (§1, §3). */
export type Architecture = 'Classic' | 'NewArch';

/** One entry of GET /api/v{1,2}/captures. */
export interface CaptureInfo {
  id: string;
  isOwner: boolean;
  /** Advertise address, host:port. The only stable way to map a pod to its capture. */
  address: string;
  clusterId?: string;
}

/**
 * Remaining work on the drain target, as one drain call reports it.
 * V2 reports maintainers and dispatchers; V1 and V2Classic report tables.
 */
export interface DrainCounts {
  maintainers?: number;
  dispatchers?: number;
  tables?: number;
}

/** GET /api/v2/status (node-local, not forwarded). */
export interface ServerStatus {
  version: string;
  gitHash?: string;
  id: string;
  clusterId?: string;
  pid?: number;
  isOwner: boolean;
  /** Raw integer; its meaning depends on the server version (docs/ticdc-api.md §4.5). */
  liveness?: number;
}

export type TicdcErrorKind =
  /** 400 CDC:ErrCaptureNotExist: the target is not (or no longer) a member. */
  | 'CaptureNotFound'
  /** 400 "cannot drain the owner" / "cannot drain coordinator node". */
  | 'OwnerNotDrainable'
  /** 400 "only one capture alive" / "at least 2 captures required". */
  | 'OnlyOneCapture'
  /** V2: 500 "another drain operation is in progress". */
  | 'DrainBusy'
  /** 401: credentials missing or wrong. */
  | 'Unauthorized'
  /** 503 / not initialized: try again later. */
  | 'NotReady'
  /** 404 route absent, or a no-op stub drain route (new arch before v8.5.7). */
  | 'Unsupported'
  /** TLS handshake or certificate verification failed. */
  | 'Tls'
  /** Any other 4xx: a bug or misconfiguration on our side. */
  | 'InvalidRequest'
  /** Other 5xx, timeouts, resets, unparsable or ill-typed bodies. Never "zero work". */
  | 'Transient';

const RETRYABLE: ReadonlySet<TicdcErrorKind> = new Set(['DrainBusy', 'NotReady', 'Transient']);

export class TicdcError extends Error {
  override readonly name = 'TicdcError';
  readonly retryable: boolean;
  constructor(
    readonly kind: TicdcErrorKind,
    message: string,
    readonly details: { status?: number; code?: string; route?: string } = {},
  ) {
    super(message);
    this.retryable = RETRYABLE.has(kind);
  }
}

export function isTicdcError(err: unknown): err is TicdcError {
  return err instanceof TicdcError;
}

/**
 * What the drain engine needs from one TiCDC cluster. Every method either returns a
 * validated value or throws a TicdcError; a failed call is never turned into an empty
 * list or a zero count.
 */
export interface TicdcClient {
  /** Endpoint with credentials removed, safe to log. */
  readonly endpoint: string;
  /**
   * Auto-detection: V2 if GET /api/v2/captures/{id}/drain exists, else V1 if the v1 drain
   * route is real. Throws Unsupported when there is no drain route or only the no-op stub.
   */
  detectFlavor(captureId: string): Promise<ApiFlavor>;
  /**
   * The stub check (§4.9): PUT /api/v1/captures/drain for a capture that cannot exist must be
   * refused. Throws Unsupported on the pre-v8.5.7 no-op stub or when the route is absent.
   */
  checkV1Drain(): Promise<void>;
  /** Which architecture serves the cluster (decides what a liveness integer means, §4.5). */
  architecture(version?: string): Promise<Architecture>;
  /**
   * The capture list. `maxAgeMs`: an answer this client (or a view of it) got from a request that
   * started at most that long ago will do (another controller's look a moment before).
   */
  listCaptures(opts?: { maxAgeMs?: number }): Promise<CaptureInfo[]>;
  /** POST /api/v2/owner/resign (v1 on V1 servers). Returns once the request was accepted. */
  resignOwner(flavor: ApiFlavor): Promise<void>;
  /** Issue (or re-issue: it is idempotent) the drain of one capture and return what remains. */
  drain(flavor: ApiFlavor, captureId: string): Promise<DrainCounts>;
  /** Resolves when the cluster is healthy; throws otherwise. */
  health(flavor: ApiFlavor): Promise<void>;
  /** Node-local status; `address` (host:port) targets one capture, default the endpoint. */
  serverStatus(address?: string): Promise<ServerStatus>;
  /**
   * Optional: a view sharing this client's connections whose requests are refused once `signal`
   * aborted and cancelled when it aborts (rejecting with its reason). Closing the view closes both.
   */
  withSignal?(signal: AbortSignal): TicdcClient;
  /** The same client without quick in-request retries (for looks repeated on a schedule anyway). */
  withoutRetries?(): TicdcClient;
  close(): Promise<void>;
}
