// HTTP(S) transport: listeners, body reading, responses. One listener acts like the TiCDC
// Service (each request lands on some capture); optional extra listeners stand for one capture
// each. TLS wraps the whole listener, with client certificates required for mTLS (§1 TLS).

import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SimResponse } from './http-types.js';

export interface TlsOptions {
  /** PEM server certificate (chain). */
  cert: string;
  /** PEM private key. */
  key: string;
  /** PEM CA bundle used to verify client certificates. */
  ca?: string;
  /** Require and verify a client certificate. */
  mtls?: boolean;
}

export type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface Listener {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function listen(
  handler: RequestListener,
  host: string,
  port: number,
  tls?: TlsOptions,
): Promise<Listener> {
  const server: http.Server = tls
    ? https.createServer(
        {
          cert: tls.cert,
          key: tls.key,
          ...(tls.ca !== undefined && { ca: tls.ca }),
          requestCert: tls.mtls === true,
          rejectUnauthorized: tls.mtls === true,
        },
        handler,
      )
    : http.createServer(handler);
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  const hostPart = urlHost.includes(':') ? `[${urlHost}]` : urlHost;
  return {
    url: `${tls ? 'https' : 'http'}://${hostPart}:${bound}`,
    host: urlHost,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const MAX_BODY = 1 << 20;

export function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function send(res: http.ServerResponse, r: SimResponse): void {
  const headers: Record<string, string | number> = { 'Content-Length': Buffer.byteLength(r.body) };
  if (r.contentType !== undefined) headers['Content-Type'] = r.contentType;
  res.writeHead(r.status, headers);
  res.end(r.body);
}

/** Ends the connection without an HTTP answer, as a crashed process or a reset would. */
export function reset(req: http.IncomingMessage): void {
  req.socket.destroy();
}
