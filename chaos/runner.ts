// Runs one scenario against the environment: the rollout, the scenario's faults, the human's step
// when a drain failed closed (fix the cause, delete the failed drain, as the README says), a settle
// period, then the observation judged by checks.ts.
import { checkScenario, type CheckOptions, type Finding, type ScenarioResult } from './checks.js';
import type { ChaosEnv, Drain } from './env.js';
import type { Scenario, ScenarioContext } from './scenarios.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RunOptions extends CheckOptions {
  /** How long a rollout may take before it counts as not finished. */
  rolloutBudgetMs: number;
  baselineMs: number;
  log: (line: string) => void;
}

export async function runScenario(env: ChaosEnv, s: Scenario, opts: RunOptions): Promise<ScenarioResult> {
  const start = Date.now();
  const seq = { events: env.drainEvents.length, violations: env.sim.violations().length };
  const faults: string[] = [];
  const failoversMs: number[] = [];
  const human: string[] = [];
  const removed: Drain[] = [];
  const asserted: Finding[] = [];
  let kills = 0;
  const ctx: ScenarioContext = {
    env,
    fault: (f) => {
      faults.push(f);
      opts.log(`   ${s.name}: ${f}`);
    },
    killed: (ms) => {
      kills++;
      if (ms !== undefined) failoversMs.push(ms);
    },
    check: (check, ok, detail) => {
      asserted.push({ check, detail, breaks: !ok });
      opts.log(`   ${s.name}: ${ok ? 'verified' : 'FAILED'}: ${check} (${detail})`);
    },
    elapsedMs: () => Date.now() - start,
    baselineMs: opts.baselineMs,
  };
  const replicas = s.replicas ?? env.opts.replicas;
  if (s.rollout !== false) await env.bumpTemplate();
  let actError: unknown;
  const acting = s.act(ctx).catch((err: unknown) => {
    actError = err;
  });
  let actDone = false;
  void acting.then(() => (actDone = true));

  let finished = false;
  let doneAt: number | undefined;
  const deadline = start + opts.rolloutBudgetMs;
  while (Date.now() < deadline) {
    await sleep(1000);
    const state = await env.rolloutState(start, replicas).catch(() => 'running' as const);
    if (state === 'done' && actDone) {
      finished = true;
      doneAt = Date.now();
      break;
    }
    if (state === 'failed') {
      // The human: waits for the scenario's faults to end, fixes the cause, deletes the failed drains.
      await acting;
      let what = s.fix ? await s.fix(ctx) : 'deleted the failed drain';
      env.sim.clearFaults();
      const failed = (await env.drains()).filter((d) => d.status?.phase === 'Failed');
      removed.push(...failed);
      // A capture a failed drain left draining keeps TiCDC's drain session: restart its pod, as the
      // DrainedCaptureKept event says.
      for (const d of failed) {
        const kept = env.sim
          .captures()
          .find((c) => c.podName === d.spec.podName && !c.exit && c.liveness !== 'alive');
        if (kept?.podName) {
          await env.restartContainer(kept.podName);
          what = `${what}, restarted ${kept.podName} (drain session kept)`;
        }
      }
      for (const d of failed)
        await env.cluster.kubectl(['delete', 'capturedrain', d.metadata.name!, '-n', env.ns, '--wait=false']);
      human.push(`${what} (${failed.map((d) => `${d.metadata.name} ${d.status?.reason}`).join(', ')})`);
      opts.log(`   ${s.name}: human step: ${human.at(-1)}`);
    }
  }
  await acting;
  env.sim.clearFaults();
  if (actError) human.push(`scenario error: ${(actError as Error).message}`);
  // Let captures that got a signal leave, so the observation sees the settled cluster.
  if (finished) await sleep(1000);
  const obs = await env.observe(
    {
      scenario: s.name,
      start,
      human,
      rolloutFinished: finished,
      ...(doneAt !== undefined ? { rolloutDoneAt: doneAt } : {}),
      kills,
      faults,
      failoversMs,
      asserted,
    },
    seq,
    replicas,
    removed,
  );
  const result = checkScenario(obs, opts);
  if (process.env.CHAOS_DUMP) opts.log(`   ${s.name} requests: ${timeline(env, obs.drains)}`);
  const broken = result.findings.filter((f) => f.breaks);
  opts.log(
    `${broken.length ? 'BROKEN' : 'ok    '} ${s.name}: ${(result.durationMs / 1000).toFixed(0)} s, ${result.drains} drains, ${kills} kills, ${result.rate.toFixed(2)} TiCDC req/s during the rollout${
      result.failClosed.length ? `, fail-closed ${result.failClosed.map((f) => f.reason).join(',')}` : ''
    }${broken.length ? `: ${broken.map((f) => `${f.check}: ${f.detail}`).join('; ')}` : ''}`,
  );
  return result;
}

/** The scenario's TiCDC requests from its first drain's start: seconds, route, answer (0: reset). */
function timeline(env: ChaosEnv, drains: { startTime?: number; createdAt: number }[]): string {
  const from = Math.min(...drains.map((d) => d.startTime ?? d.createdAt));
  return env.requestLog
    .filter((r) => r.at >= from)
    .map(
      (r) =>
        `${((r.at - from) / 1000).toFixed(2)} ${r.method} ${r.path.replace(/[0-9a-f-]{16,}/g, '{id}')} ${r.status}`,
    )
    .join('; ');
}
