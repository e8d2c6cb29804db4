// The pod-termination gate on the real control plane: the operator runs on the host with its
// webhook on 127.0.0.1 (operator cert mode: it issues the certificate and fills the caBundle of the
// chart-rendered ValidatingWebhookConfiguration), the StatefulSet controller, the garbage collector,
// the namespace controller and kubectl drain are the real ones, the simulator plays TiCDC and
// records every capture that left while it still held work.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { eventually } from '../harness/cluster.js';
import type { OperatorProcess } from '../harness/operator.js';
import {
  WEBHOOK_SECRET,
  applyGateWebhook,
  caBundles,
  freePort,
  gateOperatorArgs,
  operatorMetric,
  removeGateWebhook,
} from '../harness/webhook.js';
import { installTicdcChart, type TicdcRelease } from '../harness/ticdc-chart.js';
import { deployTicdc, type TicdcWorkload } from '../harness/workload.js';
import { cluster, operatorFor, podUid, waitForDrain } from './support/suite.js';
import { podDrainName } from '../../operator/src/drain/contract.js';

const NS = 'e2e-gate';
const NS_DELETED = 'e2e-gate-nsdel';
const NS_HELM = 'e2e-gate-helm';
const OPERATOR_NS = 'e2e-gate-op';
const c = cluster();
let ticdc: TicdcWorkload;
let doomed: TicdcWorkload | undefined;
let released: TicdcRelease | undefined;
let operator: OperatorProcess;
let port: number;

interface PodView {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
}

const UNPROTECTED = 'capture_drain_webhook_unprotected_total';

beforeAll(async () => {
  port = await freePort();
  const { start } = await operatorFor(c, OPERATOR_NS, [
    ...gateOperatorArgs(port),
    '--namespaces',
    `${NS},${NS_DELETED},${NS_HELM}`,
  ]);
  operator = start();
  await applyGateWebhook(c, { releaseNamespace: OPERATOR_NS, port, namespaces: [NS, NS_DELETED, NS_HELM] });
  await eventually('caBundle published by the operator', async () => (await caBundles(c)).every(Boolean), {
    timeoutMs: 30_000,
  });
  ticdc = await deployTicdc(c, { namespace: NS, replicas: 4, sim: { seed: 23 } });
}, 180_000);

afterAll(async () => {
  await removeGateWebhook(c);
  await operator?.stop();
  await ticdc?.sim.stop();
  await doomed?.sim.stop();
  await released?.sim.stop();
  for (const ns of [NS, OPERATOR_NS, NS_DELETED, NS_HELM])
    await c.kubectl(['delete', 'namespace', ns, '--wait=false']);
});

const pods = async (ns = NS) =>
  (await c.getJson<{ items: PodView[] }>(['get', 'pods', '-n', ns, '-l', 'app=ticdc'])).items;
const nonOwnerPod = () => ticdc.sim.captures().find((x) => !x.isOwner)!.podName!;
const drainSpec = async (name: string) =>
  (
    await c.getJson<{ spec: { trigger?: string; podAction?: string } }>([
      'get',
      'capturedrain',
      name,
      '-n',
      NS,
    ])
  ).spec;
const drainNames = async (ns = NS) =>
  (
    await c.getJson<{ items: { metadata: { name: string } }[] }>(['get', 'capturedrains', '-n', ns])
  ).items.map((d) => d.metadata.name);

/** Waits until the drain of this pod incarnation completed and the incarnation is gone. */
async function drainedAndReplaced(pod: { name: string; uid: string }, ...triggers: string[]) {
  const name = podDrainName(pod.name, pod.uid);
  const s = await waitForDrain(c, NS, name, (x) => x.phase === 'Completed' || x.phase === 'Failed', 150_000);
  expect({ pod: pod.name, phase: s.phase, reason: s.reason }).toEqual({
    pod: pod.name,
    phase: 'Completed',
    reason: 'Drained',
  });
  expect(triggers).toContain((await drainSpec(name)).trigger);
  await eventually(`${pod.name} ${pod.uid} gone`, async () => (await podUid(c, NS, pod.name)) !== pod.uid, {
    timeoutMs: 60_000,
  });
}

async function podEvents(pod: string): Promise<{ reason: string; type: string; note: string }[]> {
  const list = await c.getJson<{
    items: { reason: string; type: string; note: string; regarding: { name: string; kind: string } }[];
  }>(['get', 'events.events.k8s.io', '-n', NS]);
  return list.items.filter((e) => e.regarding.kind === 'Pod' && e.regarding.name === pod);
}

describe('pod-termination gate', () => {
  test('the operator issued the webhook certificate into its Secret; dry runs are admitted with a warning and change nothing', async () => {
    const secret = await c.getJson<{ type: string; data: Record<string, string> }>([
      'get',
      'secret',
      WEBHOOK_SECRET,
      '-n',
      OPERATOR_NS,
    ]);
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Object.keys(secret.data).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(await caBundles(c)).toEqual([secret.data['ca.crt'], secret.data['ca.crt']]);

    const pod = nonOwnerPod();
    const uid = (await podUid(c, NS, pod))!;
    const del = await c.kubectl(['delete', 'pod', pod, '-n', NS, '--dry-run=server']);
    expect(del.code).toBe(0);
    expect(del.stderr).toContain(`capture pod ${NS}/${pod} would be held until drained: a CaptureDrain`);
    const evict = await c.kubectl(
      ['create', '--raw', `/api/v1/namespaces/${NS}/pods/${pod}/eviction`, '-f', '-'],
      {
        input: JSON.stringify({
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name: pod, namespace: NS },
          deleteOptions: { dryRun: ['All'] },
        }),
      },
    );
    // Admitted (a 429 would make kubectl drain --dry-run=server retry for ever), with the warning.
    expect(evict.code).toBe(0);
    expect(evict.stderr).toContain(`capture pod ${NS}/${pod} would be held until drained`);
    expect(await drainNames()).toEqual([]);
    expect(await podUid(c, NS, pod)).toBe(uid);
  });

  test('kubectl delete pod is held with a message, the pod is drained, then the operator deletes it', async () => {
    const pod = nonOwnerPod();
    const uid = (await podUid(c, NS, pod))!;
    const r = await c.kubectl(['delete', 'pod', pod, '-n', NS, '--wait=false']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`capture pod ${NS}/${pod} must be drained first`);
    expect(r.stderr).toContain(`CaptureDrain ${podDrainName(pod, uid)}`);
    expect(r.stderr).toContain(`kubectl annotate pod ${pod} -n ${NS} drain.ticdc.io/skip=true`);
    // Deleting again is held too, and reuses the same drain.
    expect((await c.kubectl(['delete', 'pod', pod, '-n', NS, '--wait=false'])).code).not.toBe(0);
    await drainedAndReplaced({ name: pod, uid }, 'PodDeletion');
    expect((await drainSpec(podDrainName(pod, uid))).podAction).toBe('Delete');
    expect((await podEvents(pod)).map((e) => e.reason)).toContain('DrainRequested');
    await eventually('4 captures again', async () => ticdc.sim.captures().length === 4, {
      timeoutMs: 60_000,
    });
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  });

  test('issue 10 case 3: a container restart after the drain voids the release; the eviction is held until the new capture is drained', async () => {
    const pod = nonOwnerPod();
    const uid = (await podUid(c, NS, pod))!;
    const name = podDrainName(pod, uid);
    const evict = () =>
      c.kubectl(['create', '--raw', `/api/v1/namespaces/${NS}/pods/${pod}/eviction`, '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name: pod, namespace: NS },
        }),
      });
    // The eviction starts an Eviction drain that keeps the pod (podAction None).
    expect((await evict()).code).not.toBe(0);
    const drained = await waitForDrain(c, NS, name, (x) => x.phase === 'Completed' || x.phase === 'Failed');
    expect(drained).toMatchObject({ phase: 'Completed', reason: 'Drained' });
    const old = drained.captureID!;
    // The container restarts (OOM, fence) before the eviction is retried: the kubelet counts it, and
    // a new capture joins at the same address and takes work.
    await c.kubectlOk([
      'patch',
      'pod',
      pod,
      '-n',
      NS,
      '--subresource=status',
      '--type=strategic',
      '-p',
      JSON.stringify({ status: { containerStatuses: [{ name: 'ticdc', restartCount: 1 }] } }),
    ]);
    const fresh = await eventually(
      'the new capture at the same address holds work',
      async () =>
        ticdc.sim
          .captures()
          .find((x) => x.podName === pod && x.id !== old && !x.exit && x.dispatchers + x.maintainers > 0),
      { timeoutMs: 30_000 },
    );
    // The retried eviction is held: the release was bound to the drained capture.
    const again = await evict();
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('must be drained first');
    expect(await podUid(c, NS, pod)).toBe(uid);
    const redrained = await waitForDrain(
      c,
      NS,
      name,
      (x) => x.phase === 'Completed' && x.captureID === fresh.id,
      120_000,
    );
    expect(redrained.reason).toBe('Drained');
    expect(redrained.history?.some((h) => h.reason === 'CaptureRestarted')).toBe(true);
    // Only now does the eviction go through.
    await eventually('eviction admitted', async () => ((await evict()).code === 0 ? true : undefined), {
      timeoutMs: 30_000,
    });
    await eventually(`${pod} ${uid} gone`, async () => (await podUid(c, NS, pod)) !== uid, {
      timeoutMs: 60_000,
    });
    await eventually('4 captures again', async () => ticdc.sim.captures().length === 4, {
      timeoutMs: 60_000,
    });
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  }, 300_000);

  test('kubectl drain completes, and every capture pod on the node was drained before it went', async () => {
    const all = await pods();
    const byNode = new Map<string, PodView[]>();
    for (const p of all) byNode.set(p.spec.nodeName!, [...(byNode.get(p.spec.nodeName!) ?? []), p]);
    // The busiest node that still leaves two captures elsewhere (a drain needs a capture to move to).
    const [node, onNode] = [...byNode.entries()]
      .filter(([, ps]) => ps.length <= all.length - 2)
      .sort((a, b) => b[1].length - a[1].length)[0]!;
    try {
      const r = await c.kubectl(
        ['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=150s'],
        { timeoutMs: 170_000 },
      );
      expect(r.code).toBe(0);
      // kubectl retried the evictions the gate answered with 429.
      expect(r.stderr).toContain('will retry after 5s');
      expect(r.stderr).toContain('must be drained first');
      // kubectl drain cordons first: the node controller may start a pod's drain before its eviction does.
      for (const p of onNode)
        await drainedAndReplaced({ name: p.metadata.name, uid: p.metadata.uid }, 'Eviction', 'NodeCordon');
    } finally {
      await c.kubectl(['uncordon', node]);
    }
    await eventually('4 captures again', async () => ticdc.sim.captures().length === 4, {
      timeoutMs: 60_000,
    });
    expect(await operatorMetric(operator.logs(), UNPROTECTED)).toBe(0);
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  });

  test('a plain RollingUpdate (no partition) drains every pod before the StatefulSet controller deletes it', async () => {
    const before = (await pods()).map((p) => ({ name: p.metadata.name, uid: p.metadata.uid }));
    await c.kubectlOk([
      'patch',
      'statefulset',
      'ticdc',
      '-n',
      NS,
      '--type=merge',
      '-p',
      JSON.stringify({
        spec: { template: { metadata: { annotations: { 'e2e.drain.ticdc.io/rev': '2' } } } },
      }),
    ]);
    await eventually(
      'rollout finished',
      async () => {
        const s = await c.getJson<{
          status: {
            updatedReplicas?: number;
            readyReplicas?: number;
            currentRevision?: string;
            updateRevision?: string;
          };
        }>(['get', 'statefulset', 'ticdc', '-n', NS]);
        return (
          s.status.updatedReplicas === 4 &&
          s.status.readyReplicas === 4 &&
          s.status.currentRevision === s.status.updateRevision
        );
      },
      { timeoutMs: 200_000, intervalMs: 500 },
    );
    for (const p of before) await drainedAndReplaced(p, 'RollingUpdate');
    // The StatefulSet controller was nudged instead of waiting out its backoff.
    expect(
      await operatorMetric(operator.logs(), 'capture_drain_webhook_statefulset_nudges_total'),
    ).toBeGreaterThanOrEqual(before.length);
    await eventually('4 captures again', async () => ticdc.sim.captures().length === 4, {
      timeoutMs: 60_000,
    });
    expect(await operatorMetric(operator.logs(), UNPROTECTED)).toBe(0);
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  });

  test('kubectl scale (scale-in) drains the removed pods before they go', async () => {
    const before = (await pods()).filter((p) => ['ticdc-2', 'ticdc-3'].includes(p.metadata.name));
    await c.kubectlOk(['scale', 'statefulset', 'ticdc', '-n', NS, '--replicas=2']);
    for (const p of before)
      await drainedAndReplaced({ name: p.metadata.name, uid: p.metadata.uid }, 'ScaleIn');
    await eventually('2 captures', async () => ticdc.sim.captures().length === 2, { timeoutMs: 60_000 });
    expect((await pods()).map((p) => p.metadata.name).sort()).toEqual(['ticdc-0', 'ticdc-1']);
    expect(await operatorMetric(operator.logs(), UNPROTECTED)).toBe(0);
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  });

  test('webhook unreachable under failurePolicy Ignore: the delete goes through ungated and is reported', async () => {
    await c.kubectlOk(['scale', 'statefulset', 'ticdc', '-n', NS, '--replicas=3']);
    await eventually(
      '3 captures with work',
      async () => {
        const xs = ticdc.sim.captures();
        return xs.length === 3 && xs.every((x) => x.dispatchers > 0);
      },
      { timeoutMs: 90_000 },
    );
    const dead = await freePort();
    await applyGateWebhook(c, {
      releaseNamespace: OPERATOR_NS,
      port: dead,
      namespaces: [NS, NS_DELETED, NS_HELM],
    });
    const pod = nonOwnerPod();
    const uid = (await podUid(c, NS, pod))!;
    // The API server picked up the new URL once a dry run passes without the gate's warning
    // (unreachable + Ignore = admitted silently; the gate admits dry runs with a warning).
    await eventually('webhook unreachable', async () => {
      const r = await c.kubectl(['delete', 'pod', pod, '-n', NS, '--dry-run=server']);
      return r.code === 0 && !r.stderr.includes('would be held until drained');
    });
    try {
      expect((await c.kubectl(['delete', 'pod', pod, '-n', NS, '--wait=false'])).code).toBe(0);
      await eventually(
        'unprotected delete counted',
        async () => (await operatorMetric(operator.logs(), UNPROTECTED)) === 1,
      );
      await eventually('Warning event on the pod', async () =>
        (await podEvents(pod)).some((e) => e.type === 'Warning' && e.reason === 'UngatedDeletion'),
      );
      expect(await drainNames()).not.toContain(podDrainName(pod, uid));
      // The one capture removed with its work is this one, deliberately.
      await eventually('violation recorded', async () =>
        ticdc.sim.violations().some((v) => v.podUid === uid),
      );
      expect(ticdc.sim.unintendedViolations().filter((v) => v.podUid !== uid)).toEqual([]);
    } finally {
      await applyGateWebhook(c, {
        releaseNamespace: OPERATOR_NS,
        port,
        namespaces: [NS, NS_DELETED, NS_HELM],
      });
    }
  });

  test('kubectl delete statefulset is not blocked: the garbage collector deletes the pods at once', async () => {
    const uids = (await pods()).map((p) => podDrainName(p.metadata.name, p.metadata.uid));
    expect(uids.length).toBeGreaterThan(0);
    const t0 = Date.now();
    await c.kubectlOk(['delete', 'statefulset', 'ticdc', '-n', NS, '--wait=false']);
    await eventually('all capture pods gone', async () => (await pods()).length === 0, { timeoutMs: 60_000 });
    expect(Date.now() - t0).toBeLessThan(30_000);
    const drains = await drainNames();
    expect(uids.filter((n) => drains.includes(n))).toEqual([]);
    expect(await operatorMetric(operator.logs(), UNPROTECTED)).toBe(1);
  });

  test('helm uninstall of the TiCDC chart is not blocked', async () => {
    released = await installTicdcChart(c, { namespace: NS_HELM, replicas: 3 });
    const helmPods = async () =>
      (
        await c.getJson<{ items: PodView[] }>([
          'get',
          'pods',
          '-n',
          NS_HELM,
          '-l',
          `app.kubernetes.io/instance=${released!.release}`,
        ])
      ).items;
    const before = await helmPods();
    expect(before).toHaveLength(3);
    const unprotected = await operatorMetric(operator.logs(), UNPROTECTED);
    const t0 = Date.now();
    const r = await c.helm(['uninstall', released.release, '-n', NS_HELM, '--wait', '--timeout', '60s'], {
      timeoutMs: 90_000,
    });
    expect(r.code).toBe(0);
    await eventually('the chart pods gone', async () => (await helmPods()).length === 0, {
      timeoutMs: 60_000,
    });
    expect(Date.now() - t0).toBeLessThan(45_000);
    // Nothing held them: no drain was started, and the deletes were no ungated bypass of the gate.
    const drains = await drainNames(NS_HELM);
    expect(before.filter((p) => drains.includes(podDrainName(p.metadata.name, p.metadata.uid)))).toEqual([]);
    expect(await operatorMetric(operator.logs(), UNPROTECTED)).toBe(unprotected);
  });

  test('deleting a namespace with a TiCDC StatefulSet is not blocked', async () => {
    doomed = await deployTicdc(c, { namespace: NS_DELETED, replicas: 2, sim: { seed: 3 } });
    const r = await c.kubectl(['delete', 'namespace', NS_DELETED, '--timeout=90s'], { timeoutMs: 100_000 });
    expect(r.code).toBe(0);
    expect((await c.kubectl(['get', 'namespace', NS_DELETED])).code).not.toBe(0);
    expect(await operatorMetric(operator.logs(), UNPROTECTED)).toBe(1);
  });
});
