// An HTTP proxy in front of the TiCDC simulator that records when each request ARRIVED (so a test
// can tell which operator replica talked to TiCDC, and when), and can hold requests unanswered
// until released (a TiCDC call in flight at a chosen moment).
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  /** Date.now() when the request's headers arrived. */
  at: number;
  method: string;
  path: string;
}

export class RecordingProxy {
  readonly requests: ProxiedRequest[] = [];
  private holding = false;
  private readonly held: (() => void)[] = [];
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(target: string): Promise<RecordingProxy> {
    const upstream = new URL(target);
    // The request handler needs the proxy, which needs the listening server's port.
    const ref: { proxy?: RecordingProxy } = {};
    const server = createServer((req, res) => ref.proxy!.handle(req, res, upstream));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    ref.proxy = new RecordingProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return ref.proxy;
  }

  /** From now on requests wait (after being recorded) until release(). */
  hold(): void {
    this.holding = true;
  }

  /** Forwards every held request and stops holding. */
  release(): void {
    this.holding = false;
    for (const go of this.held.splice(0)) go();
  }

  get heldCount(): number {
    return this.held.length;
  }

  since(t: number): ProxiedRequest[] {
    return this.requests.filter((r) => r.at >= t);
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse, upstream: URL): void {
    this.requests.push({ at: Date.now(), method: req.method ?? '', path: req.url ?? '' });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forward = () => {
        const out = httpRequest(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers: { ...req.headers, host: upstream.host },
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        out.on('error', () => {
          if (!res.headersSent) res.writeHead(502);
          res.end();
        });
        out.end(Buffer.concat(chunks));
      };
      if (this.holding) this.held.push(forward);
      else forward();
    });
  }
}
