// v2 flavour (docs/ticdc-api.md §5, closed PR #4081): maintainer + dispatcher counts, GET status trap.

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
  ({ sim, clock } = await startManual({ mode: 'v2', moveRatePerSec: 10, ...opts }));
}
const put = (id: string) => call(sim.url, 'PUT', `/api/v2/captures/${id}/drain`);
const get = (id: string) => call(sim.url, 'GET', `/api/v2/captures/${id}/drain`);
const NOT_DRAINING = '{"is_draining":false,"remaining_maintainer_count":0}';

describe('v2 drain (PR #4081)', () => {
  it('PUT reports maintainers and always 0 dispatchers; only the GET and liveness tell the rest', async () => {
    await start();
    const t = nonOwner(sim);
    const r = await put(t.id);
    expect(r.status).toBe(202);
    expect(r.text).toBe('{"current_maintainer_count":1,"current_dispatcher_count":0}');
    expect(await get(t.id).then((x) => x.text)).toBe(
      `{"is_draining":true,"draining_capture_id":"${t.id}","remaining_maintainer_count":1,"remaining_dispatcher_count":8}`,
    );
    const status = await call(sim.url, 'GET', '/api/v2/status', { headers: { 'X-Sim-Capture': t.id } });
    expect(status.json()).toMatchObject({ version: 'v9.0.0-alpha', liveness: 2 }); // PR enum: Draining=2
    clock.advance(500);
    // 0 and 0 with 3 dispatchers left: the PUT alone would read as drained.
    expect((await put(t.id)).json()).toEqual({ current_maintainer_count: 0, current_dispatcher_count: 0 });
    expect((await get(t.id)).json()).toMatchObject({ is_draining: true, remaining_dispatcher_count: 3 });
    expect(sim.capture(t.id)).toMatchObject({ dispatchers: 3, liveness: 'draining', livenessCode: 2 });
    clock.advance(500);
    expect((await put(t.id)).json()).toEqual({ current_maintainer_count: 0, current_dispatcher_count: 0 });
    clock.advance(100);
    // Finished: the GET cannot tell it from "never started".
    expect((await get(t.id)).text).toBe(NOT_DRAINING);
    expect(
      (await call(sim.url, 'GET', '/api/v2/status', { headers: { 'X-Sim-Capture': t.id } })).json().liveness,
    ).toBe(1);
    // An idempotent PUT after completion reports the real (zero) counts.
    expect((await put(t.id)).text).toBe('{"current_maintainer_count":0,"current_dispatcher_count":0}');
  });

  it('GET answers is_draining:false alike for never-started, another target, and after a failover', async () => {
    await start({ captures: 4, electionDelayMs: 100, bootstrapDelayMs: 0 });
    const a = nonOwner(sim, 0);
    const b = nonOwner(sim, 1);
    expect((await get(b.id)).text).toBe(NOT_DRAINING); // never started
    await put(a.id);
    expect((await get(b.id)).text).toBe(NOT_DRAINING); // another capture draining
    const busy = await put(b.id);
    expect(busy.status).toBe(500);
    expect(busy.text).toBe(indented({ error_msg: 'another drain operation is in progress', error_code: '' }));
    clock.advance(300);
    const left = sim.capture(a.id)!.dispatchers;
    sim.failover('resign');
    clock.advance(100);
    expect((await get(a.id)).text).toBe(NOT_DRAINING); // session lost
    clock.advance(2000);
    expect(sim.capture(a.id)!.dispatchers).toBe(left); // the lost drain does not progress
    // The PUT re-creates the session; its dispatcher count is 0 all the same, the GET has the truth.
    expect((await put(a.id)).json()).toEqual({ current_maintainer_count: 0, current_dispatcher_count: 0 });
    expect((await get(a.id)).json()).toMatchObject({
      is_draining: true,
      draining_capture_id: a.id,
      remaining_dispatcher_count: left,
    });
  });

  it('answers the PR errors: unknown capture (also GET), coordinator, fewer than 2 captures', async () => {
    await start({ captures: 2 });
    const unknownPut = await put('ghost');
    expect(unknownPut.status).toBe(400);
    expect(unknownPut.text).toBe(
      indented({
        error_msg: '[CDC:ErrCaptureNotExist]capture not exists, ghost',
        error_code: 'CDC:ErrCaptureNotExist',
      }),
    );
    expect((await get('ghost')).status).toBe(400);
    const coord = await put(owner(sim).id);
    expect(coord.status).toBe(400);
    expect(coord.json()).toEqual({
      error_msg: '[CDC:ErrAPIInvalidParam]invalid api parameter: cannot drain coordinator node',
      error_code: 'CDC:ErrAPIInvalidParam',
    });
    await sim.removeCapture(nonOwner(sim).id);
    clock.advance(5000); // SIGTERM: listed for 5 s
    const alone = await put(owner(sim).id);
    expect(alone.status).toBe(400);
    expect(alone.json().error_msg).toContain('at least 2 captures required for drain operation');
  });

  it('answers 500 "not initialized" before the coordinator bootstrapped, and GET 400 after removal', async () => {
    await start({ captures: 3, electionDelayMs: 100, bootstrapDelayMs: 500 });
    sim.failover('resign');
    clock.advance(100);
    const t = nonOwner(sim);
    const r = await put(t.id);
    expect(r.status).toBe(500);
    expect(r.json()).toEqual({ error_msg: 'not initialized, wait a moment', error_code: '' });
    clock.advance(500);
    expect((await put(t.id)).status).toBe(202);
    await sim.removeCapture(t.id);
    expect((await get(t.id)).status).toBe(200); // still registered
    clock.advance(5000);
    expect((await get(t.id)).status).toBe(400);
    expect(sim.unintendedViolations()).toHaveLength(1);
  });

  it('serves the pre-v8.5.7 stub on the v1 drain route and 404 for POST', async () => {
    await start();
    const t = nonOwner(sim);
    const counts: number[] = [];
    for (let i = 0; i < 10; i++) counts.push((await drainV1(sim, t.id)).json().current_table_count);
    expect(counts).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 10]);
    expect(sim.capture(t.id)?.liveness).toBe('alive');
    expect((await call(sim.url, 'POST', `/api/v2/captures/${t.id}/drain`)).status).toBe(404);
  });
});
