// Where the API server is and how to authenticate to it: a kubeconfig file or the pod's
// ServiceAccount (in-cluster). Our own small loader so the operator's process never loads
// @kubernetes/client-node (whose import alone costs ~120 MiB of RSS and about a second).
//
// Supported: current-context (or a named context), cluster server / certificate-authority(-data) /
// insecure-skip-tls-verify / tls-server-name, user client-certificate(-data) / client-key(-data) /
// token / tokenFile / username+password, exec credential plugins (client.authentication.k8s.io:
// the command's token or client certificate, cached until its expirationTimestamp). Not supported:
// auth-provider (removed from kubectl in 1.26; a clear error says so). Relative paths resolve against the kubeconfig file's folder, as kubectl does.
// Token files (in-cluster: a projected token that the kubelet rotates) are re-read at most every
// minute, like client-go; certificate files are re-read whenever the client rebuilds its pool.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

// yaml is loaded on first use: in-cluster (the chart's case) never reads a kubeconfig file.
const parseYaml = (text: string): unknown =>
  (createRequire(import.meta.url)('yaml') as typeof Yaml).parse(text);

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** How long a token read from a file is used before the file is read again. */
export const TOKEN_FILE_REFRESH_MS = 60_000;

/** TLS material for the HTTPS connections to the API server (PEM strings). */
export interface KubeTls {
  ca?: string;
  cert?: string;
  key?: string;
  /** false only with insecure-skip-tls-verify. */
  rejectUnauthorized: boolean;
  servername?: string;
}

/** Everything a REST client needs to reach one API server. */
export interface KubeAccess {
  /** The API server's base URL, without a trailing slash. */
  readonly server: string;
  /** The default namespace of the context (in-cluster: the pod's namespace), if any. */
  readonly namespace?: string;
  /** Where it came from, for logs: "in-cluster" or "kubeconfig <file> context <name>". No secrets. */
  readonly source: string;
  /** TLS options; files are read at each call (the client calls it when it builds a connection pool). */
  tls(): KubeTls;
  /** The Authorization header value, if any; token files are re-read as they rotate. */
  authorization(): string | undefined;
}

export class KubeconfigError extends Error {
  override readonly name = 'KubeconfigError';
}

type Obj = Record<string, unknown>;

interface Named {
  name?: unknown;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Obj, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new KubeconfigError(`${key} must be a string`);
  return v;
}

function findNamed(list: unknown, name: string, what: string, field: string): Obj {
  if (list !== undefined && list !== null && !Array.isArray(list))
    throw new KubeconfigError(`${what}s must be a list`);
  const entry = (list as Named[] | undefined)?.find((e) => isObj(e) && e.name === name) as Obj | undefined;
  if (!entry) throw new KubeconfigError(`${what} "${name}" not found`);
  const inner = entry[field];
  if (!isObj(inner)) throw new KubeconfigError(`${what} "${name}" has no ${field}`);
  return inner;
}

/** A token read from a file, cached for refreshMs, then read again (projected tokens rotate). */
export class TokenFile {
  private cached: { token: string; readAt: number } | undefined;

  constructor(
    readonly path: string,
    private readonly refreshMs = TOKEN_FILE_REFRESH_MS,
    private readonly now: () => number = Date.now,
  ) {}

  read(): string {
    const now = this.now();
    if (!this.cached || now - this.cached.readAt >= this.refreshMs) {
      try {
        this.cached = { token: readFileSync(this.path, 'utf8').trim(), readAt: now };
      } catch (err) {
        // Keep serving the last token while the kubelet swaps the file; fail only if we never had one.
        if (!this.cached)
          throw new KubeconfigError(`cannot read token file ${this.path}: ${(err as Error).message}`);
      }
    }
    return this.cached.token;
  }
}

/** PEM text from either `<key>-data` (base64) or the file `<key>` (relative to baseDir). */
function pemSource(o: Obj, key: string, baseDir: string): (() => string) | undefined {
  const data = str(o, `${key}-data`);
  if (data) {
    const pem = Buffer.from(data, 'base64').toString('utf8');
    return () => pem;
  }
  const file = str(o, key);
  if (!file) return undefined;
  const path = isAbsolute(file) ? file : resolve(baseDir, file);
  return () => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new KubeconfigError(`cannot read ${key} ${path}: ${(err as Error).message}`);
    }
  };
}

/** Parses kubeconfig text. `baseDir` resolves relative file paths. */
export function parseKubeconfig(
  text: string,
  opts: { baseDir: string; file?: string; context?: string },
): KubeAccess {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new KubeconfigError(`not valid YAML: ${(err as Error).message}`);
  }
  if (!isObj(doc)) throw new KubeconfigError('not a kubeconfig (no mapping at the top)');
  const contextName = opts.context ?? str(doc, 'current-context');
  if (!contextName) throw new KubeconfigError('no current-context');
  const context = findNamed(doc.contexts, contextName, 'context', 'context');
  const clusterName = str(context, 'cluster');
  if (!clusterName) throw new KubeconfigError(`context "${contextName}" names no cluster`);
  const cluster = findNamed(doc.clusters, clusterName, 'cluster', 'cluster');
  const userName = str(context, 'user');
  const user = userName ? findNamed(doc.users, userName, 'user', 'user') : {};

  const server = str(cluster, 'server');
  if (!server) throw new KubeconfigError(`cluster "${clusterName}" has no server`);
  try {
    new URL(server);
  } catch {
    throw new KubeconfigError(`cluster "${clusterName}": server "${server}" is not a URL`);
  }
  if (user['auth-provider'] !== undefined) {
    throw new KubeconfigError(
      `user "${userName}": auth-provider is not supported (kubectl dropped it in 1.26); use an exec plugin, a token or a client certificate`,
    );
  }
  const exec = user.exec !== undefined ? execPlugin(user.exec, `user "${userName}"`) : undefined;
  if (cluster['proxy-url'] !== undefined)
    throw new KubeconfigError(`cluster "${clusterName}": proxy-url is not supported`);
  const insecure = cluster['insecure-skip-tls-verify'] === true;
  const servername = str(cluster, 'tls-server-name');
  const ca = pemSource(cluster, 'certificate-authority', opts.baseDir);
  const cert = pemSource(user, 'client-certificate', opts.baseDir);
  const key = pemSource(user, 'client-key', opts.baseDir);
  if (Boolean(cert) !== Boolean(key))
    throw new KubeconfigError(`user "${userName}": a client certificate needs both certificate and key`);

  const token = str(user, 'token');
  const tokenFilePath = str(user, 'tokenFile');
  const tokenFile = tokenFilePath
    ? new TokenFile(isAbsolute(tokenFilePath) ? tokenFilePath : resolve(opts.baseDir, tokenFilePath))
    : undefined;
  const username = str(user, 'username');
  const password = str(user, 'password');
  let authorization: () => string | undefined;
  if (exec) authorization = () => (exec().token ? `Bearer ${exec().token}` : undefined);
  else if (token) authorization = () => `Bearer ${token}`;
  else if (tokenFile) authorization = () => `Bearer ${tokenFile.read()}`;
  else if (username !== undefined && password !== undefined) {
    const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    authorization = () => basic;
  } else authorization = () => undefined;

  const namespace = str(context, 'namespace');
  return {
    server: server.replace(/\/+$/, ''),
    ...(namespace ? { namespace } : {}),
    source: `kubeconfig ${opts.file ?? '(text)'} context ${contextName}`,
    tls: () => ({
      rejectUnauthorized: !insecure,
      ...(ca ? { ca: ca() } : {}),
      ...(cert ? { cert: cert() } : exec?.().cert ? { cert: exec().cert } : {}),
      ...(key ? { key: key() } : exec?.().key ? { key: exec().key } : {}),
      ...(servername ? { servername } : {}),
    }),
    authorization,
  };
}

interface ExecResult {
  token?: string;
  cert?: string;
  key?: string;
}

/**
 * A kubeconfig `exec` credential plugin (cloud logins such as aws, gke-gcloud-auth-plugin, kubelogin):
 * runs the command with KUBERNETES_EXEC_INFO and reads the ExecCredential it prints; the answer is
 * kept until its expirationTimestamp (a minute early), or for the life of the process without one.
 */
function execPlugin(raw: unknown, who: string, now: () => number = Date.now): () => ExecResult {
  if (!isObj(raw)) throw new KubeconfigError(`${who}: exec must be a mapping`);
  const command = str(raw, 'command');
  if (!command) throw new KubeconfigError(`${who}: exec has no command`);
  const apiVersion = str(raw, 'apiVersion') ?? 'client.authentication.k8s.io/v1';
  const args = Array.isArray(raw.args) ? raw.args.map(String) : [];
  const extraEnv: Record<string, string> = {};
  for (const e of Array.isArray(raw.env) ? raw.env : [])
    if (isObj(e) && typeof e.name === 'string') extraEnv[e.name] = String(e.value ?? '');
  let cached: { result: ExecResult; until: number } | undefined;
  return () => {
    if (cached && now() < cached.until) return cached.result;
    let out: string;
    try {
      out = execFileSync(command, args, {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        timeout: 60_000,
        env: {
          ...process.env,
          ...extraEnv,
          KUBERNETES_EXEC_INFO: JSON.stringify({
            apiVersion,
            kind: 'ExecCredential',
            spec: { interactive: false },
          }),
        },
      });
    } catch (err) {
      throw new KubeconfigError(`${who}: exec plugin ${command} failed: ${(err as Error).message}`);
    }
    let status: Obj;
    try {
      const doc: unknown = JSON.parse(out);
      if (!isObj(doc) || !isObj(doc.status)) throw new Error('no status');
      status = doc.status;
    } catch (err) {
      throw new KubeconfigError(
        `${who}: exec plugin ${command} printed no ExecCredential: ${(err as Error).message}`,
      );
    }
    const result: ExecResult = {
      ...(str(status, 'token') ? { token: str(status, 'token') } : {}),
      ...(str(status, 'clientCertificateData') ? { cert: str(status, 'clientCertificateData') } : {}),
      ...(str(status, 'clientKeyData') ? { key: str(status, 'clientKeyData') } : {}),
    };
    if (!result.token && !(result.cert && result.key))
      throw new KubeconfigError(
        `${who}: exec plugin ${command} gave neither a token nor a client certificate and key`,
      );
    const expires = str(status, 'expirationTimestamp');
    const until = expires ? Date.parse(expires) - 60_000 : Number.POSITIVE_INFINITY;
    cached = { result, until: Number.isNaN(until) ? 0 : until };
    return result;
  };
}

/** Loads a kubeconfig file. */
export function loadKubeconfigFile(file: string, context?: string): KubeAccess {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KubeconfigError(`cannot read kubeconfig ${file}: ${(err as Error).message}`);
  }
  try {
    return parseKubeconfig(text, { baseDir: dirname(resolve(file)), file, ...(context ? { context } : {}) });
  } catch (err) {
    if (err instanceof KubeconfigError) throw new KubeconfigError(`kubeconfig ${file}: ${err.message}`);
    throw err;
  }
}

/**
 * The pod's ServiceAccount: KUBERNETES_SERVICE_HOST/PORT, the token (re-read as it rotates), the
 * cluster CA and the namespace from the mounted ServiceAccount folder.
 */
export function loadInCluster(
  env: NodeJS.ProcessEnv = process.env,
  dir = SERVICE_ACCOUNT_DIR,
  tokenRefreshMs = TOKEN_FILE_REFRESH_MS,
): KubeAccess {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port)
    throw new KubeconfigError(
      'not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no kubeconfig given',
    );
  const token = new TokenFile(join(dir, 'token'), tokenRefreshMs);
  token.read(); // fail now, not at the first request, when there is no token
  const caPath = join(dir, 'ca.crt');
  let namespace: string | undefined;
  try {
    namespace = readFileSync(join(dir, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    namespace = undefined;
  }
  const hostPart = host.includes(':') ? `[${host}]` : host; // IPv6
  return {
    server: `https://${hostPart}:${port}`,
    ...(namespace ? { namespace } : {}),
    source: 'in-cluster',
    tls: () => {
      let ca: string;
      try {
        ca = readFileSync(caPath, 'utf8');
      } catch (err) {
        throw new KubeconfigError(`cannot read the cluster CA ${caPath}: ${(err as Error).message}`);
      }
      return { ca, rejectUnauthorized: true };
    },
    authorization: () => `Bearer ${token.read()}`,
  };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** kubectl's order of kubeconfig files: an explicit file; else the first existing file of $KUBECONFIG (a path list); else ~/.kube/config. */
export function kubeconfigFile(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  opts: { home?: string } = {},
): string | undefined {
  if (file) return file;
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  const existing = fromEnv.find(isFile);
  if (existing) return existing;
  const userConfig = join(opts.home ?? env.HOME ?? homedir(), '.kube', 'config');
  return isFile(userConfig) ? userConfig : undefined;
}

/**
 * kubectl's order: an explicit file; else the first existing file of $KUBECONFIG (a path list);
 * else ~/.kube/config; else the in-cluster ServiceAccount. `context` picks a context other than
 * the current one (a kubeconfig is then required).
 */
export function loadKubeAccess(
  file?: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: { home?: string; serviceAccountDir?: string; context?: string } = {},
): KubeAccess {
  const found = kubeconfigFile(file, env, opts);
  if (found) return loadKubeconfigFile(found, opts.context);
  if (opts.context)
    throw new KubeconfigError(`context "${opts.context}" asked for, but no kubeconfig file was found`);
  return loadInCluster(env, opts.serviceAccountDir);
}

/** The context names of the kubeconfig kubectl would read (none when there is none or it is unreadable). */
export function kubeconfigContexts(
  file?: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: { home?: string } = {},
): string[] {
  const found = kubeconfigFile(file, env, opts);
  if (!found) return [];
  try {
    const doc = parseYaml(readFileSync(found, 'utf8'));
    if (!isObj(doc) || !Array.isArray(doc.contexts)) return [];
    return (doc.contexts as Named[]).map((c) => c.name).filter((n): n is string => typeof n === 'string');
  } catch {
    return [];
  }
}
