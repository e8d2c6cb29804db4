// Request parsing and authentication as gin and TiCDC do them.

import type { Credentials } from './flavor.js';
import type { SimRequest, SimResponse } from './http-types.js';
import { header, indentedJson } from './http-types.js';

/**
 * gin ShouldBindJSON into `DrainCaptureRequest{CaptureID string json:"capture_id"}`: an empty body
 * is EOF, invalid JSON or a wrong type fails, `null` and a missing field give an empty ID.
 */
export function bindDrainRequest(body: string): { captureId: string } | { error: string } {
  if (body.trim() === '') return { error: 'EOF' };
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (e) {
    return { error: `invalid character in JSON: ${(e as Error).message}` };
  }
  if (value === null) return { captureId: '' };
  if (typeof value !== 'object' || Array.isArray(value)) {
    const t = Array.isArray(value) ? 'array' : typeof value;
    return { error: `json: cannot unmarshal ${t} into Go value of type model.DrainCaptureRequest` };
  }
  const id = (value as Record<string, unknown>)['capture_id'];
  if (id === undefined || id === null) return { captureId: '' };
  if (typeof id !== 'string') {
    return {
      error: `json: cannot unmarshal ${typeof id} into Go struct field DrainCaptureRequest.capture_id of type string`,
    };
  }
  return { captureId: id };
}

/** Go's Request.BasicAuth. */
function basicAuth(req: SimRequest): { user: string; pass: string } | undefined {
  const h = header(req, 'authorization');
  if (h === undefined || h.length < 6 || h.slice(0, 6).toLowerCase() !== 'basic ') return undefined;
  const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return { user: decoded.slice(0, i), pass: decoded.slice(i + 1) };
}

/**
 * New arch `client-user-required` (api/middleware/authenticate_middleware.go): 401 with an
 * indented HTTPError body. The real check logs into TiDB; here the user/password pair must match.
 */
export function authenticate(req: SimRequest, creds: Credentials): SimResponse | undefined {
  const fail = (code: string, msg: string) =>
    indentedJson(401, { error_msg: `[${code}]${msg}`, error_code: code });
  const got = basicAuth(req);
  if (!got) {
    return fail(
      'CDC:ErrCredentialNotFound',
      'credential not found: please specify the user and password via authorization header',
    );
  }
  if (got.user !== creds.username) {
    const why = got.user === '' ? 'Empty username is not allowed.' : 'The user is not allowed.';
    return fail('CDC:ErrUnauthorized', `user ${got.user} unauthorized, error: ${why}`);
  }
  if (got.pass !== creds.password) {
    const using = got.pass === '' ? 'NO' : 'YES';
    return fail(
      'CDC:ErrUnauthorized',
      `user ${got.user} unauthorized, error: Error 1045 (28000): Access denied for user '${got.user}'@'%' (using password: ${using})`,
    );
  }
  return undefined;
}
