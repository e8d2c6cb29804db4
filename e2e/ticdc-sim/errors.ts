// TiCDC error bodies (docs/ticdc-api.md §1 "Error body"): {"error_msg": "[CODE]message", "error_code": "CODE"}.
// Plain Go errors have an empty error_code and no bracket prefix.

import type { SimResponse } from './http-types.js';
import { indentedJson } from './http-types.js';

export interface HttpErrorBody {
  error_msg: string;
  error_code: string;
}

/** A pingcap/errors value: message `[code]text`. Error bodies are indented JSON (§9 Bodies). */
export function cdcError(status: number, code: string, text: string): SimResponse {
  return indentedJson(status, { error_msg: `[${code}]${text}`, error_code: code } satisfies HttpErrorBody);
}

/** A plain Go error (errors.New): no RFC code. */
export function plainError(status: number, text: string): SimResponse {
  return indentedJson(status, { error_msg: text, error_code: '' } satisfies HttpErrorBody);
}

// The errors the simulator produces, with the texts of pingcap/ticdc and pingcap/tiflow pkg/errors.
export const errs = {
  captureNotExist: (id: string) => cdcError(400, 'CDC:ErrCaptureNotExist', `capture not exists, ${id}`),
  schedulerRequestFailed: (why: string) =>
    cdcError(400, 'CDC:ErrSchedulerRequestFailed', `scheduler request failed, ${why}`),
  invalidParam: (why: string) => cdcError(400, 'CDC:ErrAPIInvalidParam', `invalid api parameter: ${why}`),
  clusterUnhealthy: () => cdcError(500, 'CDC:ErrClusterIsUnhealthy', 'TiCDC cluster is unhealthy'),
  ownerNotFound: () => cdcError(500, 'CDC:ErrOwnerNotFound', 'owner not found'),
  serverNotReady: () => cdcError(503, 'CDC:ErrServerIsNotReady', 'cdc server is not ready'),
  /** tiflow drain job without reachable TiKV stores (§9 Classic): transient. */
  getAllStoresFailed: () =>
    cdcError(503, 'CDC:ErrGetAllStoresFailed', 'get stores from pd failed: context deadline exceeded'),
  internal: (status: number) => cdcError(status, 'CDC:ErrInternalServerError', 'internal server error'),
  /** New arch: etcd ErrElectionNoLeader while forwarding (§1 "No owner"). */
  noLeader: () => plainError(500, 'election: no leader'),
  /** New arch: more than maxForwardTimes hops (§1 "Forwarding"). */
  forwardLimitNewArch: () => plainError(500, 'TiCDC cluster is unavailable, please try again later'),
  /** Old arch: ErrRequestForwardErr has no CDC: prefix in its RFC code (§1 "Forwarding"). */
  forwardLimitTiflow: () =>
    cdcError(
      500,
      'ErrRequestForwardErr',
      'request forward error, an request can only forward to owner one time',
    ),
} as const;
