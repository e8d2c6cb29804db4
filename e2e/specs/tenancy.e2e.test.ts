// Confused deputy on the real control plane: a tenant allowed only to create CaptureDrains (a Role
// with just that verb, used by impersonating its ServiceAccount) tries to make the operator, which
// runs as the chart's ServiceAccount with the chart's RBAC, leak a Secret it cannot read, delete a pod
// it cannot delete, and anyone who reaches the webhook port POSTs forged AdmissionReviews to it.
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { eventually } from '../harness/cluster.js';
import type { OperatorProcess } from '../harness/operator.js';
import {
  GATE_PATH,
  applyGateWebhook,
  caBundles,
  freePort,
  gateOperatorArgs,
  removeGateWebhook,
} from '../harness/webhook.js';
import { deployTicdc, type TicdcWorkload } from '../harness/workload.js';
import { captureDrain, cluster, drainStatus, operatorFor, podUid, waitForDrain } from './support/suite.js';
import { podDrainName } from '../../operator/src/drain/contract.js';

const NS = 'e2e-tenancy';
const OPERATOR_NS = 'e2e-tenancy-op';
const OTHER_NS = 'e2e-tenancy-other';
const TENANT = `system:serviceaccount:${NS}:tenant`;
const PASSWORD = 'db-admin-s3cret';
const c = cluster();
let ticdc: TicdcWorkload;
let operator: OperatorProcess;
let port: number;

/** An HTTP listener on loopback that records every request it gets (and answers an empty list). */
class Listener {
  readonly requests: { method: string; url: string; authorization?: string }[] = [];
  private server: Server | undefined;
  url = '';
  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }
  /** Requests that carried the db-admin Secret's credentials (basic auth or anywhere in the URL). */
  leaked(): unknown[] {
    return this.requests.filter(
      (r) =>
        (r.authorization?.startsWith('Basic ') &&
          Buffer.from(r.authorization.slice(6), 'base64').toString().includes(PASSWORD)) ||
        r.authorization?.includes(PASSWORD) ||
        r.url.includes(PASSWORD),
    );
  }
  stop = () => new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
}

let attacker: Listener;
let allowed: Listener;

/** Creates an object as the tenant (impersonated): only `create capturedrains` is granted. */
const asTenant = (manifest: string) => c.kubectl(['create', '-f', '-', '--as', TENANT], { input: manifest });

async function createAsTenant(name: string, spec: Record<string, unknown>) {
  const r = await asTenant(captureDrain(NS, name, spec));
  expect(r).toMatchObject({ code: 0 });
}

const drainNames = async (ns: string) =>
  (
    await c.getJson<{ items: { metadata: { name: string } }[] }>(['get', 'capturedrains', '-n', ns])
  ).items.map((d) => d.metadata.name);

interface PodJson {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    ownerReferences?: unknown[];
  };
  status?: { phase?: string };
}

async function podJson(ns: string, name: string): Promise<PodJson> {
  return c.getJson<PodJson>(['get', 'pod', name, '-n', ns]);
}

/** A bare pod on the kwok nodes, as a database would be (no managed label, no StatefulSet). */
async function createBarePod(ns: string, name: string, labels: Record<string, string>) {
  await c.kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: ns, labels },
      spec: { terminationGracePeriodSeconds: 2, containers: [{ name: 'db', image: 'postgres:17' }] },
    }),
  });
  await eventually(
    `${ns}/${name} running`,
    async () => (await podJson(ns, name)).status?.phase === 'Running',
    { timeoutMs: 60_000 },
  );
}

beforeAll(async () => {
  attacker = await new Listener().start();
  allowed = await new Listener().start();
  port = await freePort();
  ticdc = await deployTicdc(c, { namespace: NS, replicas: 3, sim: { seed: 31, moveRatePerSec: 3 } });
  // The tenant: may create CaptureDrains in NS, nothing else.
  await c.kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'tenant', namespace: NS } },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'Role',
          metadata: { name: 'capturedrain-creator', namespace: NS },
          rules: [{ apiGroups: ['drain.ticdc.io'], resources: ['capturedrains'], verbs: ['create'] }],
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'tenant', namespace: NS },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'capturedrain-creator' },
          subjects: [{ kind: 'ServiceAccount', name: 'tenant', namespace: NS }],
        },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'db-admin', namespace: NS },
          stringData: { username: 'root', password: PASSWORD },
        },
      ],
    }),
  });
  await c.kubectl(['create', 'namespace', OTHER_NS]);
  const { start } = await operatorFor(c, OPERATOR_NS, [
    ...gateOperatorArgs(port),
    '--namespaces',
    NS,
    // One TiCDC cluster: the operator's default endpoint is the one the StatefulSet names.
    '--default-endpoint',
    ticdc.sim.url,
  ]);
  // The allow-list by environment, so the same suite starts the operator of older builds too.
  operator = start({ env: { ALLOWED_ENDPOINTS: new URL(allowed.url).host } });
  await applyGateWebhook(c, { releaseNamespace: OPERATOR_NS, port, namespaces: [NS] });
  await eventually('caBundle published by the operator', async () => (await caBundles(c)).every(Boolean), {
    timeoutMs: 30_000,
  });
}, 240_000);

afterAll(async () => {
  await removeGateWebhook(c);
  await operator?.stop();
  await ticdc?.sim.stop();
  await attacker?.stop();
  await allowed?.stop();
  for (const ns of [NS, OPERATOR_NS, OTHER_NS]) await c.kubectl(['delete', 'namespace', ns, '--wait=false']);
});

const can = async (...args: string[]) =>
  (await c.kubectl(['auth', 'can-i', ...args, '--as', TENANT])).stdout.trim();

describe('a tenant who may only create CaptureDrains', () => {
  test('has exactly that right', async () => {
    expect(await can('create', 'capturedrains.drain.ticdc.io', '-n', NS)).toBe('yes');
    expect(await can('get', 'secrets', '-n', NS)).toBe('no');
    expect(await can('delete', 'pods', '-n', NS)).toBe('no');
    expect(await can('get', 'capturedrains.drain.ticdc.io', '-n', NS)).toBe('no');
  }, 240_000);

  test('case 9: cannot have a Secret it cannot read sent to its own listener', async () => {
    const pod = ticdc.sim.captures().find((x) => !x.isOwner)!.podName!;
    await createAsTenant('exfil', {
      podName: pod,
      cluster: { endpoint: attacker.url, credentialsSecretRef: { name: 'db-admin' } },
    });
    // Towards an endpoint the operator allows, a Secret the StatefulSet does not name is refused too.
    await createAsTenant('borrow', {
      podName: pod,
      cluster: { endpoint: allowed.url, credentialsSecretRef: { name: 'db-admin' } },
    });
    // Until both are refused, or the operator talked to a listener: a request there is the failure.
    const refused = async () =>
      (await drainStatus(c, NS, 'exfil')).phase === 'Failed' &&
      (await drainStatus(c, NS, 'borrow')).phase === 'Failed';
    await eventually(
      'both drains refused, or a request at a listener',
      async () => attacker.requests.length > 0 || allowed.requests.length > 0 || (await refused()),
      { timeoutMs: 60_000 },
    );
    await new Promise((r) => setTimeout(r, 3000));
    expect(attacker.leaked()).toEqual([]);
    expect(allowed.leaked()).toEqual([]);
    expect(attacker.requests).toEqual([]);
    const exfil = await drainStatus(c, NS, 'exfil');
    expect(exfil).toMatchObject({ phase: 'Failed', reason: 'Configuration' });
    expect(exfil.message).toContain(`spec.cluster.endpoint "${attacker.url}" is not allowed`);
    const borrow = await drainStatus(c, NS, 'borrow');
    expect(borrow).toMatchObject({ phase: 'Failed', reason: 'Configuration' });
    expect(borrow.message).toContain('spec.cluster.credentialsSecretRef names Secret "db-admin"');
    expect(allowed.leaked()).toEqual([]);

    // Control: the allowed listener does get the operator's requests (without any credentials), so
    // the listeners above would have seen a request had one been sent.
    await createAsTenant('allowed', { podName: pod, cluster: { endpoint: allowed.url } });
    await eventually('a request at the allowed endpoint', async () => allowed.requests.length > 0, {
      timeoutMs: 30_000,
    });
    expect(allowed.leaked()).toEqual([]);
    expect(allowed.requests.every((r) => !r.authorization)).toBe(true);
    await c.kubectlOk(['delete', 'capturedrain', 'allowed', '-n', NS]);
    expect(attacker.requests).toEqual([]);
    expect(await podUid(c, NS, pod)).toBeDefined();
    expect(ticdc.sim.violations()).toEqual([]);
  }, 240_000);

  test('case 10: cannot have an unrelated pod drained and deleted', async () => {
    await createBarePod(NS, 'victim', { app: 'database' });
    // Labelled "managed" by its creator, but no managed StatefulSet controls it.
    await createBarePod(NS, 'impostor', { app: 'database', 'drain.ticdc.io/managed': 'true' });
    const victimUid = await podUid(c, NS, 'victim');
    const impostorUid = await podUid(c, NS, 'impostor');
    const spec = { podAction: 'Delete', onTimeout: 'Release', timeout: '6s', stallTimeout: '3s' };
    await createAsTenant('victim', { ...spec, podName: 'victim' });
    await createAsTenant('impostor', { ...spec, podName: 'impostor' });
    const terminal = (s: { phase?: string }) => s.phase === 'Failed' || s.phase === 'Completed';
    const v = await waitForDrain(c, NS, 'victim', terminal);
    // Well past the timeout: still the same pod.
    await new Promise((r) => setTimeout(r, 8000));
    expect(await podUid(c, NS, 'victim')).toBe(victimUid);
    expect(v).toMatchObject({ phase: 'Failed', reason: 'NotACapturePod' });
    expect(v.message).toContain(`pod ${NS}/victim is not a managed capture pod`);
    const i = await waitForDrain(c, NS, 'impostor', terminal);
    expect(await podUid(c, NS, 'impostor')).toBe(impostorUid);
    expect(i).toMatchObject({ phase: 'Failed', reason: 'NotACapturePod' });
    expect(i.message).toContain(`pod ${NS}/impostor is not controlled by a StatefulSet`);
    expect(ticdc.sim.violations()).toEqual([]);
  }, 240_000);
});

/** POSTs an AdmissionReview straight to the operator's webhook port, as anyone in the network could. */
async function postReview(request: Record<string, unknown>): Promise<{
  status: number;
  response?: { allowed: boolean; status?: { code?: number; message?: string } };
}> {
  const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: GATE_PATH,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        rejectUnauthorized: false,
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => {
          try {
            const parsed = JSON.parse(text) as { response?: never };
            resolve({
              status: res.statusCode ?? 0,
              ...(parsed.response ? { response: parsed.response } : {}),
            });
          } catch {
            resolve({ status: res.statusCode ?? 0 });
          }
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let seq = 0;
function forgedDelete(pod: PodJson, username = 'alice') {
  return {
    uid: `forged-${++seq}`,
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    name: pod.metadata.name,
    namespace: pod.metadata.namespace,
    operation: 'DELETE',
    userInfo: { username },
    oldObject: pod,
    options: { apiVersion: 'meta.k8s.io/v1', kind: 'DeleteOptions' },
    dryRun: false,
  };
}

describe('case 11: forged AdmissionReviews POSTed straight to the webhook', () => {
  test('start no drain and delete nothing; each gets an explicit answer', async () => {
    const sts = await c.getJson<{ metadata: { uid: string } }>(['get', 'statefulset', 'ticdc', '-n', NS]);
    const owner = [
      { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'ticdc', uid: sts.metadata.uid, controller: true },
    ];
    const managed = { app: 'ticdc', 'drain.ticdc.io/managed': 'true' };
    const pods = (
      await c.getJson<{ items: PodJson[] }>(['get', 'pods', '-n', NS, '-l', 'app=ticdc'])
    ).items.map((p) => ({ name: p.metadata.name, uid: p.metadata.uid }));
    const target = ticdc.sim.captures().find((x) => !x.isOwner)!.podName!;
    const real = await podJson(NS, target);
    // A database pod of its own (the one of case 10 may be gone where that case fails).
    await createBarePod(NS, 'bystander', { app: 'database' });
    const victim = await podJson(NS, 'bystander');
    const drainsBefore = await drainNames(NS);
    const forged = (meta: Partial<PodJson['metadata']>): PodJson => ({
      ...real,
      metadata: { ...real.metadata, labels: managed, ownerReferences: owner, ...meta },
    });

    const answers = {
      // A capture pod that does not exist.
      ghost: await postReview(forgedDelete(forged({ name: 'ticdc-7', uid: 'ghost-uid' }))),
      // A live capture pod, but not the incarnation the review names.
      forgedUid: await postReview(forgedDelete(forged({ uid: 'forged-uid' }))),
      // The database pod (its real UID), dressed up as a capture pod of the StatefulSet.
      victim: await postReview(
        forgedDelete(forged({ name: 'bystander', uid: victim.metadata.uid, namespace: NS })),
      ),
      // A namespace the operator does not watch.
      unwatched: await postReview(
        forgedDelete(forged({ name: 'ticdc-0', namespace: OTHER_NS, uid: 'other-uid', ownerReferences: [] })),
      ),
    };
    // Nothing started, nothing deleted.
    await new Promise((r) => setTimeout(r, 5000));
    expect(await drainNames(NS)).toEqual(drainsBefore);
    expect(await drainNames(OTHER_NS)).toEqual([]);
    for (const p of pods) expect({ name: p.name, uid: await podUid(c, NS, p.name) }).toEqual(p);
    expect(await podUid(c, NS, 'bystander')).toBe(victim.metadata.uid);
    // Each got an explicit answer.
    expect(answers.ghost).toMatchObject({ status: 200, response: { allowed: true } });
    expect(answers.ghost.response!.status!.message).toContain(`pod ${NS}/ticdc-7 does not exist`);
    expect(answers.forgedUid).toMatchObject({
      status: 200,
      response: { allowed: false, status: { code: 403 } },
    });
    expect(answers.forgedUid.response!.status!.message).toContain('UID forged-uid) is not the live pod');
    expect(answers.victim).toMatchObject({ status: 200, response: { allowed: true } });
    expect(answers.unwatched).toMatchObject({ status: 200, response: { allowed: true } });
    expect(answers.unwatched.response!.status!.message).toContain(`namespace ${OTHER_NS} is not watched`);
    expect(ticdc.sim.violations()).toEqual([]);
  }, 240_000);

  test('control: a real kubectl delete through the API server still starts the drain, which completes', async () => {
    const pod = ticdc.sim.captures().find((x) => !x.isOwner)!.podName!;
    const uid = (await podUid(c, NS, pod))!;
    const r = await c.kubectl(['delete', 'pod', pod, '-n', NS, '--wait=false']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`capture pod ${NS}/${pod} must be drained first`);
    const s = await waitForDrain(
      c,
      NS,
      podDrainName(pod, uid),
      (x) => x.phase === 'Completed' || x.phase === 'Failed',
      150_000,
    );
    expect(s).toMatchObject({ phase: 'Completed', reason: 'Drained' });
    await eventually(`${pod} replaced`, async () => (await podUid(c, NS, pod)) !== uid, {
      timeoutMs: 60_000,
    });
    expect(ticdc.sim.violations()).toEqual([]);
  }, 240_000);
});
