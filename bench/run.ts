// `make bench`: speed and memory targets, measured here rather than in timed unit tests.
//   1. drain state machine: cost of one nextAction + advance step
//   2. informer cache: heap per cached CaptureDrain, and list() time
//   3. TiCDC client against the simulator: drain request latency over a keep-alive pool
//   4. pod-termination gate: webhook certificate issue time (operator mode), admission latency over
//      real HTTPS as the API server calls it, the pure decision's cost, and the server's heap growth
//   5. operator start-up: RSS and time to import the operator (a fresh process), no module of
//      @kubernetes/client-node loaded; heap per cached pod (what the informer keeps of a real-sized pod)
// Each prints its measurement next to its target; the exit code is 1 if a target is missed.
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { TicdcSimulator } from '../e2e/ticdc-sim/index.js';
import { type CaptureDrainStatus, type CaptureDrainObject } from '../operator/src/api/capturedrain.js';
import { ensurePodDrain } from '../operator/src/drain/pod-drains.js';
import { advance, nextAction, type DrainContext, type Outcome } from '../operator/src/drain/machine.js';
import { decide, type GateFacts } from '../operator/src/gate/decide.js';
import { GateHandler } from '../operator/src/gate/handler.js';
import { createGateMetrics } from '../operator/src/gate/metrics.js';
import { Informer } from '../operator/src/kube/informer.js';
import { Resources, type KubeObject } from '../operator/src/kube/port.js';
import { createRegistry } from '../operator/src/observability/metrics.js';
import { createTicdcClient } from '../operator/src/ticdc/client.js';
import { runDrain } from '../operator/src/cli/drain.js';
import { SecretCertSource } from '../operator/src/webhook/cert-sources.js';
import { GATE_PATH, WebhookServer } from '../operator/src/webhook/server.js';
import { FakeKube } from '../operator/test/support/fake-kube.js';
import { STATEFULSET_CONTROLLER } from '../operator/src/api/names.js';
import type { Pod } from '../operator/src/kube/objects.js';

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

/** A fresh process imports the operator's entry module and reports what that cost. */
function benchImport() {
  const main = fileURLToPath(new URL('../operator/src/main.js', import.meta.url));
  const script = `
    import { registerHooks } from 'node:module';
    const seen = new Set();
    registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); seen.add(r.url); return r; } });
    const t0 = performance.now();
    await import(${JSON.stringify(main)});
    const ms = performance.now() - t0;
    const kube = [...seen].filter((u) => u.includes('/node_modules/@kubernetes/')).length;
    console.log(JSON.stringify({ ms, rss: process.memoryUsage().rss, kube }));`;
  const runs = [0, 1, 2].map(
    () =>
      JSON.parse(
        execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }),
      ) as { ms: number; rss: number; kube: number },
  );
  const best = (f: (r: (typeof runs)[number]) => number) => Math.min(...runs.map(f));
  report('operator import: RSS after import (fresh node)', best((r) => r.rss) / 1048576, 'MiB', 100);
  report(
    'operator import: time (best of 3)',
    best((r) => r.ms),
    'ms',
    400,
  );
  report('operator import: @kubernetes/* modules loaded', Math.max(...runs.map((r) => r.kube)), '', 0);
}

/** A pod as the API server returns it: spec, status, managedFields of three managers (~30 KiB cached as is). */
function realisticPod(i: number): Pod {
  const fields = (n: number) =>
    Object.fromEntries(
      Array.from({ length: n }, (_, k) => [`f:field-${k}`, { '.': {}, [`f:sub-${k}`]: {}, 'f:value': {} }]),
    );
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `ticdc-${i}`,
      namespace: `ns-${i % 200}`,
      uid: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
      labels: { app: 'ticdc', 'drain.ticdc.io/managed': 'true', 'controller-revision-hash': 'ticdc-7d9f' },
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ spec: fields(40) }),
      },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'ticdc', uid: 'sts', controller: true },
      ],
      managedFields: ['kube-controller-manager', 'kubelet', 'kwok'].map((manager) => ({
        manager,
        operation: 'Update',
        apiVersion: 'v1',
        time: '2026-12-03T10:00:00Z',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:metadata': fields(8), 'f:spec': fields(20), 'f:status': fields(12) },
      })),
    },
    spec: {
      nodeName: `node-${i % 5}`,
      containers: [{ name: 'ticdc', image: 'pingcap/ticdc:v8.5.0', ports: [{ containerPort: 8300 }] }],
    },
    status: {
      phase: 'Running',
      podIP: `10.0.${(i >> 8) & 255}.${i & 255}`,
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ name: 'ticdc', ready: true, restartCount: 0, image: 'pingcap/ticdc:v8.5.0' }],
    },
  } as unknown as Pod;
}

async function benchPodCache() {
  const kube = new FakeKube();
  const n = 2000;
  for (let i = 0; i < n; i++) kube.seed(Resources.pods, realisticPod(i));
  gc();
  const before = process.memoryUsage().heapUsed;
  const informer = new Informer(kube, { type: Resources.pods });
  informer.start();
  await informer.waitForSync();
  gc();
  const perObject = (process.memoryUsage().heapUsed - before) / n / 1024;
  report(`informer heap per cached pod (${n}, real-sized)`, perObject, 'KiB', 6);
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

/**
 * The drain engine (the CLI's loop, the operator's machine and TiCDC actions) against the v8.5.7
 * simulator: fault-free, then with 40% of requests failing in mixed ways (5xx, resets, garbled bodies).
 * Target: a drain that takes about 5 s fault-free completes within 20 s, and none releases early.
 */
async function benchFaultyDrain() {
  const runOnce = async (seed: number, faulty: boolean) => {
    const sim = await TicdcSimulator.start({
      mode: 'newarch',
      captures: 3,
      changefeeds: 2,
      tablesPerChangefeed: 5,
      moveRatePerSec: 1,
      host: '127.0.0.1',
      seed,
      reelectProbability: 0,
      perCaptureListeners: true,
    });
    await sim.settled();
    const target = sim.captures().find((c) => !c.isOwner)!;
    const map = sim.addressMap();
    const seen = { all: 0, failed: 0 };
    const client = createTicdcClient({
      endpoint: sim.url,
      resolveAddress: (a) => map[a],
      onRequest: (i) => {
        seen.all++;
        if (i.outcome !== 'ok' && i.status !== 400) seen.failed++;
      },
    });
    if (faulty) sim.setFaults({ errorRate: 0.15, resetRate: 0.15, malformedRate: 0.1, errorStatus: 502 });
    let early = false;
    const t0 = performance.now();
    const status = await runDrain({
      client,
      target: { captureId: target.id, addresses: [] },
      policy: { timeoutMs: 120_000, stallTimeoutMs: 60_000, apiFlavor: 'Auto' },
      report: (st) => {
        // "Released" for the CLI is reaching Completed/Drained: the capture must hold nothing then.
        if (st.phase === 'Completed' && st.drainedTime) {
          const c = sim.capture(target.id);
          if (!c || c.maintainers + c.dispatchers > 0 || c.liveness !== 'stopping') early = true;
        }
      },
    });
    const secs = (performance.now() - t0) / 1000;
    await client.close();
    const violations = sim.unintendedViolations().length;
    await sim.stop();
    if (status.reason !== 'Drained') throw new Error(`faulty drain ended ${status.phase}/${status.reason}`);
    // The faults must really have hit (about 40% of the requests).
    if (faulty && seen.failed / seen.all < 0.25)
      throw new Error(`only ${seen.failed} of ${seen.all} requests failed: the faults did not apply`);
    if (faulty)
      console.log(`     seed ${seed}: ${seen.failed}/${seen.all} requests failed, ${secs.toFixed(2)} s`);
    return { secs, early: early || violations > 0 };
  };
  const clean = await runOnce(11, false);
  report('drain engine: fault-free drain (sim v8.5.7)', clean.secs, 's', 8);
  let worst = 0;
  let early = 0;
  for (const seed of [1, 2, 3]) {
    const r = await runOnce(seed, true);
    worst = Math.max(worst, r.secs);
    if (r.early) early++;
  }
  report('drain engine: same drain, 40% mixed faults (worst of 3)', worst, 's', 20);
  report('drain engine: early releases under faults', early, 'runs', 0);
}

// A namespace with a managed capture StatefulSet: ticdc-0 drained (its drain released), ticdc-1
// draining, ticdc-2 without a drain (the first delete starts one), and an unmanaged pod.
const GATE_NS = 'tidb';
async function gateCluster() {
  const kube = new FakeKube();
  kube.seed(Resources.namespaces, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: GATE_NS },
    status: { phase: 'Active' },
  });
  const managed = { 'drain.ticdc.io/managed': 'true' };
  const sts = kube.seed(Resources.statefulsets, {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'ticdc', namespace: GATE_NS, labels: managed },
    spec: { replicas: 3 },
  });
  const pod = (name: string, labels: Record<string, string>, owner?: KubeObject): Pod =>
    kube.seed<Pod>(Resources.pods, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: GATE_NS,
        labels: { app: name.replace(/-\d+$/, ''), ...labels },
        ...(owner && {
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'StatefulSet',
              name: owner.metadata.name!,
              uid: owner.metadata.uid!,
              controller: true,
            },
          ],
        }),
      },
      spec: { nodeName: 'node-1' },
      status: { phase: 'Running' },
    });
  const pods = {
    drained: pod('ticdc-0', managed, sts),
    draining: pod('ticdc-1', managed, sts),
    fresh: pod('ticdc-2', managed, sts),
    unmanaged: pod('web-0', {}),
  };
  for (const [p, status] of [
    [pods.drained, { phase: 'Completed', releaseTime: '2026-01-01T00:00:00Z' }],
    [pods.draining, { phase: 'Draining' }],
  ] as const) {
    const { drain } = await ensurePodDrain(kube, {
      pod: p,
      statefulSet: sts,
      trigger: 'PodDeletion',
      podAction: 'Delete',
    });
    await kube.patch<CaptureDrainObject>(
      Resources.capturedrains,
      GATE_NS,
      drain.metadata.name,
      { status: { ...status, podUID: p.metadata.uid } },
      'merge',
      { subresource: 'status' },
    );
  }
  return { kube, pods };
}

/** AdmissionReviews as the API server sends them, each with the answer it must get. */
function gateRequests(pods: Awaited<ReturnType<typeof gateCluster>>['pods']) {
  const base = (name: string) => ({
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    name,
    namespace: GATE_NS,
  });
  const del = (p: Pod, username = 'alice') => ({
    ...base(p.metadata.name!),
    operation: 'DELETE',
    userInfo: { username, groups: ['system:authenticated'] },
    oldObject: p,
    object: null,
    options: { apiVersion: 'meta.k8s.io/v1', kind: 'DeleteOptions', propagationPolicy: 'Background' },
    dryRun: false,
  });
  const evict = (p: Pod) => ({
    ...base(p.metadata.name!),
    kind: { group: 'policy', version: 'v1', kind: 'Eviction' },
    subResource: 'eviction',
    operation: 'CREATE',
    userInfo: { username: 'system:admin', groups: ['system:masters'] },
    object: {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: p.metadata.name, namespace: GATE_NS },
    },
    dryRun: false,
  });
  return [
    { request: del(pods.drained), allowed: true },
    { request: del(pods.draining), allowed: false },
    { request: del(pods.fresh, STATEFULSET_CONTROLLER), allowed: false },
    { request: evict(pods.drained), allowed: true },
    { request: evict(pods.draining), allowed: false },
    { request: del(pods.unmanaged), allowed: true },
    { request: evict(pods.unmanaged), allowed: true },
  ];
}

async function benchGate() {
  // Operator cert mode at startup: CA + serving certificate (two RSA keys) written to the Secret.
  // Key generation time varies, so the slowest of a few runs counts.
  let source: SecretCertSource | undefined;
  let slowest = 0;
  for (let i = 0; i < 3; i++) {
    source = new SecretCertSource({
      kube: new FakeKube(),
      namespace: 'capture-drain',
      secretName: 'capture-drain-operator-webhook-cert',
      hosts: ['127.0.0.1', 'localhost'],
    });
    const t0 = performance.now();
    await source.load();
    slowest = Math.max(slowest, performance.now() - t0);
  }
  report('webhook cert issue, CA + serving (max of 3)', slowest, 'ms', 1000);

  const { kube, pods } = await gateCluster();
  // Each admission's deadline timer lives for the whole budget (default 3 s) and keeps its signal
  // until then; a shorter budget lets the heap settle sooner. FakeKube answers in microseconds.
  const budgetMs = 1000;
  const handler = new GateHandler({
    kube,
    events: { event: () => {} },
    metrics: createGateMetrics(createRegistry({ defaultMetrics: false })),
    budgetMs,
  });
  const server = new WebhookServer({
    host: '127.0.0.1',
    port: 0,
    source: source!,
    review: (req) => handler.review(req),
  });
  if (!(await server.refresh())) throw new Error('webhook server did not start');
  const { caBundle } = await source!.sync();
  // The API server keeps connections to a webhook open and sends requests in parallel.
  const pool = new Pool(`https://127.0.0.1:${server.port}`, { connections: 8, connect: { ca: caBundle } });
  // Each new connection costs a TLS handshake (about 1.5 ms here): the server must keep them open.
  let connections = 0;
  pool.on('connect', () => connections++);
  const cases = gateRequests(pods);
  let seq = 0;
  const send = async (i: number) => {
    const c = cases[i % cases.length]!;
    const uid = `req-${++seq}`;
    const res = await pool.request({
      path: GATE_PATH,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: { uid, ...c.request },
      }),
    });
    const review = (await res.body.json()) as { response?: { uid: string; allowed: boolean } };
    // A fast wrong answer is no result: every request must get the verdict its case expects.
    if (res.statusCode !== 200 || review.response?.uid !== uid || review.response.allowed !== c.allowed)
      throw new Error(`gate answered case ${i % cases.length} wrongly: ${JSON.stringify(review)}`);
  };

  for (let i = 0; i < 300; i++) await send(i);
  const samples: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t0 = performance.now();
    await send(i);
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  report('gate admission p50 (HTTPS keep-alive, mixed)', samples[1000]!, 'ms', 2);
  report('gate admission p99 (webhook timeout 5 s)', samples[1980]!, 'ms', 50);

  // Steady state: the same requests create nothing new, so the heap must come back to where it was
  // once the deadline timers of the last requests have fired. FakeKube records every call for tests;
  // that log is the fake's, not the server's, so it is cleared.
  const settledHeap = async () => {
    kube.calls.length = 0;
    await new Promise((r) => setTimeout(r, budgetMs + 200));
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const n = 10_000;
  const burst = async (from: number) => {
    for (let i = from; i < from + n; i += 8)
      await Promise.all(Array.from({ length: Math.min(8, from + n - i) }, (_, k) => send(i + k)));
  };
  await burst(0);
  const before = await settledHeap();
  await burst(n);
  const growth = ((await settledHeap()) - before) / 1024;
  // A leak of 100 bytes per admission misses the target.
  report(`gate heap growth after ${n} admissions`, growth, 'KiB', 1024);
  report(`gate TLS connections over ${seq} admissions`, connections, 'conns', 8);
  await pool.close();
  await server.close();

  // The pure decision on prepared facts, for every verdict the gate gives.
  const drain = (state: 'Released' | 'InProgress' | 'Held') => ({
    name: 'ticdc-1-0a1b2c3d',
    state,
    phase: state === 'InProgress' ? 'Draining' : state === 'Held' ? 'Failed' : 'Completed',
    podAction: 'Delete' as const,
  });
  const sts = { name: 'ticdc', uid: 'sts-uid', deleting: false, replicas: 3 };
  const facts: GateFacts[] = [
    { pod: pods.drained, drain: drain('Released') },
    { pod: pods.draining, drain: drain('InProgress') },
    { pod: pods.draining, drain: drain('Held') },
    { pod: pods.fresh, drain: undefined },
    { pod: pods.unmanaged, drain: undefined },
  ].flatMap(({ pod, drain }) =>
    (['Delete', 'Evict'] as const).map((operation) => ({
      operation,
      dryRun: false,
      username: 'alice',
      pod,
      namespaceTerminating: false,
      statefulSet: sts,
      drain,
    })),
  );
  const calls = 200_000;
  let denied = 0;
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) if (!decide(facts[i % facts.length]!).allowed) denied++;
  const us = ((performance.now() - t0) * 1000) / calls;
  if (denied !== (calls / facts.length) * 6) throw new Error(`decide denied ${denied} of ${calls}`);
  report('gate decide() per call (pure)', us, 'µs', 5);
}

// BENCH_ONLY=faults runs only the faulty-drain target.
if (process.env.BENCH_ONLY !== 'faults') {
  benchMachine();
  await benchInformer();
  await benchClient();
  await benchGate();
  benchImport();
  await benchPodCache();
}
await benchFaultyDrain();
const missed = results.filter((r) => !r.ok).length;
console.log(`\n${results.length - missed} passed, ${missed} failed`);
process.exitCode = missed ? 1 : 0;
