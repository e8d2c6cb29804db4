// Runs the operator from source (dist/) as a separate process, authenticated as the chart's
// ServiceAccount with exactly the chart's RBAC, so a missing permission fails the suites.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPERATOR_NODE_FLAGS } from '../../operator/src/node-flags.js';
import { REPO, type Cluster } from './cluster.js';

export const CLI = join(REPO, 'dist/operator/src/cli.js');
export const CHART = join(REPO, 'charts/capture-drain-operator');
export const RELEASE = 'cdo';
export const SERVICE_ACCOUNT = 'cdo-capture-drain-operator';

/** Applies the chart's ServiceAccount and RBAC into `namespace` and returns a token kubeconfig. */
export async function installOperatorIdentity(
  cluster: Cluster,
  namespace: string,
  dir: string,
): Promise<string> {
  await cluster.kubectl(['create', 'namespace', namespace]);
  const rendered = await cluster.helm([
    'template',
    RELEASE,
    CHART,
    '--namespace',
    namespace,
    '--show-only',
    'templates/serviceaccount.yaml',
    '--show-only',
    'templates/rbac.yaml',
  ]);
  if (rendered.code !== 0) throw new Error(`helm template failed: ${rendered.stderr}`);
  await cluster.kubectlOk(['apply', '-f', '-'], { input: rendered.stdout });
  return serviceAccountKubeconfig(cluster, namespace, SERVICE_ACCOUNT, dir);
}

/** A kubeconfig authenticating as `serviceAccount` of `namespace` by a fresh token. */
export async function serviceAccountKubeconfig(
  cluster: Cluster,
  namespace: string,
  serviceAccount: string,
  dir: string,
): Promise<string> {
  const token = (
    await cluster.kubectlOk(['create', 'token', serviceAccount, '-n', namespace, '--duration', '4h'])
  ).trim();
  const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: ${cluster.apiServerUrl}
    certificate-authority-data: ${readFileSync(cluster.caFile).toString('base64')}
users:
- name: operator
  user:
    token: ${token}
contexts:
- name: operator
  context: {cluster: e2e, user: operator, namespace: ${namespace}}
current-context: operator
`;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `operator-${namespace}.kubeconfig`);
  writeFileSync(file, kubeconfig, { mode: 0o600 });
  return file;
}

export interface OperatorProcess {
  readonly logFile: string;
  readonly pid: number | undefined;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** SIGKILL: no graceful shutdown, no lease release. */
  kill(): Promise<void>;
  /** SIGSTOP: the process is frozen (no timers, no I/O) until resume(). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGTERM and wait for a graceful exit; with `killAfterMs`, SIGKILL if it has not exited by then. */
  stop(killAfterMs?: number): Promise<number | null>;
  logs(): string;
}

export function startOperator(opts: {
  kubeconfig: string;
  namespace: string;
  logDir: string;
  extraArgs?: string[];
  name?: string;
  /** Extra environment, e.g. POD_NAME (the leader election identity's prefix, as in the chart). */
  env?: Record<string, string>;
}): OperatorProcess {
  mkdirSync(opts.logDir, { recursive: true });
  const logFile = join(opts.logDir, `${opts.name ?? 'operator'}-${Date.now()}.log`);
  const out = createWriteStream(logFile);
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...OPERATOR_NODE_FLAGS,
      CLI,
      'operator',
      '--kubeconfig',
      opts.kubeconfig,
      '--leader-election-namespace',
      opts.namespace,
      '--http-address',
      '127.0.0.1:0',
      '--log-level',
      'debug',
      ...(opts.extraArgs ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '', ...opts.env } },
  );
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    logFile,
    pid: child.pid,
    exited,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    async stop(killAfterMs) {
      child.kill('SIGTERM');
      // Cleared on exit: a pending timer would keep the test runner alive after the suite.
      const timer =
        killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    logs: () => readFileSync(logFile, 'utf8'),
  };
}
