// `make chaos`: the operator's safety claims under fault injection, on the real control plane
// (e2e/controlplane), with charts/ticdc-example played by the simulator and the operator as
// separate processes running as the chart's ServiceAccount (two replicas, leader election, the
// termination gate). Every scenario runs during a drained rollout; after each one the invariants
// of checks.ts are judged from the API server and the simulator. One table at the end; exit code 1
// when an invariant broke. Sizes are flags (`--help`); `--long` is the long run.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CONTROLPLANE, Cluster, REPO, runScript, stopCluster } from '../e2e/harness/cluster.js';
import { runMain } from '../e2e/harness/run-main.js';
import { intendedReasons, table, type ScenarioResult } from './checks.js';
import { ChaosEnv } from './env.js';
import { runScenario } from './runner.js';
import {
  baseline,
  kubernetesScenarios,
  operationScenarios,
  operatorKills,
  SHORT_RUN,
  ticdcScenarios,
  type Scenario,
} from './scenarios.js';

const USAGE = `Usage: node dist/chaos/main.js [flags]   (make chaos ARGS="...")
  --long                   the long run: 20 rollouts with 5 operator kills each (100 kills), then
                           every other scenario once
  --all                    every scenario once, with the short run's kill rollout (the short run
                           takes one scenario of each kind of fault: SHORT_RUN in chaos/scenarios.ts)
  --kill-rollouts N        rollouts with operator kills (default 1; --long 20)
  --kills-per-rollout N    SIGKILLs per such rollout, at uniformly random moments (default 4; --long 5)
  --repeat N               runs of every other scenario (default 1)
  --only LIST              groups: operator,ticdc,kubernetes,operations (default all)
  --scenarios LIST         only these scenarios (names as printed), of the groups chosen
  --replicas N             captures of the release (default 3)
  --operators N            operator replicas (default 2)
  --seed N                 seed of every random draw (default 13)
  --rate-bound R           TiCDC requests per second while a scenario's drains run, errors
                           included (default 2, the benchmark's rollout goal)
  --rate-report-only       a rate above the bound is reported, not an invariant broken
  --out FILE               also write the table to FILE
  --keep                   leave the control plane running
CHAOS_DUMP=1 prints each scenario's TiCDC requests (time from its first drain, route, answer).
CHAOS_LOG_LEVEL=debug sets the operators' log level (logs under the state dir; keep it with --keep).
`;

const { values: flags } = parseArgs({
  options: {
    long: { type: 'boolean', default: false },
    all: { type: 'boolean', default: false },
    'kill-rollouts': { type: 'string' },
    'kills-per-rollout': { type: 'string' },
    repeat: { type: 'string' },
    only: { type: 'string', default: 'operator,ticdc,kubernetes,operations' },
    scenarios: { type: 'string' },
    replicas: { type: 'string', default: '3' },
    operators: { type: 'string', default: '2' },
    seed: { type: 'string', default: '13' },
    'rate-bound': { type: 'string', default: '2' },
    'rate-report-only': { type: 'boolean', default: false },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const n = (v: string | undefined, short: number, long: number) =>
  v !== undefined ? Number(v) : flags.long ? long : short;
const killRollouts = n(flags['kill-rollouts'], 1, 20);
const killsPer = n(flags['kills-per-rollout'], 4, 5);
const repeat = n(flags.repeat, 1, 1);
const replicas = Number(flags.replicas);
const only = new Set(flags.only.split(','));
const STATE_DIR = process.env.CDO_CHAOS_STATE ?? join(REPO, 'e2e/controlplane/.state-chaos');
const log = (l: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${l}`);

/** The scenario list of a run: kill rollouts first, then every other group `repeat` times. */
function plan(): Scenario[] {
  const out: Scenario[] = [];
  if (only.has('operator')) for (let i = 1; i <= killRollouts; i++) out.push(operatorKills(i, killsPer));
  for (let r = 0; r < repeat; r++) {
    if (only.has('ticdc')) out.push(...ticdcScenarios());
    if (only.has('kubernetes')) out.push(...kubernetesScenarios());
    if (only.has('operations')) out.push(...operationScenarios(replicas));
  }
  const names = flags.scenarios?.split(',');
  if (names) return out.filter((s) => names.includes(s.name));
  const every = flags.long || flags.all;
  return out.filter((s) => every || s.group === 'operator' || SHORT_RUN.has(s.name));
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const intended = intendedReasons(readFileSync(join(REPO, 'README.md'), 'utf8'));
  if (intended.size === 0) throw new Error('README.md has no "Intended fail-closed outcomes" list');
  const opts = {
    rateBound: Number(flags['rate-bound']),
    enforceRate: !flags['rate-report-only'],
    intendedFailClosed: intended,
    timeoutGraceMs: 30_000,
  };
  await stopCluster(STATE_DIR);
  await runScript(join(CONTROLPLANE, 'start.sh'), [STATE_DIR]);
  const cluster = new Cluster(STATE_DIR);
  const results: ScenarioResult[] = [];
  let env: ChaosEnv | undefined;
  try {
    await cluster.installCrd();
    env = await ChaosEnv.create({
      cluster,
      namespace: 'chaos',
      replicas,
      operators: Number(flags.operators),
      seed: Number(flags.seed),
      logDir: join(STATE_DIR, 'chaos-logs'),
      moveRatePerSec: 2,
      drainTimeout: '3m',
      stallTimeout: '60s',
    });
    log(
      `control plane, release (${replicas} captures) and ${flags.operators} operators ready after ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
    const first = await runScenario(env, baseline, {
      ...opts,
      rolloutBudgetMs: 300_000,
      baselineMs: 60_000,
      log,
    });
    results.push(first);
    const baselineMs = first.durationMs;
    for (const s of plan()) {
      results.push(
        await runScenario(env, s, {
          ...opts,
          rolloutBudgetMs: Math.max(240_000, baselineMs * 6),
          baselineMs,
          log,
        }),
      );
      // The table so far, in case the run is cut short.
      if (flags.out) writeFileSync(flags.out, `${table(results, opts)}\n\n(partial)\n`);
    }
  } finally {
    await env?.close().catch((err: unknown) => log(`close: ${(err as Error).message}`));
    if (!flags.keep) await stopCluster(STATE_DIR);
  }
  const size = `${flags.long ? 'long' : flags.all ? 'every-scenario' : 'short'} run: ${killRollouts} kill rollouts x ${killsPer} kills, other scenarios x ${repeat}, ${replicas} captures, ${flags.operators} operator replicas, seed ${flags.seed}`;
  const text = `${table(results, opts)}\n\n${size}; ${new Date().toISOString().slice(0, 10)}; took ${((Date.now() - t0) / 60_000).toFixed(1)} min\n`;
  console.log(`\n${text}`);
  if (flags.out) writeFileSync(flags.out, text);
  return results.some((r) => r.findings.some((f) => f.breaks)) ? 1 : 0;
}

runMain(main);
