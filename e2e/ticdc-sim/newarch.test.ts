// newarch flavour (docs/ticdc-api.md §3, §4): the real v8.5.7 drain session semantics.

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
  ({ sim, clock } = await startManual({ mode: 'newarch', moveRatePerSec: 10, ...opts }));
}

const count = async (id: string) => {
  const r = await drainV1(sim, id);
  expect(r.status).toBe(202);
  return r.json().current_table_count as number;
};

const statusOf = async (id: string) =>
  (await call(sim.url, 'GET', '/api/v2/status', { headers: { 'X-Sim-Capture': id } })).json();

describe('newarch drain', () => {
  it('drains at the configured rate, never reports 0 before completion, then 0 and liveness Stopping', async () => {
    await start();
    const target = nonOwner(sim);
    expect(target).toMatchObject({ maintainers: 1, dispatchers: 8 });
    const r = await drainV1(sim, target.id);
    expect(r.status).toBe(202);
    expect(r.text).toBe('{"current_table_count":8}');
    expect((await statusOf(target.id)).liveness).toBe(1); // Draining

    clock.advance(500); // 10/s → 5 dispatchers in 0.5 s
    expect(sim.capture(target.id)).toMatchObject({ maintainers: 0, dispatchers: 3 });
    expect(await count(target.id)).toBe(3);

    const seen: number[] = [];
    for (let i = 0; i < 20; i++) {
      clock.advance(100);
      seen.push(await count(target.id));
      if (seen.at(-1) === 0) break;
    }
    // 2, 1, then 1 while remaining==0 but STOPPING not yet observed, then 0.
    expect(seen.at(-1)).toBe(0);
    expect(seen.slice(0, -1).every((n) => n >= 1)).toBe(true);
    expect((await statusOf(target.id)).liveness).toBe(2); // Stopping
    const others = sim.captures().filter((c) => c.id !== target.id);
    expect(others.reduce((n, c) => n + c.dispatchers, 0)).toBe(24);
    expect(others.reduce((n, c) => n + c.maintainers, 0)).toBe(3);
    // The drained capture stays listed (§4.3: it does not exit by itself).
    const list = (await call(sim.url, 'GET', '/api/v2/captures')).json();
    expect(list.total).toBe(3);
  });

  it('answers 1 for another target while a session is active, completed, or clearing; tombstone 0 after removal', async () => {
    await start({ captures: 4, clearHandshakeMs: 1000 });
    const a = nonOwner(sim, 0);
    const b = nonOwner(sim, 1);
    expect(await count(a.id)).toBeGreaterThan(1);
    expect(await count(b.id)).toBe(1); // another session active
    clock.advance(3000);
    expect(await count(a.id)).toBe(0);
    expect(await count(b.id)).toBe(1); // completion does not end the session
    expect(sim.capture(b.id)?.liveness).toBe('alive');

    expect(await sim.removeCapture(a.id)).toBeUndefined(); // no work left: no violation
    clock.advance(4900); // SIGTERM: still listed for 5 s, the session lasts
    expect(sim.capture(a.id)).toBeDefined();
    expect(await count(b.id)).toBe(1);
    clock.advance(100);
    expect(sim.capture(a.id)).toBeUndefined();
    expect(await count(a.id)).toBe(0); // tombstone of the last completed target
    expect(await count(b.id)).toBe(1); // clear handshake pending
    clock.advance(1000);
    expect(await count(b.id)).toBeGreaterThan(1); // new session
    expect(sim.state().drain).toMatchObject({ session: { target: b.id }, tombstone: null });
    // The tombstone went with the new session.
    const gone = await drainV1(sim, a.id);
    expect(gone.status).toBe(400);
    expect(sim.unintendedViolations()).toEqual([]);
  });

  it('answers 400 CaptureNotExist after a removal before completion, and records the violation', async () => {
    await start();
    const t = nonOwner(sim);
    await count(t.id);
    clock.advance(200);
    const v = await sim.removeCapture(t.id);
    expect(v).toMatchObject({ captureId: t.id, cause: 'removed', injected: false, liveness: 'draining' });
    // Still registered for 5 s: the session goes on, its work is frozen with the dead process.
    const frozen = await count(t.id);
    expect(frozen).toBeGreaterThan(1);
    clock.advance(4000);
    expect(await count(t.id)).toBe(frozen);
    clock.advance(1000);
    const r = await drainV1(sim, t.id);
    expect(r.status).toBe(400);
    expect(r.text).toBe(
      indented({
        error_msg: `[CDC:ErrCaptureNotExist]capture not exists, ${t.id}`,
        error_code: 'CDC:ErrCaptureNotExist',
      }),
    );
    expect(sim.unintendedViolations()).toHaveLength(1);
    // The work is rescheduled reactively.
    clock.advance(2000);
    expect(sim.state().orphans).toEqual({ maintainers: 0, dispatchers: 0 });
  });

  it('refuses the owner, bad bodies, and unknown captures', async () => {
    await start();
    const o = owner(sim);
    const r = await drainV1(sim, o.id);
    expect(r.status).toBe(400);
    expect(r.text).toBe(
      indented({
        error_msg: '[CDC:ErrSchedulerRequestFailed]scheduler request failed, cannot drain the owner',
        error_code: 'CDC:ErrSchedulerRequestFailed',
      }),
    );
    const empty = await call(sim.url, 'PUT', '/api/v1/captures/drain');
    expect(empty.status).toBe(400);
    expect(empty.json()).toEqual({
      error_msg: '[CDC:ErrAPIInvalidParam]invalid api parameter: EOF',
      error_code: 'CDC:ErrAPIInvalidParam',
    });
    const wrongType = await call(sim.url, 'PUT', '/api/v1/captures/drain', { body: { capture_id: 7 } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json().error_code).toBe('CDC:ErrAPIInvalidParam');
    const unknown = await drainV1(sim, 'nope');
    expect(unknown.status).toBe(400);
    expect(unknown.json().error_code).toBe('CDC:ErrCaptureNotExist');
  });

  it('answers 1 until a new coordinator is bootstrapped', async () => {
    await start({ electionDelayMs: 500, bootstrapDelayMs: 300 });
    const t = nonOwner(sim, 0);
    sim.failover('resign');
    const noLeader = await drainV1(sim, t.id);
    expect(noLeader.status).toBe(500);
    expect(noLeader.text).toBe(indented({ error_msg: 'election: no leader', error_code: '' }));
    clock.advance(500);
    expect(sim.state().owner).not.toBeNull();
    const t2 = nonOwner(sim, 0);
    expect(await count(t2.id)).toBe(1);
    expect(sim.capture(t2.id)?.liveness).toBe('alive'); // nothing started
    clock.advance(300);
    expect(await count(t2.id)).toBe(8);
  });

  it('freezes all scheduling after a failover until the drain is re-issued', async () => {
    await start({ captures: 4, electionDelayMs: 100, bootstrapDelayMs: 0 });
    const t = nonOwner(sim, 0);
    await count(t.id);
    clock.advance(300);
    const before = sim.capture(t.id)!;
    expect(before.dispatchers).toBe(3);
    sim.failover('resign');
    clock.advance(200);
    expect(sim.state()).toMatchObject({ frozen: true, drain: { session: null } });
    await sim.addCapture(); // a joining capture gets nothing while frozen
    clock.advance(5000);
    expect(sim.capture(t.id)).toMatchObject({ dispatchers: 3, liveness: 'draining' });
    expect(sim.captures().at(-1)).toMatchObject({ dispatchers: 0, maintainers: 0 });
    expect(await count(t.id)).toBe(3); // re-issue re-creates the session
    expect(sim.state().frozen).toBe(false);
    clock.advance(2000);
    expect(await count(t.id)).toBe(0);
    expect(sim.captures().at(-1)!.dispatchers).toBeGreaterThan(0); // rebalanced meanwhile
  });

  it('requires basic auth on the drain route when credentials are configured', async () => {
    await start({ credentials: { username: 'root', password: 's3cret' } });
    const t = nonOwner(sim);
    const none = await drainV1(sim, t.id);
    expect(none.status).toBe(401);
    expect(none.json()).toEqual({
      error_msg:
        '[CDC:ErrCredentialNotFound]credential not found: please specify the user and password via authorization header',
      error_code: 'CDC:ErrCredentialNotFound',
    });
    expect(none.text).toContain('\n    "error_msg"'); // gin IndentedJSON
    const basic = (u: string, p: string) => ({
      Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`,
    });
    const badUser = await drainV1(sim, t.id, basic('bob', 's3cret'));
    expect(badUser.status).toBe(401);
    expect(badUser.json().error_msg).toBe(
      '[CDC:ErrUnauthorized]user bob unauthorized, error: The user is not allowed.',
    );
    const badPass = await drainV1(sim, t.id, basic('root', 'x'));
    expect(badPass.status).toBe(401);
    expect(badPass.json().error_code).toBe('CDC:ErrUnauthorized');
    expect(sim.capture(t.id)?.liveness).toBe('alive');
    expect((await drainV1(sim, t.id, basic('root', 's3cret'))).status).toBe(202);
    // Other routes stay open.
    expect((await call(sim.url, 'GET', '/api/v2/captures')).status).toBe(200);
    expect((await call(sim.url, 'POST', '/api/v2/owner/resign')).status).toBe(200);
  });

  it('has no v2 drain route, and resign/health/status answer as v8.5.7', async () => {
    await start();
    const t = nonOwner(sim);
    for (const m of ['GET', 'PUT', 'POST']) {
      const r = await call(sim.url, m, `/api/v2/captures/${t.id}/drain`);
      expect(r.status).toBe(404);
      expect(r.text).toBe('404 page not found');
    }
    const h1 = await call(sim.url, 'GET', '/api/v1/health');
    expect([h1.status, h1.text]).toEqual([200, '{}']);
    const h2 = await call(sim.url, 'GET', '/api/v2/health');
    expect([h2.status, h2.text]).toEqual([200, '{}']);
    const st = await call(sim.url, 'GET', '/status', { headers: { 'X-Sim-Capture': t.id } });
    expect(st.json()).toEqual({
      version: 'v8.5.7',
      git_hash: expect.any(String),
      id: t.id,
      cluster_id: 'default',
      pid: expect.any(Number),
      is_owner: false,
      liveness: 0,
    });
    const r1 = await call(sim.url, 'POST', '/api/v1/owner/resign');
    expect([r1.status, r1.text]).toEqual([202, '{}']);
    clock.advance(1000);
    const r2 = await call(sim.url, 'POST', '/api/v2/owner/resign');
    expect([r2.status, r2.text]).toEqual([200, '{}']);
  });

  it('lets a resigning owner win again with reelectProbability, never a draining capture', async () => {
    await start({ reelectProbability: 1, electionDelayMs: 100 });
    const o = owner(sim);
    await call(sim.url, 'POST', '/api/v2/owner/resign');
    expect(sim.state().owner).toBeNull();
    clock.advance(100);
    expect(owner(sim).id).toBe(o.id);
    await sim.stop();

    await start({ reelectProbability: 0, electionDelayMs: 100, captures: 3 });
    const first = owner(sim);
    const draining = nonOwner(sim, 0);
    await count(draining.id);
    await call(sim.url, 'POST', '/api/v2/owner/resign');
    clock.advance(100);
    const second = owner(sim);
    expect(second.id).not.toBe(first.id);
    expect(second.id).not.toBe(draining.id);
  });

  it('rolling upgrade from the stub: a legacy peer makes drains answer 0 at once, a legacy coordinator is the stub', async () => {
    await start({ captures: 3, legacyCaptures: 1 });
    const legacy = sim.captures().at(-1)!;
    expect(legacy.legacy).toBe(true);
    const st = await call(sim.url, 'GET', '/api/v2/status', { headers: { 'X-Sim-Capture': legacy.id } });
    expect(st.json()).toMatchObject({ version: 'v8.5.6', liveness: 0 });
    const t = nonOwner(sim, 0);
    expect(t.legacy).toBe(false);
    expect(await count(t.id)).toBe(0); // legacy fallback: NOT drained
    clock.advance(2000);
    expect(sim.capture(t.id)).toMatchObject({ liveness: 'alive', dispatchers: 8 });
    await sim.removeCapture(legacy.id); // upgraded: the real drain works again once it left
    clock.advance(4900);
    expect(await count(t.id)).toBe(0); // still registered: still the legacy fallback
    clock.advance(100);
    expect(await count(t.id)).toBeGreaterThan(0);
    await sim.stop();

    await start({ captures: 2, legacyCaptures: 2 });
    const peer = nonOwner(sim);
    const counts: number[] = [];
    for (let i = 0; i < 10; i++) counts.push(await count(peer.id));
    expect(counts).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 10]);
  });
});
