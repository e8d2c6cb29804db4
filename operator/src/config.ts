// Operator configuration: flags, then environment variables, validated with zod.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DURATION_PATTERN, TIMEOUT_POLICIES, parseDuration } from './api/capturedrain.js';
import { OPERATOR_NAME } from './api/names.js';
import { parseEndpointPattern } from './drain/tenancy.js';

const duration = z.string().regex(new RegExp(DURATION_PATTERN), 'a duration such as 30s, 10m or 1h');
// A Secret name is a DNS-1123 subdomain; checked here so a typo fails at start-up, not per drain.
const secretName = z
  .string()
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'a Secret name (lower-case letters, digits, "-" and ".")',
  );

export const ConfigSchema = z.object({
  kubeconfig: z.string().optional(),
  /** Namespaces to watch; empty means all. */
  namespaces: z.array(z.string().min(1)),
  leaderElect: z.boolean(),
  leaderElectionNamespace: z.string().min(1),
  leaderElectionId: z.string().min(1),
  /** Lease timings (durations); see loadConfig for the rules between them. */
  leaseDuration: duration,
  renewDeadline: duration,
  retryPeriod: duration,
  identity: z.string().min(1),
  httpHost: z.string(),
  httpPort: z.number().int().min(0).max(65535),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
  workers: z.number().int().min(1).max(256),
  /** Finished operator-created CaptureDrains kept per StatefulSet (older ones whose pod is gone go). */
  drainHistory: z.number().int().min(0).max(1000),
  defaultTimeout: duration,
  defaultStallTimeout: duration,
  defaultOnTimeout: z.enum(TIMEOUT_POLICIES),
  defaultEndpoint: z.string().url().optional(),
  /** TLS / credentials Secret (in the drain's namespace) when neither spec nor StatefulSet names one. */
  defaultTlsSecret: secretName.optional(),
  defaultCredentialsSecret: secretName.optional(),
  /**
   * Host patterns a CaptureDrain's spec.cluster.endpoint may name (besides its StatefulSet's endpoint
   * and the default): the operator sends its TiCDC credentials and TLS material nowhere else.
   */
  allowedEndpoints: z.array(z.string().min(1)),
  ticdcRequestTimeout: duration,
  /**
   * Where to read a capture's own status (liveness), `{address}` standing for its URL-encoded
   * advertise address. Unset: http(s)://<address> (in-cluster DNS).
   */
  captureUrlTemplate: z.string().includes('{address}').optional(),
  fieldManager: z.string().min(1),
  /** Drain capture pods off cordoned nodes (node cordon controller). */
  nodeDrains: z.boolean(),

  /** The pod-termination gate's admission webhook server; absent = not served (no --webhook-address). */
  webhook: z
    .object({
      host: z.string(),
      port: z.number().int().min(0).max(65535),
      certMode: z.enum(['operator', 'files']),
      certDir: z.string().min(1),
      secret: z.string().min(1),
      configuration: z.string(),
      hosts: z.array(z.string().min(1)),
    })
    .optional(),
  /** Drained rollouts and scale-ins of managed StatefulSets (absent: on). */
  rollouts: z.boolean().optional(),
});
export type OperatorConfig = z.infer<typeof ConfigSchema>;

export const CONFIG_USAGE = `Usage: capture-drain operator [options]

Options (environment variable in brackets):
  --kubeconfig F                 kubeconfig file [KUBECONFIG]; in-cluster config when unset
  --namespaces NS[,NS]           namespaces to watch [WATCH_NAMESPACES]; all when unset
  --leader-elect true|false      Lease-based leader election (default true) [LEADER_ELECT]
  --leader-election-namespace NS [POD_NAMESPACE] (default default)
  --leader-election-id NAME      Lease name (default capture-drain-operator)
  --leader-elect-lease-duration DUR  how long a standby waits, after it last saw the Lease change,
                                 before taking it over (default 10s)
  --leader-elect-renew-deadline DUR  the leader stops (cancelling in-flight work) when it could not
                                 renew for this long; < lease duration (default 7s)
  --leader-elect-retry-period DUR  renew / acquire attempt interval; renew deadline must exceed
                                 1.2 x this (default 1s)
  --http-address HOST:PORT       /metrics, /healthz, /readyz, /leaderz (default 0.0.0.0:8080) [HTTP_ADDRESS]
  --log-level LEVEL              trace|debug|info|warn|error (default info) [LOG_LEVEL]
  --workers N                    concurrent reconciles per controller (default 64)
  --drain-history N              finished operator-created CaptureDrains kept per StatefulSet; older
                                 ones whose pod incarnation is gone are deleted (default 5)
  --default-timeout DUR          drain timeout when neither spec nor StatefulSet sets one (default 10m)
  --default-stall-timeout DUR    (default 3m)
  --default-on-timeout Hold|Release  (default Hold)
  --default-endpoint URL         TiCDC endpoint when neither spec nor StatefulSet names one
  --default-tls-secret NAME      TLS Secret, looked up in the drain's namespace, when neither spec nor
                                 StatefulSet names one [DEFAULT_TLS_SECRET]
  --default-credentials-secret NAME  credentials Secret, likewise [DEFAULT_CREDENTIALS_SECRET]
  --allowed-endpoints P[,P]      host patterns (HOST, HOST:PORT, *.DOMAIN, *.DOMAIN:PORT) a CaptureDrain's
                                 spec.cluster.endpoint may name besides its StatefulSet's endpoint and
                                 --default-endpoint; none when unset [ALLOWED_ENDPOINTS]
  --ticdc-request-timeout DUR    one TiCDC HTTP request (default 10s)
  --capture-url-template T       base URL of a capture's own status, {address} = its advertise
                                 address URL-encoded (default: the address itself)
  --node-drains true|false       drain capture pods off cordoned nodes (default true) [NODE_DRAINS]
  --webhook-address HOST:PORT    serve the pod-termination admission webhook here (default: none)
  --webhook-cert-mode operator|files  operator: self-signed CA + certificate in --webhook-secret;
                                 files: tls.crt/tls.key from --webhook-cert-dir (default operator)
  --webhook-cert-dir DIR         (default /etc/capture-drain/webhook)
  --webhook-secret NAME          Secret in the operator's namespace [POD_NAMESPACE]
                                 (default capture-drain-operator-webhook-cert)
  --webhook-configuration NAME   ValidatingWebhookConfiguration whose caBundle the operator keeps
                                 current in operator mode; empty = none (default capture-drain-operator)
  --webhook-hosts H[,H]          DNS names / IPs of the serving certificate (required in operator mode)
  --rollouts true|false          drain pods before rolling updates and scale-ins of managed StatefulSets (default true)`;

export class ConfigError extends Error {}

// Lease timings. A standby takes over at most leaseDuration + 2 x 1.2 x retryPeriod after the
// leader's last renewal (it notices the last change up to one jittered retry late, then waits the
// lease duration, then acts at its next jittered retry): 10 s + 2.4 s = 12.4 s, leaving 2.6 s of a
// 15 s failover budget for the new leader to sync its caches and act. controller-runtime's
// 15 s / 10 s / 2 s would allow 19.8 s. The leader stops at renewDeadline, 3 s before anyone may
// take over, and tolerates about six failed renewals in a row before it does.
export const DEFAULT_LEASE_DURATION = '10s';
export const DEFAULT_RENEW_DEADLINE = '7s';
export const DEFAULT_RETRY_PERIOD = '1s';

/** client-go's rules: leaseDuration > renewDeadline > 1.2 x retryPeriod (JitterFactor), all positive. */
export function validateLeaseTimings(
  c: Pick<OperatorConfig, 'leaseDuration' | 'renewDeadline' | 'retryPeriod'>,
) {
  const lease = parseDuration(c.leaseDuration);
  const renew = parseDuration(c.renewDeadline);
  const retry = parseDuration(c.retryPeriod);
  if (lease < 1000)
    throw new ConfigError(
      '--leader-elect-lease-duration must be at least 1s (the Lease stores whole seconds)',
    );
  if (retry <= 0) throw new ConfigError('--leader-elect-retry-period must be positive');
  if (renew >= lease)
    throw new ConfigError(
      `--leader-elect-renew-deadline (${c.renewDeadline}) must be shorter than --leader-elect-lease-duration (${c.leaseDuration})`,
    );
  if (renew <= retry * 1.2)
    throw new ConfigError(
      `--leader-elect-renew-deadline (${c.renewDeadline}) must be longer than 1.2 x --leader-elect-retry-period (${c.retryPeriod})`,
    );
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        kubeconfig: { type: 'string' },
        namespaces: { type: 'string' },
        'leader-elect': { type: 'string' },
        'leader-election-namespace': { type: 'string' },
        'leader-election-id': { type: 'string' },
        'leader-elect-lease-duration': { type: 'string' },
        'leader-elect-renew-deadline': { type: 'string' },
        'leader-elect-retry-period': { type: 'string' },
        'http-address': { type: 'string' },
        'log-level': { type: 'string' },
        workers: { type: 'string' },
        'drain-history': { type: 'string' },
        'default-timeout': { type: 'string' },
        'default-stall-timeout': { type: 'string' },
        'default-on-timeout': { type: 'string' },
        'default-endpoint': { type: 'string' },
        'default-tls-secret': { type: 'string' },
        'default-credentials-secret': { type: 'string' },
        'allowed-endpoints': { type: 'string' },
        'ticdc-request-timeout': { type: 'string' },
        'capture-url-template': { type: 'string' },
        'node-drains': { type: 'string' },

        'webhook-address': { type: 'string' },
        'webhook-cert-mode': { type: 'string' },
        'webhook-cert-dir': { type: 'string' },
        'webhook-secret': { type: 'string' },
        'webhook-configuration': { type: 'string' },
        'webhook-hosts': { type: 'string' },
        rollouts: { type: 'string' },
      },
    }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const http = values['http-address'] ?? env.HTTP_ADDRESS ?? '0.0.0.0:8080';
  const m = /^(.*):(\d+)$/.exec(http);
  if (!m) throw new ConfigError(`--http-address must be HOST:PORT, got "${http}"`);
  const webhookAddress = values['webhook-address'] ?? '';
  const wm = /^(.*):(\d+)$/.exec(webhookAddress);
  if (webhookAddress && !wm)
    throw new ConfigError(`--webhook-address must be HOST:PORT, got "${webhookAddress}"`);
  const namespaces = (values.namespaces ?? env.WATCH_NAMESPACES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const leaderElect = (values['leader-elect'] ?? env.LEADER_ELECT ?? 'true').toLowerCase();
  if (leaderElect !== 'true' && leaderElect !== 'false')
    throw new ConfigError(`--leader-elect must be true or false, got "${leaderElect}"`);
  const nodeDrains = (values['node-drains'] ?? env.NODE_DRAINS ?? 'true').toLowerCase();
  if (nodeDrains !== 'true' && nodeDrains !== 'false')
    throw new ConfigError(`--node-drains must be true or false, got "${nodeDrains}"`);
  const rollouts = (values.rollouts ?? 'true').toLowerCase();
  if (rollouts !== 'true' && rollouts !== 'false')
    throw new ConfigError(`--rollouts must be true or false, got "${values.rollouts}"`);
  const raw = {
    rollouts: rollouts === 'true',
    kubeconfig: values.kubeconfig ?? env.KUBECONFIG,
    namespaces,
    leaderElect: leaderElect === 'true',
    leaderElectionNamespace: values['leader-election-namespace'] ?? env.POD_NAMESPACE ?? 'default',
    leaderElectionId: values['leader-election-id'] ?? OPERATOR_NAME,
    leaseDuration: values['leader-elect-lease-duration'] ?? DEFAULT_LEASE_DURATION,
    renewDeadline: values['leader-elect-renew-deadline'] ?? DEFAULT_RENEW_DEADLINE,
    retryPeriod: values['leader-elect-retry-period'] ?? DEFAULT_RETRY_PERIOD,
    identity: `${env.POD_NAME ?? hostname()}_${randomUUID().slice(0, 8)}`,
    httpHost: m[1] || '0.0.0.0',
    httpPort: Number(m[2]),
    logLevel: values['log-level'] ?? env.LOG_LEVEL ?? 'info',
    workers: Number(values.workers ?? 64),
    drainHistory: Number(values['drain-history'] ?? 5),
    defaultTimeout: values['default-timeout'] ?? '10m',
    defaultStallTimeout: values['default-stall-timeout'] ?? '3m',
    defaultOnTimeout: values['default-on-timeout'] ?? 'Hold',
    defaultEndpoint: values['default-endpoint'] ?? env.TICDC_ENDPOINT,
    // An empty value (e.g. an unset chart value) means no default.
    defaultTlsSecret: (values['default-tls-secret'] ?? env.DEFAULT_TLS_SECRET) || undefined,
    defaultCredentialsSecret:
      (values['default-credentials-secret'] ?? env.DEFAULT_CREDENTIALS_SECRET) || undefined,
    allowedEndpoints: (values['allowed-endpoints'] ?? env.ALLOWED_ENDPOINTS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    ticdcRequestTimeout: values['ticdc-request-timeout'] ?? '10s',
    ...(values['capture-url-template'] ? { captureUrlTemplate: values['capture-url-template'] } : {}),
    fieldManager: OPERATOR_NAME,
    nodeDrains: nodeDrains === 'true',

    webhook: wm
      ? {
          host: wm[1] || '0.0.0.0',
          port: Number(wm[2]),
          certMode: values['webhook-cert-mode'] ?? 'operator',
          certDir: values['webhook-cert-dir'] ?? '/etc/capture-drain/webhook',
          secret: values['webhook-secret'] ?? `${OPERATOR_NAME}-webhook-cert`,
          configuration: values['webhook-configuration'] ?? OPERATOR_NAME,
          hosts: (values['webhook-hosts'] ?? '')
            .split(',')
            .map((h) => h.trim())
            .filter(Boolean),
        }
      : undefined,
  };
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${issues}`);
  }
  const c = parsed.data;
  if (c.webhook?.certMode === 'operator' && !c.webhook.hosts.length)
    throw new ConfigError('--webhook-hosts is required with --webhook-address in operator cert mode');
  validateLeaseTimings(c);
  for (const p of c.allowedEndpoints)
    try {
      parseEndpointPattern(p);
    } catch (err) {
      throw new ConfigError(`--allowed-endpoints: ${(err as Error).message}`);
    }
  if (parseDuration(parsed.data.defaultStallTimeout) > parseDuration(parsed.data.defaultTimeout))
    throw new ConfigError('--default-stall-timeout must not be longer than --default-timeout');
  return parsed.data;
}
