// tiflow flavour (docs/ticdc-api.md §2): old architecture, table counts, one target at a time.

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
  ({ sim, clock } = await startManual({ mode: 'tiflow', moveRatePerSec: 10, ...opts }));
}
const postV2 = (id: string) => call(sim.url, 'POST', `/api/v2/captures/${id}/drain`);

describe('tiflow drain', () => {
  it('drains tables through v1 PUT and v2 POST; the capture becomes Stopping', async () => {
    await start();
    const t = nonOwner(sim);
    expect(t.maintainers).toBe(0); // no maintainers in the old architecture
    const r = await drainV1(sim, t.id);
    expect([r.status, r.text]).toEqual([202, '{"current_table_count":8}']);
    const st = await call(sim.url, 'GET', '/api/v1/status', { headers: { 'X-Sim-Capture': t.id } });
    expect(st.json()).toMatchObject({ version: 'v7.5.0', liveness: 1 }); // Stopping
    clock.advance(400);
    expect((await postV2(t.id)).text).toBe('{"current_table_count":4}');
    clock.advance(1000);
    expect((await postV2(t.id)).text).toBe('{"current_table_count":0}');
    expect((await drainV1(sim, t.id)).json()).toEqual({ current_table_count: 0 });
  });

  it('accepts a second target with 202 and its own count; it takes effect once re-issued after the first', async () => {
    await start({ captures: 4 });
    const a = nonOwner(sim, 0);
    const b = nonOwner(sim, 1);
    const before = sim.capture(b.id)!.dispatchers;
    await drainV1(sim, a.id);
    const second = await drainV1(sim, b.id);
    expect([second.status, second.json().current_table_count]).toEqual([202, before]);
    clock.advance(300);
    expect(sim.capture(b.id)).toMatchObject({ liveness: 'alive' }); // ignored while a drains
    clock.advance(2000);
    expect(sim.capture(a.id)!.dispatchers).toBe(0);
    expect((await drainV1(sim, b.id)).status).toBe(202); // re-issued: now it is the target
    clock.advance(3000);
    expect((await drainV1(sim, b.id)).json()).toEqual({ current_table_count: 0 });
  });

  it('answers the tiflow errors and 503 before the capture is ready', async () => {
    await start({ captures: 2, readyDelayMs: 1000 });
    const o = owner(sim);
    const notReady = await call(sim.url, 'GET', '/api/v2/captures', { headers: { 'X-Sim-Capture': o.id } });
    expect([notReady.status, notReady.text]).toEqual([
      503,
      indented({
        error_msg: '[CDC:ErrServerIsNotReady]cdc server is not ready',
        error_code: 'CDC:ErrServerIsNotReady',
      }),
    ]);
    // /status is outside /api and has no liveness and no cluster_id.
    const plain = await call(sim.url, 'GET', '/status', { headers: { 'X-Sim-Capture': o.id } });
    expect(Object.keys(plain.json()).sort()).toEqual(['git_hash', 'id', 'is_owner', 'pid', 'version']);
    clock.advance(1000);
    const own = await drainV1(sim, o.id);
    expect(own.json()).toEqual({
      error_msg: '[CDC:ErrSchedulerRequestFailed]scheduler request failed, cannot drain the owner',
      error_code: 'CDC:ErrSchedulerRequestFailed',
    });
    expect((await postV2('ghost')).json().error_code).toBe('CDC:ErrCaptureNotExist');
    await sim.removeCapture(nonOwner(sim).id);
    clock.advance(5000); // SIGTERM: listed for 5 s
    const one = await postV2(o.id);
    expect([one.status, one.json().error_msg]).toEqual([
      400,
      '[CDC:ErrSchedulerRequestFailed]scheduler request failed, only one capture alive',
    ]);
  });

  it('has no auth on drain, empty-bodied v1 resign and health, and ErrOwnerNotFound without owner', async () => {
    await start({ credentials: { username: 'u', password: 'p' }, electionDelayMs: 200 });
    expect((await drainV1(sim, nonOwner(sim).id)).status).toBe(202);
    const h1 = await call(sim.url, 'GET', '/api/v1/health');
    expect([h1.status, h1.text]).toEqual([200, '']);
    const h2 = await call(sim.url, 'GET', '/api/v2/health');
    expect([h2.status, h2.text]).toEqual([200, '{}']);
    const r1 = await call(sim.url, 'POST', '/api/v1/owner/resign');
    expect([r1.status, r1.text]).toEqual([202, '']);
    const none = await call(sim.url, 'GET', '/api/v1/captures');
    expect([none.status, none.json().error_code]).toEqual([500, 'CDC:ErrOwnerNotFound']);
    clock.advance(200);
    const r2 = await call(sim.url, 'POST', '/api/v2/owner/resign');
    expect([r2.status, r2.text]).toEqual([200, '{}']);
  });

  it('keeps draining a Stopping capture after a failover (auto-drain, §2.3)', async () => {
    await start({ captures: 4, electionDelayMs: 100, bootstrapDelayMs: 0 });
    const t = nonOwner(sim);
    await drainV1(sim, t.id);
    clock.advance(200);
    sim.failover('resign');
    clock.advance(3000);
    expect(sim.capture(t.id)).toMatchObject({ dispatchers: 0, liveness: 'stopping' });
  });
});

describe('stub drain (new arch before v8.5.7)', () => {
  it('returns 10 on every 10th call and 0 otherwise, without validation, auth or movement', async () => {
    ({ sim, clock } = await startManual({ mode: 'stub', credentials: { username: 'u', password: 'p' } }));
    const counts: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await call(sim.url, 'PUT', '/api/v1/captures/drain', {
        body: i % 2 ? 'garbage' : { capture_id: 'x' },
      });
      expect(r.status).toBe(202);
      counts.push(r.json().current_table_count);
    }
    expect(counts.filter((n) => n === 10)).toHaveLength(2);
    expect(counts[9]).toBe(10);
    expect(counts[19]).toBe(10);
    clock.advance(5000);
    expect(sim.captures().every((c) => c.liveness === 'alive' && c.dispatchers === 8)).toBe(true);
    const st = await call(sim.url, 'GET', '/api/v2/status');
    expect(st.json()).toMatchObject({ version: 'v8.5.6', liveness: 0 });
    expect((await call(sim.url, 'GET', `/api/v2/captures/${nonOwner(sim).id}/drain`)).status).toBe(404);
  });
});
