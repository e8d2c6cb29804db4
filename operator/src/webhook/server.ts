// The HTTPS endpoint the API server calls with AdmissionReviews. It starts listening once a serving
// certificate is loaded, then re-loads it periodically and swaps it in place (setSecureContext), so
// rotation needs no restart and open connections keep working.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { silentLogger } from '../observability/logger.js';
import { getOrCreateGauge } from '../observability/metrics.js';
import {
  AdmissionParseError,
  admissionResponse,
  parseAdmissionReview,
  type AdmissionRequest,
  type AdmissionVerdict,
} from './admission.js';
import { assertUsable, type CertSource } from './cert-sources.js';
import { notAfter, type KeyPairPem } from './certs.js';

/** The one path both webhooks (pods DELETE, pods/eviction CREATE) call. */
export const GATE_PATH = '/validate-pod-termination';
const MAX_BODY = 8 * 1024 * 1024;

export interface WebhookServerOptions {
  host: string;
  port: number;
  source: CertSource;
  review: (req: AdmissionRequest) => Promise<AdmissionVerdict>;
  logger?: Logger;
  /** How often the certificate is re-loaded (and, in operator mode, renewed/published). Default 60 s. */
  refreshMs?: number;
  /** Retry delay while no certificate could be loaded yet. Default 2 s. */
  retryMs?: number;
  /** Where capture_drain_webhook_certificate_expires_in_seconds goes; not exported when omitted. */
  registry?: Registry;
  /** Wall clock in ms for the expiry gauge (tests). */
  now?: () => number;
}

export class WebhookServer {
  private server: Server | undefined;
  private current: KeyPairPem | undefined;
  private readonly log: Logger;
  private boundPort = 0;

  constructor(private readonly opts: WebhookServerOptions) {
    this.log = (opts.logger ?? silentLogger()).child({ component: 'webhook' });
    if (opts.registry) {
      const now = opts.now ?? Date.now;
      // Read at scrape time from the certificate in use (swapped by refresh()).
      const current = () => this.current;
      getOrCreateGauge(opts.registry, {
        name: 'capture_drain_webhook_certificate_expires_in_seconds',
        help: "Seconds until the webhook serving certificate's notAfter (negative once expired); absent before one is loaded.",
        // A label so that reset() leaves no series (a label-less gauge would export 0: 'expired').
        labelNames: ['certificate'],
        collect() {
          this.reset();
          const pem = current()?.certPem;
          const end = pem ? notAfter(pem) : NaN;
          if (Number.isFinite(end)) this.set({ certificate: 'serving' }, (end - now()) / 1000);
        },
      });
    }
  }

  /** Ready once it listens with a certificate. */
  readonly readyCheck = (): string | undefined =>
    this.server?.listening
      ? undefined
      : `webhook certificate not loaded from ${this.opts.source.description}`;

  get port(): number {
    return this.boundPort;
  }

  /** Loads the certificate (retrying), serves, refreshes until the signal aborts, then closes. */
  async run(signal: AbortSignal): Promise<void> {
    const refreshMs = this.opts.refreshMs ?? 60_000;
    const retryMs = this.opts.retryMs ?? 2_000;
    while (!signal.aborted) {
      const ok = await this.refresh();
      await sleep(ok && this.server ? refreshMs : retryMs, signal);
    }
    await this.close();
  }

  /** One load: first time starts the server, later swaps a changed certificate in. */
  async refresh(): Promise<boolean> {
    let pair: KeyPairPem;
    try {
      pair = await this.opts.source.load();
      assertUsable(pair);
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message, source: this.opts.source.description },
        'Webhook certificate not available',
      );
      return false;
    }
    if (!this.server) {
      await this.listen(pair);
    } else if (pair.certPem !== this.current?.certPem || pair.keyPem !== this.current?.keyPem) {
      this.server.setSecureContext({ cert: pair.certPem, key: pair.keyPem });
      this.log.info('Webhook certificate reloaded');
    }
    this.current = pair;
    return true;
  }

  private listen(pair: KeyPairPem): Promise<void> {
    const server = createServer(
      { cert: pair.certPem, key: pair.keyPem, minVersion: 'TLSv1.2' },
      (req, res) => {
        this.handle(req, res).catch((err: unknown) => {
          this.log.error({ err }, 'Webhook handler failed');
          if (!res.headersSent) res.writeHead(500);
          res.end();
        });
      },
    );
    server.requestTimeout = 30_000;
    server.keepAliveTimeout = 60_000;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.log.error({ err }, 'Webhook server error'));
        this.server = server;
        this.boundPort = (server.address() as AddressInfo).port;
        this.log.info(
          { host: this.opts.host, port: this.boundPort, path: GATE_PATH },
          'Serving the admission webhook',
        );
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 5_000).unref();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://webhook');
    if (url.pathname !== GATE_PATH) return reply(res, 404, { message: `not found: ${url.pathname}` });
    if (req.method !== 'POST') return reply(res, 405, { message: 'use POST' });
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? ''))
      return reply(res, 415, { message: 'Content-Type must be application/json' });
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (err) {
      return reply(res, 400, { message: `unreadable request body: ${(err as Error).message}` });
    }
    let request: AdmissionRequest;
    try {
      request = parseAdmissionReview(body);
    } catch (err) {
      if (!(err instanceof AdmissionParseError)) throw err;
      this.log.warn({ err: err.message }, 'Rejected a malformed AdmissionReview');
      return reply(res, 400, { message: err.message });
    }
    const verdict = await this.opts.review(request);
    reply(res, 200, admissionResponse(request.uid, verdict));
  }
}

function reply(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
