// TLS: CA + client certificate (mTLS as TiCDC `mtls = true` / `cert-allowed-cn`, docs/ticdc-api.md §1),
// verification failures → Tls. Throwaway certificates are made with openssl in a tmp dir.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, rmSync } from 'node:fs';
import { createTicdcClient, type TicdcClientOptions } from '../../src/ticdc/client.js';
import { TicdcError } from '../../src/ticdc/types.js';
import { makeTestPki } from '../support/pki.js';
import { startFakeServer, type FakeServer } from './fake-server.js';

let dirs: string[] = [];
let pem: (name: string) => Buffer;
let mtls: FakeServer; // requires a client certificate signed by the CA
let plain: FakeServer; // plain HTTP

beforeAll(async () => {
  const pki = makeTestPki();
  const other = makeTestPki(); // an unrelated CA: its certificate must not verify our server
  dirs = [pki.dir, other.dir];
  pem = (name) =>
    name === 'wrong-ca.crt' ? readFileSync(other.path('ca.crt')) : readFileSync(pki.path(name));
  mtls = await startFakeServer({
    key: pem('server.key'),
    cert: pem('server.crt'),
    ca: pem('ca.crt'),
    requestCert: true,
    rejectUnauthorized: true,
  });
  mtls.on('PUT /api/v1/captures/drain', { status: 202, json: { current_table_count: 5 } });
  mtls.on('GET /api/v2/status', {
    status: 200,
    json: { version: 'v8.5.7', id: 'c1', is_owner: false, liveness: 0 },
  });
  plain = await startFakeServer();
});

afterAll(async () => {
  await mtls?.close();
  await plain?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const PASSWORD = 'tls-test-password';

async function drainWith(opts: Partial<TicdcClientOptions>, endpoint = mtls.url): Promise<unknown> {
  const client = createTicdcClient({
    endpoint,
    credentials: { username: 'cdc', password: PASSWORD },
    connectTimeoutMs: 1000,
    requestTimeoutMs: 1000,
    ...opts,
  });
  try {
    return await client.drain('V1', 'capture-1');
  } finally {
    await client.close();
  }
}

async function failure(p: Promise<unknown>): Promise<TicdcError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TicdcError);
    const e = err as TicdcError;
    expect(e.message).not.toContain(PASSWORD);
    return e;
  }
  throw new Error('expected a TicdcError');
}

describe('TLS', () => {
  it('drains over mTLS with the CA and a client certificate', async () => {
    const before = mtls.seen.length;
    await expect(
      drainWith({ tls: { ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key') } }),
    ).resolves.toEqual({ tables: 5 });
    const seen = mtls.seen[before]!;
    expect(seen.peerCN).toBe('capture-drain-operator');
    expect(seen.headers.authorization).toBe(`Basic ${Buffer.from(`cdc:${PASSWORD}`).toString('base64')}`);
  });

  it('accepts PEM as strings too', async () => {
    await expect(
      drainWith({
        tls: {
          ca: pem('ca.crt').toString('utf8'),
          cert: pem('client.crt').toString('utf8'),
          key: pem('client.key').toString('utf8'),
        },
      }),
    ).resolves.toEqual({ tables: 5 });
  });

  it('serverStatus(address) uses https and the same TLS material', async () => {
    const client = createTicdcClient({
      endpoint: 'https://ticdc.invalid:8300',
      tls: { ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key') },
      requestTimeoutMs: 1000,
    });
    try {
      await expect(client.serverStatus(`127.0.0.1:${mtls.port}`)).resolves.toMatchObject({
        id: 'c1',
        liveness: 0,
      });
    } finally {
      await client.close();
    }
  });

  it('a wrong CA is Tls, not retryable', async () => {
    const err = await failure(
      drainWith({ tls: { ca: pem('wrong-ca.crt'), cert: pem('client.crt'), key: pem('client.key') } }),
    );
    expect(err.kind).toBe('Tls');
    expect(err.retryable).toBe(false);
    expect(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN']).toContain(err.details.code);
  });

  it('no CA (system roots only) is Tls', async () => {
    const err = await failure(drainWith({ tls: { cert: pem('client.crt'), key: pem('client.key') } }));
    expect(err.kind).toBe('Tls');
  });

  it('a certificate not valid for the server name is Tls', async () => {
    const err = await failure(
      drainWith({
        tls: {
          ca: pem('ca.crt'),
          cert: pem('client.crt'),
          key: pem('client.key'),
          serverName: 'other.example',
        },
      }),
    );
    expect(err.kind).toBe('Tls');
    expect(err.details.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('serverName verifies against a SAN when the URL host differs', async () => {
    await expect(
      drainWith({
        tls: { ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key'), serverName: 'localhost' },
      }),
    ).resolves.toEqual({ tables: 5 });
  });

  it('insecureSkipVerify accepts an unverifiable server', async () => {
    await expect(
      drainWith({
        tls: {
          ca: pem('wrong-ca.crt'),
          cert: pem('client.crt'),
          key: pem('client.key'),
          insecureSkipVerify: true,
        },
      }),
    ).resolves.toEqual({ tables: 5 });
  });

  it('a missing client certificate on an mTLS server fails, and is not read as success', async () => {
    const err = await failure(drainWith({ tls: { ca: pem('ca.crt') } }));
    // Node's TLS server just closes the connection (a Go server may send an alert: then Tls).
    expect(['Tls', 'Transient']).toContain(err.kind);
    if (err.kind === 'Transient') expect(err.message).toMatch(/no client certificate configured/);
  });

  it('https against a plain-HTTP server is Tls', async () => {
    const err = await failure(
      drainWith({ tls: { ca: pem('ca.crt') } }, plain.url.replace('http:', 'https:')),
    );
    expect(err.kind).toBe('Tls');
  });
});
