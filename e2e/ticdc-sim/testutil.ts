// Helpers for the simulator's tests (not a test file itself).

import * as http from 'node:http';
import * as https from 'node:https';
import { ManualClock } from './clock.js';
import type { SimulatorOptions } from './simulator.js';
import { TicdcSimulator } from './simulator.js';

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json(): any;
}

export interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  ca?: string;
  cert?: string;
  key?: string;
  timeoutMs?: number;
}

/** One HTTP(S) request without keep-alive. A string body is sent as is, anything else as JSON. */
export function call(
  base: string,
  method: string,
  path: string,
  opts: CallOptions = {},
): Promise<HttpResult> {
  const url = new URL(path, base);
  const body =
    opts.body === undefined
      ? undefined
      : typeof opts.body === 'string'
        ? opts.body
        : JSON.stringify(opts.body);
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      url,
      {
        method,
        agent: false,
        headers: {
          ...(body !== undefined && {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          }),
          ...opts.headers,
        },
        ...(opts.ca !== undefined && { ca: opts.ca }),
        ...(opts.cert !== undefined && { cert: opts.cert }),
        ...(opts.key !== undefined && { key: opts.key }),
        timeout: opts.timeoutMs ?? 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** A simulator on a ManualClock with a fixed seed; time moves only through sim.advance(). */
export async function startManual(
  opts: SimulatorOptions = {},
): Promise<{ sim: TicdcSimulator; clock: ManualClock }> {
  const clock = new ManualClock();
  const sim = await TicdcSimulator.start({ seed: 42, port: 0, ...opts, clock });
  return { sim, clock };
}

/** gin IndentedJSON: error bodies and /status (§9 Bodies). */
export const indented = (value: unknown) => JSON.stringify(value, null, 4);

/** First non-owner capture. */
export function nonOwner(sim: TicdcSimulator, skip = 0) {
  const c = sim.captures().filter((x) => !x.isOwner)[skip];
  if (!c) throw new Error('no non-owner capture');
  return c;
}

export function owner(sim: TicdcSimulator) {
  const c = sim.captures().find((x) => x.isOwner);
  if (!c) throw new Error('no owner');
  return c;
}

export const drainV1 = (sim: TicdcSimulator, id: string, headers: Record<string, string> = {}) =>
  call(sim.url, 'PUT', '/api/v1/captures/drain', { body: { capture_id: id }, headers });
