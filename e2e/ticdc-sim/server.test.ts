// Transport and cross-flavour behaviour: capture list, forwarding, TLS, faults, control API,
// per-capture listeners.

import { afterEach, describe, expect, it } from '@jest/globals';
import type { ManualClock } from './clock.js';
import type { SimRequestRecord, TicdcSimulator } from './simulator.js';
import { caCert, clientCert, clientKey, serverCert, serverKey } from './testdata/certs.js';
import { call, drainV1, indented, nonOwner, owner, startManual } from './testutil.js';

let sim: TicdcSimulator;
let clock: ManualClock;
afterEach(async () => {
  await sim?.stop();
});

async function start(opts: Parameters<typeof startManual>[0] = {}) {
  ({ sim, clock } = await startManual({ moveRatePerSec: 10, ...opts }));
}

describe('capture list and status', () => {
  it('lists captures as v2 wrapper and v1 bare array, whichever capture receives the request', async () => {
    await start({ captures: 3 });
    const o = owner(sim);
    const items = sim
      .captures()
      .map((c) => ({ id: c.id, is_owner: c.isOwner, address: c.address, cluster_id: 'default' }));
    const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
    items.sort(byId);
    for (const c of sim.captures()) {
      const v2 = await call(sim.url, 'GET', '/api/v2/captures', { headers: { 'X-Sim-Capture': c.id } });
      expect(v2.text).toBe(JSON.stringify(v2.json())); // compact
      expect({ ...v2.json(), items: v2.json().items.sort(byId) }).toEqual({ total: 3, items });
      const v1 = await call(sim.url, 'GET', '/api/v1/captures', { headers: { 'X-Sim-Capture': c.address } });
      expect(v1.json().sort(byId)).toEqual(items);
    }
    expect(items.filter((i) => i.is_owner)).toEqual([expect.objectContaining({ id: o.id })]);
    for (const c of sim.captures()) {
      expect(c.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it('serves status locally (not forwarded)', async () => {
    await start();
    const t = nonOwner(sim);
    const r = await call(sim.url, 'GET', '/api/v1/status', { headers: { 'X-Sim-Capture': t.id } });
    expect(r.json()).toMatchObject({ id: t.id, is_owner: false, liveness: 0 });
  });
});

describe('forwarding', () => {
  it('refuses more than 2 hops on a non-owner, and does not count hops on the owner', async () => {
    await start();
    const headers = (id: string, n: string) => ({ 'X-Sim-Capture': id, 'TiCDC-ForwardTimes': n });
    const far = await call(sim.url, 'GET', '/api/v2/captures', { headers: headers(nonOwner(sim).id, '3') });
    expect([far.status, far.text]).toEqual([
      500,
      indented({ error_msg: 'TiCDC cluster is unavailable, please try again later', error_code: '' }),
    ]);
    const ok = await call(sim.url, 'GET', '/api/v2/captures', { headers: headers(nonOwner(sim).id, '2') });
    expect(ok.status).toBe(200);
    const onOwner = await call(sim.url, 'GET', '/api/v2/captures', { headers: headers(owner(sim).id, '9') });
    expect(onOwner.status).toBe(200);
  });

  it('uses the old-arch forwarding error in tiflow mode, and a forwarding loop fault ends at the limit', async () => {
    await start({ mode: 'tiflow' });
    const r = await call(sim.url, 'GET', '/api/v1/captures', {
      headers: { 'X-Sim-Capture': nonOwner(sim).id, 'TiCDC-ForwardTimes': '3' },
    });
    expect(r.json()).toEqual({
      error_msg: '[ErrRequestForwardErr]request forward error, an request can only forward to owner one time',
      error_code: 'ErrRequestForwardErr',
    });
    sim.setFaults({ forwardLoop: true });
    const loop = await call(sim.url, 'GET', '/api/v1/captures', {
      headers: { 'X-Sim-Capture': nonOwner(sim).id },
    });
    expect([loop.status, loop.json().error_code]).toEqual([500, 'ErrRequestForwardErr']);
  });
});

describe('TLS', () => {
  it('serves HTTPS with the given certificate', async () => {
    await start({ tls: { cert: serverCert, key: serverKey } });
    expect(sim.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect((await call(sim.url, 'GET', '/api/v2/health', { ca: caCert })).status).toBe(200);
    await expect(call(sim.url, 'GET', '/api/v2/health')).rejects.toThrow(/certificate/);
  });

  it('requires a client certificate with mtls', async () => {
    await start({
      tls: { cert: serverCert, key: serverKey, ca: caCert, mtls: true },
      perCaptureListeners: true,
    });
    await expect(call(sim.url, 'GET', '/api/v2/health', { ca: caCert })).rejects.toThrow();
    const ok = await call(sim.url, 'GET', '/api/v2/health', { ca: caCert, cert: clientCert, key: clientKey });
    expect(ok.status).toBe(200);
    const t = nonOwner(sim);
    expect(t.url).toMatch(/^https:/);
    const st = await call(t.url!, 'GET', '/api/v2/status', { ca: caCert, cert: clientCert, key: clientKey });
    expect(st.json().id).toBe(t.id);
  });
});

describe('request log (onRequest)', () => {
  it('records each TiCDC API request with its answer (0 for a reset), never /sim/ control', async () => {
    const log: SimRequestRecord[] = [];
    await start({ onRequest: (r) => log.push(r) });
    const t = nonOwner(sim);
    const before = Date.now();
    await call(sim.url, 'GET', '/api/v2/captures?limit=1');
    await call(sim.url, 'GET', '/sim/state');
    sim.setFaults({ errorRate: 1, errorStatus: 503, pathPattern: '/drain$' });
    await drainV1(sim, t.id);
    sim.setFaults({ errorRate: 0, resetRate: 1 });
    await expect(drainV1(sim, t.id)).rejects.toThrow(/socket hang up|ECONNRESET/);
    // The record is written when the server side of the exchange closes.
    for (let i = 0; i < 100 && log.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(log.map(({ method, path, status }) => [method, path, status])).toEqual([
      ['GET', '/api/v2/captures', 200],
      ['PUT', '/api/v1/captures/drain', 503],
      ['PUT', '/api/v1/captures/drain', 0],
    ]);
    expect(log.every((r) => r.at >= before && r.at <= Date.now())).toBe(true);
  });
});

describe('faults', () => {
  it('injects 5xx, resets, malformed bodies and latency, limited by pathPattern', async () => {
    await start();
    const t = nonOwner(sim);
    sim.setFaults({ errorRate: 1, errorStatus: 503, pathPattern: '/drain$' });
    const err = await drainV1(sim, t.id);
    expect([err.status, err.json().error_code]).toEqual([503, 'CDC:ErrInternalServerError']);
    expect(sim.capture(t.id)?.liveness).toBe('alive'); // not handled
    expect((await call(sim.url, 'GET', '/api/v2/captures')).status).toBe(200);

    sim.setFaults({ errorRate: 0, resetRate: 1 });
    await expect(drainV1(sim, t.id)).rejects.toThrow(/socket hang up|ECONNRESET/);

    sim.setFaults({ resetRate: 0, malformedRate: 1, malformedKind: 'wrong-types' });
    const wrong = await drainV1(sim, t.id);
    expect(wrong.status).toBe(202);
    expect(wrong.json()).toEqual({ current_table_count: '8' });
    expect(sim.capture(t.id)?.liveness).toBe('draining'); // handled despite the bad body
    sim.setFaults({ malformedKind: 'truncated' });
    const cut = await drainV1(sim, t.id);
    expect(() => cut.json()).toThrow();

    sim.clearFaults();
    sim.setFaults({ latencyMs: 60 });
    const t0 = Date.now();
    expect((await drainV1(sim, t.id)).status).toBe(202);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
  });

  it('stalls work movement', async () => {
    await start();
    const t = nonOwner(sim);
    sim.setFaults({ stall: true });
    await drainV1(sim, t.id);
    clock.advance(5000);
    expect(sim.capture(t.id)!.dispatchers).toBe(8);
    expect(sim.state().stalled).toBe(true);
    sim.clearFaults();
    clock.advance(2000);
    expect(sim.capture(t.id)!.dispatchers).toBe(0);
  });
});

describe('control API', () => {
  it('exposes state, faults, captures, crash, failover and violations over HTTP', async () => {
    await start({ captures: 3, electionDelayMs: 100 });
    const state = (await call(sim.url, 'GET', '/sim/state')).json();
    expect(state).toMatchObject({
      mode: 'newarch',
      version: 'v8.5.7',
      changefeeds: 3,
      tables: 24,
      violations: 0,
    });
    expect(state.captures).toHaveLength(3);

    const bad = await call(sim.url, 'POST', '/sim/faults', { body: { errorRate: 2 } });
    expect(bad.status).toBe(400);
    const set = await call(sim.url, 'POST', '/sim/faults', { body: { errorRate: 1 } });
    expect(set.json()).toMatchObject({ errorRate: 1 });
    expect((await call(sim.url, 'GET', '/sim/faults')).json().errorRate).toBe(1); // control is never faulted
    expect((await call(sim.url, 'GET', '/api/v2/captures')).status).toBe(500);
    expect((await call(sim.url, 'DELETE', '/sim/faults')).json().errorRate).toBe(0);

    const added = await call(sim.url, 'POST', '/sim/captures', { body: { name: 'extra' } });
    expect(added.status).toBe(201);
    expect(added.json()).toMatchObject({ name: 'extra', address: 'extra:8300', dispatchers: 0 });

    const victim = nonOwner(sim);
    const crash = await call(sim.url, 'POST', `/sim/captures/${victim.id}/crash`);
    expect(crash.json().violation).toMatchObject({
      captureId: victim.id,
      cause: 'crash-injected',
      injected: true,
    });

    const other = sim.captures().find((c) => !c.isOwner && c.exit === undefined && c.dispatchers > 0)!;
    const removed = await call(sim.url, 'DELETE', `/sim/captures/${other.address}`);
    expect(removed.json().violation).toMatchObject({
      captureId: other.id,
      cause: 'removed',
      injected: false,
    });
    expect((await call(sim.url, 'DELETE', '/sim/captures/nope')).status).toBe(404);

    const prev = owner(sim).id;
    const fo = await call(sim.url, 'POST', '/sim/failover', { body: { kind: 'crash' } });
    expect(fo.json()).toEqual({ previousOwner: prev });
    // The killed owner keeps its key for the session TTL (14 s), then the election takes 100 ms.
    expect((await call(sim.url, 'POST', '/sim/advance', { body: { ms: 14_100 } })).status).toBe(200);
    expect(owner(sim).id).not.toBe(prev);

    const violations = (await call(sim.url, 'GET', '/sim/violations')).json();
    expect(violations.map((v: { injected: boolean }) => v.injected)).toEqual([true, false, true]);
    expect(sim.unintendedViolations()).toHaveLength(1);
    expect((await call(sim.url, 'GET', '/sim/nothing')).status).toBe(404);
  });
});

describe('per-capture listeners', () => {
  it('gives each capture its own address and URL; a removed capture stops answering', async () => {
    await start({ perCaptureListeners: true });
    const map = sim.addressMap();
    for (const c of sim.captures()) {
      expect(c.address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(map[c.address]).toBe(`http://${c.address}`);
      const st = await call(map[c.address]!, 'GET', '/api/v2/status');
      expect(st.json()).toMatchObject({ id: c.id, is_owner: c.isOwner });
    }
    // Forwarded routes work through any capture's listener.
    const t = nonOwner(sim);
    expect((await call(t.url!, 'GET', '/api/v2/captures')).json().total).toBe(3);
    const added = await sim.addCapture();
    expect(sim.captureUrl(added.address)).toBe(added.url);
    await sim.removeCapture(t.id);
    await expect(call(t.url!, 'GET', '/api/v2/status')).rejects.toThrow();
  });

  it('resets connections when no capture is running', async () => {
    await start({ captures: 0 });
    await expect(call(sim.url, 'GET', '/api/v2/captures')).rejects.toThrow();
    expect((await call(sim.url, 'GET', '/sim/state')).json().owner).toBeNull();
    await sim.addCapture();
    expect((await call(sim.url, 'GET', '/api/v2/captures')).json().total).toBe(1);
  });
});
