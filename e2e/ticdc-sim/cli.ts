// `capture-drain sim ...`: runs a TiCDC simulator until SIGINT/SIGTERM.
// Exit codes: 0 after a signal or --help, 64 on usage errors, 1 when the simulator cannot start.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { faultPatchSchema } from './faults.js';
import type { SimMode } from './model.js';
import { SIM_MODES } from './model.js';
import type { SimulatorOptions } from './simulator.js';
import { TicdcSimulator } from './simulator.js';

export const EXIT_USAGE = 64;

export const SIM_USAGE = `Usage: capture-drain sim [flags]

Runs a simulated TiCDC cluster speaking the drain API of one server flavour.

Cluster:
  --mode M                     newarch | v2 | stub | tiflow (default newarch)
  --captures N                 static captures at start (default 3)
  --capture-names A,B          static capture names (address = name, ":8300" added without a port)
  --legacy-captures N          newarch: the last N static captures run a pre-v8.5.7 binary
  --changefeeds N              (default 3)
  --tables-per-changefeed N    (default 8)
  --move-rate R                dispatchers/tables moved per second while draining (default 5)
  --maintainer-move-rate R     maintainers moved per second (default: --move-rate)
  --rebalance-rate R           units per second rebalanced onto new captures (default: --move-rate)
  --tick-ms MS                 scheduler tick (default 100)
  --time-scale X               simulated ms per real ms (default 1)
  --clear-handshake-ms MS      newarch: pause before the next drain may start (default 1000)
  --election-delay-ms MS       leaderless time after a resign or owner loss (default 10)
  --sigterm-departure-ms MS    a capture stays listed this long after SIGTERM (default 5000)
  --sigkill-departure-ms MS    a killed capture stays listed this long: etcd TTL (default 14000)
  --bootstrap-delay-ms MS      a new coordinator's bootstrap time (default 200)
  --reelect-probability P      chance a resigning owner wins again while another capture is
                               Alive (default 0; it always wins when it is the only one)
  --ready-delay-ms MS          tiflow: 503 not-ready time after a capture joins (default 0)
  --server-version V           version reported by /status (default per mode)
  --seed N                     seed of all random draws
  --faults JSON                initial faults, e.g. '{"errorRate":0.1,"latencyMs":50}',
                               '{"mixedRate":0.4}', '{"leaderlessMs":500}', '{"storesUnavailable":true}'

Server:
  --host H                     (default 127.0.0.1)
  --port P                     (default 8300; 0 picks a free port)
  --per-capture-listeners      one extra listener per capture (its own /api/v2/status)
  --tls-cert F --tls-key F     serve HTTPS with this PEM certificate and key
  --tls-ca F                   CA bundle for client certificates
  --mtls                       require client certificates (needs --tls-ca)
  --username U --password P    newarch: basic auth on the drain route (client-user-required)

Kubernetes registry (captures follow Running+Ready pods instead of --captures):
  --kubeconfig F               (default KUBECONFIG / ~/.kube/config / in-cluster)
  --namespace NS               namespace of the capture pods (enables the registry)
  --selector S                 label selector of the capture pods
  --address-template T         default "{pod}.{service}.{namespace}.svc:8300" ({ip}, {hostname} too)
  --service S                  value of {service} (default: the pod's spec.subdomain)

Other:
  --log-level L                pino level for state-change logs on stderr (default info)
  -h, --help                   show this help

Once listening it prints the URL, then one JSON line {"listening","url","mode","captures"}.
Control endpoints: GET /sim/state, GET /sim/violations, POST|DELETE /sim/faults,
POST /sim/failover, POST /sim/captures, DELETE /sim/captures/{id}[?signal=SIGKILL],
POST /sim/captures/{id}/crash, POST /sim/captures/{id}/legacy, POST /sim/drain-session.
A capture's own endpoints: <url>/capture/<advertise address>/..., or Host: <advertise address>.
`;

export interface SimCliIo {
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
  /** Stops the simulator when aborted (in addition to SIGINT/SIGTERM). */
  signal?: AbortSignal;
  logger?: Logger;
  /** Called once listening (tests). */
  onStarted?: (sim: TicdcSimulator) => void;
}

class UsageError extends Error {}

const OPTIONS = {
  mode: { type: 'string' },
  captures: { type: 'string' },
  'capture-names': { type: 'string' },
  'legacy-captures': { type: 'string' },
  changefeeds: { type: 'string' },
  'tables-per-changefeed': { type: 'string' },
  'move-rate': { type: 'string' },
  'maintainer-move-rate': { type: 'string' },
  'rebalance-rate': { type: 'string' },
  'tick-ms': { type: 'string' },
  'time-scale': { type: 'string' },
  'clear-handshake-ms': { type: 'string' },
  'election-delay-ms': { type: 'string' },
  'sigterm-departure-ms': { type: 'string' },
  'sigkill-departure-ms': { type: 'string' },
  'bootstrap-delay-ms': { type: 'string' },
  'reelect-probability': { type: 'string' },
  'ready-delay-ms': { type: 'string' },
  'server-version': { type: 'string' },
  seed: { type: 'string' },
  faults: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'per-capture-listeners': { type: 'boolean' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  mtls: { type: 'boolean' },
  username: { type: 'string' },
  password: { type: 'string' },
  kubeconfig: { type: 'string' },
  namespace: { type: 'string' },
  selector: { type: 'string' },
  'address-template': { type: 'string' },
  service: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function number(
  flag: string,
  v: string | undefined,
  opts: { int?: boolean; min?: number; max?: number } = {},
) {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (opts.int && !Number.isInteger(n))) {
    throw new UsageError(`--${flag}: not a${opts.int ? 'n integer' : ' number'}: ${v}`);
  }
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`--${flag} must be >= ${opts.min}`);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`--${flag} must be <= ${opts.max}`);
  return n;
}

function readPem(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--${flag}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Parses the flags into simulator options (without logger). Throws UsageError. */
export function parseSimArgs(
  argv: string[],
): { help: true } | { help: false; options: SimulatorOptions; logLevel: string } {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return { help: true };
  const mode = values.mode ?? 'newarch';
  if (!SIM_MODES.includes(mode as SimMode))
    throw new UsageError(`--mode must be one of ${SIM_MODES.join(', ')}`);
  const o: SimulatorOptions = { mode: mode as SimMode, port: 8300 };
  const set = <K extends keyof SimulatorOptions>(k: K, v: SimulatorOptions[K] | undefined) => {
    if (v !== undefined) o[k] = v;
  };
  set('captures', number('captures', values.captures, { int: true, min: 0, max: 1000 }));
  if (values['capture-names'] !== undefined) {
    o.captureNames = values['capture-names']
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  set(
    'legacyCaptures',
    number('legacy-captures', values['legacy-captures'], { int: true, min: 0, max: 1000 }),
  );
  if (o.legacyCaptures && mode !== 'newarch')
    throw new UsageError('--legacy-captures only applies to --mode newarch');
  set('changefeeds', number('changefeeds', values.changefeeds, { int: true, min: 0, max: 10_000 }));
  set(
    'tablesPerChangefeed',
    number('tables-per-changefeed', values['tables-per-changefeed'], { int: true, min: 0, max: 100_000 }),
  );
  set('moveRatePerSec', number('move-rate', values['move-rate'], { min: 0 }));
  set('maintainerMoveRatePerSec', number('maintainer-move-rate', values['maintainer-move-rate'], { min: 0 }));
  set('rebalanceRatePerSec', number('rebalance-rate', values['rebalance-rate'], { min: 0 }));
  set('tickMs', number('tick-ms', values['tick-ms'], { min: 1 }));
  set('timeScale', number('time-scale', values['time-scale'], { min: 0.001 }));
  set('clearHandshakeMs', number('clear-handshake-ms', values['clear-handshake-ms'], { min: 0 }));
  set('electionDelayMs', number('election-delay-ms', values['election-delay-ms'], { min: 0 }));
  set('sigtermDepartureMs', number('sigterm-departure-ms', values['sigterm-departure-ms'], { min: 0 }));
  set('sigkillDepartureMs', number('sigkill-departure-ms', values['sigkill-departure-ms'], { min: 0 }));
  set('bootstrapDelayMs', number('bootstrap-delay-ms', values['bootstrap-delay-ms'], { min: 0 }));
  set('reelectProbability', number('reelect-probability', values['reelect-probability'], { min: 0, max: 1 }));
  set('readyDelayMs', number('ready-delay-ms', values['ready-delay-ms'], { min: 0 }));
  set('version', values['server-version']);
  set('seed', number('seed', values.seed, { int: true }));
  set('host', values.host);
  set('port', number('port', values.port, { int: true, min: 0, max: 65535 }));
  if (values['per-capture-listeners']) o.perCaptureListeners = true;
  if (values.faults !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(values.faults);
    } catch {
      throw new UsageError('--faults: not valid JSON');
    }
    const r = faultPatchSchema.safeParse(raw);
    if (!r.success) throw new UsageError(`--faults: ${r.error.message}`);
    o.faults = r.data;
  }

  const cert = values['tls-cert'];
  const key = values['tls-key'];
  if ((cert === undefined) !== (key === undefined))
    throw new UsageError('--tls-cert and --tls-key go together');
  if (values.mtls && values['tls-ca'] === undefined) throw new UsageError('--mtls needs --tls-ca');
  if (values['tls-ca'] !== undefined && cert === undefined)
    throw new UsageError('--tls-ca needs --tls-cert and --tls-key');
  if (cert !== undefined && key !== undefined) {
    o.tls = {
      cert: readPem('tls-cert', cert),
      key: readPem('tls-key', key),
      ...(values['tls-ca'] !== undefined && { ca: readPem('tls-ca', values['tls-ca']) }),
      ...(values.mtls && { mtls: true }),
    };
  }

  if ((values.username === undefined) !== (values.password === undefined)) {
    throw new UsageError('--username and --password go together');
  }
  if (values.username !== undefined && values.password !== undefined) {
    if (mode !== 'newarch') throw new UsageError('--username/--password only apply to --mode newarch');
    o.credentials = { username: values.username, password: values.password };
  }

  const kubeFlags = ['kubeconfig', 'selector', 'address-template', 'service'] as const;
  if (values.namespace !== undefined) {
    o.kube = {
      namespace: values.namespace,
      ...(values.kubeconfig !== undefined && { kubeconfigPath: values.kubeconfig }),
      ...(values.selector !== undefined && { selector: values.selector }),
      ...(values['address-template'] !== undefined && { addressTemplate: values['address-template'] }),
      ...(values.service !== undefined && { service: values.service }),
    };
    if (values.captures !== undefined || values['capture-names'] !== undefined) {
      throw new UsageError('--captures/--capture-names and --namespace exclude each other');
    }
  } else {
    for (const f of kubeFlags) if (values[f] !== undefined) throw new UsageError(`--${f} needs --namespace`);
  }
  const logLevel = values['log-level'] ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new UsageError(`--log-level: unknown level ${logLevel}`);
  }
  return { help: false, options: o, logLevel };
}

export async function runSimCli(argv: string[], io: SimCliIo = {}): Promise<number> {
  const out = io.stdout ?? ((s: string) => process.stdout.write(s + '\n'));
  const err = io.stderr ?? ((s: string) => process.stderr.write(s + '\n'));
  let parsed;
  try {
    parsed = parseSimArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`capture-drain sim: ${e.message}`);
    err('Run "capture-drain sim --help" for usage.');
    return EXIT_USAGE;
  }
  if (parsed.help) {
    out(SIM_USAGE);
    return 0;
  }
  const logger = io.logger ?? pino({ name: 'ticdc-sim', level: parsed.logLevel }, pino.destination(2));
  let sim: TicdcSimulator;
  try {
    sim = await TicdcSimulator.start({ ...parsed.options, logger });
  } catch (e) {
    err(`capture-drain sim: cannot start: ${(e as Error).message}`);
    return 1;
  }
  await sim.settled();
  const listening = new URL(sim.url).host;
  out(sim.url);
  out(JSON.stringify({ listening, url: sim.url, mode: sim.mode, captures: sim.addressMap() }));
  logger.info({ url: sim.url, mode: sim.mode, captures: sim.captures().length }, 'simulator listening');
  io.onStarted?.(sim);

  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      io.signal?.removeEventListener('abort', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (io.signal?.aborted) done();
    else io.signal?.addEventListener('abort', done, { once: true });
  });
  logger.info('stopping simulator');
  await sim.stop();
  return 0;
}
