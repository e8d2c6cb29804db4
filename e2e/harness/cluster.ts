// The local control plane (e2e/controlplane) as seen from TypeScript: start/stop it, run the
// built kubectl and helm against it.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file runs from dist/e2e/harness). */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const CONTROLPLANE = join(REPO, 'e2e/controlplane');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Cluster {
  readonly env: Record<string, string>;
  constructor(readonly stateDir: string) {
    this.env = parseEnvFile(readFileSync(join(stateDir, 'env'), 'utf8'));
  }
  get kubeconfig(): string {
    return this.env.KUBECONFIG!;
  }
  get apiServerUrl(): string {
    return this.env.APISERVER_URL!;
  }
  get caFile(): string {
    return this.env.APISERVER_CA_FILE!;
  }
  get nodes(): string[] {
    return (this.env.KWOK_NODES ?? '').split(' ').filter(Boolean);
  }

  /** Applies the CaptureDrain CRD from the repository and waits until the API server serves it. */
  async installCrd(): Promise<void> {
    await this.kubectlOk(['apply', '--server-side', '-f', join(REPO, 'crds/capturedrain.yaml')]);
    // `kubectl wait` fails at once (not waits) while the new CRD has no status.conditions yet,
    // which a loaded API server shows for a moment: wait on the condition here instead.
    await eventually(
      'CRD capturedrains.drain.ticdc.io Established',
      async () => {
        const r = await this.kubectl([
          'get',
          'crd/capturedrains.drain.ticdc.io',
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Established")].status}',
        ]);
        return r.code === 0 && r.stdout.trim() === 'True';
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  }

  kubectl(
    args: string[],
    opts: { input?: string; kubeconfig?: string; timeoutMs?: number } = {},
  ): Promise<RunResult> {
    return run(this.env.KUBECTL!, args, { KUBECONFIG: opts.kubeconfig ?? this.kubeconfig }, opts);
  }

  /** kubectl that throws with its stderr on a non-zero exit. */
  async kubectlOk(
    args: string[],
    opts: { input?: string; kubeconfig?: string; timeoutMs?: number } = {},
  ): Promise<string> {
    const r = await this.kubectl(args, opts);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  async getJson<T = Record<string, unknown>>(args: string[]): Promise<T> {
    return JSON.parse(await this.kubectlOk([...args, '-o', 'json'])) as T;
  }

  helm(args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
    return run(
      this.env.HELM!,
      args,
      {
        KUBECONFIG: this.kubeconfig,
        HELM_CACHE_HOME: join(this.stateDir, 'helm/cache'),
        HELM_CONFIG_HOME: join(this.stateDir, 'helm/config'),
        HELM_DATA_HOME: join(this.stateDir, 'helm/data'),
      },
      opts,
    );
  }
}

export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z_0-9]+)=(?:'([^']*)'|(\S*))$/.exec(line.trim());
    if (m) env[m[1]!] = m[2] ?? m[3] ?? '';
  }
  return env;
}

export function run(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { env: { ...process.env, ...env }, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** Runs a script, streaming its output to ours (the build and start-up times are worth seeing). */
export function runScript(script: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, ...args], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, ...env },
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${script} exited with ${code}`)),
    );
  });
}

export async function startCluster(stateDir: string): Promise<Cluster> {
  await runScript(join(CONTROLPLANE, 'start.sh'), [stateDir]);
  return new Cluster(stateDir);
}

export async function stopCluster(stateDir: string): Promise<void> {
  if (existsSync(stateDir)) await runScript(join(CONTROLPLANE, 'stop.sh'), [stateDir]);
}

/** Polls until fn returns a truthy value; throws with the last value described on timeout. */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false | null>,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const end = Date.now() + (opts.timeoutMs ?? 60_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end)
      throw new Error(
        `timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`,
      );
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}
