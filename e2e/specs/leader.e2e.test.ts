// Leader election on the real control plane, with operator replicas running as the chart's
// ServiceAccount. Each replica reaches TiCDC through its own recording proxy (its --default-endpoint;
// the StatefulSet names no endpoint), so the TiCDC requests of each replica are known with their
// arrival times.
//  1. SIGKILL of the leader mid-drain: the standby takes the Lease and acts (TiCDC request, status
//     write) within 15 s of the kill, in several runs.
//  2. A leader frozen (SIGSTOP) with a TiCDC call in flight is deposed by a Lease takeover; when it
//     resumes it sends no TiCDC request and writes nothing, and exits.
//  3. Readiness: /readyz is green on a replica that does not hold the Lease (it serves the webhook);
//     /leaderz and capture_drain_leader_ready are green only on the leader once its caches synced.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { createKubeClient } from '../../operator/src/kube/client.js';
import { loadKubeconfigFile } from '../../operator/src/kube/kubeconfig.js';
import { LeaderElector, type Lease } from '../../operator/src/kube/leader.js';
import { PROBE_WRITE_MS } from '../../operator/src/drain/status-writes.js';
import { Resources, type KubeClient, type KubeObject } from '../../operator/src/kube/port.js';
import type { TicdcSimulator } from '../ticdc-sim/index.js';
import { eventually } from '../harness/cluster.js';
import type { OperatorProcess } from '../harness/operator.js';
import { RecordingProxy } from '../harness/recording-proxy.js';
import { startSimulatorForPods, statefulSetManifest, waitForCapturesWithWork } from '../harness/workload.js';
import { LOG_DIR, captureDrain, cluster, operatorFor, waitForDrain } from './support/suite.js';

const NS = 'e2e-leader';
const LEASE = 'capture-drain-operator';
const FAILOVER_BUDGET_MS = 15_000;
const c = cluster();
let sim: TicdcSimulator;
let kube: KubeClient & { close(): Promise<void> };
let startReplica: (name: string) => Promise<Replica>;
const replicas: Replica[] = [];
/** The replica leading after the failover test. */
let current: Replica | undefined;

interface Replica {
  name: string;
  proc: OperatorProcess;
  proxy: RecordingProxy;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A sleep that does not keep the test process alive (for races that may lose). */
const timeout = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());
const holder = async () => (await kube.get<Lease>(Resources.leases, NS, LEASE))?.spec?.holderIdentity ?? '';
const drainRV = async (name: string) =>
  (await kube.get<KubeObject>(Resources.capturedrains, NS, name))?.metadata.resourceVersion ?? '';
const logLines = (r: Replica) =>
  r.proc
    .logs()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { time: number; msg: string; action?: string });

beforeAll(async () => {
  sim = await startSimulatorForPods(c, {
    namespace: NS,
    selector: 'app=ticdc',
    peerService: 'ticdc-peer',
    sim: { moveRatePerSec: 1, seed: 13 },
  });
  await c.kubectl(['create', 'namespace', NS]);
  // No endpoint annotation: each replica uses its own --default-endpoint (its proxy).
  const manifest = JSON.parse(statefulSetManifest({ namespace: NS, replicas: 4, endpoint: 'unused' })) as {
    items: KubeObject[];
  };
  delete manifest.items[1]!.metadata.annotations!['drain.ticdc.io/endpoint'];
  await c.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
  await waitForCapturesWithWork(sim, 4);

  const { start } = await operatorFor(c, NS);
  startReplica = async (name) => {
    const proxy = await RecordingProxy.start(sim.url);
    const proc = start({ name, env: { POD_NAME: name }, extraArgs: ['--default-endpoint', proxy.url] });
    const r = { name, proc, proxy };
    replicas.push(r);
    return r;
  };
  kube = createKubeClient(loadKubeconfigFile(c.kubeconfig));
}, 180_000);

afterAll(async () => {
  for (const r of replicas) {
    r.proc.resume();
    await r.proc.stop(15_000);
    await r.proxy.close();
  }
  await sim?.stop();
  await kube?.close();
  await c.kubectl(['delete', 'namespace', NS, '--wait=false']);
});

/** A drain kept in Draining: TiCDC stops moving work, and every probe still writes status (lastProbeTime). */
async function stalledDrain(name: string): Promise<void> {
  if (await kube.get(Resources.capturedrains, NS, name)) return;
  const pod = sim
    .captures()
    .filter((x) => !x.isOwner)
    .map((x) => x.podName!)
    .sort()[0]!;
  sim.setFaults({ stall: true });
  await c.kubectlOk(['apply', '-f', '-'], {
    input: captureDrain(NS, name, { podName: pod, podAction: 'None' }),
  });
  await waitForDrain(c, NS, name, (s) => s.phase === 'Draining', 60_000);
}

describe('leader election with two replicas', () => {
  test('SIGKILL of the leader mid-drain: the standby acts within 15 s (several runs)', async () => {
    let leader = await startReplica('op-1');
    await eventually('op-1 leads', async () => (await holder()).startsWith('op-1_'), { timeoutMs: 30_000 });
    let standby = await startReplica('op-2');
    await stalledDrain('failover');
    await eventually('op-2 campaigning', async () => standby.proc.logs().includes('Attempting to acquire'), {
      timeoutMs: 30_000,
    });

    const runs: { lease: number; ticdc: number; status: number }[] = [];
    for (let run = 0; run < 3; run++) {
      // The leader is active: it probes TiCDC and writes status.
      const seen = leader.proxy.requests.length;
      await eventually('leader probing', async () => leader.proxy.requests.length > seen + 1, {
        timeoutMs: 20_000,
        intervalMs: 100,
      });
      await sleep(run * 450); // vary the kill's phase against the 1 s renew period
      const t0 = Date.now();
      await leader.proc.kill();
      const tLease = await eventually(
        `${standby.name} takes the Lease`,
        async () => ((await holder()).startsWith(`${standby.name}_`) ? Date.now() : undefined),
        { timeoutMs: 30_000, intervalMs: 50 },
      );
      const rvAtLease = await drainRV('failover');
      const tStatus = await eventually(
        'a status write by the new leader',
        async () => ((await drainRV('failover')) !== rvAtLease ? Date.now() : undefined),
        { timeoutMs: 30_000, intervalMs: 50 },
      );
      const first = standby.proxy.since(t0)[0]!;
      const r = { lease: tLease - t0, ticdc: first.at - t0, status: tStatus - t0 };
      runs.push(r);
      appendFileSync(
        join(LOG_DIR, 'failover.log'),
        `${new Date().toISOString()} run ${run + 1}: ${JSON.stringify(r)}\n`,
      );
      await leader.proxy.close();
      leader = standby;
      standby = await startReplica(`op-${run + 3}`);
      await eventually(
        'new standby campaigning',
        async () => standby.proc.logs().includes('Attempting to acquire'),
        {
          timeoutMs: 30_000,
        },
      );
    }
    console.log(`failover after SIGKILL (ms from the kill): ${JSON.stringify(runs)}`);
    for (const r of runs) {
      expect(r.ticdc).toBeLessThan(FAILOVER_BUDGET_MS);
      // A stalled drain shows users nothing new: the new leader writes its probe bookkeeping only
      // once the persisted one is PROBE_WRITE_MS old (status-writes.ts), so up to that much later.
      expect(r.status).toBeLessThan(FAILOVER_BUDGET_MS + PROBE_WRITE_MS);
    }
    // The next test wants one replica: the leader.
    await standby.proc.stop();
    current = leader;
  }, 240_000);

  test('a leader deposed while frozen with a TiCDC call in flight sends nothing and writes nothing after it resumes', async () => {
    // Runs on its own too (-t): then it starts its own leader and drain.
    if (!current) {
      current = await startReplica('op-solo');
      await stalledDrain('failover');
    }
    const leader = current;
    await eventually(`${leader.name} leads`, async () => (await holder()).startsWith(`${leader.name}_`), {
      timeoutMs: 40_000,
    });
    // Freeze it while one of its TiCDC requests is unanswered.
    leader.proxy.hold();
    await eventually('a TiCDC request in flight', async () => leader.proxy.heldCount > 0, {
      timeoutMs: 20_000,
      intervalMs: 20,
    });
    leader.proc.pause();
    await sleep(500);
    const rvFrozen = await drainRV('failover');

    // Another candidate (a real elector, in this process) takes the Lease once it expired.
    const intruder = new LeaderElector({
      client: kube,
      namespace: NS,
      name: LEASE,
      identity: 'e2e-intruder',
      leaseDurationMs: 10_000,
      renewDeadlineMs: 7_000,
      retryPeriodMs: 1_000,
      releaseOnCancel: false,
      onStartedLeading: () => undefined,
    });
    const stopIntruder = new AbortController();
    const intruding = intruder.run(stopIntruder.signal);
    await eventually('the intruder holds the Lease', async () => intruder.isLeader(), { timeoutMs: 30_000 });

    // The frozen leader's TiCDC answer is delivered, then it resumes.
    leader.proxy.release();
    await sleep(200);
    const tResume = Date.now();
    leader.proc.resume();
    const code = await Promise.race([
      leader.proc.exited,
      timeout(10_000).then(() => 'still running' as const),
    ]);
    await sleep(1000);

    const lines = logLines(leader);
    const lost = lines.find((l) => l.msg === 'Leader election lost');
    expect(lost).toBeDefined();
    expect(leader.proxy.since(tResume)).toEqual([]); // no TiCDC request after it resumed
    expect(await drainRV('failover')).toBe(rvFrozen); // no status write
    expect(lines.filter((l) => l.msg === 'Stepped drain' && l.time >= lost!.time)).toEqual([]);
    expect(code).toBe(1); // it steps down by exiting, as controller-runtime does
    stopIntruder.abort();
    await intruding;
  }, 120_000);

  test('/readyz is green on a standby; /leaderz and capture_drain_leader_ready only on the synced leader', async () => {
    // Someone else holds the Lease (the intruder of the previous test, or this one when run alone).
    const other = new LeaderElector({
      client: kube,
      namespace: NS,
      name: LEASE,
      identity: 'e2e-holder',
      leaseDurationMs: 10_000,
      renewDeadlineMs: 7_000,
      retryPeriodMs: 1_000,
      onStartedLeading: () => undefined,
    });
    const stopOther = new AbortController();
    const holding = other.run(stopOther.signal);
    await eventually('e2e-holder holds the Lease', async () => other.isLeader(), { timeoutMs: 30_000 });
    const r = await startReplica('op-ready');
    const port = await eventually(
      'op-ready listening',
      async () => Number(/"port":(\d+)[^\n]*"msg":"Operator starting"/.exec(r.proc.logs())?.[1]) || undefined,
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: res.status, body: await res.text() };
    };
    const leaderGauge = async () =>
      /^capture_drain_leader_ready (\d)$/m.exec((await get('/metrics')).body)?.[1];
    await eventually('op-ready campaigning', async () => r.proc.logs().includes('Attempting to acquire'), {
      timeoutMs: 30_000,
    });
    expect((await get('/readyz')).status).toBe(200);
    // "Attempting to acquire" is logged before the first read of the Lease: until that read the
    // standby knows no holder yet, so wait for it to name the holder.
    const standby = await eventually(
      'op-ready names the holder',
      async () => {
        const res = await get('/leaderz');
        return res.body.includes('lease held by e2e-holder') ? res : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(standby.status).toBe(500);
    expect(standby.body).toContain('[-]leader failed: standby (lease held by e2e-holder)');
    expect(await leaderGauge()).toBe('0');
    // The holder steps down (releases the Lease): op-ready leads and syncs its caches.
    stopOther.abort();
    await holding;
    await eventually('op-ready leader-ready', async () => (await get('/leaderz')).status === 200, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    expect(await holder()).toMatch(/^op-ready_/);
    expect(r.proc.logs()).toContain('Caches synced');
    expect((await get('/readyz')).status).toBe(200);
    expect(await leaderGauge()).toBe('1');
  }, 120_000);
});
