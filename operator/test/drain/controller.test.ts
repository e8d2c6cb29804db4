// The CaptureDrain controller, wired as in production (manager: informers, work queue, status
// patcher, events), over the in-memory Kubernetes fake, against the real TiCDC simulator whose
// captures follow the fake pods. The real-API-server path is covered by e2e/specs.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from '@jest/globals';
import { Registry } from 'prom-client';
import type { SimRequestRecord, TicdcSimulator } from '../../../e2e/ticdc-sim/index.js';
import type { CaptureDrainStatus } from '../../src/api/capturedrain.js';
import { SLOT_LEASE_PREFIX } from '../../src/drain/slot.js';
import { EventRecorder } from '../../src/kube/events.js';
import { Resources, type KubeObject } from '../../src/kube/port.js';
import { createManager } from '../../src/manager.js';
import { silentLogger } from '../../src/observability/logger.js';
import { FakeKube } from '../support/fake-kube.js';
import { startFakeKubeSimulator, testConfig } from '../support/operator-harness.js';
import { capturePod } from '../support/builders.js';

const NS = 'tidb';

// Only the drain controller: these pods are managed, but no rollout is wanted here.
const config = testConfig(NS, { rollouts: false });

interface Harness {
  kube: FakeKube;
  sim: TicdcSimulator;
  stop: () => Promise<void>;
  startOperator: () => void;
  stopOperator: () => Promise<void>;
  pod: (name: string) => Promise<KubeObject | undefined>;
  createDrain: (name: string, spec: Record<string, unknown>) => Promise<void>;
  status: (name: string) => Promise<CaptureDrainStatus>;
  waitFor: (
    name: string,
    pred: (s: CaptureDrainStatus) => boolean,
    timeoutMs?: number,
  ) => Promise<CaptureDrainStatus>;
}

let uid = 0;
/** The UID the API server gave the StatefulSet: the pods' controller reference names it. */
let stsUid = '';
function podObject(name: string, ordinal: number): KubeObject {
  return capturePod(name, {
    namespace: NS,
    uid: `pod-uid-${++uid}`,
    labels: { app: 'ticdc' },
    statefulSetUid: stsUid,
    spec: { subdomain: 'ticdc-peer', hostname: name, terminationGracePeriodSeconds: 0 },
    podIP: `10.244.0.${ordinal + 10}`,
  });
}

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.stop()));
});

async function harness(
  opts: {
    replicas?: number;
    moveRatePerSec?: number;
    annotations?: Record<string, string>;
    onRequest?: (r: SimRequestRecord) => void;
  } = {},
) {
  const kube = new FakeKube({ gracefulPodDeletion: false });
  const replicas = opts.replicas ?? 4;
  const sim = await startFakeKubeSimulator(kube, NS, {
    seed: 3,
    ...(opts.moveRatePerSec !== undefined ? { moveRatePerSec: opts.moveRatePerSec } : {}),
    ...(opts.onRequest ? { onRequest: opts.onRequest } : {}),
  });
  const sts = await kube.create<KubeObject>(Resources.statefulsets, {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name: 'ticdc',
      namespace: NS,
      labels: { 'drain.ticdc.io/managed': 'true' },
      annotations: { 'drain.ticdc.io/endpoint': sim.url, ...opts.annotations },
    },
    spec: { serviceName: 'ticdc-peer', replicas },
  });
  stsUid = sts.metadata.uid!;
  for (let i = 0; i < replicas; i++) await kube.create(Resources.pods, podObject(`ticdc-${i}`, i));
  await sim.waitFor((s) => s.captures.length === replicas);

  let run: { ac: AbortController; done: Promise<void> } | undefined;
  const h: Harness = {
    kube,
    sim,
    startOperator() {
      const events = new EventRecorder({
        client: kube,
        reportingController: 'test',
        reportingInstance: 'test',
      });
      const manager = createManager({
        config,
        kube,
        events,
        registry: new Registry(),
        logger: silentLogger(),
        resolveCaptureAddress: (a) => sim.captureUrl(a),
      });
      const ac = new AbortController();
      run = { ac, done: manager.run(ac.signal) };
    },
    async stopOperator() {
      run?.ac.abort();
      await run?.done;
      run = undefined;
    },
    async stop() {
      await h.stopOperator();
      await sim.stop();
    },
    pod: (name) => kube.get(Resources.pods, NS, name),
    async createDrain(name, spec) {
      await kube.create(Resources.capturedrains, {
        apiVersion: 'drain.ticdc.io/v1alpha1',
        kind: 'CaptureDrain',
        metadata: { name, namespace: NS },
        spec,
      });
    },
    async status(name) {
      const d = await kube.get<KubeObject & { status?: CaptureDrainStatus }>(
        Resources.capturedrains,
        NS,
        name,
      );
      return d?.status ?? {};
    },
    async waitFor(name, pred, timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const s = await h.status(name);
        if (pred(s)) return s;
        if (Date.now() > end) throw new Error(`timed out waiting on ${name}: ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
  harnesses.push(h);
  return h;
}

/** The StatefulSet controller's part: recreate a deleted pod under the same name. */
async function recreateWhenDeleted(h: Harness, name: string, ordinal: number) {
  for (let i = 0; i < 300; i++) {
    if (!(await h.pod(name))) {
      await h.kube.create(Resources.pods, podObject(name, ordinal));
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${name} was never deleted`);
}

describe('CaptureDrain controller', () => {
  test('podAction Delete: drains to zero, then deletes exactly the drained pod', async () => {
    const h = await harness();
    const target = h.sim.captures().find((c) => !c.isOwner)!;
    const podName = target.podName!;
    const before = await h.pod(podName);
    h.startOperator();
    await h.createDrain('d1', { podName, podAction: 'Delete' });
    const recreated = recreateWhenDeleted(h, podName, Number(podName.split('-')[1]));
    const s = await h.waitFor('d1', (st) => st.phase === 'Completed');
    await recreated;
    expect(s).toMatchObject({ reason: 'Drained', captureID: target.id, podUID: before!.metadata.uid });
    expect(s.remaining).toEqual({ tables: 0 });
    expect(s.initial!.tables).toBeGreaterThan(0);
    expect(h.sim.unintendedViolations()).toEqual([]);
    const deletes = h.kube.callsOf('delete').filter((c) => c.type?.includes('pods'));
    expect(deletes).toHaveLength(1);
    expect(deletes[0]!.opts).toMatchObject({ uid: before!.metadata.uid });
    // The replacement pod is a new capture and keeps running.
    await h.sim.waitFor((st) => st.captures.some((c) => c.podName === podName && c.id !== target.id));
    const conds = Object.fromEntries(s.conditions!.map((c) => [c.type, c.status]));
    expect(conds).toMatchObject({ Complete: 'True', Drained: 'True', Failed: 'False' });
    const events = (await h.kube.list(Resources.events, { namespace: NS })).items.map((e) => e.reason);
    expect(events).toEqual(expect.arrayContaining(['Started', 'DrainRequested', 'CountsZero', 'Drained']));
  });

  test('the start and the release each take one reconcile: no status write between, no second zero read', async () => {
    const log: string[] = [];
    const h = await harness({
      moveRatePerSec: 4,
      onRequest: (r) => {
        if (r.method === 'PUT' && r.path.endsWith('/captures/drain')) log.push('drain');
      },
    });
    h.sim.on((e) => {
      if (e.type === 'drain' && e.phase === 'completed') log.push('completed');
    });
    const target = h.sim.captures().find((c) => !c.isOwner)!;
    const podName = target.podName!;
    h.startOperator();
    await h.createDrain('one', { podName, podAction: 'Delete' });
    const recreated = recreateWhenDeleted(h, podName, Number(podName.split('-')[1]));
    await h.waitFor('one', (st) => st.phase === 'Completed');
    await recreated;
    // The poll that read the confirmed zero deleted the pod: no verifying request after it.
    const zeroAt = log.indexOf('completed');
    expect(zeroAt).toBeGreaterThan(0);
    expect(log.slice(zeroAt).filter((x) => x === 'drain')).toEqual(['drain']);
    const writes = h.kube
      .callsOf('patch')
      .filter((c) => c.subresource === 'status' && c.type?.includes('capturedrains') && c.name === 'one')
      .map((c) => (c.body as { status: CaptureDrainStatus }).status);
    // Discovery and the first drain request in one reconcile: the first write already shows Draining
    // with its counts; Releasing is written (before the deletion), then released.
    expect(writes[0]).toMatchObject({ phase: 'Draining' });
    expect(writes[0]!.remaining).toBeDefined();
    const releasing = writes.findIndex((w) => w.phase === 'Releasing');
    expect(writes[releasing + 1]).toMatchObject({ released: true });
    expect(h.kube.callsOf('delete').filter((c) => c.type?.includes('pods'))).toHaveLength(1);
  });

  test('the coordinator is resigned first', async () => {
    const h = await harness();
    const owner = h.sim.captures().find((c) => c.isOwner)!;
    h.startOperator();
    await h.createDrain('own', { podName: owner.podName, podAction: 'None' });
    const s = await h.waitFor('own', (st) => st.phase === 'Completed');
    expect(s).toMatchObject({ ownerResigned: true, reason: 'Drained' });
    expect(s.history!.map((x) => x.phase)).toContain('ResigningOwner');
    expect(h.sim.capture(owner.id)!.isOwner).toBe(false);
  });

  test('two drains of one cluster run one after the other', async () => {
    const h = await harness({ moveRatePerSec: 10 });
    const [a, b] = h.sim.captures().filter((c) => !c.isOwner);
    h.startOperator();
    await h.createDrain('first', { podName: a!.podName, podAction: 'Delete' });
    await h.waitFor('first', (st) => st.phase === 'Draining');
    await h.createDrain('second', { podName: b!.podName, podAction: 'Delete' });
    const queued = await h.waitFor('second', (st) => st.phase === 'Queued');
    expect(queued.message).toContain(`${NS}/first`);
    const recreateA = recreateWhenDeleted(h, a!.podName!, 1);
    await h.waitFor('first', (st) => st.phase === 'Completed');
    await recreateA;
    const recreateB = recreateWhenDeleted(h, b!.podName!, 2);
    const second = await h.waitFor('second', (st) => st.phase === 'Completed', 20_000);
    await recreateB;
    const first = await h.status('first');
    expect(Date.parse(second.startTime!)).toBeGreaterThanOrEqual(Date.parse(first.completionTime!) - 1000);
    expect(h.sim.unintendedViolations()).toEqual([]);
  });

  test('an operator restart mid-drain resumes from status and deletes the pod once', async () => {
    const h = await harness({ moveRatePerSec: 3 });
    const target = h.sim.captures().find((c) => !c.isOwner)!;
    h.startOperator();
    await h.createDrain('resume', { podName: target.podName, podAction: 'Delete' });
    await h.waitFor('resume', (st) => st.phase === 'Draining' && (st.remaining?.tables ?? 0) > 0);
    await h.stopOperator();
    const paused = await h.status('resume');
    expect(paused.phase).toBe('Draining');
    h.startOperator();
    const recreated = recreateWhenDeleted(h, target.podName!, 1);
    const s = await h.waitFor('resume', (st) => st.phase === 'Completed', 20_000);
    await recreated;
    expect(s.reason).toBe('Drained');
    expect(h.kube.callsOf('delete').filter((c) => c.type?.includes('pods'))).toHaveLength(1);
    expect(h.sim.unintendedViolations()).toEqual([]);
  });

  test('timeout with Hold keeps the pod; Release deletes it', async () => {
    const h = await harness({ moveRatePerSec: 0.2 });
    const [a, b] = h.sim.captures().filter((c) => !c.isOwner);
    h.sim.setFaults({ stall: true });
    h.startOperator();
    await h.createDrain('hold', {
      podName: a!.podName,
      podAction: 'Delete',
      timeout: '1s',
      onTimeout: 'Hold',
    });
    const held = await h.waitFor('hold', (st) => st.phase === 'Failed');
    expect(held.reason).toBe('TimedOut');
    expect((await h.pod(a!.podName!))?.metadata.uid).toBe(held.podUID);
    // The held capture stays in its TiCDC drain session; free the cluster for the next drain.
    await h.kube.delete(Resources.pods, NS, a!.podName!);
    await h.createDrain('release', {
      podName: b!.podName,
      podAction: 'Delete',
      timeout: '1s',
      onTimeout: 'Release',
    });
    const released = await h.waitFor('release', (st) => st.phase === 'Completed', 20_000);
    expect(released.reason).toBe('TimedOut');
    expect(await h.pod(b!.podName!)).toBeUndefined();
  });

  test('a drain without a reachable endpoint fails with a readable reason', async () => {
    const h = await harness({ annotations: { 'drain.ticdc.io/timeout': 'soon' } });
    h.startOperator();
    await h.createDrain('bad', { podName: 'ticdc-1' });
    const s = await h.waitFor('bad', (st) => st.phase === 'Failed');
    expect(s.reason).toBe('Configuration');
    expect(s.message).toMatch(/drain.ticdc.io\/timeout: invalid duration "soon"/);
  });

  test('confused deputy: a spec endpoint and a Secret the creator cannot read are refused before any request', async () => {
    const h = await harness();
    const seen: { url?: string; authorization?: string }[] = [];
    const listener = createServer((req, res) => {
      seen.push({
        ...(req.url ? { url: req.url } : {}),
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    try {
      const endpoint = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
      await h.kube.create(Resources.secrets, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'db-admin', namespace: NS },
        data: { username: btoa('root'), password: btoa('s3cret') },
      });
      h.startOperator();
      await h.createDrain('exfil', {
        podName: 'ticdc-1',
        cluster: { endpoint, credentialsSecretRef: { name: 'db-admin' } },
      });
      // The StatefulSet's own endpoint, with a Secret it does not name: refused too.
      await h.createDrain('borrow', {
        podName: 'ticdc-2',
        cluster: { credentialsSecretRef: { name: 'db-admin' } },
      });
      const exfil = await h.waitFor('exfil', (st) => st.phase === 'Failed');
      const borrow = await h.waitFor('borrow', (st) => st.phase === 'Failed');
      expect(exfil.reason).toBe('Configuration');
      expect(exfil.message).toMatch(/spec.cluster.endpoint .* is not allowed/);
      expect(borrow.reason).toBe('Configuration');
      expect(borrow.message).toMatch(/credentialsSecretRef names Secret "db-admin"/);
      expect(seen).toEqual([]);
      expect(h.kube.callsOf('get').filter((c) => c.type?.includes('secrets'))).toEqual([]);
    } finally {
      listener.close();
    }
  });

  test('confused deputy: a drain of a pod that is not a managed capture pod never touches it', async () => {
    const h = await harness();
    const victim = await h.kube.create<KubeObject>(
      Resources.pods,
      capturePod('victim', { namespace: NS, managed: false, statefulSet: null, podIP: '10.244.1.1' }),
    );
    // Labelled "managed" by whoever made it, but no managed StatefulSet controls it.
    const impostor = await h.kube.create<KubeObject>(
      Resources.pods,
      capturePod('impostor', { namespace: NS, statefulSet: null, podIP: '10.244.1.2' }),
    );
    h.startOperator();
    const spec = { podAction: 'Delete', onTimeout: 'Release', timeout: '2s', stallTimeout: '1s' };
    await h.createDrain('victim', { ...spec, podName: 'victim' });
    await h.createDrain('impostor', { ...spec, podName: 'impostor' });
    const a = await h.waitFor('victim', (st) => st.phase === 'Failed');
    const b = await h.waitFor('impostor', (st) => st.phase === 'Failed');
    expect(a).toMatchObject({ reason: 'NotACapturePod' });
    expect(a.message).toMatch(/pod tidb\/victim is not a managed capture pod/);
    expect(b).toMatchObject({ reason: 'NotACapturePod' });
    expect(b.message).toMatch(/pod tidb\/impostor is not controlled by a StatefulSet/);
    expect(a.startTime).toBeUndefined();
    await new Promise((r) => setTimeout(r, 2500));
    expect((await h.pod('victim'))?.metadata.uid).toBe(victim.metadata.uid);
    expect((await h.pod('impostor'))?.metadata.uid).toBe(impostor.metadata.uid);
    expect(h.kube.callsOf('delete').filter((c) => c.type?.includes('pods'))).toEqual([]);
    expect(h.sim.unintendedViolations()).toEqual([]);
  });

  test('a drain for a pod that does not exist fails with PodNotFound', async () => {
    const h = await harness();
    h.startOperator();
    await h.createDrain('ghost', { podName: 'ticdc-9' });
    const s = await h.waitFor('ghost', (st) => st.phase === 'Failed');
    expect(s.reason).toBe('PodNotFound');
  });
});

describe('CaptureDrain controller: verdicts', () => {
  test('a CaptureDrain deleted mid-drain is recorded on the StatefulSet, then its finalizer goes', async () => {
    const h = await harness({ moveRatePerSec: 0.5 });
    const target = h.sim.captures().find((c) => !c.isOwner)!;
    h.startOperator();
    await h.createDrain('gone', { podName: target.podName, podAction: 'None' });
    await h.waitFor('gone', (st) => st.phase === 'Draining');
    const live = await h.kube.get(Resources.capturedrains, NS, 'gone');
    expect(live!.metadata.finalizers).toContain('drain.ticdc.io/record-abandoned-drain');
    await h.kube.delete(Resources.capturedrains, NS, 'gone');
    for (let i = 0; i < 100 && (await h.kube.get(Resources.capturedrains, NS, 'gone')); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(await h.kube.get(Resources.capturedrains, NS, 'gone')).toBeUndefined();
    const events = (await h.kube.list(Resources.events, { namespace: NS })).items as (KubeObject & {
      reason?: string;
      note?: string;
      message?: string;
      regarding?: { kind?: string; name?: string };
      involvedObject?: { kind?: string; name?: string };
    })[];
    const abandoned = events.find((e) => e.reason === 'DrainAbandoned');
    expect(abandoned).toBeDefined();
    const about = abandoned!.regarding ?? abandoned!.involvedObject;
    expect(about).toMatchObject({ kind: 'StatefulSet', name: 'ticdc' });
    expect(abandoned!.note ?? abandoned!.message).toContain(target.id);
    expect(abandoned!.note ?? abandoned!.message).toContain(`restart pod ${target.podName}`);
  });

  test("the finalizer write goes out alongside the slot claim's, both before the first TiCDC request", async () => {
    const ticdcRequests: number[] = [];
    const h = await harness({ onRequest: (r) => ticdcRequests.push(r.at) });
    const target = h.sim.captures().find((c) => !c.isOwner)!;
    // The API server answers the finalizer write slowly (as when many drains start at once).
    const log: string[] = [];
    const patch = h.kube.patch.bind(h.kube);
    h.kube.patch = (async (...args: Parameters<typeof patch>) => {
      const finalizer = args[0] === Resources.capturedrains && JSON.stringify(args[3]).includes('finalizers');
      if (!finalizer) return patch(...args);
      log.push('finalizer:start');
      await new Promise((r) => setTimeout(r, 300));
      const out = await patch(...args);
      log.push(`finalizer:done@${Date.now()}`);
      return out;
    }) as typeof patch;
    const get = h.kube.get.bind(h.kube);
    h.kube.get = (async (...args: Parameters<typeof get>) => {
      if (args[0] === Resources.leases && args[2].startsWith(SLOT_LEASE_PREFIX)) log.push('claim');
      return get(...args);
    }) as typeof get;
    h.startOperator();
    await h.createDrain('both', { podName: target.podName, podAction: 'None' });
    await h.waitFor('both', (st) => st.phase === 'Draining');
    const started = log.indexOf('finalizer:start');
    expect(started).toBeGreaterThanOrEqual(0);
    // The slot claim did not wait for the finalizer write to come back...
    expect(log.indexOf('claim')).toBeGreaterThan(started);
    expect(log.indexOf('claim')).toBeLessThan(log.findIndex((l) => l.startsWith('finalizer:done')));
    // ...and no TiCDC request went out before it did.
    const done = Number(log.find((l) => l.startsWith('finalizer:done'))!.split('@')[1]);
    expect(Math.min(...ticdcRequests)).toBeGreaterThanOrEqual(done);
  });

  test('a finished drain carries no finalizer (deletion, also of the namespace, never waits on it)', async () => {
    const h = await harness();
    const target = h.sim.captures().find((c) => !c.isOwner)!;
    h.startOperator();
    await h.createDrain('done', { podName: target.podName, podAction: 'None' });
    await h.waitFor('done', (st) => st.phase === 'Completed');
    for (let i = 0; i < 40; i++) {
      const d = await h.kube.get(Resources.capturedrains, NS, 'done');
      if (!d!.metadata.finalizers?.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await h.kube.get(Resources.capturedrains, NS, 'done'))!.metadata.finalizers ?? []).toEqual([]);
  });

  test('a status hand-patched to Drained mid-drain never deletes a pod holding work', async () => {
    const h = await harness({ moveRatePerSec: 0.3 });
    const target = h.sim.captures().find((c) => !c.isOwner)!;
    h.startOperator();
    await h.createDrain('forged', { podName: target.podName, podAction: 'Delete' });
    const draining = await h.waitFor(
      'forged',
      (st) => st.phase === 'Draining' && (st.remaining?.tables ?? 0) > 1,
    );
    const cur = await h.kube.get<KubeObject & { status?: CaptureDrainStatus }>(
      Resources.capturedrains,
      NS,
      'forged',
    );
    await h.kube.replace(
      Resources.capturedrains,
      { ...cur!, status: { ...draining, phase: 'Drained', reason: 'CountsZero', remaining: { tables: 0 } } },
      { subresource: 'status' },
    );
    const back = await h.waitFor('forged', (st) => st.reason === 'DrainNotConfirmed', 15_000);
    expect(back.phase).toBe('Draining');
    const deletes = h.kube.callsOf('delete').filter((c) => c.type?.includes('pods'));
    expect(deletes).toHaveLength(0);
    expect((await h.pod(target.podName!))!.metadata.uid).toBe(draining.podUID);
  });

  test('a drain whose Secret is missing fails Configuration and never holds the queue', async () => {
    const h = await harness();
    const [a, b] = h.sim.captures().filter((c) => !c.isOwner);
    h.startOperator();
    await h.createDrain('nosecret', {
      podName: a!.podName,
      stallTimeout: '3s',
      timeout: '1m',
      cluster: { endpoint: h.sim.url, credentialsSecretRef: { name: 'missing-creds' } },
    });
    await h.waitFor('nosecret', (st) => !!st.lastError);
    await h.createDrain('next', { podName: b!.podName, podAction: 'None', cluster: { endpoint: h.sim.url } });
    await h.waitFor('next', (st) => st.phase === 'Completed', 20_000);
    const failed = await h.waitFor('nosecret', (st) => st.phase === 'Failed', 10_000);
    expect(failed.reason).toBe('Configuration');
    expect(failed.message).toContain('missing-creds');
    // Backed off, not a hot loop: a handful of status writes, not hundreds.
    const writes = h.kube
      .callsOf('patch')
      .filter((c) => c.type?.includes('capturedrains') && c.name === 'nosecret').length;
    expect(writes).toBeLessThan(15);
  });

  test('a drain whose Secret is missing, queued behind a running drain, fails Configuration within stallTimeout', async () => {
    const h = await harness({ moveRatePerSec: 0.5 });
    const [a, b] = h.sim.captures().filter((c) => !c.isOwner);
    h.startOperator();
    await h.createDrain('running', {
      podName: b!.podName,
      podAction: 'None',
      cluster: { endpoint: h.sim.url },
    });
    await h.waitFor('running', (st) => st.phase === 'Draining');
    const t0 = Date.now();
    await h.createDrain('nosecret', {
      podName: a!.podName,
      stallTimeout: '3s',
      timeout: '1m',
      cluster: { endpoint: h.sim.url, credentialsSecretRef: { name: 'missing-creds' } },
    });
    const failed = await h.waitFor('nosecret', (st) => st.phase === 'Failed', 10_000);
    expect(Date.now() - t0).toBeLessThan(3_000 + 1_500);
    expect(failed).toMatchObject({ reason: 'Configuration' });
    expect(failed.message).toContain('missing-creds');
    expect(failed.startTime).toBeUndefined();
    // It never waited for its turn: the running drain is still going.
    expect(
      (await h.kube.get<KubeObject & { status?: CaptureDrainStatus }>(
        Resources.capturedrains,
        NS,
        'running',
      ))!.status!.phase,
    ).not.toBe('Completed');
  });
});
