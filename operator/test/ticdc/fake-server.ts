// Small hand-made TiCDC stand-ins for the client tests: node:http(s) servers answering fixed routes.
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface Seen {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Client certificate subject CN, on TLS servers. */
  peerCN?: string;
}

/** A canned answer; a function gets the request and may write anything (or nothing) itself. */
export type Reply =
  { status: number; json?: unknown; text?: string } | ((req: Seen, res: http.ServerResponse) => void);

export interface FakeServer {
  url: string;
  port: number;
  seen: Seen[];
  routes: Map<string, Reply>;
  /** Sets the answer of `METHOD /path`. */
  on(route: string, reply: Reply): FakeServer;
  close(): Promise<void>;
}

/** A TiCDC-style error body (docs/ticdc-api.md §1). */
export function cdcError(status: number, code: string, msg: string): Reply {
  return { status, json: { error_msg: code ? `[${code}]${msg}` : msg, error_code: code } };
}

export async function startFakeServer(tls?: https.ServerOptions): Promise<FakeServer> {
  const routes = new Map<string, Reply>();
  const seen: Seen[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const socket = req.socket as { getPeerCertificate?: () => { subject?: { CN?: string } } };
      const cn = socket.getPeerCertificate?.()?.subject?.CN;
      const s: Seen = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        ...(cn ? { peerCN: cn } : {}),
      };
      seen.push(s);
      const reply = routes.get(`${s.method} ${s.path}`);
      if (!reply) {
        // gin's answer for an absent route.
        res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found');
        return;
      }
      if (typeof reply === 'function') return reply(s, res);
      if (reply.json !== undefined) {
        res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.json));
      } else {
        res.writeHead(reply.status).end(reply.text ?? '');
      }
    });
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const fake: FakeServer = {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    seen,
    routes,
    on(route, reply) {
      routes.set(route, reply);
      return fake;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
