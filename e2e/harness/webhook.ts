// The termination gate's ValidatingWebhookConfiguration for e2e: rendered from the chart's own
// template with webhook.url pointing at the operator running on the host (the control plane
// cannot reach Services), applied with kubectl. The operator fills in the caBundle itself.
import { createServer } from 'node:net';
import type { Cluster } from './cluster.js';
import { CHART, RELEASE } from './operator.js';

export const GATE_PATH = '/validate-pod-termination';
export const WEBHOOK_CONFIGURATION = `${RELEASE}-capture-drain-operator`;
export const WEBHOOK_SECRET = `${RELEASE}-capture-drain-operator-webhook-cert`;

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** Operator flags for a webhook served on the host in operator cert mode. */
export function gateOperatorArgs(port: number): string[] {
  return [
    '--webhook-address',
    `127.0.0.1:${port}`,
    '--webhook-hosts',
    '127.0.0.1',
    '--webhook-secret',
    WEBHOOK_SECRET,
    '--webhook-configuration',
    WEBHOOK_CONFIGURATION,
  ];
}

/** Renders templates/webhook.yaml for a webhook at https://127.0.0.1:<port> and applies it. */
export async function applyGateWebhook(
  cluster: Cluster,
  opts: { releaseNamespace: string; port: number; namespaces: string[]; failurePolicy?: 'Ignore' | 'Fail' },
): Promise<void> {
  const rendered = await cluster.helm([
    'template',
    RELEASE,
    CHART,
    '--namespace',
    opts.releaseNamespace,
    '--show-only',
    'templates/webhook.yaml',
    '--set',
    `webhook.url=https://127.0.0.1:${opts.port}${GATE_PATH}`,
    '--set',
    `webhook.failurePolicy=${opts.failurePolicy ?? 'Ignore'}`,
    '--set',
    `watchNamespaces={${opts.namespaces.join(',')}}`,
  ]);
  if (rendered.code !== 0) throw new Error(`helm template failed: ${rendered.stderr}`);
  await cluster.kubectlOk(['apply', '-f', '-'], { input: rendered.stdout });
}

export async function removeGateWebhook(cluster: Cluster): Promise<void> {
  await cluster.kubectl([
    'delete',
    'validatingwebhookconfiguration',
    WEBHOOK_CONFIGURATION,
    '--ignore-not-found',
  ]);
}

/** The caBundle the API server uses for each webhook of the configuration. */
export async function caBundles(cluster: Cluster): Promise<string[]> {
  const vwc = await cluster.getJson<{ webhooks: { clientConfig: { caBundle?: string } }[] }>([
    'get',
    'validatingwebhookconfiguration',
    WEBHOOK_CONFIGURATION,
  ]);
  return vwc.webhooks.map((w) => w.clientConfig.caBundle ?? '');
}

/** Reads one unlabelled counter/gauge from the operator's /metrics (its port is in its log). */
export async function operatorMetric(logs: string, name: string): Promise<number> {
  const m = /"port":(\d+)[^\n]*Serving metrics and probes/.exec(logs);
  if (!m) throw new Error('operator metrics port not found in its log');
  const text = await (await fetch(`http://127.0.0.1:${m[1]}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}
