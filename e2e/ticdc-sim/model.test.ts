// The work model: rates, least-loaded placement, rebalancing, reactive rescheduling, elections,
// violation records, clock and determinism.

import { afterEach, describe, expect, it } from '@jest/globals';
import { ManualClock } from './clock.js';
import { wrongTypes } from './faults.js';
import { Rng } from './random.js';
import type { TicdcSimulator } from './simulator.js';
import { drainV1, nonOwner, owner, startManual } from './testutil.js';

let sim: TicdcSimulator;
let clock: ManualClock;
afterEach(async () => {
  await sim?.stop();
});

async function start(opts: Parameters<typeof startManual>[0] = {}) {
  ({ sim, clock } = await startManual(opts));
}
const loads = () => sim.captures().map((c) => c.dispatchers);

describe('work model', () => {
  it('places work evenly at start', async () => {
    await start({ captures: 4, changefeeds: 3, tablesPerChangefeed: 8 });
    expect(loads()).toEqual([6, 6, 6, 6]);
    expect(sim.captures().map((c) => c.maintainers)).toEqual([1, 1, 1, 0]);
    expect(sim.state()).toMatchObject({
      tables: 24,
      changefeeds: 3,
      orphans: { maintainers: 0, dispatchers: 0 },
    });
  });

  it('moves a drain target’s work at the configured rates to the least loaded captures', async () => {
    await start({ captures: 3, moveRatePerSec: 4, maintainerMoveRatePerSec: 1, rebalanceRatePerSec: 0 });
    const t = nonOwner(sim);
    await drainV1(sim, t.id);
    clock.advance(1000);
    expect(sim.capture(t.id)).toMatchObject({ dispatchers: 4, maintainers: 0 });
    clock.advance(1000);
    expect(sim.capture(t.id)).toMatchObject({ dispatchers: 0 });
    expect(
      sim
        .captures()
        .filter((c) => c.id !== t.id)
        .map((c) => c.dispatchers),
    ).toEqual([12, 12]);
  });

  it('rebalances onto a new capture at the rebalance rate, and never onto a draining one', async () => {
    await start({ captures: 3, moveRatePerSec: 10, rebalanceRatePerSec: 2 });
    const added = await sim.addCapture();
    clock.advance(1000);
    expect(sim.capture(added.id)!.dispatchers).toBe(2);
    clock.advance(5000);
    expect(loads()).toEqual([6, 6, 6, 6]);
    const t = nonOwner(sim);
    await drainV1(sim, t.id);
    clock.advance(5000);
    expect(sim.capture(t.id)!.dispatchers).toBe(0);
    expect(
      sim
        .captures()
        .filter((c) => c.id !== t.id)
        .map((c) => c.dispatchers),
    ).toEqual([8, 8, 8]);
  });

  it('freezes the work of a crashed capture until its session expires, then reschedules it; records the violation', async () => {
    await start({ captures: 3, moveRatePerSec: 4 });
    const t = nonOwner(sim);
    const v = sim.crash(t.id);
    expect(v).toMatchObject({
      captureId: t.id,
      address: t.address,
      name: t.name,
      maintainers: 1,
      dispatchers: 8,
      cause: 'crash-injected',
      injected: true,
      wasOwner: false,
      liveness: 'alive',
    });
    // Killed: listed (etcd session TTL, 14 s) with its work frozen, not yet orphaned.
    clock.advance(13_900);
    expect(sim.capture(t.id)).toMatchObject({ maintainers: 1, dispatchers: 8, exit: { signal: 'SIGKILL' } });
    expect(sim.state().orphans).toEqual({ maintainers: 0, dispatchers: 0 });
    const left: unknown[] = [];
    sim.on((e) => e.type === 'capture-left' && left.push(e));
    clock.advance(100);
    expect(sim.capture(t.id)).toBeUndefined();
    expect(left).toEqual([expect.objectContaining({ captureId: t.id, maintainers: 1, dispatchers: 8 })]);
    // Rescheduled reactively at 4/s from then on.
    expect(sim.state().orphans).toEqual({ maintainers: 0, dispatchers: 7 });
    clock.advance(1000);
    expect(sim.state().orphans).toEqual({ maintainers: 0, dispatchers: 3 });
    clock.advance(1000);
    expect(sim.state().orphans).toEqual({ maintainers: 0, dispatchers: 0 });
    expect(sim.unintendedViolations()).toEqual([]);
  });

  it('records no violation when a drained capture leaves', async () => {
    await start({ captures: 3, moveRatePerSec: 20 });
    const t = nonOwner(sim);
    await drainV1(sim, t.id);
    clock.advance(1000);
    expect(await sim.removeCapture(t.id)).toBeUndefined();
    expect(sim.violations()).toEqual([]);
  });

  it('elects a new owner after the election delay; an owner crash is a violation with wasOwner', async () => {
    await start({ captures: 3, electionDelayMs: 300 });
    const o = owner(sim);
    const prev = sim.failover('crash');
    expect(prev).toBe(o.id);
    expect(sim.violations()[0]).toMatchObject({ captureId: o.id, wasOwner: true, injected: true });
    // A killed owner keeps its key until the session expires; then the election runs.
    clock.advance(13_900);
    expect(sim.state().owner).toBe(o.id);
    clock.advance(300);
    expect(sim.state()).toMatchObject({ owner: null, electionPending: true });
    clock.advance(100);
    expect(sim.state().owner).not.toBeNull();
  });

  it('never elects a draining capture, even when it is the only other one', async () => {
    await start({ captures: 2, reelectProbability: 0, electionDelayMs: 100 });
    const o = owner(sim);
    await drainV1(sim, nonOwner(sim).id);
    sim.failover('resign'); // excluded, but it is the only alive capture left
    clock.advance(100);
    expect(owner(sim).id).toBe(o.id);
  });

  it('stays leaderless while no capture is alive, until one joins', async () => {
    await start({ captures: 2, electionDelayMs: 100, moveRatePerSec: 100 });
    const t = nonOwner(sim);
    await drainV1(sim, t.id);
    clock.advance(1000);
    sim.failover('crash');
    clock.advance(15_000);
    expect(sim.state().owner).toBeNull();
    const added = await sim.addCapture();
    clock.advance(100);
    expect(sim.state().owner).toBe(added.id);
  });
});

describe('clock and randomness', () => {
  it('ManualClock fires periodic callbacks in time order', () => {
    const c = new ManualClock();
    const log: string[] = [];
    c.every(100, () => log.push(`a@${c.now()}`));
    const cancel = c.every(150, () => log.push(`b@${c.now()}`));
    c.advance(300);
    expect(log).toEqual(['a@100', 'b@150', 'a@200', 'a@300', 'b@300']);
    cancel();
    c.advance(150);
    expect(log.slice(5)).toEqual(['a@400']);
    expect(c.now()).toBe(450);
  });

  it('is reproducible with a seed', () => {
    const a = new Rng(5);
    const b = new Rng(5);
    expect([a.uuid(), a.next()]).toEqual([b.uuid(), b.next()]);
  });

  it('turns numbers and booleans into strings for wrong-typed bodies', () => {
    expect(wrongTypes('{"a":1,"b":[true],"c":"x"}')).toBe('{"a":"1","b":["true"],"c":"x"}');
    expect(wrongTypes('{}')).toBe('"{}"');
    expect(wrongTypes('')).toBe('""');
  });
});
