// Leadership fencing below the controller runtime: a reconcile whose term ended records nothing,
// and the TiCDC transport refuses and cancels requests of an ended term.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from '@jest/globals';
import type { CaptureDrainObject } from '../../src/api/capturedrain.js';
import { BUILTIN_DEFAULTS } from '../../src/drain/settings.js';
import { LeadershipLostError } from '../../src/kube/leader.js';
import { Resources } from '../../src/kube/port.js';
import { createTicdcClient } from '../../src/ticdc/client.js';
import type { CaptureInfo, TicdcClient } from '../../src/ticdc/types.js';
import { FakeKube } from '../support/fake-kube.js';
import { reconcileOnce, reconcilerOver } from './reconciler-over.js';
import { waitFor } from '../kube/helpers.js';

const NS = 'tidb';
const ENDPOINT = 'http://ticdc.invalid:8300';

function setup() {
  const kube = new FakeKube();
  kube.seed(Resources.capturedrains, {
    apiVersion: 'drain.ticdc.io/v1alpha1',
    kind: 'CaptureDrain',
    metadata: { namespace: NS, name: 'd', creationTimestamp: '2026-11-21T10:00:00Z', generation: 1 },
    spec: { captureAddress: '10.0.0.1:8300' },
  });
  const pending: { resolve: (c: CaptureInfo[]) => void }[] = [];
  const unexpected = () => Promise.reject(new Error('not expected in this test'));
  const client: TicdcClient = {
    endpoint: ENDPOINT,
    listCaptures: () => new Promise<CaptureInfo[]>((resolve) => pending.push({ resolve })),
    detectFlavor: unexpected,
    resignOwner: unexpected,
    drain: unexpected,
    health: unexpected,
    serverStatus: unexpected,
    checkV1Drain: unexpected,
    architecture: unexpected,
    close: () => Promise.resolve(),
  };
  const reconciler = reconcilerOver(kube, client, { defaults: { ...BUILTIN_DEFAULTS, endpoint: ENDPOINT } });
  return { kube, pending, reconciler };
}

const statusWrites = (kube: FakeKube) => kube.callsOf('patch').filter((c) => c.subresource === 'status');

describe('a reconcile whose leadership term ended', () => {
  test('records nothing when the TiCDC answer arrives after the term ended', async () => {
    const { kube, pending, reconciler } = setup();
    const ac = new AbortController();
    const done = reconcileOnce(reconciler, { namespace: NS, name: 'd' }, ac.signal);
    await waitFor(() => pending.length === 1); // listCaptures in flight
    ac.abort(new LeadershipLostError('leader election lost'));
    pending[0]!.resolve([{ id: 'c1', isOwner: false, address: '10.0.0.1:8300' }]);
    await expect(done).rejects.toThrow(LeadershipLostError);
    // The finalizer went on before the term ended; no status write may follow the loss.
    expect(statusWrites(kube)).toEqual([]);
    expect(kube.peek<CaptureDrainObject>(Resources.capturedrains, NS, 'd')!.status).toBeUndefined();
  });

  test('the same reconcile with its term intact writes the step (control)', async () => {
    const { kube, pending, reconciler } = setup();
    const done = reconcileOnce(reconciler, { namespace: NS, name: 'd' });
    await waitFor(() => pending.length === 1);
    pending[0]!.resolve([{ id: 'c1', isOwner: false, address: '10.0.0.1:8300' }]);
    await done;
    expect(statusWrites(kube).length).toBe(1);
  });
});

describe('TiCDC requests of an ended term', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  /** A TiCDC stand-in that never answers; counts requests. */
  async function hangingServer(): Promise<{ url: string; received: () => number }> {
    let n = 0;
    server = createServer(() => {
      n++; // never answered
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received: () => n };
  }

  test('a request in flight is cancelled when the term ends, with the term reason', async () => {
    const { url, received } = await hangingServer();
    const term = new AbortController();
    const client = createTicdcClient({
      endpoint: url,
      requestTimeoutMs: 30_000,
      fence: { signal: term.signal, check: () => term.signal.throwIfAborted() },
    });
    const call = client.listCaptures();
    await waitFor(() => received() === 1);
    const t0 = performance.now();
    term.abort(new LeadershipLostError('leader election lost'));
    await expect(call).rejects.toThrow(LeadershipLostError);
    expect(performance.now() - t0).toBeLessThan(1000);
    await client.close();
  });

  test('a request of an ended term is refused before it is sent; withSignal binds a reconcile', async () => {
    const { url, received } = await hangingServer();
    let over = false;
    const client = createTicdcClient({
      endpoint: url,
      fence: {
        signal: new AbortController().signal,
        check: () => {
          if (over) throw new LeadershipLostError('renew deadline passed');
        },
      },
    });
    over = true;
    await expect(client.listCaptures()).rejects.toThrow(LeadershipLostError);
    over = false;
    const reconcile = new AbortController();
    const bound = client.withSignal!(reconcile.signal);
    const call = bound.drain('V2', 'c1');
    await waitFor(() => received() === 1);
    reconcile.abort(new Error('reconcile timed out'));
    await expect(call).rejects.toThrow('reconcile timed out');
    await expect(bound.listCaptures()).rejects.toThrow('reconcile timed out');
    expect(received()).toBe(1);
    await client.close();
  });
});
