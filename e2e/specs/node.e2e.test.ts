// Node cordon on the real control plane: `kubectl cordon` a kwok node that holds capture pods; the
// operator (from source, as the chart's ServiceAccount, default flags) drains each of them one at a
// time, deletes it, and the StatefulSet controller and the scheduler (which honours the cordon)
// recreate it on another node. The simulator checks that no capture left with work on it.
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
const cordonDrains = async () =>
  (
    await c.getJson<{ items: Drain[] }>([
      'get',
      'capturedrains',
      '-n',
      NS,
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
