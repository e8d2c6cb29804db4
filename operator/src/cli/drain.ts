// `capture-drain drain`: the same state machine as the operator, against a TiCDC cluster and
// without Kubernetes. Resign if owner, drain, poll until zero; prints progress as it goes.
import { parseArgs } from 'node:util';
import { formatDuration, parseDuration, type CaptureDrainStatus } from '../api/capturedrain.js';
import {
  advance,
  describeCounts,
  nextAction,
  type DrainContext,
  type DrainPolicy,
  type DrainTarget,
  type Outcome,
} from '../drain/machine.js';
import { isTicdcAction, performTicdcAction } from '../drain/ticdc-actions.js';
import { createTicdcClient } from '../ticdc/client.js';
import { credentialsFromFiles, tlsFromFiles } from '../ticdc/credentials.js';
import type { ApiFlavorSetting, TicdcClient } from '../ticdc/types.js';
import { isTerminal } from '../drain/contract.js';
import { EXIT, RESULT_TEXT, exitCodeFor, resultFor } from './outcome.js';

export { EXIT, exitCodeFor, resultFor, type DrainResult } from './outcome.js';

export class UsageError extends Error {}

const USAGE = `Usage: capture-drain drain --endpoint URL (--capture-id ID | --address HOST:PORT) [options]

Drains one TiCDC capture: resigns it first if it is the coordinator, calls the drain API and
polls until it holds no maintainers, dispatchers or tables.

Options:
  --endpoint URL          any capture or the TiCDC service, e.g. http://127.0.0.1:8300
  --capture-id ID         the capture to drain, or
  --address HOST:PORT     its advertise address
  --api auto|v1|v2|v2classic   drain protocol (default auto)
  --timeout DUR           give up after this long (default 10m)
  --stall-timeout DUR     give up when no progress for this long (default 3m)
  --ca F --cert F --key F TLS: CA bundle, client certificate and key (PEM)
  --username U --password-file F   HTTP basic auth (TiDB user)
  --capture-url ADDR=URL  where to reach a capture's own status when its advertise address is not
                          reachable from here (repeatable; e.g. through kubectl port-forward).
                          On the new architecture a zero counts only once the target itself
                          reports Stopping, read at its own address.
  --output text|json      progress format (default text)
  -h, --help

Exit codes: 0 drained (TiCDC confirmed it); 2 timed out or stalled (also while waiting for
TiCDC's previous drain session); 3 failed (capture gone, unauthorized, unsupported, not
found, TLS); 4 LegacyFallback (a pre-v8.5.7 capture in the cluster: TiCDC asks for a hard
restart, nothing was drained); 64 usage error. The last line (text or JSON "result") names
the outcome: Drained, LegacyFallback, WaitingForPreviousDrain, TimedOut, Stalled or Failed.`;

const FLAVORS: Record<string, ApiFlavorSetting> = {
  auto: 'Auto',
  v1: 'V1',
  v2: 'V2',
  v2classic: 'V2Classic',
};

/** Flags the Kubernetes drain (drain-kube.ts) shares with this one. */
const KUBE_DRAIN_FLAGS = { timeout: 1, 'stall-timeout': 1, help: 1 } as const;

export const DRAIN_OPTIONS = {
  endpoint: { type: 'string' },
  'capture-id': { type: 'string' },
  address: { type: 'string' },
  api: { type: 'string', default: 'auto' },
  timeout: { type: 'string', default: '10m' },
  'stall-timeout': { type: 'string', default: '3m' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  username: { type: 'string' },
  'password-file': { type: 'string' },
  output: { type: 'string', default: 'text' },
  'capture-url': { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface DrainArgs {
  endpoint: string;
  target: DrainTarget;
  flavor: ApiFlavorSetting;
  timeoutMs: number;
  stallTimeoutMs: number;
  output: 'text' | 'json';
  tls: { ca?: string; cert?: string; key?: string };
  username?: string;
  passwordFile?: string;
  /** Advertise address -> URL of that capture. */
  captureUrls: Record<string, string>;
}

export function parseDrainArgs(argv: string[]): DrainArgs | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: DRAIN_OPTIONS,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  if (!values.endpoint) throw new UsageError('--endpoint is required');
  if (!/^https?:\/\/[^\s/]+/.test(values.endpoint))
    throw new UsageError(`--endpoint must be an http(s) URL, got "${values.endpoint}"`);
  const id = values['capture-id'];
  const address = values.address;
  if (!id === !address) throw new UsageError('give exactly one of --capture-id and --address');
  const flavor = FLAVORS[values.api!.toLowerCase()];
  if (!flavor) throw new UsageError(`--api must be one of auto, v1, v2, v2classic, got "${values.api}"`);
  if (values.output !== 'text' && values.output !== 'json')
    throw new UsageError('--output must be text or json');
  const duration = (flag: string, v: string) => {
    try {
      const ms = parseDuration(v);
      if (ms <= 0) throw new Error(`${flag} must be positive`);
      return ms;
    } catch (err) {
      throw new UsageError(`${flag}: ${(err as Error).message}`);
    }
  };
  const captureUrls: Record<string, string> = {};
  for (const pair of values['capture-url'] ?? []) {
    const i = pair.indexOf('=');
    if (i < 1 || !/^https?:\/\//.test(pair.slice(i + 1)))
      throw new UsageError(`--capture-url must be ADDRESS=http(s)://host:port, got "${pair}"`);
    captureUrls[pair.slice(0, i)] = pair.slice(i + 1);
  }
  const timeoutMs = duration('--timeout', values.timeout!);
  const stallTimeoutMs = duration('--stall-timeout', values['stall-timeout']!);
  return {
    endpoint: values.endpoint,
    target: id ? { captureId: id, addresses: [] } : { addresses: [address!] },
    flavor,
    timeoutMs,
    stallTimeoutMs,
    output: values.output,
    tls: { ca: values.ca, cert: values.cert, key: values.key },
    ...(values.username ? { username: values.username } : {}),
    ...(values['password-file'] ? { passwordFile: values['password-file'] } : {}),
    captureUrls,
  };
}

export interface DrainRunResult {
  status: CaptureDrainStatus;
  exitCode: number;
}

/** Drive the machine until a terminal phase. `report` sees every step. */
export async function runDrain(opts: {
  client: TicdcClient;
  target: DrainTarget;
  policy: Pick<DrainPolicy, 'timeoutMs' | 'stallTimeoutMs' | 'apiFlavor'>;
  report: (status: CaptureDrainStatus, changed: boolean) => void;
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}): Promise<CaptureDrainStatus> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? abortableSleep;
  // The CLI never releases anything: Hold turns a give-up into a failure with its reason.
  const policy: DrainPolicy = { ...opts.policy, podAction: 'None', onTimeout: 'Hold', trackPod: false };
  let status: CaptureDrainStatus = {};
  while (!isTerminal(status.phase)) {
    if (opts.signal?.aborted) throw new Error('interrupted');
    const ctx: DrainContext = { now: now(), status, policy, target: opts.target, slot: { free: true } };
    const action = nextAction(ctx);
    const outcome: Outcome = isTicdcAction(action)
      ? await performTicdcAction(opts.client, action, opts.target)
      : { type: 'none' };
    const result = advance({ ...ctx, now: now() }, action, outcome);
    opts.report(
      result.status,
      result.status.phase !== status.phase || result.status.reason !== status.reason,
    );
    status = result.status;
    if (result.requeueAfterMs !== undefined) await sleep(result.requeueAfterMs, opts.signal);
  }
  return status;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}

function remainingOf(s: CaptureDrainStatus) {
  return {
    maintainers: s.remaining?.maintainers ?? null,
    dispatchers: s.remaining?.dispatchers ?? null,
    tables: s.remaining?.tables ?? null,
  };
}

export function textLine(s: CaptureDrainStatus, now: number): string {
  const time = new Date(now).toISOString().slice(11, 19);
  const parts = [`[${time}]`, (s.phase ?? 'Pending').padEnd(14)];
  if (s.remaining) parts.push(describeCounts(s.remaining));
  if (s.drainRate) parts.push(`rate ${s.drainRate}`);
  if (s.estimatedCompletionTime)
    parts.push(`ETA ${formatDuration(Date.parse(s.estimatedCompletionTime) - now)}`);
  if (s.message) parts.push(`- ${s.message}`);
  return parts.join('  ');
}

export async function drainCommand(
  argv: string[],
  io: { out: (line: string) => void; err: (line: string) => void; signal?: AbortSignal; tty?: boolean },
): Promise<number> {
  // Flags only a drain without Kubernetes has (--endpoint, --capture-id, ...) choose it; otherwise
  // the drain goes through the operator (a CaptureDrain for a pod: drain-kube.ts).
  const kubeFree = Object.keys(DRAIN_OPTIONS).filter((o) => !(o in KUBE_DRAIN_FLAGS));
  const direct = argv.some((a) => kubeFree.some((o) => a === `--${o}` || a.startsWith(`--${o}=`)));
  if (!direct) {
    if (argv.includes('-h') || argv.includes('--help')) {
      const { KUBE_DRAIN_USAGE } = await import('./drain-kube.js');
      io.out(`${KUBE_DRAIN_USAGE}\n\nWithout Kubernetes:\n\n${USAGE}`);
      return 0;
    }
    const { kubeDrainCommand } = await import('./drain-kube.js');
    return kubeDrainCommand(argv, io);
  }
  let args: DrainArgs | 'help';
  try {
    args = parseDrainArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`capture-drain drain: ${err.message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (args === 'help') {
    io.out(USAGE);
    return 0;
  }
  let client: TicdcClient;
  try {
    const tls = await tlsFromFiles(args.tls);
    const credentials = await credentialsFromFiles({
      username: args.username,
      passwordFile: args.passwordFile,
    });
    client = createTicdcClient({
      endpoint: args.endpoint,
      ...(tls ? { tls } : {}),
      ...(credentials ? { credentials } : {}),
      resolveAddress: (address) => args.captureUrls[address],
    });
  } catch (err) {
    io.err(`capture-drain drain: ${(err as Error).message}`);
    return EXIT.usage;
  }
  const json = args.output === 'json';
  try {
    const status = await runDrain({
      client,
      target: args.target,
      policy: { timeoutMs: args.timeoutMs, stallTimeoutMs: args.stallTimeoutMs, apiFlavor: args.flavor },
      ...(io.signal ? { signal: io.signal } : {}),
      report: (s, changed) => {
        if (json) {
          io.out(
            JSON.stringify({
              time: new Date().toISOString(),
              event: changed ? 'transition' : 'probe',
              phase: s.phase,
              reason: s.reason,
              message: s.message,
              captureId: s.captureID ?? null,
              remaining: remainingOf(s),
              ...(s.estimatedCompletionTime ? { estimatedCompletionTime: s.estimatedCompletionTime } : {}),
            }),
          );
        } else {
          io.out(textLine(s, Date.now()));
        }
      },
    });
    const exitCode = exitCodeFor(status);
    const outcome = resultFor(status);
    const result = {
      result: outcome,
      ok: exitCode === EXIT.drained,
      phase: status.phase,
      captureId: status.captureID ?? null,
      reason: status.reason,
      message: status.message,
      remaining: remainingOf(status),
      apiFlavor: status.apiFlavor ?? null,
      exitCode,
    };
    if (json) io.out(JSON.stringify(result));
    else
      io.out(
        `${outcome}: ${status.phase}/${status.reason} - ${RESULT_TEXT[outcome]}. ${status.message ?? ''}`,
      );
    return exitCode;
  } catch (err) {
    if (io.signal?.aborted) {
      io.err(
        'capture-drain drain: interrupted; the capture may be left draining (it will not take new work)',
      );
      return EXIT.interrupted;
    }
    throw err;
  } finally {
    await client.close();
  }
}
