// Happy paths of every flavour, flavour detection, capture list, resign, health, status, hook, auth.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createTicdcClient, PROBE_ID_PREFIX, type TicdcRequestInfo } from '../../src/ticdc/client.js';
import { TicdcError, type TicdcClient } from '../../src/ticdc/types.js';
import { cdcError, startFakeServer, type FakeServer } from './fake-server.js';

const ID = 'd2912e63-3349-447c-90ba-0123456789ab';
const CAPTURE = { id: ID, is_owner: false, address: 'ticdc-1.ticdc-peer.ns.svc:8300', cluster_id: 'default' };
const OWNER = {
  id: 'owner-id',
  is_owner: true,
  address: 'ticdc-0.ticdc-peer.ns.svc:8300',
  cluster_id: 'default',
};

let server: FakeServer;
let client: TicdcClient;
let calls: TicdcRequestInfo[];

beforeEach(async () => {
  server = await startFakeServer();
  calls = [];
  // One request per call here; the fast in-step retries have their own tests below.
  client = createTicdcClient({
    endpoint: server.url,
    requestTimeoutMs: 2000,
    onRequest: (i) => calls.push(i),
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

describe('drain, per flavour', () => {
  it('V2: PUT /api/v2/captures/{id}/drain → maintainers and dispatchers', async () => {
    server.on(`PUT /api/v2/captures/${ID}/drain`, {
      status: 202,
      json: { current_maintainer_count: 3, current_dispatcher_count: 7, extra: 'ignored' },
    });
    await expect(client.drain('V2', ID)).resolves.toEqual({ maintainers: 3, dispatchers: 7 });
    expect(server.seen[0]!.body).toBe('');
  });

  it('V1: PUT /api/v1/captures/drain with {capture_id} → tables', async () => {
    server.on('PUT /api/v1/captures/drain', { status: 202, json: { current_table_count: 12 } });
    await expect(client.drain('V1', ID)).resolves.toEqual({ tables: 12 });
    expect(JSON.parse(server.seen[0]!.body)).toEqual({ capture_id: ID });
    expect(server.seen[0]!.headers['content-type']).toBe('application/json');
  });

  it('V2Classic: POST /api/v2/captures/{id}/drain without body → tables', async () => {
    server.on(`POST /api/v2/captures/${ID}/drain`, { status: 202, json: { current_table_count: 0 } });
    await expect(client.drain('V2Classic', ID)).resolves.toEqual({ tables: 0 });
    expect(server.seen[0]!.body).toBe('');
  });

  it('accepts 200 as well as 202', async () => {
    server.on('PUT /api/v1/captures/drain', { status: 200, json: { current_table_count: 4 } });
    await expect(client.drain('V1', ID)).resolves.toEqual({ tables: 4 });
  });

  it('URL-encodes capture ids', async () => {
    server.on('POST /api/v2/captures/a%2Fb%3Fc%20d/drain', { status: 202, json: { current_table_count: 1 } });
    await expect(client.drain('V2Classic', 'a/b?c d')).resolves.toEqual({ tables: 1 });
  });
});

describe('detectFlavor', () => {
  it('V2 when the GET drain status route answers 200', async () => {
    server.on(`GET /api/v2/captures/${ID}/drain`, {
      status: 200,
      json: { is_draining: false, remaining_maintainer_count: 0 },
    });
    await expect(client.detectFlavor(ID)).resolves.toBe('V2');
    expect(server.seen).toHaveLength(1);
  });

  it('V2 when the GET drain status route answers a TiCDC 400', async () => {
    server.on(
      `GET /api/v2/captures/${ID}/drain`,
      cdcError(400, 'CDC:ErrCaptureNotExist', `capture not exists, ${ID}`),
    );
    await expect(client.detectFlavor(ID)).resolves.toBe('V2');
  });

  it('V1 when v2 is absent and the v1 probe says the probe capture does not exist', async () => {
    server.on('PUT /api/v1/captures/drain', (req, res) => {
      const id = (JSON.parse(req.body) as { capture_id: string }).capture_id;
      res.writeHead(400, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          error_msg: `[CDC:ErrCaptureNotExist]capture not exists, ${id}`,
          error_code: 'CDC:ErrCaptureNotExist',
        }),
      );
    });
    await expect(client.detectFlavor(ID)).resolves.toBe('V1');
    const probe = JSON.parse(server.seen[1]!.body) as { capture_id: string };
    expect(probe.capture_id.startsWith(PROBE_ID_PREFIX)).toBe(true);
    expect(probe.capture_id).not.toBe(ID); // never the real target: detection must not start a drain
  });

  it('V1 on a single-capture tiflow cluster (400 ErrSchedulerRequestFailed)', async () => {
    server.on(
      'PUT /api/v1/captures/drain',
      cdcError(400, 'CDC:ErrSchedulerRequestFailed', 'scheduler request failed, only one capture alive'),
    );
    await expect(client.detectFlavor(ID)).resolves.toBe('V1');
  });

  it('Unsupported when the v1 route is the pre-v8.5.7 no-op stub (202 for a non-existent capture)', async () => {
    server.on('PUT /api/v1/captures/drain', { status: 202, json: { current_table_count: 0 } });
    const err = await failure(client.detectFlavor(ID));
    expect(err.kind).toBe('Unsupported');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/stub/);
  });

  it('Unsupported when no drain route exists at all', async () => {
    const err = await failure(client.detectFlavor(ID));
    expect(err.kind).toBe('Unsupported');
    expect(err.message).toMatch(/no drain API/);
    expect(err.details.status).toBe(404);
  });

  it('a transient error on the V2 probe propagates and decides nothing', async () => {
    server.on(`GET /api/v2/captures/${ID}/drain`, cdcError(500, '', 'election: no leader'));
    const err = await failure(client.detectFlavor(ID));
    expect(err.kind).toBe('NotReady');
    expect(err.retryable).toBe(true);
    expect(server.seen).toHaveLength(1);
  });

  it('a transient error on the V1 probe propagates', async () => {
    server.on(
      'PUT /api/v1/captures/drain',
      cdcError(503, 'CDC:ErrServerIsNotReady', 'cdc server is not ready'),
    );
    expect((await failure(client.detectFlavor(ID))).kind).toBe('NotReady');
    server.on('PUT /api/v1/captures/drain', { status: 502, text: 'bad gateway' });
    expect((await failure(client.detectFlavor(ID))).kind).toBe('Transient');
  });

  it('a V2 200 with a bad body is Transient, not V2', async () => {
    server.on(`GET /api/v2/captures/${ID}/drain`, { status: 200, json: { is_draining: 'no' } });
    expect((await failure(client.detectFlavor(ID))).kind).toBe('Transient');
  });

  it('an unrelated 400 on the v1 probe is not read as V1', async () => {
    server.on('PUT /api/v1/captures/drain', cdcError(400, 'CDC:ErrAPIInvalidParam', 'invalid api parameter'));
    expect((await failure(client.detectFlavor(ID))).kind).toBe('InvalidRequest');
  });
});

describe('listCaptures', () => {
  it('reads the v2 wrapped list', async () => {
    server.on('GET /api/v2/captures', {
      status: 200,
      json: { total: 2, items: [OWNER, { ...CAPTURE, extra: 1 }] },
    });
    await expect(client.listCaptures()).resolves.toEqual([
      { id: 'owner-id', isOwner: true, address: OWNER.address, clusterId: 'default' },
      { id: ID, isOwner: false, address: CAPTURE.address, clusterId: 'default' },
    ]);
  });

  it('falls back to the v1 bare array on 404', async () => {
    server.on('GET /api/v1/captures', {
      status: 200,
      json: [{ id: ID, is_owner: true, address: CAPTURE.address }],
    });
    await expect(client.listCaptures()).resolves.toEqual([
      { id: ID, isOwner: true, address: CAPTURE.address },
    ]);
    expect(calls.map((c) => [c.route, c.outcome, c.status])).toEqual([
      ['GET /api/v2/captures', 'Unsupported', 404],
      ['GET /api/v1/captures', 'ok', 200],
    ]);
  });

  it('does not fall back on other errors', async () => {
    server.on('GET /api/v2/captures', cdcError(500, 'CDC:ErrOwnerNotFound', 'owner not found'));
    expect((await failure(client.listCaptures())).kind).toBe('NotReady');
    expect(server.seen).toHaveLength(1);
  });

  it('maxAgeMs: a list read a moment ago by any view of the client will do; an older one is read again', async () => {
    server.on('GET /api/v2/captures', { status: 200, json: { total: 1, items: [OWNER] } });
    const first = await client.withoutRetries!().listCaptures();
    // Another controller's look, through another view, just after: no request.
    expect(await client.withSignal!(new AbortController().signal).listCaptures({ maxAgeMs: 1000 })).toEqual(
      first,
    );
    expect(server.seen).toHaveLength(1);
    // Without maxAgeMs, or past it, TiCDC is asked.
    await client.listCaptures();
    expect(server.seen).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 30));
    await client.listCaptures({ maxAgeMs: 10 });
    expect(server.seen).toHaveLength(3);
    // A failed read leaves the last good answer as it was, and is never reused itself.
    server.on('GET /api/v2/captures', { status: 502, text: 'bad gateway' });
    await expect(client.withoutRetries!().listCaptures()).rejects.toThrow();
    expect(await client.listCaptures({ maxAgeMs: 1000 })).toEqual(first);
  });

  it('never turns a bad answer into an empty list', async () => {
    server.on('GET /api/v2/captures', { status: 200, json: { total: 0, items: null } });
    expect((await failure(client.listCaptures())).kind).toBe('Transient');
    server.on('GET /api/v2/captures', { status: 200, json: { total: 0, items: [] } });
    expect((await failure(client.listCaptures())).kind).toBe('Transient');
    server.on('GET /api/v2/captures', {
      status: 200,
      json: { items: [{ id: ID, is_owner: 'true', address: 'a:1' }] },
    });
    expect((await failure(client.listCaptures())).kind).toBe('Transient');
  });
});

describe('resignOwner', () => {
  it('V2 and V2Classic: POST /api/v2/owner/resign, 200 {}', async () => {
    server.on('POST /api/v2/owner/resign', { status: 200, json: {} });
    await client.resignOwner('V2');
    await client.resignOwner('V2Classic');
    expect(server.seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      'POST /api/v2/owner/resign',
      'POST /api/v2/owner/resign',
    ]);
  });

  it('V1: POST /api/v1/owner/resign, 202 with an empty body (tiflow) or {} (new arch)', async () => {
    server.on('POST /api/v1/owner/resign', { status: 202 });
    await client.resignOwner('V1');
    server.on('POST /api/v1/owner/resign', { status: 202, json: {} });
    await client.resignOwner('V1');
  });

  it('errors are mapped, garbage is Transient', async () => {
    server.on('POST /api/v2/owner/resign', cdcError(500, 'CDC:ErrOwnerNotFound', 'owner not found'));
    expect((await failure(client.resignOwner('V2'))).kind).toBe('NotReady');
    server.on('POST /api/v2/owner/resign', { status: 200, text: '<html>proxy</html>' });
    expect((await failure(client.resignOwner('V2'))).kind).toBe('Transient');
  });
});

describe('health', () => {
  it('v2 200 {} and v1 200 empty are healthy', async () => {
    server.on('GET /api/v2/health', { status: 200, json: {} });
    server.on('GET /api/v1/health', { status: 200 });
    await client.health('V2');
    await client.health('V2Classic');
    await client.health('V1');
    expect(server.seen.map((s) => s.path)).toEqual(['/api/v2/health', '/api/v2/health', '/api/v1/health']);
  });

  it('500 ErrClusterIsUnhealthy is NotReady', async () => {
    server.on('GET /api/v2/health', cdcError(500, 'CDC:ErrClusterIsUnhealthy', 'TiCDC cluster is unhealthy'));
    const err = await failure(client.health('V2'));
    expect(err.kind).toBe('NotReady');
    expect(err.retryable).toBe(true);
  });
});

describe('serverStatus', () => {
  const status = {
    version: 'v8.5.7',
    git_hash: 'abc',
    id: ID,
    cluster_id: 'default',
    pid: 1,
    is_owner: false,
    liveness: 2,
  };

  it('reads /api/v2/status of the endpoint', async () => {
    server.on('GET /api/v2/status', { status: 200, json: status });
    await expect(client.serverStatus()).resolves.toEqual({
      version: 'v8.5.7',
      gitHash: 'abc',
      id: ID,
      clusterId: 'default',
      pid: 1,
      isOwner: false,
      liveness: 2,
    });
  });

  it('falls back to /status (no liveness, no cluster_id) on 404', async () => {
    server.on('GET /status', {
      status: 200,
      json: { version: 'v6.1.0', git_hash: 'x', id: ID, pid: 7, is_owner: true },
    });
    await expect(client.serverStatus()).resolves.toEqual({
      version: 'v6.1.0',
      gitHash: 'x',
      id: ID,
      pid: 7,
      isOwner: true,
    });
  });

  it('targets one capture by advertise address, with the default scheme mapping', async () => {
    const other = await startFakeServer();
    try {
      other.on('GET /api/v2/status', { status: 200, json: { ...status, id: 'other' } });
      const s = await client.serverStatus(`127.0.0.1:${other.port}`);
      expect(s.id).toBe('other');
      expect(server.seen).toHaveLength(0);
    } finally {
      await client.close();
      await other.close();
    }
  });

  it('uses resolveAddress to map an advertise address', async () => {
    server.on('GET /api/v2/status', { status: 200, json: status });
    const mapped = createTicdcClient({
      endpoint: 'http://unused.invalid:8300',
      resolveAddress: (a) => (a === 'ticdc-1.ticdc-peer.ns.svc:8300' ? server.url : 'http://wrong.invalid'),
    });
    try {
      await expect(mapped.serverStatus('ticdc-1.ticdc-peer.ns.svc:8300')).resolves.toMatchObject({ id: ID });
    } finally {
      await mapped.close();
    }
  });

  it('rejects negative or fractional liveness', async () => {
    server.on('GET /api/v2/status', { status: 200, json: { ...status, liveness: -1 } });
    expect((await failure(client.serverStatus())).kind).toBe('Transient');
    server.on('GET /api/v2/status', { status: 200, json: { ...status, liveness: 1.5 } });
    expect((await failure(client.serverStatus())).kind).toBe('Transient');
  });
});

describe('requests', () => {
  it('sends basic auth, user agent and accept on every request', async () => {
    const authed = createTicdcClient({
      endpoint: server.url,
      credentials: { username: 'cdc', password: 's3cret-pass' },
      userAgent: 'test-agent/1',
    });
    try {
      server.on('GET /api/v2/health', { status: 200, json: {} });
      server.on('PUT /api/v1/captures/drain', { status: 202, json: { current_table_count: 1 } });
      await authed.health('V2');
      await authed.drain('V1', ID);
      const expected = `Basic ${Buffer.from('cdc:s3cret-pass').toString('base64')}`;
      for (const s of server.seen) {
        expect(s.headers.authorization).toBe(expected);
        expect(s.headers['user-agent']).toBe('test-agent/1');
        expect(s.headers.accept).toBe('application/json');
      }
    } finally {
      await authed.close();
    }
  });

  it('takes credentials from endpoint userinfo and strips them from client.endpoint', async () => {
    const withUser = createTicdcClient({
      endpoint: server.url.replace('http://', 'http://root:pa%3Ass@') + '/',
    });
    try {
      expect(withUser.endpoint).toBe(server.url);
      server.on('GET /api/v2/health', { status: 200, json: {} });
      await withUser.health('V2');
      expect(server.seen[0]!.headers.authorization).toBe(
        `Basic ${Buffer.from('root:pa:ss').toString('base64')}`,
      );
    } finally {
      await withUser.close();
    }
  });

  it('sends no Authorization header without credentials', async () => {
    server.on('GET /api/v2/health', { status: 200, json: {} });
    await client.health('V2');
    expect(server.seen[0]!.headers.authorization).toBeUndefined();
  });

  it('keeps connections alive across requests (bounded pool)', async () => {
    const ports = new Set<number | undefined>();
    server.on('GET /api/v2/health', (_req, res) => {
      ports.add(res.socket?.remotePort);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    for (let i = 0; i < 8; i++) await client.health('V2');
    await Promise.all(Array.from({ length: 8 }, () => client.health('V2')));
    expect(ports.size).toBeLessThanOrEqual(4);
  });

  it('reports route templates, never capture ids, to onRequest', async () => {
    server.on(`PUT /api/v2/captures/${ID}/drain`, {
      status: 202,
      json: { current_maintainer_count: 1, current_dispatcher_count: 0 },
    });
    server.on(
      `POST /api/v2/captures/${ID}/drain`,
      cdcError(400, 'CDC:ErrCaptureNotExist', `capture not exists, ${ID}`),
    );
    await client.drain('V2', ID);
    await failure(client.drain('V2Classic', ID));
    await failure(client.detectFlavor(ID));
    expect(calls.map(({ route, method, outcome, status }) => ({ route, method, outcome, status }))).toEqual([
      { route: 'PUT /api/v2/captures/{id}/drain', method: 'PUT', outcome: 'ok', status: 202 },
      { route: 'POST /api/v2/captures/{id}/drain', method: 'POST', outcome: 'CaptureNotFound', status: 400 },
      { route: 'GET /api/v2/captures/{id}/drain', method: 'GET', outcome: 'Unsupported', status: 404 },
      { route: 'PUT /api/v1/captures/drain', method: 'PUT', outcome: 'Unsupported', status: 404 },
    ]);
    for (const c of calls) {
      expect(c.route).not.toContain(ID);
      expect(c.durationMs).toBeGreaterThanOrEqual(0);
    }
  });

  it('a throwing hook does not break the call', async () => {
    const c = createTicdcClient({
      endpoint: server.url,
      onRequest: () => {
        throw new Error('boom');
      },
    });
    try {
      server.on('GET /api/v2/health', { status: 200, json: {} });
      await expect(c.health('V2')).resolves.toBeUndefined();
    } finally {
      await c.close();
    }
  });

  it('rejects calls after close()', async () => {
    await client.close();
    const err = await failure(client.health('V2'));
    expect(err.kind).toBe('InvalidRequest');
  });

  it('supports an endpoint with a path prefix', async () => {
    const prefixed = createTicdcClient({ endpoint: `${server.url}/ticdc/` });
    try {
      server.on('GET /ticdc/api/v2/health', { status: 200, json: {} });
      await prefixed.health('V2');
      expect(prefixed.endpoint).toBe(`${server.url}/ticdc`);
    } finally {
      await prefixed.close();
    }
  });
});

describe('createTicdcClient options', () => {
  it('rejects bad endpoints and options without echoing secrets', () => {
    const bad = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return err as TicdcError;
      }
      throw new Error('expected a throw');
    };
    expect(bad(() => createTicdcClient({ endpoint: 'ftp://x' })).kind).toBe('InvalidRequest');
    const e = bad(() => createTicdcClient({ endpoint: 'not a url hunter2' }));
    expect(e.message).not.toContain('hunter2');
    expect(bad(() => createTicdcClient({ endpoint: 'http://x:1', tls: { ca: 'pem' } })).message).toMatch(
      /https/,
    );
    expect(bad(() => createTicdcClient({ endpoint: 'https://x:1', tls: { cert: 'pem' } })).message).toMatch(
      /cert and key/,
    );
    expect(bad(() => createTicdcClient({ endpoint: 'https://x:1', requestTimeoutMs: 0 })).kind).toBe(
      'InvalidRequest',
    );
  });
});

describe('verdicts that hold against real TiCDC (issue cases 1 and 5)', () => {
  const ID2 = 'd2912e63-3349-447c-90ba-0123456789ab';
  it('retries a transient failure quickly inside one call, with jitter, and succeeds', async () => {
    const c = createTicdcClient({ endpoint: server.url, retry: { retries: 2, baseDelayMs: 20 } });
    let n = 0;
    server.on('PUT /api/v1/captures/drain', (_req, res) => {
      if (++n < 3) res.writeHead(502).end('<html>bad gateway</html>');
      else res.writeHead(202, { 'content-type': 'application/json' }).end('{"current_table_count":4}');
    });
    try {
      await expect(c.drain('V1', ID2)).resolves.toEqual({ tables: 4 });
      expect(n).toBe(3);
    } finally {
      await c.close();
    }
  });

  it('withoutRetries asks once: a look repeated on a schedule is not multiplied by a fault', async () => {
    const c = createTicdcClient({ endpoint: server.url, retry: { retries: 2, baseDelayMs: 1 } });
    server.on('PUT /api/v1/captures/drain', { status: 502, text: 'bad gateway' });
    try {
      expect((await failure(c.withoutRetries!().drain('V1', ID2))).kind).toBe('Transient');
      expect(server.seen).toHaveLength(1);
      // The client itself keeps its retries.
      expect((await failure(c.drain('V1', ID2))).kind).toBe('Transient');
      expect(server.seen).toHaveLength(4);
    } finally {
      await c.close();
    }
  });

  it('never retries a resign (a second one could resign the new coordinator)', async () => {
    const c = createTicdcClient({ endpoint: server.url, retry: { retries: 2, baseDelayMs: 1 } });
    server.on('POST /api/v2/owner/resign', { status: 502, text: 'bad gateway' });
    try {
      expect((await failure(c.resignOwner('V2'))).kind).toBe('Transient');
      expect(server.seen).toHaveLength(1);
    } finally {
      await c.close();
    }
  });

  it('a garbled 400 during flavour detection is transient, not InvalidRequest', async () => {
    server.on(`GET /api/v2/captures/${ID2}/drain`, { status: 400, text: '{"error_msg":"[CDC:Err' });
    const err = await failure(client.detectFlavor(ID2));
    expect(err.kind).toBe('Transient');
    expect(err.retryable).toBe(true);
  });

  it("a proxy's 404 is transient; only TiCDC's own route-absent 404 means the route is absent", async () => {
    server.on(`GET /api/v2/captures/${ID2}/drain`, { status: 404, text: '<html>Not Found</html>' });
    expect((await failure(client.detectFlavor(ID2))).kind).toBe('Transient');
    expect(server.seen.map((r) => r.method)).toEqual(['GET']); // no fallback to the V1 probe
  });

  it('the stub check runs for an explicit V1 (pre-v8.5.7 new-arch stub accepts any capture)', async () => {
    server.on('PUT /api/v1/captures/drain', { status: 202, json: { current_table_count: 0 } });
    const err = await failure(client.checkV1Drain());
    expect(err.kind).toBe('Unsupported');
    expect(err.message).toMatch(/stub/);
    server.on('PUT /api/v1/captures/drain', cdcError(400, 'CDC:ErrCaptureNotExist', 'capture not exists, x'));
    await expect(client.checkV1Drain()).resolves.toBeUndefined();
  });

  it('architecture: the classic POST drain route answers a TiCDC 400; the new arch has no such route', async () => {
    await expect(client.architecture('v8.5.7')).resolves.toBe('NewArch'); // gin 404
    const reply = cdcError(400, 'CDC:ErrCaptureNotExist', 'capture not exists, x');
    const get = server.routes.get.bind(server.routes);
    server.routes.get = (k: string) => (k.startsWith('POST /api/v2/captures/') ? reply : get(k));
    await expect(client.architecture('v8.5.7')).resolves.toBe('Classic');
    // Releases before v8.5 are classic without asking.
    const before = server.seen.length;
    await expect(client.architecture('v7.5.0')).resolves.toBe('Classic');
    expect(server.seen.length).toBe(before);
  });

  it("serverStatus(address) asks the capture's own address (status is not forwarded)", async () => {
    const own = await startFakeServer();
    own.on('GET /api/v2/status', {
      status: 200,
      json: { version: 'v8.5.7', id: 'c1', is_owner: false, liveness: 2 },
    });
    const c = createTicdcClient({
      endpoint: server.url,
      resolveAddress: (a) => (a === 'ticdc-1.p.ns.svc:8300' ? own.url : undefined),
    });
    try {
      await expect(c.serverStatus('ticdc-1.p.ns.svc:8300')).resolves.toMatchObject({ id: 'c1', liveness: 2 });
      expect(server.seen).toHaveLength(0);
    } finally {
      await c.close();
      await own.close();
    }
  });
});
