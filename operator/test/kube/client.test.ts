// Unit test of our request building (paths, verbs, query, content types, auth header, error
// mapping, watch stream handling) against a local HTTP server. Not a Kubernetes substitute.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createKubeClient, resourcePath, type RestKubeClient } from '../../src/kube/client.js';
import { parseKubeconfig } from '../../src/kube/kubeconfig.js';
import { KubeApiError, Resources, type KubeObject, type WatchEventType } from '../../src/kube/port.js';

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
}

type Handler = (req: Seen, res: ServerResponse) => void;

let server: Server;
let port: number;
let seen: Seen[] = [];
let handler: Handler;

const json = (res: ServerResponse, code: number, body: unknown) =>
  res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
const statusBody = (code: number, reason: string, message: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  code,
  reason,
  message,
});

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url!, 'http://x');
      const raw = Buffer.concat(chunks).toString();
      const s: Seen = {
        method: req.method!,
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: raw ? JSON.parse(raw) : undefined,
      };
      seen.push(s);
      handler(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

let client: RestKubeClient;
const kubeconfig = (server: string, token: string) =>
  parseKubeconfig(
    `{clusters: [{name: c, cluster: {server: "${server}", insecure-skip-tls-verify: true}}],
      users: [{name: u, user: {token: ${token}}}],
      contexts: [{name: ctx, context: {cluster: c, user: u}}], current-context: ctx}`,
    { baseDir: '.' },
  );
beforeEach(() => {
  seen = [];
  handler = (_req, res) => json(res, 200, { metadata: { name: 'x' } });
  // The trailing slash is deliberate: it must not become "//api/..." in request paths.
  const kc = kubeconfig(`http://127.0.0.1:${port}/`, 'secret-token');
  client = createKubeClient(kc, {
    fieldManager: 'capture-drain',
    userAgent: 'capture-drain-test',
    watchIdleTimeoutMs: 5000,
  });
});

describe('resourcePath', () => {
  it('builds core, grouped, namespaced, cluster-scoped and subresource paths', () => {
    expect(resourcePath(Resources.pods, 'ns', 'p')).toBe('/api/v1/namespaces/ns/pods/p');
    expect(resourcePath(Resources.pods)).toBe('/api/v1/pods');
    expect(resourcePath(Resources.nodes, 'ignored', 'n1')).toBe('/api/v1/nodes/n1');
    expect(resourcePath(Resources.statefulsets, 'ns')).toBe('/apis/apps/v1/namespaces/ns/statefulsets');
    expect(resourcePath(Resources.capturedrains, 'ns', 'd', 'status')).toBe(
      '/apis/drain.ticdc.io/v1alpha1/namespaces/ns/capturedrains/d/status',
    );
    expect(() => resourcePath(Resources.pods, undefined, 'p')).toThrow(/namespace is required/);
  });
});

describe('RestKubeClient requests', () => {
  it('GET with bearer auth; 404 → undefined; timestamps stay strings', async () => {
    handler = (_r, res) =>
      json(res, 200, { metadata: { name: 'p', creationTimestamp: '2026-11-21T10:00:00Z' } });
    const pod = await client.get(Resources.pods, 'ns', 'p');
    expect(seen[0]).toMatchObject({ method: 'GET', path: '/api/v1/namespaces/ns/pods/p' });
    expect(seen[0]!.headers.authorization).toBe('Bearer secret-token');
    expect(seen[0]!.headers['user-agent']).toBe('capture-drain-test');
    expect(pod!.metadata.creationTimestamp).toBe('2026-11-21T10:00:00Z');
    handler = (_r, res) => json(res, 404, statusBody(404, 'NotFound', 'pods "p" not found'));
    expect(await client.get(Resources.pods, 'ns', 'p')).toBeUndefined();
  });

  it('LIST with selectors and paging; items get apiVersion/kind', async () => {
    handler = (_r, res) =>
      json(res, 200, {
        metadata: { resourceVersion: '42', continue: 'tok2' },
        items: [{ metadata: { name: 'd' } }],
      });
    const page = await client.list(Resources.capturedrains, {
      namespace: 'ns',
      labelSelector: 'a=b',
      limit: 50,
      continue: 'tok1',
    });
    expect(seen[0]!.path).toBe('/apis/drain.ticdc.io/v1alpha1/namespaces/ns/capturedrains');
    expect(Object.fromEntries(seen[0]!.query)).toEqual({
      labelSelector: 'a=b',
      limit: '50',
      continue: 'tok1',
    });
    expect(page).toEqual({
      resourceVersion: '42',
      continue: 'tok2',
      items: [{ apiVersion: 'drain.ticdc.io/v1alpha1', kind: 'CaptureDrain', metadata: { name: 'd' } }],
    });
    await client.list(Resources.nodes);
    expect(seen[1]!.path).toBe('/api/v1/nodes');
  });

  it('POST create (dryRun=All) and PUT replace of a subresource', async () => {
    await client.create(
      Resources.statefulsets,
      { metadata: { namespace: 'ns', name: 's' } },
      { dryRun: true },
    );
    expect(seen[0]).toMatchObject({ method: 'POST', path: '/apis/apps/v1/namespaces/ns/statefulsets' });
    expect(seen[0]!.query.get('dryRun')).toBe('All');
    expect(seen[0]!.query.get('fieldManager')).toBe('capture-drain');
    expect(seen[0]!.headers['content-type']).toBe('application/json');
    expect(seen[0]!.body).toMatchObject({ apiVersion: 'apps/v1', kind: 'StatefulSet' });
    await client.replace(
      Resources.capturedrains,
      { metadata: { namespace: 'ns', name: 'd', resourceVersion: '7' } },
      { subresource: 'status' },
    );
    expect(seen[1]).toMatchObject({
      method: 'PUT',
      path: '/apis/drain.ticdc.io/v1alpha1/namespaces/ns/capturedrains/d/status',
    });
  });

  it('PATCH content types: merge, json, apply (fieldManager + force)', async () => {
    await client.patch(Resources.capturedrains, 'ns', 'd', { status: { phase: 'Draining' } }, 'merge', {
      subresource: 'status',
    });
    expect(seen[0]).toMatchObject({
      method: 'PATCH',
      path: '/apis/drain.ticdc.io/v1alpha1/namespaces/ns/capturedrains/d/status',
    });
    expect(seen[0]!.headers['content-type']).toBe('application/merge-patch+json');
    await client.patch(Resources.pods, 'ns', 'p', [{ op: 'remove', path: '/metadata/finalizers/0' }], 'json');
    expect(seen[1]!.headers['content-type']).toBe('application/json-patch+json');
    expect(seen[1]!.body).toEqual([{ op: 'remove', path: '/metadata/finalizers/0' }]);
    await client.patch(
      Resources.statefulsets,
      'ns',
      's',
      { apiVersion: 'apps/v1', kind: 'StatefulSet' },
      'apply',
      { force: true, fieldManager: 'mgr' },
    );
    expect(seen[2]!.headers['content-type']).toBe('application/apply-patch+yaml');
    expect(Object.fromEntries(seen[2]!.query)).toEqual({ fieldManager: 'mgr', force: 'true' });
    await client.patch(Resources.nodes, undefined, 'n1', { spec: { unschedulable: true } }, 'merge', {
      subresource: 'scale',
    });
    expect(seen[3]!.path).toBe('/api/v1/nodes/n1/scale');
  });

  it('DELETE with preconditions, grace period, propagation and dryRun; 404 → false', async () => {
    expect(
      await client.delete(Resources.pods, 'ns', 'p', {
        uid: 'u1',
        resourceVersion: '9',
        gracePeriodSeconds: 0,
        propagationPolicy: 'Background',
        dryRun: true,
      }),
    ).toBe(true);
    expect(seen[0]).toMatchObject({ method: 'DELETE', path: '/api/v1/namespaces/ns/pods/p' });
    expect(seen[0]!.body).toEqual({
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      preconditions: { uid: 'u1', resourceVersion: '9' },
      gracePeriodSeconds: 0,
      propagationPolicy: 'Background',
      dryRun: ['All'],
    });
    handler = (_r, res) => json(res, 404, statusBody(404, 'NotFound', 'gone'));
    expect(await client.delete(Resources.pods, 'ns', 'p')).toBe(false);
  });

  it('evict POSTs a policy/v1 Eviction; 429 stays 429 with the server message', async () => {
    handler = (_r, res) => json(res, 201, statusBody(201, '', ''));
    await client.evict('ns', 'cdc-0', { uid: 'u1' });
    expect(seen[0]).toMatchObject({ method: 'POST', path: '/api/v1/namespaces/ns/pods/cdc-0/eviction' });
    expect(seen[0]!.body).toEqual({
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'cdc-0', namespace: 'ns' },
      deleteOptions: { preconditions: { uid: 'u1' } },
    });
    handler = (_r, res) =>
      json(
        res,
        429,
        statusBody(
          429,
          'TooManyRequests',
          "Cannot evict pod as it would violate the pod's disruption budget.",
        ),
      );
    const err = (await client.evict('ns', 'cdc-0').catch((e: unknown) => e)) as KubeApiError;
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err.status).toBe(429);
    expect(err.reason).toBe('TooManyRequests');
    expect(err.message).toMatch(/disruption budget/);
  });

  it('maps Status errors and non-Status errors to KubeApiError', async () => {
    handler = (_r, res) => json(res, 409, statusBody(409, 'Conflict', 'the object has been modified'));
    const e1 = (await client
      .replace(Resources.pods, { metadata: { namespace: 'ns', name: 'p' } })
      .catch((e: unknown) => e)) as KubeApiError;
    expect(e1.isConflict).toBe(true);
    expect(e1.message).toBe('the object has been modified');
    handler = (_r, res) =>
      res.writeHead(503, { 'Content-Type': 'text/html' }).end('<html>bad gateway</html>');
    const e2 = (await client.get(Resources.pods, 'ns', 'p').catch((e: unknown) => e)) as KubeApiError;
    expect(e2.status).toBe(503);
    expect(e2.reason).toBe('ServiceUnavailable');
  });
});

describe('RestKubeClient watch', () => {
  function streaming(lines: unknown[], end = true): Handler {
    return (_r, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      for (const l of lines) res.write(JSON.stringify(l) + '\n');
      if (end) res.end();
    };
  }

  it('sends watch query params, streams events and resolves on a clean close', async () => {
    handler = streaming([
      { type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '11' } } },
      { type: 'BOOKMARK', object: { metadata: { resourceVersion: '12' } } },
    ]);
    const events: Array<[WatchEventType, string | undefined]> = [];
    const h = await client.watch<KubeObject>(
      Resources.pods,
      {
        namespace: 'ns',
        resourceVersion: '10',
        allowWatchBookmarks: true,
        timeoutSeconds: 250,
        labelSelector: 'app=cdc',
      },
      (t, o) => events.push([t, o.metadata.resourceVersion]),
    );
    await h.done;
    expect(seen[0]!.path).toBe('/api/v1/namespaces/ns/pods');
    expect(Object.fromEntries(seen[0]!.query)).toEqual({
      watch: 'true',
      resourceVersion: '10',
      allowWatchBookmarks: 'true',
      timeoutSeconds: '250',
      labelSelector: 'app=cdc',
    });
    expect(seen[0]!.headers.authorization).toBe('Bearer secret-token');
    expect(events).toEqual([
      ['ADDED', '11'],
      ['BOOKMARK', '12'],
    ]);
  });

  it('an ERROR event with a 410 Status rejects done with isGone', async () => {
    handler = streaming(
      [{ type: 'ERROR', object: statusBody(410, 'Expired', 'too old resource version: 1 (5)') }],
      false,
    );
    const events: WatchEventType[] = [];
    const h = await client.watch(Resources.pods, { namespace: 'ns', resourceVersion: '1' }, (t) =>
      events.push(t),
    );
    const err = (await h.done.catch((e: unknown) => e)) as KubeApiError;
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err.isGone).toBe(true);
    expect(err.reason).toBe('Expired');
    expect(events).toEqual(['ERROR']);
  });

  it('a non-200 answer rejects done with KubeApiError', async () => {
    handler = (_r, res) => json(res, 403, statusBody(403, 'Forbidden', 'nope'));
    const h = await client.watch(Resources.capturedrains, {}, () => undefined);
    const err = (await h.done.catch((e: unknown) => e)) as KubeApiError;
    expect(err.status).toBe(403);
    expect(seen[0]!.path).toBe('/apis/drain.ticdc.io/v1alpha1/capturedrains');
  });

  it('also builds the right watch URL when the server URL has no trailing slash', async () => {
    const kc = kubeconfig(`http://127.0.0.1:${port}`, 't');
    handler = streaming([]);
    const h = await createKubeClient(kc).watch(Resources.leases, { namespace: 'ops' }, () => undefined);
    await h.done;
    expect(seen[0]!.path).toBe('/apis/coordination.k8s.io/v1/namespaces/ops/leases');
  });

  it('close() ends a watch left open instead of waiting for it', async () => {
    handler = streaming([{ type: 'ADDED', object: { metadata: { name: 'a' } } }], false);
    const own = createKubeClient(kubeconfig(`http://127.0.0.1:${port}`, 't'));
    const h = await own.watch(Resources.pods, { namespace: 'ns' }, () => undefined);
    const t0 = Date.now();
    await own.close(5000);
    expect(Date.now() - t0).toBeLessThan(2000);
    await expect(h.done).resolves.toBeUndefined(); // ended cleanly, like abort()
  });

  it('abort() resolves done cleanly', async () => {
    handler = streaming([{ type: 'ADDED', object: { metadata: { name: 'a' } } }], false);
    let got = 0;
    const h = await client.watch(Resources.pods, { namespace: 'ns' }, () => got++);
    await new Promise((r) => setTimeout(r, 20));
    h.abort();
    await expect(h.done).resolves.toBeUndefined();
    expect(got).toBe(1);
  });
});

afterAll(async () => {
  await client?.close();
});

describe('RestKubeClient fenced views', () => {
  it('check() runs before every request: an ended term sends nothing', async () => {
    let over = false;
    const fenced = client.fenced({
      signal: new AbortController().signal,
      check: () => {
        if (over) throw new Error('leadership term over');
      },
    });
    await fenced.get(Resources.pods, 'ns', 'p');
    expect(seen.length).toBe(1);
    over = true;
    await expect(
      fenced.patch(Resources.capturedrains, 'ns', 'd', { status: {} }, 'merge', { subresource: 'status' }),
    ).rejects.toThrow('leadership term over');
    expect(seen.length).toBe(1);
    await client.get(Resources.pods, 'ns', 'p'); // the unfenced client shares the pool, unaffected
    expect(seen.length).toBe(2);
  });

  it('the signal cancels a request in flight with its reason', async () => {
    handler = () => undefined; // never answers
    const term = new AbortController();
    const fenced = client.fenced({ signal: term.signal, check: () => term.signal.throwIfAborted() });
    const call = fenced.delete(Resources.pods, 'ns', 'p');
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 2));
    term.abort(new Error('leader election lost'));
    await expect(call).rejects.toThrow('leader election lost');
  });
});
