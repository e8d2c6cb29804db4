// TicdcClientPool: one client per cluster; a replaced client (its Secret changed) is closed after the
// retirement delay, an unused cluster's client after the idle period; close() closes everything.
import { describe, expect, test } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { TicdcClientPool, type TicdcClientFactory } from '../../src/drain/ticdc-clients.js';
import type { ClusterSettings } from '../../src/drain/settings.js';
import { Resources, type KubeObject } from '../../src/kube/port.js';
import type { TicdcClient } from '../../src/ticdc/types.js';
import { FakeKube } from '../support/fake-kube.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const creds = (password: string): KubeObject & { data: Record<string, string> } => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'creds', namespace: 'tidb' },
  data: { username: b64('root'), password: b64(password) },
});
const cluster = (endpoint: string, credentialsSecret?: string): ClusterSettings => ({
  endpoint,
  insecureSkipVerify: false,
  ...(credentialsSecret ? { credentialsSecret } : {}),
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Made {
  endpoint: string;
  password: string | undefined;
  closed: boolean;
}

function fakeFactory(made: Made[]): TicdcClientFactory {
  return (opts) => {
    const m: Made = { endpoint: opts.endpoint, password: opts.credentials?.password, closed: false };
    made.push(m);
    return {
      close: async () => {
        m.closed = true;
      },
    } as unknown as TicdcClient;
  };
}

describe('TicdcClientPool', () => {
  test('one client per cluster; a changed Secret gets a new client and the old one is closed after the retirement delay', async () => {
    const kube = new FakeKube();
    kube.seed(Resources.secrets, creds('one'));
    const made: Made[] = [];
    const pool = new TicdcClientPool(kube, { factory: fakeFactory(made), retireAfterMs: 30 });
    const a = cluster('http://ticdc-a:8300', 'creds');
    const first = await pool.get('tidb', a);
    expect(await pool.get('tidb', a)).toBe(first);
    await pool.get('tidb', cluster('http://ticdc-b:8300'));
    expect(made.map((m) => m.endpoint)).toEqual(['http://ticdc-a:8300', 'http://ticdc-b:8300']);
    expect(pool.size).toBe(2);

    await kube.replace(Resources.secrets, creds('two'));
    const second = await pool.get('tidb', a);
    expect(second).not.toBe(first);
    expect(made.map((m) => m.password)).toEqual(['one', undefined, 'two']);
    expect(pool.size).toBe(2); // still one per cluster
    expect(made[0]!.closed).toBe(false); // a reconcile may still hold it
    await sleep(60);
    expect(made.map((m) => m.closed)).toEqual([true, false, false]);
    expect(await pool.get('tidb', a)).toBe(second);
    await pool.close();
    expect(made.map((m) => m.closed)).toEqual([true, true, true]);
  });

  test('a cluster nobody asked for during the idle period loses its client', async () => {
    const kube = new FakeKube();
    const made: Made[] = [];
    let now = 1_000_000;
    const pool = new TicdcClientPool(kube, {
      factory: fakeFactory(made),
      idleAfterMs: 600_000,
      now: () => now,
    });
    await pool.get('tidb', cluster('http://ticdc-a:8300'));
    await pool.get('tidb', cluster('http://ticdc-b:8300'));
    now += 400_000;
    await pool.get('tidb', cluster('http://ticdc-b:8300')); // b stays in use
    now += 300_000; // a: 700 s idle, b: 300 s
    await pool.get('tidb', cluster('http://ticdc-b:8300'));
    expect(made.map((m) => m.closed)).toEqual([true, false]);
    expect(pool.size).toBe(1);
    // Asked for again later: a fresh client.
    await pool.get('tidb', cluster('http://ticdc-a:8300'));
    expect(made).toHaveLength(3);
    await pool.close();
  });

  test('a retired real client has closed its connections', async () => {
    const sockets = new Set<Socket>();
    const server: Server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('[]');
    });
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const kube = new FakeKube();
    kube.seed(Resources.secrets, creds('one'));
    const pool = new TicdcClientPool(kube, { retireAfterMs: 20 });
    try {
      const old = await pool.get('tidb', cluster(endpoint, 'creds'));
      await old.listCaptures().catch(() => undefined); // opens a keep-alive connection
      expect(sockets.size).toBe(1);
      await kube.replace(Resources.secrets, creds('two'));
      await pool.get('tidb', cluster(endpoint, 'creds'));
      await sleep(100);
      expect(sockets.size).toBe(0); // the old client's pool closed its connection
      await expect(old.listCaptures()).rejects.toThrow(/closed/);
    } finally {
      await pool.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
