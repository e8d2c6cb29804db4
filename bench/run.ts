// `make bench`: speed and memory targets, measured here rather than in timed unit tests.
//   1. drain state machine: cost of one nextAction + advance step
//   2. informer cache: heap per cached CaptureDrain, and list() time
//   3. TiCDC client against the simulator: drain request latency over a keep-alive pool
// Each prints its measurement next to its target; the exit code is 1 if a target is missed.
import { performance } from 'node:perf_hooks';
import { TicdcSimulator } from '../e2e/ticdc-sim/index.js';
import type { CaptureDrainStatus } from '../operator/src/api/capturedrain.js';
import { advance, nextAction, type DrainContext, type Outcome } from '../operator/src/drain/machine.js';
import { Informer } from '../operator/src/kube/informer.js';
import { Resources } from '../operator/src/kube/port.js';
import { createTicdcClient } from '../operator/src/ticdc/client.js';
import { FakeKube } from '../operator/test/support/fake-kube.js';

const results: { name: string; value: number; unit: string; target: number; ok: boolean }[] = [];
function report(name: string, value: number, unit: string, target: number) {
  const ok = value <= target;
  results.push({ name, value, unit, target, ok });
  console.log(
    `${ok ? 'ok  ' : 'MISS'} ${name.padEnd(44)} ${value.toFixed(2).padStart(10)} ${unit.padEnd(6)} (target <= ${target})`,
  );
}
const gc = () => (globalThis as { gc?: () => void }).gc?.();

function benchMachine() {
  const captures = [
    { id: 'a', isOwner: true, address: 'ticdc-0.p.ns.svc:8300' },
    { id: 'b', isOwner: false, address: 'ticdc-1.p.ns.svc:8300' },
  ];
  let steps = 0;
  const t0 = performance.now();
  for (let run = 0; run < 2000; run++) {
    let status: CaptureDrainStatus = {};
    let now = Date.parse('2026-11-21T10:00:00Z');
    let remaining = 50;
    for (let i = 0; i < 200 && status.phase !== 'Completed'; i++) {
      const ctx: DrainContext = {
        now,
        status,
        policy: {
          podAction: 'Delete',
          timeoutMs: 600_000,
          stallTimeoutMs: 180_000,
          onTimeout: 'Hold',
          apiFlavor: 'V2',
          trackPod: true,
        },
        target: { addresses: ['ticdc-1.p.ns.svc:8300'] },
        pod: { uid: 'u', terminating: status.released === true },
        slot: { free: true },
      };
      const action = nextAction(ctx);
      let outcome: Outcome = { type: 'none' };
      if (action.type === 'discover') outcome = { type: 'discovered', captures, flavor: 'V2' };
      if (action.type === 'drain')
        outcome = {
          type: 'drain',
          counts: { maintainers: 0, dispatchers: (remaining = Math.max(0, remaining - 5)) },
        };
      if (action.type === 'deletePod') outcome = { type: 'podDeleted' };
      if (action.type === 'awaitDeparture') outcome = { type: 'departure', captures: captures.slice(0, 1) };
      status = advance(ctx, action, outcome).status;
      now += 1000;
      steps++;
    }
  }
  const us = ((performance.now() - t0) * 1000) / steps;
  report('state machine step (nextAction + advance)', us, 'µs', 50);
}

async function benchInformer() {
  const kube = new FakeKube();
  const n = 10_000;
  for (let i = 0; i < n; i++) {
    await kube.create(Resources.capturedrains, {
      apiVersion: 'drain.ticdc.io/v1alpha1',
      kind: 'CaptureDrain',
      metadata: { name: `d-${i}`, namespace: `ns-${i % 50}` },
      spec: { podName: `ticdc-${i % 7}`, podAction: 'Delete' },
      status: {
        phase: 'Completed',
        reason: 'Drained',
        captureID: `id-${i}`,
        remaining: { maintainers: 0, dispatchers: 0 },
      },
    });
  }
  gc();
  const before = process.memoryUsage().heapUsed;
  const informer = new Informer(kube, { type: Resources.capturedrains });
  informer.start();
  await informer.waitForSync();
  gc();
  const perObject = (process.memoryUsage().heapUsed - before) / n / 1024;
  report(`informer heap per cached CaptureDrain (${n})`, perObject, 'KiB', 4);
  const t0 = performance.now();
  for (let i = 0; i < 100; i++) informer.list();
  report(`informer list() of ${n} objects`, (performance.now() - t0) / 100, 'ms', 10);
  await informer.stop();
}

async function benchClient() {
  const sim = await TicdcSimulator.start({
    mode: 'v2',
    captures: 3,
    changefeeds: 3,
    moveRatePerSec: 0.001,
    host: '127.0.0.1',
  });
  const client = createTicdcClient({ endpoint: sim.url });
  const target = sim.captures().find((c) => !c.isOwner)!;
  const samples: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const t0 = performance.now();
    await client.drain('V2', target.id);
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  report('TiCDC drain request p50 (loopback, keep-alive)', samples[500]!, 'ms', 5);
  report('TiCDC drain request p99', samples[990]!, 'ms', 25);
  await client.close();
  await sim.stop();
}

benchMachine();
await benchInformer();
await benchClient();
const missed = results.filter((r) => !r.ok).length;
console.log(`\n${results.length - missed} passed, ${missed} failed`);
process.exitCode = missed ? 1 : 0;
