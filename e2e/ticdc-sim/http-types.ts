// Transport-independent request/response shapes, so route handlers are plain functions.

export interface SimRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface SimResponse {
  status: number;
  /** Raw body; '' for an empty body. */
  body: string;
  contentType?: string;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** gin `c.JSON`. */
export function json(status: number, value: unknown): SimResponse {
  return { status, body: JSON.stringify(value), contentType: JSON_TYPE };
}

/** gin `c.IndentedJSON` (used by the authentication middleware). */
export function indentedJson(status: number, value: unknown): SimResponse {
  return { status, body: JSON.stringify(value, null, 4), contentType: JSON_TYPE };
}

/** gin `c.Status(code)`: no body at all. */
export function empty(status: number): SimResponse {
  return { status, body: '' };
}

/** gin's default answer for an absent route (also for a wrong method: HandleMethodNotAllowed is off). */
export function notFound(): SimResponse {
  return { status: 404, body: '404 page not found', contentType: 'text/plain' };
}

export function header(req: SimRequest, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
