// `capture-drain plan`: the order and time estimate of a pending rollout or scale-in of a managed
// StatefulSet, without acting (it reads the StatefulSet, its pods, their CaptureDrains and TiCDC's
// capture list, and runs the same planner as the operator).
import { parseArgs } from 'node:util';
import { BUILTIN_DEFAULTS, SettingsError, resolveSettings } from '../drain/settings.js';
import { TicdcClientPool } from '../drain/ticdc-clients.js';
import { keptDrainedCaptures } from '../drain/contract.js';
import { createKubeClient } from '../kube/client.js';
import { KubeconfigError, loadKubeAccess } from '../kube/kubeconfig.js';
import { Resources, type KubeClient } from '../kube/port.js';
import { plan, type Plan, type PlanInput } from '../rollout/planner.js';
import { describeEta, phaseOf, planInput } from '../rollout/view.js';
import type { CaptureDrainObject } from '../api/capturedrain.js';
import { DRAIN_LABELS, MANAGED_LABEL } from '../api/names.js';
import type { Pod, StatefulSet } from '../kube/objects.js';

const USAGE = `Usage: capture-drain plan --namespace NS --statefulset NAME [options]

Prints what the operator will do next for a managed TiCDC StatefulSet: the pods a pending
rolling update or scale-in will drain and replace (or remove), in order, the next step, whether
the rollout is blocked, and an estimate of the whole rollout's duration. Acts on nothing.

Options:
  --namespace NS         namespace of the StatefulSet (required)
  --statefulset NAME     the StatefulSet (required)
  --kubeconfig F         kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)
  --endpoint URL         reach TiCDC here instead of the StatefulSet's drain.ticdc.io/endpoint
                         (e.g. a port-forward from outside the cluster)
  --output text|json     (default text)
  -h, --help

Exit codes: 0 planned (also when blocked: see the output); 1 error; 64 usage error.`;

export interface PlanArgs {
  namespace: string;
  statefulSet: string;
  kubeconfig?: string;
  endpoint?: string;
  output: 'text' | 'json';
}

export class PlanUsageError extends Error {}

export function parsePlanArgs(argv: string[]): PlanArgs | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        namespace: { type: 'string', short: 'n' },
        statefulset: { type: 'string' },
        kubeconfig: { type: 'string' },
        endpoint: { type: 'string' },
        output: { type: 'string', short: 'o', default: 'text' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new PlanUsageError((err as Error).message);
  }
  if (values.help) return 'help';
  if (!values.namespace) throw new PlanUsageError('--namespace is required');
  if (!values.statefulset) throw new PlanUsageError('--statefulset is required');
  if (values.output !== 'text' && values.output !== 'json')
    throw new PlanUsageError(`--output must be text or json, got "${values.output}"`);
  return {
    namespace: values.namespace,
    statefulSet: values.statefulset,
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    ...(values.endpoint ? { endpoint: values.endpoint } : {}),
    output: values.output,
  };
}

/** Reads everything the planner needs; TiCDC errors end up in the plan, not as a failure. */
export async function readPlanInput(
  kube: KubeClient,
  args: Pick<PlanArgs, 'namespace' | 'statefulSet' | 'endpoint'>,
  now = Date.now(),
): Promise<{ input: PlanInput; statefulSet: StatefulSet; kept: string[] }> {
  const sts = await kube.get<StatefulSet>(Resources.statefulsets, args.namespace, args.statefulSet);
  if (!sts) throw new Error(`StatefulSet ${args.namespace}/${args.statefulSet} not found`);
  if (sts.metadata.labels?.[MANAGED_LABEL] !== 'true')
    throw new Error(
      `StatefulSet ${args.namespace}/${args.statefulSet} is not managed: label it ${MANAGED_LABEL}: "true" (and its pod template)`,
    );
  const [pods, drains] = await Promise.all([
    kube.list<Pod>(Resources.pods, {
      namespace: args.namespace,
      labelSelector: `${MANAGED_LABEL}=true`,
    }),
    // Every drain of the namespace: hand-made ones carry no StatefulSet label.
    kube.list<CaptureDrainObject>(Resources.capturedrains, { namespace: args.namespace }),
  ]);
  const ownPods = pods.items.filter((p) =>
    p.metadata.ownerReferences?.some((r) => r.kind === 'StatefulSet' && r.name === args.statefulSet),
  );
  const ownDrains = drains.items.filter(
    (d) =>
      d.metadata.labels?.[DRAIN_LABELS.statefulSet] === args.statefulSet ||
      (!d.metadata.labels?.[DRAIN_LABELS.statefulSet] &&
        ownPods.some((p) => p.metadata.name === d.spec.podName)),
  );
  const pool = new TicdcClientPool(kube);
  let captures: Awaited<ReturnType<Awaited<ReturnType<TicdcClientPool['get']>>['listCaptures']>> | undefined;
  let capturesError: string | undefined;
  try {
    const settings = resolveSettings({
      namespace: args.namespace,
      spec: args.endpoint ? { cluster: { endpoint: args.endpoint } } : {},
      statefulSet: sts,
      defaults: BUILTIN_DEFAULTS,
    });
    captures = await (await pool.get(args.namespace, settings.cluster)).listCaptures();
  } catch (err) {
    if (!(err instanceof Error)) throw err;
    capturesError = err instanceof SettingsError ? err.message : `${err.message}`;
  } finally {
    await pool.close();
  }
  // A capture left in TiCDC's drain session blocks every later drain of the cluster (§4.3, §9).
  const kept = keptDrainedCaptures(ownDrains, ownPods).map(
    (k) =>
      `capture ${k.captureID} of pod ${k.pod} ${k.state === 'drained' ? 'was drained and kept running' : 'was left draining'} (CaptureDrain ${k.drain}): TiCDC keeps its drain session on it and every later drain of the cluster waits; restart the pod to end it: kubectl delete pod ${k.pod} -n ${args.namespace}`,
  );
  return {
    statefulSet: sts,
    kept,
    input: planInput({
      now,
      statefulSet: sts,
      pods: pods.items,
      drains: ownDrains.filter((d) => d.metadata.labels?.[DRAIN_LABELS.statefulSet] === args.statefulSet),
      ...(captures ? { captures } : {}),
      ...(capturesError ? { capturesError } : {}),
    }),
  };
}

export function describeStep(p: Plan): string {
  const s = p.step;
  switch (s.type) {
    case 'None':
      return 'nothing to do';
    case 'Drain':
      return `drain ${s.pod} (trigger ${s.trigger}, podAction ${s.podAction})`;
    case 'SetPartition':
      return `set the partition ${s.from} -> ${s.to}`;
    case 'SetReplicas':
      return `set replicas ${s.from} -> ${s.to}`;
    case 'DeletePod':
      return `delete ${s.pod} (drained) so the StatefulSet recreates it`;
    case 'Wait':
      return `wait (${s.reason}${s.pod ? `, ${s.pod}` : ''})`;
  }
}

export function planText(p: Plan, input: PlanInput): string[] {
  const sts = input.statefulSet;
  const lines = [
    `StatefulSet ${sts.name}: ${phaseOf(p)}; ${sts.replicas} replicas${
      sts.desiredReplicas !== undefined ? ` (desired ${sts.desiredReplicas})` : ''
    }, ${sts.strategy}${sts.strategy === 'RollingUpdate' ? ` partition ${sts.partition}` : ''}, update revision ${
      sts.updateRevision || '(none yet)'
    }`,
    `Next step: ${describeStep(p)}`,
    `Status: ${p.message}`,
  ];
  if (p.blocked) lines.push(`BLOCKED (${p.blocked.reason}): ${p.blocked.message}`);
  if (p.queue.length) {
    lines.push('Order:');
    p.queue.forEach((q, i) =>
      lines.push(
        `  ${String(i + 1).padStart(2)}. ${q.pod.padEnd(24)} ${q.kind === 'ScaleIn' ? 'drain, then remove' : 'drain, then replace'}${
          q.coordinator ? '  (coordinator)' : ''
        }${q.active ? '  <- in progress' : ''}`,
      ),
    );
    lines.push(`Estimated time for the whole rollout: ${describeEta(p.etaMs)}`);
  }
  for (const n of p.notes) lines.push(`Note: ${n}`);
  return lines;
}

export async function planCommand(
  argv: string[],
  io: { out: (line: string) => void; err: (line: string) => void },
  deps: { kube?: KubeClient; now?: number } = {},
): Promise<number> {
  let args: PlanArgs | 'help';
  try {
    args = parsePlanArgs(argv);
  } catch (err) {
    if (!(err instanceof PlanUsageError)) throw err;
    io.err(`capture-drain plan: ${err.message}\n\n${USAGE}`);
    return 64;
  }
  if (args === 'help') {
    io.out(USAGE);
    return 0;
  }
  let kube = deps.kube;
  if (!kube) {
    try {
      kube = createKubeClient(loadKubeAccess(args.kubeconfig), { userAgent: 'capture-drain-plan' });
    } catch (err) {
      if (!(err instanceof KubeconfigError)) throw err;
      io.err(`capture-drain plan: ${err.message}`);
      return 1;
    }
  }
  try {
    const { input, kept } = await readPlanInput(kube, args, deps.now);
    const p = plan(input);
    p.notes.push(...kept);
    if (args.output === 'json')
      io.out(
        JSON.stringify({
          namespace: args.namespace,
          statefulSet: args.statefulSet,
          phase: phaseOf(p),
          mode: p.mode,
          step: p.step,
          message: p.message,
          ...(p.blocked ? { blocked: p.blocked } : {}),
          queue: p.queue,
          etaSeconds: p.etaMs === undefined ? null : Math.round(p.etaMs / 1000),
          notes: p.notes,
        }),
      );
    else for (const l of planText(p, input)) io.out(l);
    return 0;
  } catch (err) {
    io.err(`capture-drain plan: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    if (!deps.kube) await (kube as { close?: () => Promise<void> }).close?.();
  }
}
