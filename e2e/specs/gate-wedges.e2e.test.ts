// The termination gate's wedges (issue 11, cases 1-5) on the real control plane: the operator runs
// as the chart's ServiceAccount (RBAC enforced) with its webhook on 127.0.0.1, the StatefulSet,
// disruption, garbage-collector and node lifecycle controllers are the real ones, and the
// simulator records every capture that left while it still held work.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { eventually } from '../harness/cluster.js';
import type { OperatorProcess } from '../harness/operator.js';
import {
  applyGateWebhook,
  caBundles,
  freePort,
  gateOperatorArgs,
  removeGateWebhook,
} from '../harness/webhook.js';
import { deployTicdc, type TicdcWorkload } from '../harness/workload.js';
import { captureDrain, cluster, drainStatus, operatorFor, podUid, waitForDrain } from './support/suite.js';
import { podDrainName } from '../../operator/src/drain/contract.js';

const NS = 'e2e-wedge';
/** Captures that crash: a short stall timeout so a drain gives up on a missing capture quickly. */
const NS_GONE = 'e2e-wedge-gone';
const NS_SCALE = 'e2e-wedge-scale';
const OPERATOR_NS = 'e2e-wedge-op';
const ALL = [NS, NS_GONE, NS_SCALE];
const c = cluster();
let operator: OperatorProcess;
let ticdc: TicdcWorkload;
let gone: TicdcWorkload | undefined;
let scaled: TicdcWorkload | undefined;

interface PodView {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
}

beforeAll(async () => {
  const port = await freePort();
  const { start } = await operatorFor(c, OPERATOR_NS, [
    ...gateOperatorArgs(port),
    '--namespaces',
    ALL.join(','),
  ]);
  operator = start();
  await applyGateWebhook(c, { releaseNamespace: OPERATOR_NS, port, namespaces: ALL });
  await eventually('caBundle published by the operator', async () => (await caBundles(c)).every(Boolean), {
    timeoutMs: 30_000,
  });
  ticdc = await deployTicdc(c, { namespace: NS, replicas: 4, sim: { seed: 41 } });
}, 240_000);

afterAll(async () => {
  await removeGateWebhook(c);
  await operator?.stop();
  for (const w of [ticdc, gone, scaled]) await w?.sim.stop();
  for (const ns of [...ALL, OPERATOR_NS]) await c.kubectl(['delete', 'namespace', ns, '--wait=false']);
});

const pods = async (ns = NS) =>
  (await c.getJson<{ items: PodView[] }>(['get', 'pods', '-n', ns, '-l', 'app=ticdc'])).items;
const drainNames = async (ns = NS) =>
  (
    await c.getJson<{ items: { metadata: { name: string } }[] }>(['get', 'capturedrains', '-n', ns])
  ).items.map((d) => d.metadata.name);
const nonOwnerPod = (w: TicdcWorkload = ticdc) => w.sim.captures().find((x) => !x.isOwner)!.podName!;
/** The drains naming `pod` (spec.podName), whatever their name. */
const drainsOf = async (pod: string, ns = NS) =>
  (
    await c.getJson<{ items: { metadata: { name: string }; spec: { podName?: string } }[] }>([
      'get',
      'capturedrains',
      '-n',
      ns,
    ])
  ).items
    .filter((d) => d.spec.podName === pod)
    .map((d) => d.metadata.name);
const evict = (ns: string, pod: string, deleteOptions: Record<string, unknown> = {}) =>
  c.kubectl(['create', '--raw', `/api/v1/namespaces/${ns}/pods/${pod}/eviction`, '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: pod, namespace: ns },
      deleteOptions,
    }),
  });

describe('termination gate wedges', () => {
  test('case 3: kubectl drain --dry-run=server finishes, warns what would be held, and starts nothing', async () => {
    const all = await pods();
    // The kwok nodes are shared: a suite run before this one may still have pods in its terminating
    // namespace, which no eviction can touch (kubectl drain then times out on them, seen in CI). Drain
    // a node of ours that holds no other namespace's pods, or wait for one.
    const foreign = async (node: string) =>
      (
        await c.getJson<{ items: { metadata: { namespace: string } }[] }>([
          'get',
          'pods',
          '-A',
          '--field-selector',
          `spec.nodeName=${node}`,
        ])
      ).items.filter((p) => !ALL.includes(p.metadata.namespace)).length;
    const node = await eventually(
      'a node of ours without pods of other namespaces',
      async () => {
        for (const n of [...new Set(all.map((p) => p.spec.nodeName!))])
          if ((await foreign(n)) === 0) return n;
        return undefined;
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    );
    const onNode = all.filter((p) => p.spec.nodeName === node);
    const t0 = Date.now();
    const r = await c.kubectl(
      ['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--dry-run=server', '--timeout=45s'],
      { timeoutMs: 60_000 },
    );
    // On a failure, show what kubectl said (on success its stderr holds the expected warnings).
    expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(Date.now() - t0).toBeLessThan(30_000);
    for (const p of onNode) {
      expect(r.stderr).toContain(`capture pod ${NS}/${p.metadata.name} would be held until drained`);
      expect(r.stdout).toContain(`evicting pod ${NS}/${p.metadata.name} (server dry run)`);
    }
    expect(r.stdout).toContain(`node/${node} drained (server dry run)`);
    // No retry for this suite's pods (a namespace of another suite still being deleted on the shared
    // node answers kubectl's dry run with its own, unrelated retry).
    const retries = r.stderr.split('\n').filter((l) => l.includes('will retry after'));
    expect(retries.filter((l) => l.includes(`"${NS}"`))).toEqual([]);
    // Nothing started, nothing went, the node stays schedulable.
    expect(await drainNames()).toEqual([]);
    expect((await pods()).map((p) => p.metadata.uid).sort()).toEqual(all.map((p) => p.metadata.uid).sort());
    const n = await c.getJson<{ spec: { unschedulable?: boolean } }>(['get', 'node', node]);
    expect(n.spec.unschedulable ?? false).toBe(false);
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  }, 120_000);

  test('case 5: an eviction the PodDisruptionBudget refuses gets the PDB 429 and starts no drain', async () => {
    await c.kubectlOk(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: { name: 'ticdc', namespace: NS },
        spec: { minAvailable: 4, selector: { matchLabels: { app: 'ticdc' } } },
      }),
    });
    try {
      await eventually('the disruption controller computed the budget', async () => {
        const b = await c.getJson<{
          metadata: { generation: number };
          status?: { observedGeneration?: number; currentHealthy?: number; disruptionsAllowed?: number };
        }>(['get', 'pdb', 'ticdc', '-n', NS]);
        return (
          b.status?.observedGeneration === b.metadata.generation &&
          b.status.currentHealthy === 4 &&
          b.status.disruptionsAllowed === 0
        );
      });
      const pod = nonOwnerPod();
      const uid = (await podUid(c, NS, pod))!;
      const r = await evict(NS, pod);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/429|TooManyRequests|Too Many Requests/);
      expect(r.stderr).toContain("Cannot evict pod as it would violate the pod's disruption budget");
      expect(r.stderr).toContain('the disruption budget ticdc needs 4 healthy pods and has 4 currently');
      expect(r.stderr).toContain('no drain was started');
      // Give a wrongly started drain time to appear: there is none, and the pod stays.
      await new Promise((res) => setTimeout(res, 2_000));
      expect(await drainNames()).toEqual([]);
      expect(await podUid(c, NS, pod)).toBe(uid);
    } finally {
      await c.kubectl(['delete', 'pdb', 'ticdc', '-n', NS]);
    }
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  }, 120_000);

  test('case 1: a hand-made CaptureDrain with podAction Delete completes: the operator deletes the drained pod', async () => {
    // A pod no other drain names (each case stands on its own).
    const named = new Set<string>();
    for (const x of ticdc.sim.captures()) if ((await drainsOf(x.podName!)).length) named.add(x.podName!);
    const pod = ticdc.sim.captures().find((x) => !x.isOwner && !named.has(x.podName!))!.podName!;
    const uid = (await podUid(c, NS, pod))!;
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, 'by-hand', { podName: pod, podAction: 'Delete' }),
    });
    const s = await waitForDrain(
      c,
      NS,
      'by-hand',
      (x) => x.phase === 'Completed' || x.phase === 'Failed',
      120_000,
    );
    expect({ phase: s.phase, reason: s.reason }).toEqual({ phase: 'Completed', reason: 'Drained' });
    await eventually(`${pod} replaced`, async () => (await podUid(c, NS, pod)) !== uid, {
      timeoutMs: 60_000,
    });
    // The operator's own delete was not taken for a user's: no second drain was started.
    expect(await drainsOf(pod)).toEqual(['by-hand']);
    // The cluster is free: a user delete of another pod now starts its drain (not queued behind by-hand).
    const next = ticdc.sim
      .captures()
      .find((x) => !x.isOwner && x.podName !== pod && !named.has(x.podName!))!.podName!;
    const nextUid = (await podUid(c, NS, next))!;
    const d = await c.kubectl(['delete', 'pod', next, '-n', NS, '--wait=false']);
    expect(d.stderr).toContain('must be drained first');
    const n = await waitForDrain(c, NS, podDrainName(next, nextUid), (x) => x.phase === 'Completed', 120_000);
    expect(n.reason).toBe('Drained');
    await eventually(
      '4 captures with work again',
      async () => {
        const xs = ticdc.sim.captures();
        return xs.length === 4 && xs.every((x) => x.dispatchers > 0);
      },
      { timeoutMs: 90_000 },
    );
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  }, 300_000);

  describe('case 2: pods whose capture is gone', () => {
    let a: PodView, b: PodView, nodePod: PodView;
    const crash = (p: PodView) => {
      const cap = gone!.sim.captures().find((x) => x.podUid === p.metadata.uid)!;
      expect(gone!.sim.crash(cap.id)?.injected ?? true).toBe(true);
    };
    beforeAll(async () => {
      gone = await deployTicdc(c, {
        namespace: NS_GONE,
        replicas: 4,
        sim: { seed: 43 },
        // Above the ~14 s a killed capture stays listed (etcd session TTL), so a drain of a crashed
        // capture sees it leave (CaptureGone) rather than stalling first.
        annotations: { 'drain.ticdc.io/stall-timeout': '25s' },
      });
      [a, b, nodePod] = (await pods(NS_GONE))
        .filter((p) => p.metadata.name !== gone!.sim.captures().find((x) => x.isOwner)!.podName)
        .slice(0, 3) as [PodView, PodView, PodView];
    }, 180_000);
    afterAll(() => {
      // Only the injected crashes lost work.
      expect(gone!.sim.unintendedViolations()).toEqual([]);
    });

    test('PodGC (grace period 0) deletes a pod whose capture died: admitted at once, no drain', async () => {
      crash(a!);
      const gc = await c.kubectl([
        'delete',
        'pod',
        a!.metadata.name,
        '-n',
        NS_GONE,
        '--grace-period=0',
        '--force',
        '--as=system:serviceaccount:kube-system:pod-garbage-collector',
      ]);
      expect({ code: gc.code, stderr: gc.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
      expect(await drainNames(NS_GONE)).not.toContain(podDrainName(a!.metadata.name, a!.metadata.uid));
      expect(gone!.sim.unintendedViolations()).toEqual([]);
    }, 120_000);

    test('a user delete of a pod without a capture: held while its drain looks, admitted once it found none (CaptureNotFound)', async () => {
      crash(b!);
      const first = await c.kubectl(['delete', 'pod', b!.metadata.name, '-n', NS_GONE, '--wait=false']);
      expect(first.stderr).toContain('must be drained first');
      const drain = podDrainName(b!.metadata.name, b!.metadata.uid);
      const s = await waitForDrain(
        c,
        NS_GONE,
        drain,
        (x) => x.phase === 'Failed' || x.phase === 'Completed',
        90_000,
      );
      // Not registered (CaptureNotFound), or still listed after the crash and then gone (CaptureGone).
      expect(s.phase).toBe('Failed');
      expect(['CaptureNotFound', 'CaptureGone']).toContain(s.reason);
      const again = await c.kubectl(['delete', 'pod', b!.metadata.name, '-n', NS_GONE, '--wait=false']);
      expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
      await eventually(
        `${b!.metadata.name} replaced`,
        async () => (await podUid(c, NS_GONE, b!.metadata.name)) !== b!.metadata.uid,
        {
          timeoutMs: 60_000,
        },
      );

      expect(gone!.sim.unintendedViolations()).toEqual([]);
    }, 180_000);

    test('a force delete of a pod on a NotReady node (its capture died with the node): admitted at once, no drain', async () => {
      // A dead node: the node stops reporting (kwok lets go of it) and reports NotReady; its
      // capture died with it. A force delete of its pod passes at once, without a drain.
      const node = nodePod!.spec.nodeName!;
      crash(nodePod!);
      await c.kubectlOk(['annotate', 'node', node, 'kwok.x-k8s.io/node-']);
      try {
        await c.kubectlOk([
          'patch',
          'node',
          node,
          '--subresource=status',
          '--type=strategic',
          '-p',
          JSON.stringify({
            status: {
              conditions: [
                {
                  type: 'Ready',
                  status: 'False',
                  reason: 'E2eNodeDown',
                  message: 'stopped by the e2e test',
                  lastHeartbeatTime: new Date().toISOString(),
                  lastTransitionTime: new Date().toISOString(),
                },
              ],
            },
          }),
        ]);
        await eventually('node NotReady', async () => {
          const n = await c.getJson<{ status: { conditions: { type: string; status: string }[] } }>([
            'get',
            'node',
            node,
          ]);
          return n.status.conditions.find((x) => x.type === 'Ready')?.status !== 'True';
        });
        const force = await c.kubectl([
          'delete',
          'pod',
          nodePod!.metadata.name,
          '-n',
          NS_GONE,
          '--grace-period=0',
          '--force',
        ]);
        expect({ code: force.code, stderr: force.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
        expect(await drainNames(NS_GONE)).not.toContain(
          podDrainName(nodePod!.metadata.name, nodePod!.metadata.uid),
        );
      } finally {
        await c.kubectlOk(['annotate', 'node', node, 'kwok.x-k8s.io/node=fake', '--overwrite']);
      }
      await eventually(
        `node ${node} Ready again`,
        async () => {
          const n = await c.getJson<{
            spec: { taints?: { key: string }[] };
            status: { conditions: { type: string; status: string }[] };
          }>(['get', 'node', node]);
          return (
            n.status.conditions.find((x) => x.type === 'Ready')?.status === 'True' &&
            !(n.spec.taints ?? []).some((t) => t.key.startsWith('node.kubernetes.io/not-ready'))
          );
        },
        { timeoutMs: 90_000 },
      );
      expect(gone!.sim.unintendedViolations()).toEqual([]);
    }, 180_000);
  });

  test('case 4: scaling a StatefulSet to 0 finishes: the last capture goes once its drain says SingleCapture', async () => {
    scaled = await deployTicdc(c, { namespace: NS_SCALE, replicas: 2, sim: { seed: 47 } });
    const before = await pods(NS_SCALE);
    await c.kubectlOk(['scale', 'statefulset', 'ticdc', '-n', NS_SCALE, '--replicas=0']);
    await eventually('every capture pod gone', async () => (await pods(NS_SCALE)).length === 0, {
      timeoutMs: 150_000,
    });
    const outcomes = await Promise.all(
      before.map(async (p) => {
        const s = await drainStatus(c, NS_SCALE, podDrainName(p.metadata.name, p.metadata.uid));
        return { pod: p.metadata.uid, phase: s.phase, reason: s.reason };
      }),
    );
    // One drain moved its work to the other capture; the last one had nowhere to move it.
    expect(outcomes.map((o) => `${o.phase}/${o.reason}`).sort()).toEqual([
      'Completed/Drained',
      'Failed/SingleCapture',
    ]);
    const last = outcomes.find((o) => o.reason === 'SingleCapture')!.pod;
    // The last capture's work is lost by the scale to 0 itself: the only violation, and deliberate.
    expect(scaled.sim.unintendedViolations().map((v) => v.podUid)).toEqual([last]);
  }, 300_000);
});
