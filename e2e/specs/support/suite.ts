// Per-suite helpers: the shared cluster, a namespace, the operator running as its chart's
// ServiceAccount, and waits on CaptureDrain status.
import { captureUrlArgs } from '../../harness/capture-router.js';
import { join } from 'node:path';
import { Cluster, REPO, eventually } from '../../harness/cluster.js';
import { installOperatorIdentity, startOperator, type OperatorProcess } from '../../harness/operator.js';

export const cluster = () => new Cluster(process.env.CDO_E2E_STATE!);
export const LOG_DIR = join(REPO, 'e2e/controlplane/.state-e2e-logs');

export interface DrainStatus {
  phase?: string;
  reason?: string;
  message?: string;
  captureID?: string;
  podUID?: string;
  ownerResigned?: boolean;
  remaining?: { maintainers?: number; dispatchers?: number; tables?: number };
  initial?: { maintainers?: number; dispatchers?: number; tables?: number };
  startTime?: string;
  completionTime?: string;
  drainedTime?: string;
  targetLiveness?: string;
  blockingCapture?: string;
  history?: { phase: string; time: string; reason?: string }[];
  conditions?: { type: string; status: string; reason: string }[];
}

export async function drainStatus(c: Cluster, ns: string, name: string): Promise<DrainStatus> {
  const obj = await c.getJson<{ status?: DrainStatus }>(['get', 'capturedrain', name, '-n', ns]);
  return obj.status ?? {};
}

export function waitForDrain(
  c: Cluster,
  ns: string,
  name: string,
  pred: (s: DrainStatus) => boolean,
  timeoutMs = 120_000,
) {
  return eventually(
    `CaptureDrain ${ns}/${name}`,
    async () => {
      const s = await drainStatus(c, ns, name);
      return pred(s) ? s : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

export function captureDrain(ns: string, name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'drain.ticdc.io/v1alpha1',
    kind: 'CaptureDrain',
    metadata: { name, namespace: ns },
    spec,
  });
}

/** Installs the chart's identity in `ns` and starts the operator as that ServiceAccount. */
export async function operatorFor(c: Cluster, ns: string, extraArgs: string[] = []) {
  const kubeconfig = await installOperatorIdentity(c, ns, join(c.stateDir, 'operators'));
  // Captures' own status (liveness) is read through the local router to the simulators.
  const args = [...(await captureUrlArgs()), ...extraArgs];
  const start = (
    opts: { name?: string; extraArgs?: string[]; env?: Record<string, string> } = {},
  ): OperatorProcess =>
    startOperator({
      kubeconfig,
      namespace: ns,
      logDir: LOG_DIR,
      name: opts.name ? `${ns}-${opts.name}` : ns,
      extraArgs: [...args, ...(opts.extraArgs ?? [])],
      ...(opts.env ? { env: opts.env } : {}),
    });
  return { kubeconfig, start };
}

export async function podUid(c: Cluster, ns: string, pod: string): Promise<string | undefined> {
  const r = await c.kubectl(['get', 'pod', pod, '-n', ns, '-o', 'jsonpath={.metadata.uid}']);
  return r.code === 0 ? r.stdout.trim() || undefined : undefined;
}
