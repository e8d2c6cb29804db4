// The scenarios: what each one does to the operator, TiCDC, Kubernetes or the cluster while a
// drained rollout of the release runs. The runner (runner.ts) starts the rollout, waits for it,
// plays the human when a drain failed closed, and checks the invariants afterwards.
import type { ChaosEnv } from './env.js';
import { STS } from './env.js';
import { pause, restart, resume, type Component } from './controlplane.js';

export interface ScenarioContext {
  env: ChaosEnv;
  /** Records an injected fault for the table. */
  fault(what: string): void;
  /** Records an operator kill (and the failover time of a leader kill). */
  killed(failoverMs?: number): void;
  /** Records what the scenario itself verified; a false `ok` breaks the run. */
  check(check: string, ok: boolean, detail: string): void;
  /** Time since the scenario (and its rollout) started. */
  elapsedMs(): number;
  /** A clean rollout's duration, measured by the first scenario (for uniformly drawn moments). */
  baselineMs: number;
}

export interface Scenario {
  name: string;
  group: 'baseline' | 'operator' | 'ticdc' | 'kubernetes' | 'operations';
  /** Default true: the runner changes the template (a rollout) before act(). */
  rollout?: boolean;
  /** What the scenario does, concurrently with the rollout; its faults end before it returns. */
  act(ctx: ScenarioContext): Promise<void>;
  /** The human's fix after a drain failed closed (the runner then deletes the failed drains). */
  fix?(ctx: ScenarioContext): Promise<string>;
  /** Replicas once it is over (default: the release's). */
  replicas?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A capture of the release that is neither the drain target nor the coordinator (if any). */
function bystander(env: ChaosEnv, exclude: string[]) {
  return env.sim
    .captures()
    .filter((c) => !c.exit && !c.isOwner && !exclude.includes(c.id))
    .sort((a, b) => (a.podName ?? '').localeCompare(b.podName ?? ''))[0];
}

const mixed = (
  name: string,
  kinds: string[],
  rate: number,
  extra: Record<string, unknown> = {},
): Scenario => ({
  name,
  group: 'ticdc',
  async act(ctx) {
    ctx.env.sim.setFaults({ mixedRate: rate, mixedKinds: kinds as never, ...extra });
    ctx.fault(`${kinds.join('/')} on ${Math.round(rate * 100)}% of requests`);
    // The faults stay for the first two drains of the rollout, then clear.
    await ctx.env.waitDraining();
    await sleep(Math.max(10_000, ctx.baselineMs / 2));
    ctx.env.sim.clearFaults();
  },
});

function crashAndRestart(
  pick: (ctx: ScenarioContext, target: string) => string | undefined,
  label: string,
): Scenario['act'] {
  return async (ctx) => {
    const target = await ctx.env.waitDraining();
    await sleep(500);
    const victim = pick(ctx, target.id);
    if (!victim) return;
    const pod = ctx.env.sim.capture(victim)?.podName;
    ctx.env.sim.crash(victim);
    ctx.fault(label);
    // kubelet restarts the crashed container.
    await sleep(2000);
    if (pod) await ctx.env.restartContainer(pod);
  };
}

function controlPlane(c: Component, how: 'pause' | 'restart'): Scenario {
  return {
    name: `${c}-${how}`,
    group: 'kubernetes',
    async act(ctx) {
      await ctx.env.waitDraining();
      const dir = ctx.env.cluster.stateDir;
      if (how === 'pause') {
        pause(dir, c);
        ctx.fault(`${c} SIGSTOP 12 s`);
        await sleep(12_000);
        resume(dir, c);
      } else {
        ctx.fault(`${c} restart`);
        await restart(dir, c);
      }
    },
  };
}

/** Kills at moments drawn uniformly over a clean rollout's duration, leader or standby at random. */
export function operatorKills(index: number, kills: number): Scenario {
  return {
    name: `operator-kills-${index}`,
    group: 'operator',
    async act(ctx) {
      const rng = ctx.env.rng;
      const moments = Array.from({ length: kills }, () => rng.next() * ctx.baselineMs * 0.9).sort(
        (a, b) => a - b,
      );
      for (const at of moments) {
        await sleep(Math.max(0, at - ctx.elapsedMs()));
        const r = await ctx.env.fleet.kill(rng.chance(0.5) ? 'leader' : 'standby');
        if (r) ctx.killed(r.failoverMs);
        // A Deployment does not kill the replacement before it started.
        for (let i = 0; i < 100 && ctx.env.fleet.size < 2; i++) await sleep(100);
      }
    },
  };
}

export function ticdcScenarios(): Scenario[] {
  return [
    mixed('ticdc-5xx', ['error'], 0.3),
    mixed('ticdc-resets', ['reset'], 0.3),
    // Answers held 12 s: beyond the operator's 10 s request timeout.
    mixed('ticdc-latency', ['timeout'], 0.15, { hangMs: 12_000 }),
    // Truncated real answers of every status, numbers as strings, a 400 that is not JSON.
    mixed('ticdc-malformed', ['truncated', 'wrong-types', 'garbled-400'], 0.3),
    {
      name: 'coordinator-resign',
      group: 'ticdc',
      async act(ctx) {
        await ctx.env.waitDraining();
        await sleep(500);
        ctx.env.sim.failover('resign');
        ctx.fault('coordinator resigned mid-drain');
      },
    },
    {
      name: 'coordinator-crash',
      group: 'ticdc',
      act: crashAndRestart(
        (ctx, target) => ctx.env.sim.captures().find((c) => c.isOwner && c.id !== target && !c.exit)?.id,
        'coordinator crashed mid-drain',
      ),
    },
    {
      name: 'bystander-crash',
      group: 'ticdc',
      act: crashAndRestart((ctx, target) => bystander(ctx.env, [target])?.id, 'bystander capture crashed'),
    },
    {
      name: 'drained-capture-crash',
      group: 'ticdc',
      act: crashAndRestart((_ctx, target) => target, 'drained capture crashed mid-drain'),
    },
    {
      name: 'scheduler-stall',
      group: 'ticdc',
      async act(ctx) {
        await ctx.env.waitDraining();
        ctx.env.sim.setFaults({ stall: true });
        ctx.fault('scheduler stalled 25 s');
        await sleep(25_000);
        ctx.env.sim.setFaults({ stall: false });
      },
    },
    {
      name: 'legacy-peer',
      group: 'ticdc',
      async act(ctx) {
        // The lowest ordinal goes last: it is a legacy peer for the whole rollout until fixed.
        const peer = bystander(ctx.env, []);
        if (!peer) return;
        ctx.env.sim.setLegacy(peer.id, true);
        ctx.fault(`legacy peer ${peer.podName}`);
      },
      async fix(ctx) {
        for (const c of ctx.env.sim.captures()) if (c.legacy && !c.exit) ctx.env.sim.setLegacy(c.id, false);
        return 'upgraded the legacy peer, deleted the LegacyFallback drain';
      },
    },
    {
      name: 'other-tool-session',
      group: 'ticdc',
      async act(ctx) {
        const peer = bystander(ctx.env, []);
        if (!peer) return;
        ctx.env.sim.holdDrainSession(peer.id);
        ctx.fault(`another tool drains ${peer.podName}`);
        // That tool restarts the capture it drained (its process, not the pod) once TiCDC moved all
        // of its work, as TiUP does; until then the operator's drains wait for its session.
        await sleep(8000);
        for (let i = 0; i < 600; i++) {
          const c = ctx.env.sim.capture(peer.id);
          if (!c || c.exit || c.maintainers + c.dispatchers === 0) break;
          await sleep(100);
        }
        const now = ctx.env.sim.capture(peer.id);
        if (now && !now.exit && now.maintainers + now.dispatchers > 0)
          return ctx.fault(`the other tool's drain of ${peer.podName} did not finish in 60 s: not restarted`);
        if (peer.podName && now && !now.exit) await ctx.env.restartContainer(peer.podName);
      },
    },
  ];
}

export function kubernetesScenarios(): Scenario[] {
  return [
    controlPlane('kube-apiserver', 'pause'),
    controlPlane('etcd', 'pause'),
    controlPlane('kube-apiserver', 'restart'),
    controlPlane('etcd', 'restart'),
    {
      name: 'leader-kill-mid-drain',
      group: 'kubernetes',
      async act(ctx) {
        await ctx.env.waitDraining();
        const r = await ctx.env.fleet.kill('leader');
        if (r) ctx.killed(r.failoverMs);
      },
    },
    {
      name: 'webhook-unreachable-Ignore',
      group: 'kubernetes',
      async act(ctx) {
        await ctx.env.webhook('Ignore');
        ctx.env.fleet.webhookReachable = false;
        ctx.fault('webhook unreachable, failurePolicy Ignore');
        await sleep(Math.max(20_000, ctx.baselineMs * 0.7));
        ctx.env.fleet.webhookReachable = true;
      },
    },
    {
      name: 'webhook-unreachable-Fail',
      group: 'kubernetes',
      async act(ctx) {
        await ctx.env.webhook('Fail');
        ctx.env.fleet.webhookReachable = false;
        ctx.fault('webhook unreachable 25 s, failurePolicy Fail');
        await sleep(3000);
        // Fail closed: the API server refuses a capture pod's deletion it cannot ask the gate about
        // (a server-side dry run goes through admission without deleting anything).
        const pod = (await ctx.env.pods()).find(
          (p) => p.metadata.name !== ctx.env.drainingCapture()?.podName,
        );
        if (pod) {
          const r = await ctx.env.cluster.kubectl([
            'delete',
            'pod',
            pod.metadata.name!,
            '-n',
            ctx.env.ns,
            '--dry-run=server',
          ]);
          ctx.check(
            'an unreachable gate under failurePolicy Fail refuses deletes',
            r.code !== 0 && /failed calling webhook/i.test(r.stderr),
            `kubectl delete pod ${pod.metadata.name} --dry-run=server: exit ${r.code}, ${r.stderr.trim().slice(0, 200) || r.stdout.trim()}`,
          );
        }
        await sleep(22_000);
        ctx.env.fleet.webhookReachable = true;
        await sleep(5000);
        await ctx.env.webhook('Ignore');
      },
    },
  ];
}

export function operationScenarios(replicas: number): Scenario[] {
  return [
    {
      name: 'kubectl-drain-node',
      group: 'operations',
      async act(ctx) {
        const target = await ctx.env.waitDraining();
        const pods = await ctx.env.pods();
        const other = pods.find((p) => p.metadata.name !== target.podName && p.spec.nodeName);
        if (!other) return;
        const node = other.spec.nodeName!;
        ctx.fault(`kubectl drain ${node}`);
        const r = await ctx.env.cluster.kubectl(
          ['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=240s'],
          { timeoutMs: 260_000 },
        );
        await ctx.env.cluster.kubectl(['uncordon', node]);
        if (r.code !== 0) ctx.fault(`kubectl drain exited ${r.code}: ${r.stderr.trim().split('\n').at(-1)}`);
      },
    },
    {
      name: 'scale-in',
      group: 'operations',
      rollout: false,
      async act(ctx) {
        const env = ctx.env;
        ctx.fault(`scale-in ${replicas} -> ${replicas - 1}, then out`);
        await env.cluster.kubectlOk([
          'annotate',
          'statefulset',
          STS,
          '-n',
          env.ns,
          '--overwrite',
          `drain.ticdc.io/replicas=${replicas - 1}`,
        ]);
        const t0 = Date.now();
        while (Date.now() - t0 < 180_000) {
          const s = await env.sts();
          const pods = await env.pods();
          if (s.spec.replicas === replicas - 1 && pods.length === replicas - 1) break;
          await sleep(1000);
        }
        // Scale out again (no drain needed to add a capture).
        await env.cluster.kubectlOk([
          'annotate',
          'statefulset',
          STS,
          '-n',
          env.ns,
          '--overwrite',
          `drain.ticdc.io/replicas=${replicas}`,
        ]);
        await env.cluster.kubectlOk(['scale', 'statefulset', STS, '-n', env.ns, `--replicas=${replicas}`]);
      },
    },
    {
      name: 'template-change-mid-rollout',
      group: 'operations',
      async act(ctx) {
        await ctx.env.waitDraining();
        await sleep(1000);
        await ctx.env.bumpTemplate();
        ctx.fault('second template change mid-rollout');
      },
    },
    {
      name: 'manual-capturedrain',
      group: 'operations',
      async act(ctx) {
        const target = await ctx.env.waitDraining();
        const other = bystander(ctx.env, [target.id]);
        if (!other?.podName) return;
        await ctx.env.cluster.kubectlOk(['apply', '-f', '-'], {
          input: JSON.stringify({
            apiVersion: 'drain.ticdc.io/v1alpha1',
            kind: 'CaptureDrain',
            metadata: { name: `manual-${Date.now()}`, namespace: ctx.env.ns },
            spec: { podName: other.podName, podAction: 'Delete' },
          }),
        });
        ctx.fault(`manual CaptureDrain of ${other.podName}`);
      },
    },
    {
      name: 'kubectl-delete-pod',
      group: 'operations',
      async act(ctx) {
        const target = await ctx.env.waitDraining();
        const other = bystander(ctx.env, [target.id]);
        if (!other?.podName) return;
        // Denied by the gate, which starts the pod's drain and deletes it once drained.
        const r = await ctx.env.cluster.kubectl([
          'delete',
          'pod',
          other.podName,
          '-n',
          ctx.env.ns,
          '--wait=false',
        ]);
        ctx.fault(`kubectl delete pod ${other.podName} (${r.code === 0 ? 'admitted' : 'denied'})`);
      },
    },
  ];
}

export const baseline: Scenario = { name: 'baseline', group: 'baseline', act: async () => undefined };

/**
 * The short run's scenarios besides the kill rollout: one of each kind of fault, so that it fits
 * in 15 minutes on a 2-core machine. Left to the long run and --all: connection resets (a transport
 * failure like the 5xx), the coordinator's resign (its crash also loses TiCDC's drain session), a
 * bystander's crash, another tool's drain session, the etcd pause and the kube-apiserver restart
 * (their pairs run), the leader killed mid-drain (the kill rollout kills leaders), the webhook
 * unreachable under failurePolicy Ignore, a second template change and a manual CaptureDrain.
 */
export const SHORT_RUN: ReadonlySet<string> = new Set([
  'ticdc-5xx',
  'ticdc-latency',
  'ticdc-malformed',
  'coordinator-crash',
  'drained-capture-crash',
  'scheduler-stall',
  'legacy-peer',
  'kube-apiserver-pause',
  'etcd-restart',
  'webhook-unreachable-Fail',
  'kubectl-drain-node',
  'scale-in',
  'kubectl-delete-pod',
]);
