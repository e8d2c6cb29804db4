// Node cordon on the real control plane: `kubectl cordon` a kwok node that holds capture pods; the
// operator (from source, as the chart's ServiceAccount, default flags) drains each of them one at a
// time, deletes it, and the StatefulSet controller and the scheduler (which honours the cordon)
// recreate it on another node. The simulator checks that no capture left with work on it.
// A capture pod whose claim is bound to a node-local PersistentVolume stays where it is: its
// replacement could only run on the cordoned node, so it is left to the eviction path.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { eventually } from '../harness/cluster.js';
import type { OperatorProcess } from '../harness/operator.js';
import { deployTicdc, type TicdcWorkload } from '../harness/workload.js';
import { cluster, operatorFor, type DrainStatus } from './support/suite.js';

const NS = 'e2e-node';
const c = cluster();
let ticdc: TicdcWorkload;
let operator: OperatorProcess;
let cordoned: string | undefined;

interface Pod {
  metadata: { name: string; uid: string; annotations?: Record<string, string> };
  spec: { nodeName?: string };
}
interface Drain {
  metadata: { name: string; creationTimestamp: string; labels?: Record<string, string> };
  spec: { podName: string; podAction?: string; trigger?: string };
  status?: DrainStatus;
}

const pods = async () =>
  (await c.getJson<{ items: Pod[] }>(['get', 'pods', '-n', NS, '-l', 'app=ticdc'])).items;
const cordonDrains = async (ns = NS) =>
  (
    await c.getJson<{ items: Drain[] }>([
      'get',
      'capturedrains',
      '-n',
      ns,
      '-l',
      'drain.ticdc.io/trigger=NodeCordon',
    ])
  ).items;

beforeAll(async () => {
  ticdc = await deployTicdc(c, { namespace: NS, replicas: 4, sim: { moveRatePerSec: 6, seed: 21 } });
  const { start } = await operatorFor(c, NS);
  operator = start();
}, 180_000);

afterAll(async () => {
  if (cordoned) await c.kubectl(['uncordon', cordoned]);
  await operator?.stop();
  await ticdc?.sim.stop();
  await c.kubectl(['delete', 'namespace', NS, '--wait=false']);
});

describe('node cordon', () => {
  test('kubectl cordon: every capture pod on the node is drained, deleted and rescheduled elsewhere', async () => {
    const before = await pods();
    // 4 replicas on 3 nodes: the busiest node holds at least two capture pods.
    const byNode = new Map<string, Pod[]>();
    for (const p of before) byNode.set(p.spec.nodeName!, [...(byNode.get(p.spec.nodeName!) ?? []), p]);
    const [node, onNode] = [...byNode].sort((a, b) => b[1].length - a[1].length)[0]!;
    expect(onNode.length).toBeGreaterThanOrEqual(2);
    const moving = new Map(onNode.map((p) => [p.metadata.name, p.metadata.uid]));
    const staying = new Map(
      before.filter((p) => !moving.has(p.metadata.name)).map((p) => [p.metadata.name, p.metadata.uid]),
    );

    await c.kubectlOk(['cordon', node]);
    cordoned = node;

    const drains = await eventually(
      `cordon drains of ${[...moving.keys()].join(', ')} completed`,
      async () => {
        const ds = await cordonDrains();
        const done = ds.filter((d) => d.status?.phase === 'Completed' || d.status?.phase === 'Failed');
        return done.length === moving.size ? ds : undefined;
      },
      { timeoutMs: 150_000, intervalMs: 500 },
    );
    expect(drains.map((d) => d.spec.podName).sort()).toEqual([...moving.keys()].sort());
    for (const d of drains) {
      expect(d.status).toMatchObject({
        phase: 'Completed',
        reason: 'Drained',
        podUID: moving.get(d.spec.podName),
      });
      expect(d.spec).toMatchObject({ podAction: 'Delete', trigger: 'NodeCordon' });
      expect(d.metadata.labels).toMatchObject({ 'drain.ticdc.io/statefulset': 'ticdc' });
    }
    // One at a time: each drain started after the previous one completed.
    const ordered = [...drains].sort(
      (a, b) => Date.parse(a.status!.startTime!) - Date.parse(b.status!.startTime!),
    );
    for (let i = 1; i < ordered.length; i++)
      expect(Date.parse(ordered[i]!.status!.startTime!)).toBeGreaterThanOrEqual(
        Date.parse(ordered[i - 1]!.status!.completionTime!),
      );

    // Recreated by the StatefulSet on other nodes (the scheduler honours the cordon).
    const after = await eventually(
      'replacements scheduled off the cordoned node',
      async () => {
        const ps = await pods();
        const moved = ps.filter((p) => moving.has(p.metadata.name));
        return moved.length === moving.size &&
          moved.every((p) => p.metadata.uid !== moving.get(p.metadata.name) && p.spec.nodeName)
          ? ps
          : undefined;
      },
      { timeoutMs: 60_000 },
    );
    for (const p of after.filter((x) => moving.has(x.metadata.name))) expect(p.spec.nodeName).not.toBe(node);
    // Pods on other nodes untouched.
    for (const [name, uid] of staying)
      expect(after.find((p) => p.metadata.name === name)?.metadata.uid).toBe(uid);
    await eventually('4 captures again', async () => ticdc.sim.captures().length === 4, {
      timeoutMs: 60_000,
    });
    expect(ticdc.sim.unintendedViolations()).toEqual([]);

    // Events on the node (cluster-scoped: recorded in "default") and on each drain.
    const events = await c.getJson<{
      items: { reason: string; note: string; regarding: { kind: string; name: string } }[];
    }>(['get', 'events.events.k8s.io', '-A']);
    const nodeNotes = events.items
      .filter((e) => e.regarding.kind === 'Node' && e.regarding.name === node)
      .map((e) => e.note);
    expect(nodeNotes).toContain(
      `Cordoned node ${node}: draining ${moving.size} capture pods (${[...moving.keys()]
        .sort()
        .map((n) => `${NS}/${n}`)
        .join(', ')})`,
    );
    const drainReasons = events.items
      .filter(
        (e) =>
          e.regarding.kind === 'CaptureDrain' && drains.some((d) => d.metadata.name === e.regarding.name),
      )
      .map((e) => e.reason);
    expect(drainReasons.filter((r) => r === 'NodeCordoned')).toHaveLength(moving.size);

    await c.kubectlOk(['uncordon', node]);
    cordoned = undefined;
  });

  test('a pod annotated drain.ticdc.io/skip stays on the cordoned node; its neighbours move', async () => {
    const before = await pods();
    const byNode = new Map<string, Pod[]>();
    for (const p of before) byNode.set(p.spec.nodeName!, [...(byNode.get(p.spec.nodeName!) ?? []), p]);
    const [node, onNode] = [...byNode].sort((a, b) => b[1].length - a[1].length)[0]!;
    expect(onNode.length).toBeGreaterThanOrEqual(2);
    const [skipped, ...moving] = onNode;
    await c.kubectlOk(['annotate', 'pod', skipped!.metadata.name, '-n', NS, 'drain.ticdc.io/skip=true']);
    const earlier = new Set((await cordonDrains()).map((d) => d.metadata.name));

    await c.kubectlOk(['cordon', node]);
    cordoned = node;
    const mine = async () => (await cordonDrains()).filter((d) => !earlier.has(d.metadata.name));
    const drains = await eventually(
      'the neighbours drained',
      async () => {
        const ds = await mine();
        return ds.length === moving.length && ds.every((d) => d.status?.phase === 'Completed')
          ? ds
          : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    expect(drains.map((d) => d.spec.podName).sort()).toEqual(moving.map((p) => p.metadata.name).sort());
    await eventually('4 captures again', async () => ticdc.sim.captures().length === 4, {
      timeoutMs: 60_000,
    });
    // Give the controller a few more turns: the skipped pod still gets no drain.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await mine()).map((d) => d.spec.podName)).not.toContain(skipped!.metadata.name);
    const still = (await pods()).find((p) => p.metadata.name === skipped!.metadata.name)!;
    expect(still.metadata.uid).toBe(skipped!.metadata.uid);
    expect(still.spec.nodeName).toBe(node);
    expect(ticdc.sim.unintendedViolations()).toEqual([]);

    await c.kubectlOk(['uncordon', node]);
    cordoned = undefined;
  });
});

describe('node cordon and node-local volumes', () => {
  // Three capture pods of one StatefulSet on one node; ticdc-0's claim is bound to a local
  // PersistentVolume pinned to that node, the others' claims to network volumes.
  const LOCAL_NS = 'e2e-node-local';
  const SUITE_LABEL = 'e2e.drain.ticdc.io/suite=node-local';
  const HOLD_TAINT = 'e2e.drain.ticdc.io/hold';
  const LOCAL_POD = 'ticdc-0';
  const REPLICAS = 3;
  let local: TicdcWorkload | undefined;
  let node: string;
  let held: string[] = [];

  const localPods = async () =>
    (
      await c.getJson<{ items: (Pod & { metadata: { deletionTimestamp?: string } })[] }>([
        'get',
        'pods',
        '-n',
        LOCAL_NS,
        '-l',
        'app=ticdc',
      ])
    ).items;
  const release = async () => {
    for (const n of held) await c.kubectl(['taint', 'node', n, `${HOLD_TAINT}-`]);
    held = [];
  };

  beforeAll(async () => {
    node = c.nodes[0]!;
    const claim = (i: number) => `data-ticdc-${i}`;
    const volume = (i: number) => ({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `${LOCAL_NS}-${i}`, labels: { 'e2e.drain.ticdc.io/suite': 'node-local' } },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: '',
        claimRef: { namespace: LOCAL_NS, name: claim(i) },
        ...(i === 0
          ? {
              local: { path: '/mnt/disks/ticdc-0' },
              nodeAffinity: {
                required: {
                  nodeSelectorTerms: [
                    { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
                  ],
                },
              },
            }
          : { nfs: { server: 'nfs.example.invalid', path: `/exports/ticdc-${i}` } }),
      },
    });
    const claims = [...Array(REPLICAS).keys()].map((i) => ({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: claim(i), namespace: LOCAL_NS },
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: '',
        volumeName: `${LOCAL_NS}-${i}`,
        resources: { requests: { storage: '1Gi' } },
      },
    }));
    await c.kubectl(['create', 'namespace', LOCAL_NS]);
    await c.kubectlOk(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [...[...Array(REPLICAS).keys()].map(volume), ...claims],
      }),
    });
    await eventually(
      'the claims bound to their volumes',
      async () =>
        (
          await c.getJson<{ items: { status?: { phase?: string } }[] }>(['get', 'pvc', '-n', LOCAL_NS])
        ).items.every((x) => x.status?.phase === 'Bound'),
      { timeoutMs: 60_000 },
    );
    // Every pod on `node`: the other nodes refuse new pods (a plain taint, not a cordon) until the
    // StatefulSet is up; the claims of ticdc-1 and ticdc-2 do not tie them to a node.
    for (const n of c.nodes.filter((x) => x !== node)) {
      held.push(n);
      await c.kubectlOk(['taint', 'node', n, `${HOLD_TAINT}=node-local:NoSchedule`, '--overwrite']);
    }
    local = await deployTicdc(c, {
      namespace: LOCAL_NS,
      replicas: REPLICAS,
      volumeClaimTemplate: 'data',
      sim: { moveRatePerSec: 6, seed: 23 },
    });
    await release();
  }, 180_000);

  afterAll(async () => {
    await release();
    if (cordoned) await c.kubectl(['uncordon', cordoned]);
    cordoned = undefined;
    await local?.sim.stop();
    await c.kubectl(['delete', 'namespace', LOCAL_NS, '--wait=false']);
    await c.kubectl(['delete', 'pv', '-l', SUITE_LABEL, '--wait=false']);
  });

  test('kubectl cordon: the pod on a local PersistentVolume is neither drained nor deleted; its neighbours move', async () => {
    const before = await localPods();
    expect(before.map((p) => [p.metadata.name, p.spec.nodeName]).sort()).toEqual(
      [...Array(REPLICAS).keys()].map((i) => [`ticdc-${i}`, node]),
    );
    const stay = before.find((p) => p.metadata.name === LOCAL_POD)!;
    const moving = new Map(
      before.filter((p) => p !== stay).map((p) => [p.metadata.name, p.metadata.uid] as const),
    );
    const earlier = new Set((await cordonDrains(LOCAL_NS)).map((d) => d.metadata.name));
    const mine = async () => (await cordonDrains(LOCAL_NS)).filter((d) => !earlier.has(d.metadata.name));

    await c.kubectlOk(['cordon', node]);
    cordoned = node;

    // The controller acts on the node: the neighbours are drained one at a time, deleted and
    // recreated elsewhere. A drain of the pinned pod ends the wait at once (it must not exist).
    const seen = await eventually(
      'the neighbours drained and rescheduled off the cordoned node',
      async () => {
        const ds = await mine();
        if (ds.some((d) => d.spec.podName === LOCAL_POD)) return { ds };
        const done = ds.filter((d) => d.status?.phase === 'Completed' || d.status?.phase === 'Failed');
        if (done.length < moving.size) return undefined;
        const ps = await localPods();
        const moved = ps.filter((p) => moving.has(p.metadata.name));
        return moved.length === moving.size &&
          moved.every((p) => p.metadata.uid !== moving.get(p.metadata.name) && p.spec.nodeName)
          ? { ds, ps }
          : undefined;
      },
      { timeoutMs: 150_000, intervalMs: 500 },
    );
    expect(seen.ds.filter((d) => d.spec.podName === LOCAL_POD)).toEqual([]);
    expect(seen.ds.map((d) => d.spec.podName).sort()).toEqual([...moving.keys()].sort());
    for (const d of seen.ds)
      expect(d.status).toMatchObject({
        phase: 'Completed',
        reason: 'Drained',
        podUID: moving.get(d.spec.podName),
      });
    for (const p of seen.ps!.filter((x) => moving.has(x.metadata.name)))
      expect(p.spec.nodeName).not.toBe(node);
    await eventually(`${REPLICAS} captures again`, async () => local!.sim.captures().length === REPLICAS, {
      timeoutMs: 60_000,
    });

    // Every other pod of the StatefulSet is back and Ready, which is when the cordon would take
    // the next one: give the controller several more turns, the pinned pod still gets no drain.
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      expect((await mine()).map((d) => d.spec.podName)).not.toContain(LOCAL_POD);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const all = await c.getJson<{ items: Drain[] }>(['get', 'capturedrains', '-n', LOCAL_NS]);
    expect(all.items.map((d) => d.spec.podName)).not.toContain(LOCAL_POD);
    const still = (await localPods()).find((p) => p.metadata.name === LOCAL_POD)!;
    expect(still.metadata.uid).toBe(stay.metadata.uid);
    expect(still.metadata.deletionTimestamp).toBeUndefined();
    expect(still.spec.nodeName).toBe(node);
    expect(local!.sim.captures().length).toBe(REPLICAS);

    // Why, on the node (cluster-scoped: recorded in "default").
    const events = await c.getJson<{
      items: { type: string; reason: string; note: string; regarding: { kind: string; name: string } }[];
    }>(['get', 'events.events.k8s.io', '-A']);
    const skipped = events.items.filter(
      (e) =>
        e.reason === 'CordonSkippedNodeLocal' && e.regarding.kind === 'Node' && e.regarding.name === node,
    );
    expect(skipped.length).toBeGreaterThan(0);
    for (const e of skipped) {
      expect(e.type).toBe('Warning');
      expect(e.note).toContain(`${LOCAL_NS}/${LOCAL_POD}`);
      expect(e.note).toContain(`node-local PersistentVolume ${LOCAL_NS}-0`);
    }
    // Said once, although the node is re-examined on every pod and drain event since.
    const said = operator
      .logs()
      .split('\n')
      .filter(
        (l) => l.includes('"reason":"NodeLocalVolume"') && l.includes(`"pod":"${LOCAL_NS}/${LOCAL_POD}"`),
      );
    expect(said).toHaveLength(1);
    expect(local!.sim.unintendedViolations()).toEqual([]);

    // The first suite's captures on the node moved too; none of them left holding work.
    await eventually('4 captures again', async () => ticdc.sim.captures().length === 4, {
      timeoutMs: 90_000,
    });
    expect(ticdc.sim.unintendedViolations()).toEqual([]);

    await c.kubectlOk(['uncordon', node]);
    cordoned = undefined;
  }, 300_000);
});
