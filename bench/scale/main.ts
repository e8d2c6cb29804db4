// `make bench-scale`: the operator measured from the outside on the real control plane (kwok pods,
// one TiCDC simulator per cluster, all in this process, the operator as a separate process with the
// chart's RBAC, reaching each capture's own status through the local capture router).
//   mix      many concurrent manual drains of varied durations (one TiCDC cluster each)
//   rollout  a drained rolling upgrade of a 6-capture StatefulSet (charts/ticdc-example)
//   scale    N clusters x M pods, one concurrent drain per cluster, one operator replica
// Each figure is printed next to its goal and, where it applies, next to the anchors' polling
// policies replayed on the same recorded drain timelines. Exit code 1 when a goal is missed.
// Sizes are flags (`--help`); the defaults are the full size.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CONTROLPLANE,
  Cluster,
  REPO,
  eventually,
  runScript,
  stopCluster,
} from '../../e2e/harness/cluster.js';
import { captureUrlArgs, registerSimulator, unregisterSimulator } from '../../e2e/harness/capture-router.js';
import { installOperatorIdentity, startOperator } from '../../e2e/harness/operator.js';
import { installTicdcChart } from '../../e2e/harness/ticdc-chart.js';
import { statefulSetManifest } from '../../e2e/harness/workload.js';
import { runMain } from '../../e2e/harness/run-main.js';
import { TicdcSimulator, type SimEvent, type SimRequestRecord } from '../../e2e/ticdc-sim/index.js';
import { DrainRecorder, writeStats, type DrainRecord } from './drains.js';
import { PodRouter } from './pods.js';
import {
  backoffWithResync,
  fixedInterval,
  mean,
  percentile,
  replay,
  type PollSchedule,
  type Timeline,
} from './replay.js';

const USAGE = `Usage: node dist/bench/scale/main.js [flags]   (make bench-scale ARGS="...")
  --only LIST              mix,rollout,scale (default all three)
  --mix-drains N           concurrent drains of the mix (default 38)
  --mix-min-s S            shortest drain of the mix in seconds (default 4)
  --mix-max-s S            longest drain of the mix in seconds (default 120)
  --rollout-replicas N     captures of the rolling upgrade (default 6)
  --scale-clusters N       TiCDC clusters of the scale run (default 200)
  --scale-pods N           pods per cluster (default 10)
  --scale-drain-s S        drain duration of the scale run in seconds (default 20)
  --scale-units N          work units (tables) per capture in the scale run (default 20)
  --workers N              operator --workers (default: the operator's default)
  --keep                   leave the control plane running
`;

const { values: flags } = parseArgs({
  options: {
    only: { type: 'string', default: 'mix,rollout,scale' },
    'mix-drains': { type: 'string', default: '38' },
    'mix-min-s': { type: 'string', default: '4' },
    'mix-max-s': { type: 'string', default: '120' },
    'rollout-replicas': { type: 'string', default: '6' },
    'scale-clusters': { type: 'string', default: '200' },
    'scale-pods': { type: 'string', default: '10' },
    'scale-drain-s': { type: 'string', default: '20' },
    'scale-units': { type: 'string', default: '20' },
    workers: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const only = new Set(flags.only.split(','));
const num = (k: keyof typeof flags) => Number(flags[k]);

const STATE_DIR = process.env.CDO_BENCH_STATE ?? join(REPO, 'e2e/controlplane/.state-bench');
const OP_NS = 'bench-operator';
const SELECTOR = 'drain.ticdc.io/managed=true';
// Work per cluster: 4 changefeeds x 6 tables, spread over the captures.
const CHANGEFEEDS = 4;
const TABLES = 6;

// ---- reporting -------------------------------------------------------------------------------

interface Row {
  figure: string;
  value: string;
  goal: string;
  ok: boolean | undefined;
  anchors?: string;
}
const rows: Row[] = [];
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
/** Every number of a row must have been measured: NaN or an infinity (an empty sample) is a miss. */
function row(r: Row) {
  if (/NaN|Infinity/.test(r.value)) r = { ...r, value: `${r.value} (not measured)`, ok: false };
  rows.push(r);
  const mark = r.ok === undefined ? 'info' : r.ok ? 'ok  ' : 'MISS';
  console.log(
    `${mark} ${r.figure}: ${r.value} (goal ${r.goal})${r.anchors ? ` | anchors: ${r.anchors}` : ''}`,
  );
}

const ANCHORS: [string, (epoch: number) => PollSchedule][] = [
  ['TiUP 1 s poll', () => fixedInterval(1000)],
  ['tidb-operator v2 5 s requeue', () => fixedInterval(5000)],
  [
    'tidb-operator v1 1-100 s backoff + 30 s resync',
    (epoch) => backoffWithResync({ baseMs: 1000, maxMs: 100_000, resyncMs: 30_000, resyncEpoch: epoch }),
  ],
];
function anchorText(timelines: Timeline[], epoch: number): string {
  return ANCHORS.map(([name, p]) => {
    const r = replay(p(epoch), timelines);
    return `${name}: lag p50 ${s(percentile(r.lags, 50))} p99 ${s(percentile(r.lags, 99))} at ${mean(r.rates).toFixed(2)} req/s`;
  }).join('; ');
}

// ---- per-cluster recording -------------------------------------------------------------------

interface ClusterRun {
  namespace: string;
  sim: TicdcSimulator;
  requests: SimRequestRecord[];
  events: { at: number; e: SimEvent }[];
}

async function startSim(
  namespace: string,
  router: PodRouter | undefined,
  peerService: string,
  opts: Record<string, unknown>,
  seed: number,
): Promise<ClusterRun> {
  const requests: SimRequestRecord[] = [];
  const events: { at: number; e: SimEvent }[] = [];
  const sim = await TicdcSimulator.start({
    mode: 'newarch',
    changefeeds: CHANGEFEEDS,
    tablesPerChangefeed: TABLES,
    rebalanceRatePerSec: 40,
    maintainerMoveRatePerSec: 4,
    seed,
    host: '127.0.0.1',
    onRequest: (r) => requests.push(r),
    ...opts,
    kube: {
      namespace,
      addressTemplate: `{pod}.${peerService}.{namespace}.svc:8300`,
      ...(router ? {} : { selector: SELECTOR }),
    },
    ...(router ? { podSource: router.sourceFor(namespace) } : {}),
  });
  sim.on((e) => events.push({ at: Date.now(), e }));
  // The operator reads each capture's own status at its advertise address, through the router.
  registerSimulator(sim);
  const stop = sim.stop.bind(sim);
  sim.stop = () => (unregisterSimulator(sim), stop());
  return { namespace, sim, requests, events };
}

const isDrainRequest = (r: SimRequestRecord) => r.method === 'PUT' && r.path.endsWith('/captures/drain');

/**
 * The drained capture's moment of zero and its release: the simulator's `capture-exited` (its pod
 * got a deletionTimestamp, the process its SIGTERM). Not `capture-left`: a capture stays listed
 * for sigtermDepartureMs (5 s) after its SIGTERM, as a real one does, which is TiCDC's time.
 */
function drainTimes(run: ClusterRun, captureId: string, after: number) {
  const zero = run.events.find(
    (x) => x.at >= after && x.e.type === 'drain' && x.e.phase === 'completed' && x.e.captureId === captureId,
  )?.at;
  const released = run.events.find(
    (x) => x.at >= after && x.e.type === 'capture-exited' && x.e.captureId === captureId,
  )?.at;
  return { zero, released };
}

function nonOwnerPod(run: ClusterRun): { pod: string; capture: string } {
  const c = run.sim.captures().find((x) => !x.isOwner && x.liveness === 'alive')!;
  return { pod: c.podName!, capture: c.id };
}

async function applyAll(cluster: Cluster, items: unknown[]) {
  for (let i = 0; i < items.length; i += 300)
    await cluster.kubectlOk(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: items.slice(i, i + 300) }),
      timeoutMs: 300_000,
    });
}

function workloadItems(namespace: string, replicas: number, endpoint: string): unknown[] {
  const list = JSON.parse(statefulSetManifest({ namespace, replicas, endpoint })) as { items: unknown[] };
  return list.items;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitSpread(runs: ClusterRun[], replicas: number, timeoutMs: number) {
  await eventually(
    `captures of ${runs.length} clusters registered with work`,
    async () =>
      runs.every((r) => {
        const cs = r.sim.captures();
        return cs.length === replicas && cs.every((x) => x.dispatchers > 0);
      }),
    { timeoutMs, intervalMs: 500 },
  );
}

function vmStatus(pid: number | undefined, field: 'VmHWM' | 'VmRSS'): number {
  if (!pid) return NaN;
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function startMeasuredOperator(cluster: Cluster, kubeconfig: string, name: string) {
  const spawned = Date.now();
  const op = startOperator({
    kubeconfig,
    namespace: OP_NS,
    logDir: join(STATE_DIR, 'bench-logs'),
    name,
    extraArgs: [
      '--log-level',
      process.env.BENCH_LOG_LEVEL ?? 'info',
      ...(await captureUrlArgs()),
      ...(flags.workers ? ['--workers', flags.workers] : []),
    ],
  });
  const port = await eventually(
    'operator listening',
    async () => {
      const m = /"port":(\d+)[^\n]*"msg":"Operator starting"/.exec(op.logs());
      return m ? Number(m[1]) : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 20 },
  );
  const readyAt = await eventually(
    'operator ready',
    async () => {
      // /leaderz: the Lease held and the caches synced (/readyz is green on a standby already).
      const r = await fetch(`http://127.0.0.1:${port}/leaderz`).catch(() => undefined);
      return r?.status === 200 ? Date.now() : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 20 },
  );
  const synced = await eventually(
    'caches synced',
    async () => {
      const m = /"time":(\d+)[^\n]*"msg":"Caches synced; starting controllers"/.exec(op.logs());
      return m ? Number(m[1]) : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 50 },
  );
  void cluster;
  return { op, spawned, readyAt, synced };
}

function drainManifest(namespace: string, name: string, podName: string) {
  return {
    apiVersion: 'drain.ticdc.io/v1alpha1',
    kind: 'CaptureDrain',
    metadata: { name, namespace },
    spec: { podName, podAction: 'Delete' },
  };
}

interface DrainResult {
  rec: DrainRecord;
  run: ClusterRun;
  timeline?: Timeline;
  lag?: number;
  rate: number;
  firstRequestDelay?: number;
}

/** Per drain: timeline, release lag, TiCDC requests per second over the drain's life. */
function analyse(
  recorder: DrainRecorder,
  runs: ClusterRun[],
  targets: Map<string, string>,
  name: string,
): DrainResult[] {
  const out: DrainResult[] = [];
  for (const run of runs) {
    const rec = recorder.drains.get(`${run.namespace}/${name}`);
    if (!rec) continue;
    const capture = targets.get(run.namespace)!;
    const end = rec.finishedAt ?? Date.now();
    const during = run.requests.filter((r) => r.at >= rec.addedAt && r.at <= end);
    const first = during.find(isDrainRequest)?.at;
    const { zero, released } = drainTimes(run, capture, rec.addedAt);
    const res: DrainResult = { rec, run, rate: during.length / Math.max((end - rec.addedAt) / 1000, 0.001) };
    if (first !== undefined) res.firstRequestDelay = first - rec.addedAt;
    if (first !== undefined && zero !== undefined) res.timeline = { start: first, zero };
    if (zero !== undefined && released !== undefined) res.lag = released - zero;
    if (process.env.BENCH_DUMP)
      console.log(
        `   ${run.namespace}: ${during.length} requests in ${s(end - rec.addedAt)}, zero at ${s((zero ?? NaN) - rec.addedAt)}, released at ${s((released ?? NaN) - rec.addedAt)}: ` +
          during
            .map(
              (r) =>
                `${((r.at - rec.addedAt) / 1000).toFixed(1)} ${r.method} ${r.path.replace(/^\/api\//, '')} ${r.status}`,
            )
            .join('; ') +
          ` | writes: ${rec.writes
            .map(
              (w) =>
                `${((w.at - rec.addedAt) / 1000).toFixed(1)} ${String(w.status.phase)}/${String(w.status.reason)}${w.status.released ? '/released' : ''}`,
            )
            .join('; ')}`,
      );
    out.push(res);
  }
  return out;
}

async function runDrains(
  cluster: Cluster,
  recorder: DrainRecorder,
  runs: ClusterRun[],
  prefix: string,
  timeoutMs: number,
) {
  const targets = new Map<string, string>();
  const items = runs.map((r) => {
    const t = nonOwnerPod(r);
    targets.set(r.namespace, t.capture);
    return drainManifest(r.namespace, prefix, t.pod);
  });
  await applyAll(cluster, items);
  // A drain that does not finish in time is reported (as a miss of the figures it lacks), not thrown.
  await eventually(
    `${runs.length} drains finished`,
    async () =>
      runs.every((r) => recorder.drains.get(`${r.namespace}/${prefix}`)?.finishedAt !== undefined) ||
      undefined,
    { timeoutMs, intervalMs: 500 },
  ).catch((err: unknown) => console.log(`   ${(err as Error).message}`));
  // Let the last releases arrive (the drained capture's process got its SIGTERM).
  await eventually(
    'drained captures released',
    async () =>
      runs.every((r) => {
        const c = r.sim.capture(targets.get(r.namespace)!);
        return !c || c.exit !== undefined;
      }),
    { timeoutMs: 30_000, intervalMs: 200 },
  ).catch(() => undefined);
  return analyse(recorder, runs, targets, prefix);
}

// ---- the three runs --------------------------------------------------------------------------

async function mixRun(cluster: Cluster, kubeconfig: string, router: PodRouter, recorder: DrainRecorder) {
  const n = num('mix-drains');
  const [minS, maxS] = [num('mix-min-s'), num('mix-max-s')];
  const replicas = 3;
  const perCapture = Math.round((CHANGEFEEDS * TABLES) / replicas);
  console.log(`\n== mix: ${n} concurrent drains of ${minS}-${maxS} s (one 3-capture cluster each)`);
  const runs: ClusterRun[] = [];
  const items: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const ns = `bm-mix-${i}`;
    const durS = n === 1 ? minS : minS + ((maxS - minS) * i) / (n - 1);
    // The last cluster of the mix answers half of its requests with 503.
    const faulty = n > 2 && i === n - 1;
    const run = await startSim(
      ns,
      router,
      'ticdc-peer',
      {
        moveRatePerSec: perCapture / durS,
        ...(faulty ? { faults: { errorRate: 0.5, errorStatus: 503 } } : {}),
      },
      1000 + i,
    );
    runs.push(run);
    items.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    items.push(...workloadItems(ns, replicas, run.sim.url));
  }
  await applyAll(cluster, items);
  await waitSpread(runs, replicas, 300_000);
  const { op } = await startMeasuredOperator(cluster, kubeconfig, 'mix');
  try {
    const results = await runDrains(cluster, recorder, runs, 'mix', (maxS * 3 + 120) * 1000);
    const faultyNs = n > 2 ? runs[n - 1]!.namespace : undefined;
    const clean = results.filter((r) => r.run.namespace !== faultyNs);
    const lags = results.flatMap((r) => (r.lag !== undefined ? [r.lag] : []));
    const timelines = results.flatMap((r) => (r.timeline ? [r.timeline] : []));
    const epoch = Math.min(...results.map((r) => r.rec.addedAt));
    const durations = timelines.map((t) => t.zero - t.start);
    console.log(
      `   ${results.length} drains, ${lags.length} released, work reached zero after ${s(Math.min(...durations))}-${s(Math.max(...durations))}`,
    );
    row({
      figure: `mix: release lag, zero -> pod released (${lags.length} of ${runs.length} drains)`,
      value: `p50 ${s(percentile(lags, 50))}, p99 ${s(percentile(lags, 99))}`,
      goal: 'p50 <= 0.30 s, p99 <= 1.00 s',
      ok: lags.length === runs.length && percentile(lags, 50) <= 300 && percentile(lags, 99) <= 1000,
      anchors: anchorText(timelines, epoch),
    });
    const rates = results.map((r) => r.rate);
    const faultyRate = results.find((r) => r.run.namespace === faultyNs)?.rate;
    row({
      figure: 'mix: TiCDC requests per second per drain (errors included)',
      value: `mean ${mean(rates).toFixed(2)}, median ${percentile(
        clean.map((r) => r.rate),
        50,
      ).toFixed(2)}, max ${Math.max(...clean.map((r) => r.rate)).toFixed(2)}${
        faultyRate !== undefined ? `, endpoint answering 503: ${faultyRate.toFixed(2)}` : ''
      }`,
      goal: '<= 1 on average',
      ok: mean(rates) <= 1,
    });
    const ws = results.map((r) => writeStats(r.rec));
    const over = ws.filter((w) => w.writes > w.allowed).length;
    row({
      figure: 'mix: status writes per drain',
      value: `median ${percentile(
        ws.map((w) => w.writes),
        50,
      )}, max ${Math.max(...ws.map((w) => w.writes))}, for median ${percentile(
        ws.map((w) => w.phaseChanges),
        50,
      )} phase changes and ${percentile(
        ws.map((w) => w.visibleChanges),
        50,
      )} visible changes; ${over} of ${ws.length} drains wrote more than allowed`,
      goal: '<= visible changes (phase, counts, conditions) + 1 per 15 s',
      ok: over === 0,
    });
  } finally {
    await op.stop();
  }
  return runs;
}

async function rolloutRun(cluster: Cluster, kubeconfig: string) {
  const replicas = num('rollout-replicas');
  const ns = 'bm-rollout';
  console.log(`\n== rollout: drained rolling upgrade of ${replicas} captures`);
  const requests: SimRequestRecord[] = [];
  const events: { at: number; e: SimEvent }[] = [];
  const release = await installTicdcChart(cluster, {
    namespace: ns,
    replicas,
    sim: {
      changefeeds: CHANGEFEEDS,
      tablesPerChangefeed: TABLES,
      moveRatePerSec: 3,
      rebalanceRatePerSec: 40,
      maintainerMoveRatePerSec: 4,
      seed: 77,
      onRequest: (r) => requests.push(r),
    },
  });
  release.sim.on((e) => events.push({ at: Date.now(), e }));
  const { op } = await startMeasuredOperator(cluster, kubeconfig, 'rollout');
  try {
    await sleep(3000);
    const before = new Map(release.sim.captures().map((x) => [x.id, x.podName] as const));
    const t0 = Date.now();
    await cluster.kubectlOk([
      'patch',
      'statefulset',
      release.name,
      '-n',
      ns,
      '--type=json',
      '-p',
      JSON.stringify([
        { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'pingcap/ticdc:v8.5.8' },
      ]),
    ]);
    await eventually(
      'rollout finished',
      async () => {
        const cs = release.sim.captures();
        return (
          cs.length === replicas &&
          cs.every((x) => !before.has(x.id) && x.liveness === 'alive' && x.dispatchers > 0)
        );
      },
      { timeoutMs: replicas * 120_000, intervalMs: 200 },
    );
    // Per pod, "drain + replacement": its capture's drain start -> the later of its replacement's
    // registration and TiCDC being free to drain the next capture. The replacement covers the old
    // pod's termination, TiCDC's deregistration of its capture (a released capture stays listed a
    // few seconds after its SIGTERM, 5 s in the simulator as in TiCDC) and the coordinator's clear
    // handshake after it left (until every node acknowledged it, TiCDC answers 1 to a drain of any
    // other capture without starting it: 1 s in the simulator, up to 5 s in TiCDC, ticdc-api.md
    // §4.3): the next drain of the cluster cannot start before, so that time is TiCDC's, not the
    // operator's. What the ratio measures is the rest: the operator's reaction from the rollout
    // start to the first drain and between one pod's replacement and the next pod's drain.
    let sum = 0;
    let end = t0;
    let paired = 0;
    const gaps: number[] = [];
    const spans: { start: number; end: number }[] = [];
    for (const [id, podName] of before) {
      const started = events.find(
        (x) => x.e.type === 'drain' && x.e.phase === 'started' && x.e.captureId === id,
      );
      const joined = events.find(
        (x) => x.e.type === 'capture-joined' && x.at > (started?.at ?? t0) && x.e.podName === podName,
      );
      const left = events.find((x) => x.e.type === 'capture-left' && x.e.captureId === id);
      if (!started || !joined || !left) continue;
      const cleared = events.find(
        (x) => x.e.type === 'drain' && x.e.phase === 'cleared' && x.e.captureId === id,
      );
      const free = cleared?.e.type === 'drain' ? cleared.at + (cleared.e.clearHandshakeMs ?? 0) : left.at;
      paired++;
      const done = Math.max(joined.at, free);
      sum += done - started.at;
      spans.push({ start: started.at, end: done });
      end = Math.max(end, done);
    }
    spans.sort((a, b) => a.start - b.start);
    if (spans.length) gaps.push(spans[0]!.start - t0);
    for (let i = 1; i < spans.length; i++) gaps.push(spans[i]!.start - spans[i - 1]!.end);
    // Fall back on the last join seen when a pod's events could not be paired.
    const lastJoin = Math.max(...events.filter((x) => x.e.type === 'capture-joined').map((x) => x.at));
    end = Math.max(end, lastJoin);
    const wall = end - t0;
    const inRollout = requests.filter((r) => r.at >= t0 && r.at <= end);
    const during = inRollout.length;
    if (process.env.BENCH_DUMP) {
      const byRoute = new Map<string, number>();
      for (const r of inRollout) {
        const route = `${r.method} ${r.path.replace(/[0-9a-f-]{36}|capture-drain-probe-[0-9a-f-]+/g, '{id}').replace(/\/capture\/[^/]+/, '/capture/{addr}')}`;
        byRoute.set(route, (byRoute.get(route) ?? 0) + 1);
      }
      console.log(`   requests by route: ${[...byRoute].map(([k, v]) => `${k} ${v}`).join('; ')}`);
      console.log(
        `   requests: ${inRollout
          .map(
            (x) =>
              `${((x.at - t0) / 1000).toFixed(2)} ${x.method} ${x.path.replace(/[0-9a-f-]{36}/g, '{id}')}`,
          )
          .join('; ')}`,
      );
      console.log(
        `   events: ${events
          .filter((x) => x.at >= t0 && x.at <= end)
          .map(
            (x) =>
              `${((x.at - t0) / 1000).toFixed(1)} ${x.e.type}${'phase' in x.e ? `:${String(x.e.phase)}` : ''}`,
          )
          .join('; ')}`,
      );
    }
    row({
      figure: `rollout: TiCDC requests per second during a ${replicas}-pod rollout`,
      value: `${(during / (wall / 1000)).toFixed(2)} (${during} requests in ${s(wall)})`,
      goal: '<= 2',
      ok: during / (wall / 1000) <= 2,
    });
    row({
      figure: `rollout: wall / (sum of drain + replacement), ${replicas} captures; per pod: drain start -> later of replacement registered and TiCDC free for the next drain (old capture deregistered, clear handshake over)`,
      value: `${(wall / sum).toFixed(3)} (${s(wall)} / ${s(sum)}; ${paired} of ${replicas} pods paired; operator gaps ${gaps.map((g) => (g / 1000).toFixed(2)).join(', ')} s)`,
      goal: '<= 1.05',
      ok: paired === replicas && wall / sum <= 1.05,
    });
  } finally {
    await op.stop();
    await release.sim.stop();
  }
}

async function scaleRun(cluster: Cluster, kubeconfig: string, router: PodRouter, recorder: DrainRecorder) {
  const n = num('scale-clusters');
  const pods = num('scale-pods');
  const durS = num('scale-drain-s');
  // Tables per changefeed so that each capture holds about --scale-units units of work: TiCDC's
  // counts are whole units, and a capture of 2 units (24 tables over 10 pods) would leave its
  // drain's end known only to within half a unit (5 s of a 20 s drain), which no real capture with
  // its dozens of dispatchers looks like.
  const tables = Math.max(1, Math.ceil((num('scale-units') * pods) / CHANGEFEEDS));
  const perCapture = Math.max(1, Math.round((CHANGEFEEDS * tables) / pods));
  console.log(
    `\n== scale: ${n} clusters x ${pods} pods (${perCapture} units each), ${n} concurrent drains of ~${durS} s, one replica`,
  );
  const runs: ClusterRun[] = [];
  const items: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const ns = `bm-scale-${i}`;
    const run = await startSim(
      ns,
      router,
      'ticdc-peer',
      { moveRatePerSec: perCapture / durS, tablesPerChangefeed: tables },
      5000 + i,
    );
    runs.push(run);
    items.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    items.push(...workloadItems(ns, pods, run.sim.url));
  }
  const t = Date.now();
  await applyAll(cluster, items);
  await waitSpread(runs, pods, 900_000);
  console.log(`   ${n * pods} pods running and registered after ${s(Date.now() - t)}`);
  const { op, spawned, readyAt, synced } = await startMeasuredOperator(cluster, kubeconfig, 'scale');
  try {
    row({
      figure: `scale: start -> caches synced and ready, ${n * pods} pods`,
      value: `synced ${s(synced - spawned)}, /leaderz ${s(readyAt - spawned)}`,
      goal: 'both <= 1.50 s',
      ok: Math.max(synced, readyAt) - spawned <= 1500,
    });
    await sleep(3000);
    const idle = vmStatus(op.pid, 'VmRSS');
    const results = await runDrains(cluster, recorder, runs, 'scale', (durS * 4 + 300) * 1000);
    const peak = vmStatus(op.pid, 'VmHWM');
    const lags = results.flatMap((r) => (r.lag !== undefined ? [r.lag] : []));
    const timelines = results.flatMap((r) => (r.timeline ? [r.timeline] : []));
    const epoch = Math.min(...results.map((r) => r.rec.addedAt));
    row({
      figure: `scale: release lag, zero -> pod released (${lags.length} of ${runs.length} drains)`,
      value: `p50 ${s(percentile(lags, 50))}, p99 ${s(percentile(lags, 99))}`,
      goal: 'p99 <= 2.00 s',
      ok: lags.length === runs.length && percentile(lags, 99) <= 2000,
      anchors: anchorText(timelines, epoch),
    });
    const first = results.flatMap((r) => (r.firstRequestDelay !== undefined ? [r.firstRequestDelay] : []));
    row({
      figure: 'scale: create -> first drain request',
      value: `p50 ${s(percentile(first, 50))}, p99 ${s(percentile(first, 99))}, max ${s(Math.max(...first))}`,
      goal: 'p99 <= 2.00 s',
      ok: first.length === runs.length && percentile(first, 99) <= 2000,
    });
    row({
      figure: 'scale: operator peak RSS (VmHWM)',
      value: `${peak.toFixed(0)} MiB (idle ${idle.toFixed(0)} MiB)`,
      goal: '<= 256 MiB',
      ok: peak <= 256,
    });
    const rates = results.map((r) => r.rate);
    row({
      figure: 'scale: TiCDC requests per second per drain',
      value: `mean ${mean(rates).toFixed(2)}, max ${Math.max(...rates).toFixed(2)}`,
      goal: '<= 1 on average',
      ok: mean(rates) <= 1,
    });
  } finally {
    await op.stop();
  }
  return runs;
}

// ---- main ------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const t0 = Date.now();
  await stopCluster(STATE_DIR);
  // kwok nodes take 110 pods each: enough nodes for every pod of the run, plus slack.
  const pods =
    (only.has('mix') ? 3 * num('mix-drains') : 0) +
    (only.has('rollout') ? num('rollout-replicas') + 1 : 0) +
    (only.has('scale') ? num('scale-clusters') * num('scale-pods') : 0);
  const nodes = Math.max(3, Math.ceil(pods / 100));
  await runScript(join(CONTROLPLANE, 'start.sh'), [STATE_DIR], { CONTROLPLANE_NODES: String(nodes) });
  const cluster = new Cluster(STATE_DIR);
  const sims: ClusterRun[] = [];
  let router: PodRouter | undefined;
  let recorder: DrainRecorder | undefined;
  try {
    await cluster.installCrd();
    const kubeconfig = await installOperatorIdentity(cluster, OP_NS, join(STATE_DIR, 'bench-operators'));
    router = new PodRouter(cluster.kubeconfig, SELECTOR);
    await router.start();
    recorder = new DrainRecorder(cluster.kubeconfig);
    await recorder.start();
    console.log(`control plane ready after ${s(Date.now() - t0)}`);
    if (only.has('mix')) sims.push(...(await mixRun(cluster, kubeconfig, router, recorder)));
    if (only.has('rollout')) await rolloutRun(cluster, kubeconfig);
    if (only.has('scale')) sims.push(...(await scaleRun(cluster, kubeconfig, router, recorder)));
  } finally {
    await recorder?.stop();
    await router?.stop();
    await Promise.all(sims.map((r) => r.sim.stop()));
    if (!flags.keep) await stopCluster(STATE_DIR);
  }
  const sizes = `mix ${flags['mix-drains']} drains of ${flags['mix-min-s']}-${flags['mix-max-s']} s, rollout ${flags['rollout-replicas']} captures, scale ${flags['scale-clusters']} clusters x ${flags['scale-pods']} pods`;
  console.log(`\n| figure | measured | goal | anchors (replayed) |\n|---|---|---|---|`);
  for (const r of rows)
    console.log(
      `| ${r.ok === false ? '**MISS** ' : ''}${r.figure} | ${r.value} | ${r.goal} | ${r.anchors ?? ''} |`,
    );
  console.log(`\nsizes: ${sizes} (only: ${[...only].join(',')}); took ${s(Date.now() - t0)}`);
  return rows.some((r) => r.ok === false) ? 1 : 0;
}

runMain(main);
