// A template change in the middle of a drained rollout, on the real control plane: the partition
// is held at replicas between steps, so the StatefulSet controller cannot replace a pod the rollout
// already updated before the operator drains it again. The change is a plain `kubectl patch` of the
// pod template (helm would also reset the partition). The operator runs from source as the chart's
// ServiceAccount; the webhook is off, so nothing but the partition protects the pods.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { eventually } from '../harness/cluster.js';
import type { OperatorProcess } from '../harness/operator.js';
import { installTicdcChart, type TicdcRelease } from '../harness/ticdc-chart.js';
import { cluster, operatorFor } from './support/suite.js';

const NS = 'e2e-rollout-rev';
const c = cluster();
let ticdc: TicdcRelease;
let operator: OperatorProcess;

beforeAll(async () => {
  const { start } = await operatorFor(c, NS, ['--namespaces', NS]);
  ticdc = await installTicdcChart(c, { namespace: NS, replicas: 3, sim: { moveRatePerSec: 3, seed: 41 } });
  operator = start();
}, 240_000);

afterAll(async () => {
  await operator?.stop();
  await ticdc?.sim.stop();
  await c.kubectl(['delete', 'namespace', NS, '--wait=false']);
});

interface Sts {
  metadata: { annotations: Record<string, string>; generation: number };
  spec: { replicas: number; updateStrategy: { rollingUpdate?: { partition?: number } } };
  status: { updateRevision: string; observedGeneration: number };
}
interface Drain {
  metadata: { labels: Record<string, string> };
  spec: { podName: string; trigger: string };
  status?: { phase?: string; reason?: string; releaseTime?: string };
}

const sts = () => c.getJson<Sts>(['get', 'statefulset', 'ticdc', '-n', NS]);
const podList = async () =>
  (
    await c.getJson<{
      items: { metadata: { name: string; uid: string; labels: Record<string, string> } }[];
    }>(['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/instance=ticdc'])
  ).items.map((p) => ({
    name: p.metadata.name,
    uid: p.metadata.uid,
    rev: p.metadata.labels['controller-revision-hash'],
  }));
const allDrains = async () => (await c.getJson<{ items: Drain[] }>(['get', 'capturedrains', '-n', NS])).items;

describe('update revision changes mid-rollout', () => {
  test('a pod the rollout already replaced is drained again before the new template replaces it', async () => {
    await ticdc.upgrade({ 'image.tag': 'v8.5.8' });
    const r2 = (await sts()).status.updateRevision;
    // Step 1 done (ticdc-2 runs the new revision and holds work again), step 2 under way.
    const updated = await eventually(
      'ticdc-2 replaced, holding work, and ticdc-1 draining',
      async () => {
        const pods = await podList();
        const p2 = pods.find((p) => p.name === 'ticdc-2');
        const cap2 = ticdc.sim.captures().find((x) => x.podUid === p2?.uid);
        const ds = await allDrains();
        const d1 = ds.find(
          (d) =>
            d.spec.podName === 'ticdc-1' && d.metadata.labels['drain.ticdc.io/trigger'] === 'RollingUpdate',
        );
        return p2?.rev === r2 && cap2 && cap2.dispatchers > 0 && d1 && d1.status?.phase !== undefined
          ? p2
          : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    // Between steps: the partition is back at replicas.
    expect((await sts()).spec.updateStrategy.rollingUpdate?.partition).toBe(3);

    await c.kubectlOk([
      'patch',
      'statefulset',
      'ticdc',
      '-n',
      NS,
      '--type',
      'merge',
      '-p',
      JSON.stringify({ spec: { template: { metadata: { annotations: { 'e2e.example/rev': '3' } } } } }),
    ]);
    const r3 = await eventually('new update revision', async () => {
      const s = await sts();
      return s.status.observedGeneration === s.metadata.generation && s.status.updateRevision !== r2
        ? s.status.updateRevision
        : undefined;
    });

    // The whole StatefulSet ends on the newest revision, the operator Idle again.
    await eventually(
      'rolled out to the new revision',
      async () => {
        const s = await sts();
        const pods = await podList();
        return (
          s.metadata.annotations['drain.ticdc.io/rollout-phase'] === 'Idle' &&
          pods.length === 3 &&
          pods.every((p) => p.rev === r3) &&
          ticdc.sim.captures().length === 3
        );
      },
      { timeoutMs: 240_000, intervalMs: 500 },
    );
    // The incarnation of ticdc-2 updated in step 1 was drained (and released) before it went.
    const again = (await allDrains()).find(
      (d) => d.metadata.labels['drain.ticdc.io/pod-uid'] === updated.uid,
    );
    expect(again?.status).toMatchObject({ phase: 'Completed', reason: 'Drained' });
    expect((await sts()).spec.updateStrategy.rollingUpdate?.partition).toBe(3);
    expect(ticdc.sim.unintendedViolations()).toEqual([]);
  }, 300_000);
});
