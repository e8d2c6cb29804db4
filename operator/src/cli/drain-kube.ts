// `capture-drain drain POD`: the Kubernetes way to drain a capture by hand. It creates a
// CaptureDrain for a managed capture pod (the operator runs it) and follows it as `status` does,
// exiting with its outcome. `capture-drain drain --endpoint ...` drains without Kubernetes (drain.ts).
import {
  API_VERSION,
  DURATION_PATTERN,
  KIND,
  POD_ACTIONS,
  TIMEOUT_POLICIES,
  type CaptureDrainObject,
  type CaptureDrainSpec,
} from '../api/capturedrain.js';
import { Resources, type KubeClient } from '../kube/port.js';
import { connect } from './kube-connect.js';
import { KUBE_FLAGS_HELP, KUBE_OPTIONS, kubeFlags, parseCommandArgs, type KubeFlags } from './kube-flags.js';
import { EXIT } from './outcome.js';
import { followStatus, type StatusIo } from './status.js';

export const KUBE_DRAIN_USAGE = `Usage: capture-drain drain POD [options]

Drains the TiCDC capture of a managed capture pod through the operator: creates a CaptureDrain
for POD and follows it (as capture-drain status does) until it ends.

Options:
  --pod-action None|Delete   delete the pod once its capture is drained (default None: keep it;
                             TiCDC then keeps the capture drained until the pod restarts)
  --timeout DUR              give up after this long (default: the StatefulSet's or the operator's)
  --stall-timeout DUR        give up when no progress for this long
  --on-timeout Hold|Release  after a give-up: keep the pod (Hold) or go on with --pod-action
  --name NAME                name of the CaptureDrain (default: generated from POD)
  --detach                   create the CaptureDrain and exit without following it
  --interval DUR             refresh interval in seconds (default 1)
  -h, --help
${KUBE_FLAGS_HELP}

Exit codes: as capture-drain status (0 drained, 2 timed out or stalled, 3 failed, 4
LegacyFallback, 1 error, 64 usage error, 130 interrupted).`;

export const KUBE_DRAIN_OPTIONS = {
  ...KUBE_OPTIONS,
  'pod-action': { type: 'string' },
  timeout: { type: 'string' },
  'stall-timeout': { type: 'string' },
  'on-timeout': { type: 'string' },
  name: { type: 'string' },
  detach: { type: 'boolean' },
  interval: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export class KubeDrainUsageError extends Error {}

export interface KubeDrainArgs extends KubeFlags {
  pod: string;
  spec: CaptureDrainSpec;
  name?: string;
  detach: boolean;
  intervalMs: number;
}

export function parseKubeDrainArgs(argv: string[]): KubeDrainArgs | 'help' {
  const parsed = parseCommandArgs(argv, KUBE_DRAIN_OPTIONS, (m) => new KubeDrainUsageError(m));
  const v = parsed.values;
  if (v.help) return 'help';
  if (parsed.positionals.length !== 1)
    throw new KubeDrainUsageError('give the pod to drain (or --endpoint: see --help)');
  const pod = parsed.positionals[0]!;
  const oneOf = <T extends string>(
    flag: string,
    value: string | undefined,
    allowed: readonly T[],
  ): T | undefined => {
    if (value === undefined) return undefined;
    const hit = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
    if (!hit) throw new KubeDrainUsageError(`${flag} must be one of ${allowed.join(', ')}, got "${value}"`);
    return hit;
  };
  const duration = (flag: string, value: string | undefined) => {
    if (value !== undefined && !new RegExp(DURATION_PATTERN).test(value))
      throw new KubeDrainUsageError(`${flag} must be a duration such as 90s, 10m or 1h30m, got "${value}"`);
    return value;
  };
  const podAction = oneOf('--pod-action', v['pod-action'], POD_ACTIONS);
  const onTimeout = oneOf('--on-timeout', v['on-timeout'], TIMEOUT_POLICIES);
  const timeout = duration('--timeout', v.timeout);
  const stallTimeout = duration('--stall-timeout', v['stall-timeout']);
  const interval = v.interval === undefined ? 1 : Number(v.interval);
  if (!Number.isFinite(interval) || interval < 0.1 || interval > 300)
    throw new KubeDrainUsageError(
      `--interval must be a number of seconds between 0.1 and 300, got "${v.interval}"`,
    );
  return {
    ...kubeFlags(v),
    pod,
    spec: {
      podName: pod,
      trigger: 'Manual',
      ...(podAction ? { podAction } : {}),
      ...(timeout ? { timeout } : {}),
      ...(stallTimeout ? { stallTimeout } : {}),
      ...(onTimeout ? { onTimeout } : {}),
    },
    ...(v.name ? { name: v.name } : {}),
    detach: !!v.detach,
    intervalMs: Math.round(interval * 1000),
  };
}

/** The CaptureDrain to create (a generated name unless --name). */
export function drainObject(args: KubeDrainArgs, namespace: string): CaptureDrainObject {
  const metadata = args.name ? { namespace, name: args.name } : { namespace, generateName: `${args.pod}-` };
  return { apiVersion: API_VERSION, kind: KIND, metadata, spec: args.spec } as unknown as CaptureDrainObject;
}

export async function kubeDrainCommand(
  argv: string[],
  io: StatusIo,
  deps: { kube?: KubeClient; namespace?: string; now?: () => number } = {},
): Promise<number> {
  let args: KubeDrainArgs | 'help';
  try {
    args = parseKubeDrainArgs(argv);
  } catch (err) {
    if (!(err instanceof KubeDrainUsageError)) throw err;
    io.err(`capture-drain drain: ${err.message}\n\n${KUBE_DRAIN_USAGE}`);
    return EXIT.usage;
  }
  if (args === 'help') {
    io.out(KUBE_DRAIN_USAGE);
    return 0;
  }
  let conn;
  try {
    conn = deps.kube
      ? { kube: deps.kube, namespace: args.namespace ?? deps.namespace ?? 'default', close: async () => {} }
      : connect(args, 'capture-drain-drain');
  } catch (err) {
    io.err(`capture-drain drain: ${(err as Error).message}`);
    return 1;
  }
  try {
    const created = await conn.kube.create<CaptureDrainObject>(
      Resources.capturedrains,
      drainObject(args, conn.namespace),
    );
    const name = created.metadata.name!;
    io.err(`capturedrain.drain.ticdc.io/${name} created for pod ${conn.namespace}/${args.pod}`);
    if (args.detach) return 0;
    return await followStatus(
      conn.kube,
      { names: [name], allNamespaces: false, mode: 'follow', intervalMs: args.intervalMs },
      conn.namespace,
      io,
      deps.now ?? Date.now,
    );
  } catch (err) {
    io.err(`capture-drain drain: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await conn.close();
  }
}
