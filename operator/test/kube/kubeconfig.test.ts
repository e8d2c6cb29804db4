// The kubeconfig / in-cluster loader, and the REST client using what it loads over real TLS (a
// throwaway CA, server and client certificate) against a local HTTPS server.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKubeClient } from '../../src/kube/client.js';
import {
  KubeconfigError,
  TokenFile,
  kubeconfigContexts,
  loadInCluster,
  loadKubeAccess,
  loadKubeconfigFile,
  parseKubeconfig,
} from '../../src/kube/kubeconfig.js';
import { Resources } from '../../src/kube/port.js';
import { makeTestPki, type TestPki } from '../support/pki.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const tmp = () => mkdtempSync(join(tmpdir(), 'cdo-kubeconfig-'));

function config(user: string, cluster = 'server: https://api.example:6443', extra = ''): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: other
  cluster: {server: "https://other.example"}
- name: main
  cluster:
    ${cluster}
users:
- name: admin
  user:
    ${user}
contexts:
- name: ctx-other
  context: {cluster: other, user: admin}
- name: ctx-main
  context: {cluster: main, user: admin, namespace: ops}
current-context: ctx-main
${extra}`;
}

describe('parseKubeconfig', () => {
  it('follows current-context to its cluster and user: token, namespace, trailing slash dropped', () => {
    const a = parseKubeconfig(config('token: abc', 'server: https://api.example:6443/'), { baseDir: '/' });
    expect(a.server).toBe('https://api.example:6443');
    expect(a.namespace).toBe('ops');
    expect(a.authorization()).toBe('Bearer abc');
    expect(a.tls()).toEqual({ rejectUnauthorized: true });
    expect(a.source).toBe('kubeconfig (text) context ctx-main');
  });

  it('a named context wins over current-context', () => {
    const a = parseKubeconfig(config('token: abc'), { baseDir: '/', context: 'ctx-other' });
    expect(a.server).toBe('https://other.example');
    expect(a.namespace).toBeUndefined();
  });

  it('*-data fields are base64 PEM; insecure-skip-tls-verify and tls-server-name are honoured', () => {
    const a = parseKubeconfig(
      config(
        `{client-certificate-data: ${b64('CERT')}, client-key-data: ${b64('KEY')}}`,
        `{server: "https://10.0.0.1", certificate-authority-data: ${b64('CA')}, insecure-skip-tls-verify: true, tls-server-name: kubernetes}`,
      ),
      { baseDir: '/' },
    );
    expect(a.tls()).toEqual({
      ca: 'CA',
      cert: 'CERT',
      key: 'KEY',
      rejectUnauthorized: false,
      servername: 'kubernetes',
    });
    expect(a.authorization()).toBeUndefined();
  });

  it('file paths resolve against the kubeconfig folder and are read at each tls() call', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'pki'));
    writeFileSync(join(dir, 'pki/ca.crt'), 'CA1');
    writeFileSync(join(dir, 'pki/c.crt'), 'C');
    writeFileSync(join(dir, 'k.key'), 'K');
    writeFileSync(
      join(dir, 'config'),
      config(
        `{client-certificate: pki/c.crt, client-key: ${join(dir, 'k.key')}}`,
        'server: https://x\n    certificate-authority: pki/ca.crt',
      ),
    );
    const a = loadKubeconfigFile(join(dir, 'config'));
    expect(a.tls()).toEqual({ ca: 'CA1', cert: 'C', key: 'K', rejectUnauthorized: true });
    writeFileSync(join(dir, 'pki/ca.crt'), 'CA2'); // rotated on disk
    expect(a.tls().ca).toBe('CA2');
  });

  it('username/password become basic auth; tokenFile is read and re-read', () => {
    expect(parseKubeconfig(config('{username: u, password: p}'), { baseDir: '/' }).authorization()).toBe(
      `Basic ${b64('u:p')}`,
    );
    const dir = tmp();
    writeFileSync(join(dir, 'tok'), 'one\n');
    const a = parseKubeconfig(config('tokenFile: tok'), { baseDir: dir });
    expect(a.authorization()).toBe('Bearer one');
  });

  it('refuses what it cannot do, naming the problem', () => {
    const bad: Array<[string, RegExp]> = [
      ['{auth-provider: {name: gcp}}', /auth-provider is not supported/],
      ['{exec: {args: [x]}}', /exec has no command/],
      [`{client-certificate-data: ${b64('C')}}`, /needs both certificate and key/],
    ];
    for (const [user, msg] of bad) expect(() => parseKubeconfig(config(user), { baseDir: '/' })).toThrow(msg);
    expect(() => parseKubeconfig(config('token: t', 'server: ""'), { baseDir: '/' })).toThrow(/no server/);
    expect(() => parseKubeconfig(config('token: t'), { baseDir: '/', context: 'nope' })).toThrow(
      /context "nope" not found/,
    );
    expect(() => parseKubeconfig('just text', { baseDir: '/' })).toThrow(KubeconfigError);
    expect(() => parseKubeconfig('clusters: []', { baseDir: '/' })).toThrow(/no current-context/);
    expect(() => loadKubeconfigFile(join(tmp(), 'missing'))).toThrow(/cannot read kubeconfig/);
  });
});

describe('TokenFile', () => {
  it('re-reads the file once the refresh period passed and keeps the last token while the file is swapped', () => {
    const dir = tmp();
    const path = join(dir, 'token');
    writeFileSync(path, 't1');
    let now = 0;
    const f = new TokenFile(path, 60_000, () => now);
    expect(f.read()).toBe('t1');
    writeFileSync(path, 't2');
    now = 59_999;
    expect(f.read()).toBe('t1'); // cached
    now = 60_000;
    expect(f.read()).toBe('t2'); // rotated token picked up
    writeFileSync(path, ''); // an empty read is a token too; a missing file is not
    const missing = new TokenFile(join(dir, 'absent'), 60_000, () => now);
    expect(() => missing.read()).toThrow(/cannot read token file/);
  });
});

describe('loadInCluster', () => {
  function saDir(token = 'sa-token'): string {
    const dir = tmp();
    writeFileSync(join(dir, 'token'), token);
    writeFileSync(join(dir, 'ca.crt'), 'CLUSTER-CA');
    writeFileSync(join(dir, 'namespace'), 'capture-drain-system\n');
    return dir;
  }

  it('builds the server from KUBERNETES_SERVICE_HOST/PORT (IPv6 bracketed) with token, CA and namespace', () => {
    const dir = saDir();
    const a = loadInCluster({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    expect(a.server).toBe('https://10.96.0.1:443');
    expect(a.namespace).toBe('capture-drain-system');
    expect(a.source).toBe('in-cluster');
    expect(a.authorization()).toBe('Bearer sa-token');
    expect(a.tls()).toEqual({ ca: 'CLUSTER-CA', rejectUnauthorized: true });
    const v6 = loadInCluster({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    expect(v6.server).toBe('https://[fd00::1]:443');
  });

  it('picks up a rotated token', () => {
    const dir = saDir('old');
    const a = loadInCluster({ KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }, dir, 0);
    expect(a.authorization()).toBe('Bearer old');
    writeFileSync(join(dir, 'token'), 'new');
    expect(a.authorization()).toBe('Bearer new');
  });

  it('fails clearly outside a cluster or without a token', () => {
    expect(() => loadInCluster({}, saDir())).toThrow(/not running in a cluster/);
    expect(() =>
      loadInCluster({ KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }, tmp()),
    ).toThrow(/cannot read token file/);
  });
});

describe('exec credential plugins', () => {
  // A plugin script that counts its runs and prints an ExecCredential (or garbage).
  function plugin(body: string): { dir: string; runs: () => number } {
    const dir = tmp();
    const script = join(dir, 'plugin.sh');
    writeFileSync(script, `#!/bin/sh\necho run >> "${join(dir, 'runs')}"\n${body}\n`, { mode: 0o755 });
    return {
      dir,
      runs: () => {
        try {
          return readFileSync(join(dir, 'runs'), 'utf8').split('\n').filter(Boolean).length;
        } catch {
          return 0;
        }
      },
    };
  }
  const execUser = (dir: string, extra = '') =>
    `{exec: {apiVersion: client.authentication.k8s.io/v1, command: ${join(dir, 'plugin.sh')}, args: [a], env: [{name: TOKEN_SUFFIX, value: "-x"}]${extra}}}`;

  it('uses the token the command prints, with KUBERNETES_EXEC_INFO and the env it names, cached until it expires', () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const p = plugin(
      `test -n "$KUBERNETES_EXEC_INFO" || exit 3\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok'$TOKEN_SUFFIX'","expirationTimestamp":"${later}"}}'`,
    );
    const a = parseKubeconfig(config(execUser(p.dir)), { baseDir: '/' });
    expect(a.authorization()).toBe('Bearer tok-x');
    expect(a.authorization()).toBe('Bearer tok-x');
    expect(p.runs()).toBe(1);
  });

  it('runs the command again once the credential expired; a client certificate goes into TLS', () => {
    const p = plugin(
      `echo '{"kind":"ExecCredential","status":{"clientCertificateData":"CERT","clientKeyData":"KEY","expirationTimestamp":"2000-01-01T00:00:00Z"}}'`,
    );
    const a = parseKubeconfig(config(execUser(p.dir)), { baseDir: '/' });
    expect(a.authorization()).toBeUndefined();
    expect(a.tls()).toMatchObject({ cert: 'CERT', key: 'KEY' });
    expect(p.runs()).toBeGreaterThanOrEqual(2);
  });

  it('a failing command or one that prints no credential is a clear error', () => {
    const bad = plugin('exit 1');
    expect(() => parseKubeconfig(config(execUser(bad.dir)), { baseDir: '/' }).authorization()).toThrow(
      /exec plugin .* failed/,
    );
    const garbled = plugin("echo 'not json'");
    expect(() => parseKubeconfig(config(execUser(garbled.dir)), { baseDir: '/' }).authorization()).toThrow(
      /printed no ExecCredential/,
    );
    const empty = plugin(`echo '{"status":{}}'`);
    expect(() => parseKubeconfig(config(execUser(empty.dir)), { baseDir: '/' }).authorization()).toThrow(
      /neither a token nor a client certificate/,
    );
  });
});

describe('loadKubeAccess order', () => {
  it('a named context needs a kubeconfig; context names are listed from the same file', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'a'), config('token: t'));
    expect(loadKubeAccess(join(dir, 'a'), {}, { context: 'ctx-other' }).server).toBe('https://other.example');
    expect(kubeconfigContexts(join(dir, 'a'), {})).toEqual(['ctx-other', 'ctx-main']);
    expect(kubeconfigContexts(undefined, { KUBECONFIG: '/nope' }, { home: tmp() })).toEqual([]);
    expect(() =>
      loadKubeAccess(undefined, { KUBECONFIG: '/nope' }, { home: tmp(), context: 'ctx-main' }),
    ).toThrow(/no kubeconfig file was found/);
  });

  it('explicit file, else the first existing $KUBECONFIG entry, else ~/.kube/config, else in-cluster', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'a'), config('token: from-a'));
    const home = tmp();
    mkdirSync(join(home, '.kube'));
    writeFileSync(join(home, '.kube/config'), config('token: from-home'));
    const sa = tmp();
    writeFileSync(join(sa, 'token'), 'from-sa');
    const inCluster = { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '443' };
    const load = (file: string | undefined, env: NodeJS.ProcessEnv, h = home) =>
      loadKubeAccess(file, env, { home: h, serviceAccountDir: sa }).authorization();
    expect(load(join(dir, 'a'), { KUBECONFIG: '/nope' })).toBe('Bearer from-a');
    expect(load(undefined, { KUBECONFIG: `/nope:${join(dir, 'a')}` })).toBe('Bearer from-a');
    expect(load(undefined, { KUBECONFIG: '/nope' })).toBe('Bearer from-home');
    expect(load(undefined, inCluster, tmp())).toBe('Bearer from-sa');
  });
});

describe('RestKubeClient over TLS with a loaded kubeconfig', () => {
  let pki: TestPki;
  let server: Server;
  let port: number;
  const seen: Array<{ auth?: string; clientCn?: string }> = [];

  beforeAll(async () => {
    pki = makeTestPki();
    server = createServer(
      {
        key: pki.pem('server.key'),
        cert: pki.pem('server.crt'),
        ca: pki.pem('ca.crt'),
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        seen.push({
          ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
          ...(peer?.subject?.CN ? { clientCn: String(peer.subject.CN) } : {}),
        });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"metadata":{"name":"p"}}');
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('verifies the server against the CA file and presents the client certificate', async () => {
    const dir = tmp();
    writeFileSync(
      join(dir, 'config'),
      config(
        `{client-certificate: ${pki.path('client.crt')}, client-key: ${pki.path('client.key')}}`,
        `server: https://127.0.0.1:${port}\n    certificate-authority-data: ${b64(pki.pem('ca.crt'))}`,
      ),
    );
    const kube = createKubeClient(loadKubeconfigFile(join(dir, 'config')));
    try {
      await expect(kube.get(Resources.pods, 'ns', 'p')).resolves.toMatchObject({ metadata: { name: 'p' } });
    } finally {
      await kube.close();
    }
    expect(seen.at(-1)!.clientCn).toBe('capture-drain-operator');
    expect(seen.at(-1)!.auth).toBeUndefined();
  });

  it('refuses a server its CA does not vouch for, and sends the in-cluster token', async () => {
    const sa = tmp();
    writeFileSync(join(sa, 'token'), 'sa-token');
    writeFileSync(join(sa, 'ca.crt'), pki.pem('ca.crt'));
    const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(port) };
    const good = createKubeClient(loadInCluster(env, sa));
    try {
      await good.get(Resources.pods, 'ns', 'p');
    } finally {
      await good.close();
    }
    expect(seen.at(-1)!.auth).toBe('Bearer sa-token');
    const wrongCa = parseKubeconfig(
      config(
        'token: t',
        `server: https://127.0.0.1:${port}\n    certificate-authority-data: ${b64(pki.pem('client.crt'))}`,
      ),
      { baseDir: '/' },
    );
    const bad = createKubeClient(wrongCa);
    try {
      await expect(bad.get(Resources.pods, 'ns', 'p')).rejects.toThrow();
    } finally {
      await bad.close();
    }
  });
});
