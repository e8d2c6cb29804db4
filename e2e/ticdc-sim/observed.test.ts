// Behaviour observed on a real TiCDC v8.5.7 build (docs/ticdc-api.md §9): departure timing, resign
// hand-over, legacy peers, the previous drain session, liveness on the capture's own status,
// bodies, and the mixed transient faults.

import { afterEach, describe, expect, it } from '@jest/globals';
import type { ManualClock } from './clock.js';
import type { TicdcSimulator } from './simulator.js';
import { call, drainV1, indented, nonOwner, owner, startManual } from './testutil.js';

let sim: TicdcSimulator;
let clock: ManualClock;
afterEach(async () => {
  await sim?.stop();
});

async function start(opts: Parameters<typeof startManual>[0] = {}) {
  ({ sim, clock } = await startManual({ mode: 'newarch', moveRatePerSec: 20, ...opts }));
}

const count = async (id: string) => {
  const r = await drainV1(sim, id);
  expect(r.status).toBe(202);
  return r.json().current_table_count as number;
};
const listed = (id: string) => sim.captures().some((c) => c.id === id);
/** The capture's own status, asked at its advertise address. */
const statusAt = (address: string, path = '/api/v2/status') =>
  call(sim.url, 'GET', `/capture/${encodeURIComponent(address)}${path}`);

/** Drains `id` to completion (Stopping) on the manual clock. */
async function drainFully(id: string) {
  for (let i = 0; i < 100; i++) {
    if ((await count(id)) === 0) return;
    clock.advance(100);
  }
  throw new Error('drain did not complete');
}

describe('departure timing (§9 Departure)', () => {
  it('SIGTERM: listed about 5 s; SIGKILL: about 14 s; the exited process answers nothing meanwhile', async () => {
    await start({ captures: 4 });
    const [a, b] = [nonOwner(sim, 0), nonOwner(sim, 1)];
    await sim.removeCapture(a.id);
    await sim.removeCapture(b.id, 'SIGKILL');
    expect(sim.capture(a.id)?.exit).toMatchObject({ signal: 'SIGTERM', cause: 'removed', leavesAt: 5000 });
    expect(sim.capture(b.id)?.exit).toMatchObject({ signal: 'SIGKILL', cause: 'killed', leavesAt: 14_000 });
    await expect(
      call(sim.url, 'GET', '/api/v2/status', { headers: { 'X-Sim-Capture': a.id } }),
    ).rejects.toThrow();
    clock.advance(4999);
    expect((await call(sim.url, 'GET', '/api/v2/captures')).json().total).toBe(4);
    clock.advance(1);
    expect([listed(a.id), listed(b.id)]).toEqual([false, true]);
    clock.advance(8999);
    expect(listed(b.id)).toBe(true);
    clock.advance(1);
    expect(listed(b.id)).toBe(false);
    expect((await call(sim.url, 'GET', '/api/v2/captures')).json().total).toBe(2);
    // Both held work: each is a real (not injected) violation, recorded at the signal.
    expect(sim.unintendedViolations().map((v) => [v.captureId, v.cause, v.time])).toEqual([
      [a.id, 'removed', 0],
      [b.id, 'killed', 0],
    ]);
  });

  it('the delays are configurable; 0 leaves at once; a drained capture never leaves by itself', async () => {
    await start({ captures: 3, sigtermDepartureMs: 0, sigkillDepartureMs: 300 });
    const [a, b] = [nonOwner(sim, 0), nonOwner(sim, 1)];
    await sim.removeCapture(a.id);
    expect(listed(a.id)).toBe(false);
    sim.crash(b.id);
    clock.advance(299);
    expect(listed(b.id)).toBe(true);
    clock.advance(1);
    expect(listed(b.id)).toBe(false);
    await sim.stop();

    await start({ captures: 3 });
    const t = nonOwner(sim);
    await drainFully(t.id);
    clock.advance(600_000);
    expect(sim.capture(t.id)).toMatchObject({ liveness: 'stopping', livenessCode: 2 });
    expect((await statusAt(t.address)).json().liveness).toBe(2);
  });

  it('a SIGTERM owner hands over at once; a killed owner keeps its key until it left', async () => {
    await start({ captures: 3 });
    const o = owner(sim);
    await sim.removeCapture(o.id);
    clock.advance(10);
    expect(owner(sim).id).not.toBe(o.id);
    const o2 = owner(sim);
    sim.crash(o2.id);
    clock.advance(13_000);
    expect(sim.state().owner).toBe(o2.id);
    // Forwarded requests cannot reach it: 500.
    const r = await call(sim.url, 'GET', '/api/v2/captures');
    expect(r.status).toBe(500);
    clock.advance(1010);
    expect(sim.state().owner).not.toBe(o2.id);
    expect(sim.state().owner).not.toBeNull();
  });
});

describe('resign (§9 Resign)', () => {
  it('hands over in about 10 ms and never re-elects the old owner while another capture is Alive', async () => {
    await start({ captures: 3 });
    for (let i = 0; i < 12; i++) {
      const o = owner(sim);
      expect((await call(sim.url, 'POST', '/api/v2/owner/resign')).status).toBe(200);
      clock.advance(9);
      expect(sim.state().owner).toBeNull();
      clock.advance(1);
      expect(sim.state().owner).not.toBeNull();
      expect(sim.state().owner).not.toBe(o.id);
    }
  });

  it('re-elects the old owner when it is the only Alive capture; never elects a Stopping one', async () => {
    await start({ captures: 2 });
    const o = owner(sim);
    const t = nonOwner(sim);
    await drainFully(t.id);
    await call(sim.url, 'POST', '/api/v2/owner/resign');
    clock.advance(10);
    expect(owner(sim).id).toBe(o.id);
  });

  it('the leaderless window is an injectable fault', async () => {
    await start({ captures: 3 });
    sim.setFaults({ leaderlessMs: 500 });
    const t = nonOwner(sim);
    await call(sim.url, 'POST', '/api/v2/owner/resign');
    clock.advance(499);
    const r = await drainV1(sim, t.id);
    expect([r.status, r.text]).toEqual([500, indented({ error_msg: 'election: no leader', error_code: '' })]);
    clock.advance(1);
    expect(sim.state().owner).not.toBeNull();
    sim.clearFaults();
    await call(sim.url, 'POST', '/api/v2/owner/resign');
    clock.advance(10);
    expect(sim.state().owner).not.toBeNull();
  });
});

describe('legacy peer (§4.9, §9)', () => {
  it('while an alive peer is legacy every drain answers 0 at once and nothing drains; a control sets it', async () => {
    await start({ captures: 3 });
    const [t, peer] = [nonOwner(sim, 0), nonOwner(sim, 1)];
    const set = await call(sim.url, 'POST', `/sim/captures/${peer.id}/legacy`, { body: {} });
    expect(set.json()).toMatchObject({ id: peer.id, legacy: true });
    for (let i = 0; i < 5; i++) {
      expect(await drainV1(sim, t.id).then((r) => r.text)).toBe('{"current_table_count":0}');
      clock.advance(1000);
    }
    expect((await statusAt(t.address)).json().liveness).toBe(0);
    expect(sim.capture(t.id)).toMatchObject({ liveness: 'alive', dispatchers: t.dispatchers });
    expect(sim.state().drain).toMatchObject({ session: null });
    sim.setLegacy(peer.id, false);
    expect(await count(t.id)).toBeGreaterThan(0);
    expect((await statusAt(t.address)).json().liveness).toBe(1);
  });

  it('legacy captures exist only in newarch mode', async () => {
    await start({ mode: 'v2' });
    expect(() => sim.setLegacy(nonOwner(sim).id)).toThrow(/newarch/);
  });
});

describe('previous drain session (§4.3, §9)', () => {
  it('blocks another target with 1 (liveness 0) until the drained capture left; tombstone 0 for ~1 s, then 400', async () => {
    await start({ captures: 4 });
    const [a, b] = [nonOwner(sim, 0), nonOwner(sim, 1)];
    await drainFully(a.id);
    clock.advance(60_000); // kept (podAction None): the session never ends
    expect(await count(b.id)).toBe(1);
    expect((await statusAt(b.address)).json().liveness).toBe(0);
    await sim.removeCapture(a.id);
    clock.advance(5000);
    expect(listed(a.id)).toBe(false);
    expect(await count(a.id)).toBe(0); // tombstone
    clock.advance(500);
    expect(await count(a.id)).toBe(0);
    expect(await count(b.id)).toBe(1); // clear handshake
    clock.advance(500);
    expect(await count(b.id)).toBeGreaterThan(1); // the next session starts
    expect((await statusAt(b.address)).json().liveness).toBe(1);
    const gone = await drainV1(sim, a.id);
    expect([gone.status, gone.json().error_code]).toEqual([400, 'CDC:ErrCaptureNotExist']);
  });

  it('a coordinator change loses the session: another target is accepted at once; a Stopping one answers 0 at once', async () => {
    await start({ captures: 4 });
    const [a, b] = [nonOwner(sim, 0), nonOwner(sim, 1)];
    await drainFully(a.id);
    expect(await count(b.id)).toBe(1);
    sim.failover('resign');
    clock.advance(10 + 200); // election + bootstrap
    expect(await count(a.id)).toBe(0); // already Stopping: 0 on the first call
    expect(sim.state().drain).toMatchObject({ session: { target: a.id, completed: true } });
    sim.failover('resign');
    clock.advance(210);
    const b2 = sim.captures().find((c) => !c.isOwner && c.id !== a.id)!;
    expect(await count(b2.id)).toBeGreaterThan(1); // accepted at once
    expect(sim.capture(b2.id)?.liveness).toBe('draining');
  });

  it('another tool holding the session makes drains of other captures answer 1 until its capture leaves', async () => {
    await start({ captures: 4 });
    const [held, t] = [nonOwner(sim, 0), nonOwner(sim, 1)];
    const r = await call(sim.url, 'POST', '/sim/drain-session', { body: { capture: held.address } });
    expect(r.json()).toMatchObject({ status: 202, body: { current_table_count: held.dispatchers } });
    expect(held.dispatchers).toBeGreaterThan(1);
    expect(sim.capture(held.id)?.liveness).toBe('draining');
    for (let i = 0; i < 5; i++) {
      expect(await count(t.id)).toBe(1);
      clock.advance(1000);
    }
    expect(sim.capture(t.id)?.liveness).toBe('alive');
    await sim.removeCapture(held.id);
    clock.advance(6000);
    expect(await count(t.id)).toBeGreaterThan(1);
  });
});

describe("liveness on the capture's own status (§4.5, §9)", () => {
  it('newarch 0/1/2 on /api/v2/status, /api/v1/status and /status at the advertise address (path or Host)', async () => {
    await start({ captures: 3, moveRatePerSec: 4 });
    const t = nonOwner(sim);
    const seen = async () =>
      Promise.all(
        ['/api/v2/status', '/api/v1/status', '/status'].map(async (p) =>
          (await statusAt(t.address, p)).json(),
        ),
      );
    expect((await seen()).map((s) => [s.id, s.liveness])).toEqual([
      [t.id, 0],
      [t.id, 0],
      [t.id, 0],
    ]);
    await count(t.id);
    expect((await seen()).map((s) => s.liveness)).toEqual([1, 1, 1]);
    // The PUT answers 0 only once Stopping is observed.
    for (let i = 0; i < 100 && sim.capture(t.id)!.liveness !== 'stopping'; i++) {
      expect(await count(t.id)).toBeGreaterThan(0);
      clock.advance(100);
    }
    expect((await seen()).map((s) => s.liveness)).toEqual([2, 2, 2]);
    // Host: <advertise address> on the main listener lands on that capture too (not forwarded).
    const byHost = await call(sim.url, 'GET', '/api/v2/status', { headers: { host: t.address } });
    expect(byHost.json()).toMatchObject({ id: t.id, liveness: 2, is_owner: false });
    expect(sim.resolveAddress(t.address)).toBe(`${sim.url}/capture/${encodeURIComponent(t.address)}`);
    // No process at that address: the connection is refused (reset).
    await expect(statusAt('nobody.invalid:8300')).rejects.toThrow();
  });

  it('the #4081 (V2) flavour reverses 1 and 2: 1 Stopping, 2 Draining', async () => {
    await start({ mode: 'v2', captures: 3, moveRatePerSec: 4 });
    const t = nonOwner(sim);
    await call(sim.url, 'PUT', `/api/v2/captures/${t.id}/drain`);
    expect((await statusAt(t.address)).json().liveness).toBe(2);
    clock.advance(5000);
    expect((await statusAt(t.address)).json().liveness).toBe(1);
  });
});

describe('bodies (§9 Bodies)', () => {
  it('indented errors and status, compact lists in a new order every time, {} and empty drain bodies, no GET drain', async () => {
    await start({ captures: 5 });
    const t = nonOwner(sim);
    const st = await statusAt(t.address);
    expect(st.text).toBe(indented(st.json()));
    const orders = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const r = await call(sim.url, 'GET', '/api/v2/captures');
      expect(r.text).toBe(JSON.stringify(r.json()));
      orders.add(
        r
          .json()
          .items.map((x: { id: string }) => x.id)
          .join(),
      );
    }
    expect(orders.size).toBeGreaterThan(5);
    const emptyId = await call(sim.url, 'PUT', '/api/v1/captures/drain', { body: {} });
    expect([emptyId.status, emptyId.text]).toEqual([
      400,
      indented({
        error_msg: '[CDC:ErrCaptureNotExist]capture not exists, ',
        error_code: 'CDC:ErrCaptureNotExist',
      }),
    ]);
    const noBody = await call(sim.url, 'PUT', '/api/v1/captures/drain');
    expect([noBody.status, noBody.json().error_code]).toEqual([400, 'CDC:ErrAPIInvalidParam']);
    expect(noBody.text).toBe(indented(noBody.json()));
    const get = await call(sim.url, 'GET', '/api/v1/captures/drain');
    expect([get.status, get.text]).toEqual([404, '404 page not found']);
  });

  it('the same seed gives the same list orders', async () => {
    const orders = async () => {
      const out: string[] = [];
      for (let i = 0; i < 3; i++)
        out.push(
          (await call(sim.url, 'GET', '/api/v1/captures'))
            .json()
            .map((x: { id: string }) => x.id)
            .join(),
        );
      return out;
    };
    await start({ captures: 4, seed: 7 });
    const first = await orders();
    await sim.stop();
    await start({ captures: 4, seed: 7 });
    expect(await orders()).toEqual(first);
  });

  it('tiflow: the storesUnavailable fault makes every drain a 503 ErrGetAllStoresFailed', async () => {
    await start({ mode: 'tiflow', captures: 3 });
    const t = nonOwner(sim);
    sim.setFaults({ storesUnavailable: true });
    const v1 = await drainV1(sim, t.id);
    const v2 = await call(sim.url, 'POST', `/api/v2/captures/${t.id}/drain`);
    for (const r of [v1, v2]) {
      expect([r.status, r.json().error_code]).toEqual([503, 'CDC:ErrGetAllStoresFailed']);
      expect(r.text).toBe(indented(r.json()));
    }
    expect(sim.capture(t.id)?.liveness).toBe('alive');
    sim.clearFaults();
    expect(await drainV1(sim, t.id).then((r) => r.status)).toBe(202);
  });
});

describe('mixed transient faults', () => {
  const outcome = async (path = '/api/v2/captures', timeoutMs = 2000) => {
    try {
      const r = await call(sim.url, 'GET', path, { timeoutMs });
      try {
        JSON.parse(r.text);
        return r.status >= 500 ? 'error' : 'ok';
      } catch {
        return `malformed-${r.status}`;
      }
    } catch (e) {
      return (e as Error).message === 'timeout' ? 'timeout' : 'reset';
    }
  };

  it('each kind alone at rate 1', async () => {
    await start({ captures: 3, seed: 3 });
    const t = nonOwner(sim);
    sim.setFaults({ mixedRate: 1, mixedKinds: ['error'] });
    expect(await outcome()).toBe('error');
    sim.setFaults({ mixedKinds: ['reset'] });
    expect(await outcome()).toBe('reset');
    sim.setFaults({ mixedKinds: ['garbled-400'] });
    expect(await outcome()).toBe('malformed-400');
    sim.setFaults({ mixedKinds: ['truncated'] });
    expect(await outcome()).toBe('malformed-200');
    // A truncated real error answer (any status code).
    expect(await outcome('/api/v2/captures/x/drain')).toBe('malformed-404');
    sim.setFaults({ mixedKinds: ['wrong-types'] });
    const wrong = await call(sim.url, 'GET', '/api/v2/captures');
    expect(typeof wrong.json().total).toBe('string');
    sim.setFaults({ mixedKinds: ['timeout'], hangMs: 400 });
    expect(await outcome('/api/v2/captures', 100)).toBe('timeout');
    // A truncated drain answer: the request was handled all the same (the drain started).
    sim.setFaults({ mixedKinds: ['truncated'] });
    const cut = await drainV1(sim, t.id);
    expect(cut.status).toBe(202);
    expect(() => JSON.parse(cut.text)).toThrow();
    expect(sim.capture(t.id)?.liveness).toBe('draining');
    sim.clearFaults();
    expect(await outcome()).toBe('ok');
  });

  it('mixes kinds at the given rate per request, from the seeded generator', async () => {
    await start({ captures: 3, seed: 11 });
    sim.setFaults({ mixedRate: 0.4, mixedKinds: ['error', 'reset', 'truncated', 'garbled-400'] });
    const seen = new Map<string, number>();
    const n = 300;
    for (let i = 0; i < n; i++) {
      const o = await outcome();
      seen.set(o, (seen.get(o) ?? 0) + 1);
    }
    const faulted = n - (seen.get('ok') ?? 0);
    expect(faulted / n).toBeGreaterThan(0.3);
    expect(faulted / n).toBeLessThan(0.5);
    for (const k of ['error', 'reset', 'malformed-200', 'malformed-400'])
      expect(seen.get(k) ?? 0).toBeGreaterThan(5);
    expect(() => sim.setFaults({ mixedKinds: [] })).toThrow();
  });
});
