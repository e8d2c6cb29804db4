// Error mapping (docs/ticdc-api.md §1, §2.2, §4.1, §4.2, §5, §6) end to end, bad servers, and secrets.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { createTicdcClient } from '../../src/ticdc/client.js';
import { makeRedactor, transportError, trimMessage } from '../../src/ticdc/errors.js';
import { type TicdcClient, TicdcError, type TicdcErrorKind } from '../../src/ticdc/types.js';
import { cdcError, type Reply, startFakeServer, type FakeServer } from './fake-server.js';

const ID = 'capture-1';
const DRAIN = 'PUT /api/v1/captures/drain';
const PASSWORD = 'Very-Secret-Pw-42';
const TOKEN = Buffer.from(`cdc:${PASSWORD}`).toString('base64');

const TIMEOUT_MS = 1000;
let server: FakeServer;
let client: TicdcClient;

beforeEach(async () => {
  server = await startFakeServer();
  client = createTicdcClient({
    endpoint: server.url,
    credentials: { username: 'cdc', password: PASSWORD },
    // Long enough that a loaded machine's first connection never turns an answer into a timeout.
    requestTimeoutMs: TIMEOUT_MS,
    connectTimeoutMs: TIMEOUT_MS,
    retry: { retries: 0, baseDelayMs: 0 },
  });
});

afterEach(async () => {
  await client.close();
  await server.close();
});

async function failure(p: Promise<unknown>): Promise<TicdcError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TicdcError);
    return err as TicdcError;
  }
  throw new Error('expected a TicdcError');
}

function assertNoSecrets(err: TicdcError): void {
  const all = `${err.message} ${JSON.stringify(err.details)} ${err.stack ?? ''}`;
  expect(all).not.toContain(PASSWORD);
  expect(all).not.toContain(TOKEN);
  expect(all.toLowerCase()).not.toContain('authorization');
}

const RETRYABLE: TicdcErrorKind[] = ['DrainBusy', 'NotReady', 'Transient'];

const cases: [string, Reply, TicdcErrorKind][] = [
  // docs/ticdc-api.md §2.2 / §4.2
  [
    '400 ErrCaptureNotExist',
    cdcError(400, 'CDC:ErrCaptureNotExist', `capture not exists, ${ID}`),
    'CaptureNotFound',
  ],
  [
    '400 cannot drain the owner',
    cdcError(400, 'CDC:ErrSchedulerRequestFailed', 'scheduler request failed, cannot drain the owner'),
    'OwnerNotDrainable',
  ],
  [
    '400 only one capture alive',
    cdcError(400, 'CDC:ErrSchedulerRequestFailed', 'scheduler request failed, only one capture alive'),
    'OnlyOneCapture',
  ],
  [
    '400 drain already in progress (race path)',
    cdcError(
      400,
      'CDC:ErrSchedulerRequestFailed',
      'scheduler request failed, drain already in progress on capture x',
    ),
    'DrainBusy',
  ],
  [
    '400 invalid drain epoch',
    cdcError(400, 'CDC:ErrSchedulerRequestFailed', 'scheduler request failed, invalid drain epoch'),
    'Transient',
  ],
  [
    '400 ErrAPIInvalidParam',
    cdcError(400, 'CDC:ErrAPIInvalidParam', 'invalid api parameter: EOF'),
    'InvalidRequest',
  ],
  // docs/ticdc-api.md §5 (PR #4081)
  [
    '400 cannot drain coordinator node',
    cdcError(400, 'CDC:ErrAPIInvalidParam', 'invalid api parameter: cannot drain coordinator node'),
    'OwnerNotDrainable',
  ],
  [
    '400 at least 2 captures required',
    cdcError(400, 'CDC:ErrAPIInvalidParam', 'at least 2 captures required for drain operation'),
    'OnlyOneCapture',
  ],
  [
    '500 another drain operation is in progress',
    cdcError(500, '', 'another drain operation is in progress'),
    'DrainBusy',
  ],
  ['500 not initialized, wait a moment', cdcError(500, '', 'not initialized, wait a moment'), 'NotReady'],
  // docs/ticdc-api.md §1, §3, §4.1
  [
    '500 ErrCaptureNotInitialized',
    cdcError(500, 'CDC:ErrCaptureNotInitialized', 'capture has not been initialized yet'),
    'NotReady',
  ],
  ['500 ErrOwnerNotFound', cdcError(500, 'CDC:ErrOwnerNotFound', 'owner not found'), 'NotReady'],
  ['500 election: no leader', cdcError(500, '', 'election: no leader'), 'NotReady'],
  [
    '500 cluster is unavailable',
    cdcError(500, '', 'TiCDC cluster is unavailable, please try again later'),
    'NotReady',
  ],
  ['500 ErrNotOwner', cdcError(500, 'CDC:ErrNotOwner', 'this capture is not a owner'), 'NotReady'],
  [
    '500 ErrRequestForwardErr (tiflow)',
    { status: 500, json: { error_msg: 'request forward error', error_code: 'ErrRequestForwardErr' } },
    'NotReady',
  ],
  ['500 other', cdcError(500, 'CDC:ErrPDEtcdAPIError', 'etcd api call error'), 'Transient'],
  // docs/ticdc-api.md §2.1, §2.2 step 5, §6
  [
    '503 ErrServerIsNotReady',
    cdcError(503, 'CDC:ErrServerIsNotReady', 'cdc server is not ready'),
    'NotReady',
  ],
  [
    '503 ErrSchedulerRequestFailed',
    cdcError(503, 'CDC:ErrSchedulerRequestFailed', 'scheduler request failed'),
    'NotReady',
  ],
  ['503 plain text', { status: 503, text: 'Service Unavailable' }, 'NotReady'],
  [
    '503 ErrVersionIncompatible',
    cdcError(503, 'CDC:ErrVersionIncompatible', 'version is incompatible'),
    'Unsupported',
  ],
  [
    '401',
    {
      status: 401,
      json: { error_msg: '[CDC:ErrCredentialNotFound]unauthorized', error_code: 'CDC:ErrCredentialNotFound' },
    },
    'Unauthorized',
  ],
  ['401 empty body', { status: 401 }, 'Unauthorized'],
  // A 4xx without a TiCDC error body is garbled or not from TiCDC: transient whatever its status.
  ['403 plain text (a proxy)', { status: 403, text: 'forbidden' }, 'Transient'],
  ['400 truncated error body', { status: 400, text: '{"error_msg":"[CDC:ErrCaptureNotEx' }, 'Transient'],
  [
    '400 ErrAPIInvalidParam indented',
    {
      status: 400,
      text: '{\n  "error_msg": "[CDC:ErrAPIInvalidParam]x",\n  "error_code": "CDC:ErrAPIInvalidParam"\n}',
    },
    'InvalidRequest',
  ],
  ['404 (gin route absent)', { status: 404, text: '404 page not found' }, 'Unsupported'],
  ['404 from a proxy (html)', { status: 404, text: '<html><body>Not Found</body></html>' }, 'Transient'],
  ['404 from a proxy (json)', { status: 404, json: { message: 'no endpoints' } }, 'Transient'],
  ['405', { status: 405, text: 'method not allowed' }, 'Unsupported'],
  ['429', { status: 429, text: 'slow down' }, 'Transient'],
  [
    '400 plain HTTP to a TLS port',
    { status: 400, text: 'Client sent an HTTP request to an HTTPS server.\n' },
    'Tls',
  ],
  ['502 html', { status: 502, text: '<html>bad gateway</html>' }, 'Transient'],
  ['504 empty', { status: 504 }, 'Transient'],
  // bad success bodies: never zero work
  ['202 empty body', { status: 202 }, 'Transient'],
  ['202 truncated JSON', { status: 202, text: '{"current_table_count": 1' }, 'Transient'],
  ['202 not JSON', { status: 202, text: 'ok' }, 'Transient'],
  ['202 count as string', { status: 202, json: { current_table_count: '0' } }, 'Transient'],
  ['202 negative count', { status: 202, json: { current_table_count: -1 } }, 'Transient'],
  ['202 fractional count', { status: 202, json: { current_table_count: 0.5 } }, 'Transient'],
  ['202 missing count', { status: 202, json: {} }, 'Transient'],
  ['202 null', { status: 202, json: null }, 'Transient'],
  ['202 array', { status: 202, json: [0] }, 'Transient'],
  ['204 no content', { status: 204 }, 'Transient'],
];

describe('HTTP answers → TicdcError kinds (V1 drain)', () => {
  it.each(cases)('%s', async (_name, reply, kind) => {
    server.on(DRAIN, reply);
    const err = await failure(client.drain('V1', ID));
    expect(err.kind).toBe(kind);
    expect(err.retryable).toBe(RETRYABLE.includes(kind));
    expect(err.details.route).toBe(DRAIN);
    expect(err.message.startsWith(`${DRAIN} on ${server.url}: HTTP `)).toBe(true);
    assertNoSecrets(err);
  });

  it('messages carry the status, the code and a trimmed error_msg', async () => {
    server.on(DRAIN, cdcError(400, 'CDC:ErrCaptureNotExist', `capture not exists, ${ID}`));
    const err = await failure(client.drain('V1', ID));
    expect(err.message).toBe(
      `${DRAIN} on ${server.url}: HTTP 400 CDC:ErrCaptureNotExist [CDC:ErrCaptureNotExist]capture not exists, ${ID}`,
    );
    expect(err.details).toEqual({ status: 400, code: 'CDC:ErrCaptureNotExist', route: DRAIN });
  });

  it('long error messages are trimmed to one short line', async () => {
    server.on(DRAIN, cdcError(500, '', `boom\n${'x'.repeat(5000)}`));
    const err = await failure(client.drain('V1', ID));
    expect(err.message).not.toContain('\n');
    expect(err.message.length).toBeLessThan(400);
  });

  it('a server echoing the password or the token in error_msg is redacted', async () => {
    server.on(
      DRAIN,
      cdcError(401, 'CDC:ErrUnauthorized', `bad password ${PASSWORD} / header Basic ${TOKEN}`),
    );
    const err = await failure(client.drain('V1', ID));
    expect(err.kind).toBe('Unauthorized');
    expect(err.message).toContain('***');
    expect(err.message).not.toContain(PASSWORD);
    expect(err.message).not.toContain(TOKEN);
  });

  it('the same mapping applies to the V2 and V2Classic routes', async () => {
    server.on(
      `PUT /api/v2/captures/${ID}/drain`,
      cdcError(500, '', 'another drain operation is in progress'),
    );
    server.on(
      `POST /api/v2/captures/${ID}/drain`,
      cdcError(400, 'CDC:ErrSchedulerRequestFailed', 'scheduler request failed, cannot drain the owner'),
    );
    expect((await failure(client.drain('V2', ID))).kind).toBe('DrainBusy');
    expect((await failure(client.drain('V2Classic', ID))).kind).toBe('OwnerNotDrainable');
    server.on(`PUT /api/v2/captures/${ID}/drain`, { status: 202, json: { current_maintainer_count: 1 } });
    expect((await failure(client.drain('V2', ID))).kind).toBe('Transient');
  });
});

describe('bad servers', () => {
  it('a hung server is a Transient timeout within the request timeout', async () => {
    server.on(DRAIN, () => undefined); // never answers
    const started = Date.now();
    const err = await failure(client.drain('V1', ID));
    const took = Date.now() - started;
    expect(err.kind).toBe('Transient');
    expect(err.message).toMatch(/timed out after 1000 ms/);
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(5000);
  });

  it('a body that stalls after the headers also times out', async () => {
    server.on(DRAIN, (_req, res) => {
      res.writeHead(202, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"current_table_count":');
    });
    const err = await failure(client.drain('V1', ID));
    expect(err.kind).toBe('Transient');
    expect(err.message).toMatch(/timed out/);
  });

  it('a connection reset before the answer is Transient', async () => {
    server.on(DRAIN, (_req, res) => res.socket?.destroy());
    const err = await failure(client.drain('V1', ID));
    expect(err.kind).toBe('Transient');
    assertNoSecrets(err);
  });

  it('a connection closed in the middle of the body is Transient', async () => {
    server.on(DRAIN, (_req, res) => {
      res.writeHead(202, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"current_table_count":');
      setTimeout(() => res.socket?.destroy(), 10);
    });
    expect((await failure(client.drain('V1', ID))).kind).toBe('Transient');
  });

  it('a refused connection is Transient and names the code', async () => {
    const port = server.port;
    await server.close();
    const err = await failure(client.drain('V1', ID));
    expect(err.kind).toBe('Transient');
    expect(err.details.code).toBe('ECONNREFUSED');
    expect(err.message).toContain(`127.0.0.1:${port}`);
    server = await startFakeServer(); // for afterEach
  });

  it('a raw TCP reset (RST) on connect is Transient', async () => {
    const raw: Server = createServer((sock) => sock.resetAndDestroy());
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const c = createTicdcClient({
      endpoint: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`,
      requestTimeoutMs: 500,
    });
    try {
      const err = await failure(c.listCaptures());
      expect(err.kind).toBe('Transient');
    } finally {
      await c.close();
      await new Promise<void>((r) => raw.close(() => r()));
    }
  });

  it('a server speaking garbage instead of HTTP is Transient', async () => {
    const raw: Server = createServer((sock) => sock.resume().end('SSH-2.0-OpenSSH\r\n'));
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const c = createTicdcClient({
      endpoint: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`,
      requestTimeoutMs: 500,
    });
    try {
      expect((await failure(c.health('V2'))).kind).toBe('Transient');
    } finally {
      await c.close();
      await new Promise<void>((r) => raw.close(() => r()));
    }
  });

  it('an unresolvable host is Transient', async () => {
    const c = createTicdcClient({
      endpoint: 'http://capture-drain-nonexistent.invalid:8300',
      requestTimeoutMs: 1000,
    });
    try {
      expect((await failure(c.health('V2'))).kind).toBe('Transient');
    } finally {
      await c.close();
    }
  });

  it('every failure reaches onRequest with its kind and no status when nothing answered', async () => {
    const seen: unknown[] = [];
    const c = createTicdcClient({
      endpoint: server.url,
      requestTimeoutMs: 200,
      onRequest: (i) => seen.push([i.route, i.outcome, i.status]),
    });
    try {
      server.on(DRAIN, () => undefined);
      await failure(c.drain('V1', ID));
      server.on(DRAIN, { status: 202, text: '{' });
      await failure(c.drain('V1', ID));
      // A timed-out request is not retried (it used its time); a garbled body is, twice, quickly.
      expect(seen).toEqual([
        [DRAIN, 'Transient', undefined],
        [DRAIN, 'Transient', 202],
        [DRAIN, 'Transient', 202],
        [DRAIN, 'Transient', 202],
      ]);
    } finally {
      await c.close();
    }
  });
});

describe('helpers', () => {
  it('trimMessage collapses whitespace and bounds length', () => {
    expect(trimMessage('  a \n b\t c ')).toBe('a b c');
    expect(trimMessage('y'.repeat(500)).length).toBe(200);
  });

  it('makeRedactor replaces secrets and skips very short ones', () => {
    expect(makeRedactor(['abcd', undefined])('x abcd y abcd')).toBe('x *** y ***');
    expect(makeRedactor(['ab'])('ab')).toBe('ab');
  });

  it('transportError finds TLS codes in the cause chain', () => {
    const site = { route: 'GET /api/v2/health', origin: 'https://h:1' };
    const inner = Object.assign(new Error('unable to verify the first certificate'), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    const outer = Object.assign(new Error('fetch failed', { cause: inner }), { code: 'UND_ERR_SOCKET' });
    const err = transportError(site, outer, (t) => t);
    expect(err.kind).toBe('Tls');
    expect(err.details.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    for (const code of [
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'CERT_HAS_EXPIRED',
      'EPROTO',
      'ERR_SSL_WRONG_VERSION_NUMBER',
    ])
      expect(transportError(site, Object.assign(new Error('x'), { code }), (t) => t).kind).toBe('Tls');
    expect(transportError(site, Object.assign(new Error('x'), { code: 'ECONNRESET' }), (t) => t).kind).toBe(
      'Transient',
    );
    expect(transportError(site, 'weird', (t) => t).kind).toBe('Transient');
    // A reset during the handshake (TiCDC restarting) is transient even when wrapped in a TLS code.
    const reset = Object.assign(
      new Error('Client network socket disconnected before secure TLS connection was established'),
      { code: 'ECONNRESET' },
    );
    expect(
      transportError(site, Object.assign(new Error('x', { cause: reset }), { code: 'EPROTO' }), (t) => t)
        .kind,
    ).toBe('Transient');
  });
});
