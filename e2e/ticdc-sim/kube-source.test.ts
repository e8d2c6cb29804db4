// The Kubernetes capture registry: pod incarnations → captures, driven by an in-memory pod source,
// plus the real KubePodSource (client-node list+watch) against a tiny fake API server.

import { afterEach, describe, expect, it } from '@jest/globals';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ManualClock } from './clock.js';
import type { PodLike } from './kube-source.js';
import { InMemoryPodSource, KubePodSource, PodCaptureRegistry, renderAddress } from './kube-source.js';
import type { TicdcSimulator } from './simulator.js';
import { call, drainV1, startManual } from './testutil.js';

interface PodArgs {
  name: string;
  uid?: string;
  ready?: boolean;
  phase?: string;
  deleting?: boolean;
  /** With deleting: the grace period (0 is a forced delete). */
  grace?: number;
  restarts?: number;
}
function pod({
  name,
  uid = `uid-${name}`,
  ready = true,
  phase = 'Running',
  deleting,
  grace,
  restarts = 0,
}: PodArgs): PodLike {
  return {
    metadata: {
      name,
      namespace: 'tidb',
      uid,
      ...(deleting && { deletionTimestamp: '2026-01-01T00:00:00Z' }),
      ...(deleting && grace !== undefined && { deletionGracePeriodSeconds: grace }),
    },
    spec: { subdomain: 'basic-ticdc-peer', hostname: name },
    status: {
      phase,
      podIP: '10.0.0.1',
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      containerStatuses: [{ restartCount: restarts }],
    },
  };
}

let sim: TicdcSimulator | undefined;
let clock: ManualClock;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

async function startKube(source: InMemoryPodSource, opts: Parameters<typeof startManual>[0] = {}) {
  ({ sim, clock } = await startManual({
    podSource: source,
    changefeeds: 2,
    tablesPerChangefeed: 6,
    moveRatePerSec: 20,
    ...opts,
  }));
  return sim!;
}

describe('pod registry', () => {
  it('joins Running+Ready pods as captures with templated addresses; the first one is owner', async () => {
    const src = new InMemoryPodSource();
    src.apply(pod({ name: 'basic-ticdc-0' }));
    src.apply(pod({ name: 'basic-ticdc-1', ready: false }));
    const s = await startKube(src);
    expect(s.captures()).toEqual([
      expect.objectContaining({
        address: 'basic-ticdc-0.basic-ticdc-peer.tidb.svc:8300',
        podName: 'basic-ticdc-0',
        podUid: 'uid-basic-ticdc-0',
        isOwner: true,
      }),
    ]);
    src.apply(pod({ name: 'basic-ticdc-1' }));
    src.apply(pod({ name: 'basic-ticdc-2', phase: 'Pending', ready: false }));
    expect(s.captures().map((c) => c.podName)).toEqual(['basic-ticdc-0', 'basic-ticdc-1']);
    clock.advance(100); // initial placement happened with the first capture; rebalance follows
    clock.advance(2000);
    expect(s.captures().map((c) => c.dispatchers)).toEqual([6, 6]);
    await expect(s.addCapture()).rejects.toThrow(/pods/);
  });

  it('records a violation when a pod holding work is deleted, none after a drain', async () => {
    const src = new InMemoryPodSource();
    for (const i of [0, 1, 2]) src.apply(pod({ name: `ticdc-${i}` }));
    const s = await startKube(src);
    clock.advance(300); // the first coordinator bootstraps (200 ms)
    const [, a, b] = s.captures();
    await drainV1(s, a!.id);
    clock.advance(1000);
    expect(s.capture(a!.id)?.liveness).toBe('stopping');
    src.apply(pod({ name: 'ticdc-1', deleting: true }));
    expect(s.capture(a!.id)?.exit).toMatchObject({ signal: 'SIGTERM', cause: 'pod-deleted' });
    clock.advance(5000); // SIGTERM: the capture leaves the list about 5 s later
    expect(s.capture(a!.id)).toBeUndefined();
    expect(s.violations()).toEqual([]);

    src.apply(pod({ name: 'ticdc-2', deleting: true }));
    expect(s.unintendedViolations()).toEqual([
      expect.objectContaining({
        captureId: b!.id,
        podName: 'ticdc-2',
        podUid: 'uid-ticdc-2',
        cause: 'pod-deleted',
      }),
    ]);
    src.delete('uid-ticdc-2'); // the later DELETED event changes nothing
    expect(s.violations()).toHaveLength(1);
  });

  it('gives every pod incarnation a new capture ID: new UID, container restart', async () => {
    const src = new InMemoryPodSource();
    src.apply(pod({ name: 'ticdc-0' }));
    src.apply(pod({ name: 'ticdc-1' }));
    const s = await startKube(src);
    clock.advance(100);
    const first = s.captures()[1]!;
    src.apply(pod({ name: 'ticdc-1', restarts: 1 }));
    const running = () => s.captures().filter((c) => c.podName === 'ticdc-1' && c.exit === undefined);
    const second = running()[0]!;
    expect(second.id).not.toBe(first.id);
    expect(s.violations()[0]).toMatchObject({ captureId: first.id, cause: 'pod-restarted' });
    // The dead process's key lingers (SIGKILL: session TTL): two captures at one address.
    expect(s.capture(first.id)?.exit).toMatchObject({ signal: 'SIGKILL' });
    expect(s.capture(second.address)?.id).toBe(second.id); // the running one wins the address
    clock.advance(14_000);
    expect(s.capture(first.id)).toBeUndefined();
    src.delete('uid-ticdc-1');
    src.apply(pod({ name: 'ticdc-1', uid: 'uid-new' }));
    const third = running()[0]!;
    expect(third.id).not.toBe(second.id);
    expect(third.address).toBe(second.address);
    // A not-ready blip does not make the process leave.
    src.apply(pod({ name: 'ticdc-1', uid: 'uid-new', ready: false }));
    expect(s.capture(third.id)).toBeDefined();
  });

  it('treats pods missing from a relist as gone', async () => {
    const src = new InMemoryPodSource();
    src.apply(pod({ name: 'ticdc-0' }));
    src.apply(pod({ name: 'ticdc-1' }));
    const s = await startKube(src);
    clock.advance(100);
    src.forget('uid-ticdc-1');
    src.relist();
    expect(s.violations()[0]).toMatchObject({ podName: 'ticdc-1', cause: 'pod-gone' });
    clock.advance(13_900); // killed (node loss): listed for the etcd session TTL
    expect(s.captures()).toHaveLength(2);
    clock.advance(100);
    expect(s.captures()).toHaveLength(1);
  });

  it('a forced delete (grace 0) is a SIGKILL: listed about 14 s; a graceful one about 5 s', async () => {
    const src = new InMemoryPodSource();
    for (const i of [0, 1, 2]) src.apply(pod({ name: `ticdc-${i}` }));
    const s = await startKube(src);
    clock.advance(100);
    const [, a, b] = s.captures();
    src.apply(pod({ name: 'ticdc-1', deleting: true, grace: 0 }));
    src.delete('uid-ticdc-1');
    src.apply(pod({ name: 'ticdc-2', deleting: true, grace: 30 }));
    expect(s.capture(a!.id)?.exit).toMatchObject({ signal: 'SIGKILL', leavesAt: 14_100 });
    expect(s.capture(b!.id)?.exit).toMatchObject({ signal: 'SIGTERM', leavesAt: 5100 });
    // An exited process answers nothing even though it is listed.
    await expect(
      call(s.url, 'GET', '/api/v2/status', { headers: { 'X-Sim-Capture': a!.id } }),
    ).rejects.toThrow();
    const list = (
      await call(s.url, 'GET', '/api/v2/captures', { headers: { 'X-Sim-Capture': s.captures()[0]!.id } })
    ).json();
    expect(list.total).toBe(3);
    clock.advance(5000);
    expect(s.captures().map((c) => c.id)).toEqual([s.captures()[0]!.id, a!.id]);
    clock.advance(9000);
    expect(s.captures()).toHaveLength(1);
    // A DELETED event without a graceful deletion seen first (missed watch event) is a kill too.
    src.apply(pod({ name: 'ticdc-3' }));
    const c3 = s.capture('ticdc-3.basic-ticdc-peer.tidb.svc:8300')!;
    src.delete('uid-ticdc-3');
    expect(s.capture(c3.id)?.exit?.signal).toBe('SIGKILL');
  });

  it('opens a listener per pod capture when asked', async () => {
    const src = new InMemoryPodSource();
    src.apply(pod({ name: 'ticdc-0' }));
    const s = await startKube(src, { perCaptureListeners: true });
    src.apply(pod({ name: 'ticdc-1' }));
    await s.settled();
    const map = s.addressMap();
    expect(Object.keys(map)).toEqual([
      'ticdc-0.basic-ticdc-peer.tidb.svc:8300',
      'ticdc-1.basic-ticdc-peer.tidb.svc:8300',
    ]);
    const st = await call(map['ticdc-1.basic-ticdc-peer.tidb.svc:8300']!, 'GET', '/api/v2/status');
    expect(st.json().id).toBe(s.captures()[1]!.id);
  });

  it('renders address templates', () => {
    const p = pod({ name: 'x-0' });
    expect(renderAddress('{ip}:8301', p, {})).toBe('10.0.0.1:8301');
    expect(renderAddress('{pod}.{service}.{namespace}.svc:8300', p, { service: 'svc' })).toBe(
      'x-0.svc.tidb.svc:8300',
    );
    const joined: string[] = [];
    const reg = new PodCaptureRegistry(
      { join: (s) => (joined.push(s.address), { id: s.address }), exit: () => undefined },
      { addressTemplate: '{hostname}:1' },
    );
    reg.sync([p]);
    expect(joined).toEqual(['x-0:1']);
    expect(reg.captureOf('uid-x-0')).toBe('x-0:1');
  });
});

/** Just enough of the Kubernetes API for list + watch of pods. */
async function fakeApiServer() {
  const pods = new Map<string, PodLike>();
  const watchers = new Set<http.ServerResponse>();
  const requests: string[] = [];
  let rv = 1;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method} ${url.pathname}?${url.searchParams}`);
    if (url.pathname !== '/api/v1/namespaces/tidb/pods') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    if (url.searchParams.get('watch') === 'true') {
      watchers.add(res);
      res.on('close', () => watchers.delete(res));
      return;
    }
    res.end(
      JSON.stringify({
        kind: 'PodList',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(rv) },
        items: [...pods.values()],
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'ticdc-sim-kube-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]
users: [{name: fake, user: {token: t}}]
contexts: [{name: fake, context: {cluster: fake, user: fake}}]
current-context: fake
`,
  );
  return {
    kubeconfig,
    requests,
    set(p: PodLike, type: 'ADDED' | 'MODIFIED' = 'ADDED') {
      pods.set(p.metadata!.uid!, p);
      rv++;
      for (const w of watchers) w.write(JSON.stringify({ type, object: p }) + '\n');
    },
    watching: () => watchers.size,
    /** Ends every watch, as an API server does on timeout. */
    endWatches() {
      for (const w of watchers) w.end();
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

async function until(cond: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('KubePodSource', () => {
  it('lists, watches, and relists after the watch ends', async () => {
    const api = await fakeApiServer();
    api.set(pod({ name: 'ticdc-0' }));
    const joined: string[] = [];
    const left: string[] = [];
    const src = new KubePodSource({
      kubeconfigPath: api.kubeconfig,
      namespace: 'tidb',
      selector: 'app=ticdc',
      retryDelayMs: 20,
    });
    const reg = new PodCaptureRegistry({
      join: (s) => (joined.push(s.podName!), { id: s.podName! }),
      exit: (id, cause, signal) => left.push(`${id}:${cause}:${signal}`),
    });
    try {
      await src.start(reg);
      expect(joined).toEqual(['ticdc-0']);
      await until(() => api.watching() === 1);
      api.set(pod({ name: 'ticdc-1' }));
      await until(() => joined.length === 2);
      api.set(pod({ name: 'ticdc-0', deleting: true }), 'MODIFIED');
      await until(() => left.length === 1);
      expect(left).toEqual(['ticdc-0:pod-deleted:SIGTERM']);
      api.endWatches();
      await until(
        () => api.requests.filter((r) => !r.includes('watch=true')).length === 2 && api.watching() === 1,
      );
      expect(api.requests[0]).toContain('labelSelector=app%3Dticdc');
    } finally {
      await src.stop();
      await api.close();
    }
  }, 15_000);
});
