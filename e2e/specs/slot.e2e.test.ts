// The TiCDC cluster slot on the real control plane: CaptureDrains of one cluster created together
// (one kubectl apply, so the operator's concurrent workers see them at once) run one after the
// other. The slot is claimed with a Lease in the operator's namespace (drain/slot.ts); the operator
// runs from source as the chart's ServiceAccount with its default 4 workers.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { eventually } from '../harness/cluster.js';
import type { OperatorProcess } from '../harness/operator.js';
import { deployTicdc, type TicdcWorkload } from '../harness/workload.js';
import { cluster, operatorFor, type DrainStatus } from './support/suite.js';

const NS = 'e2e-slot';
const c = cluster();
let ticdc: TicdcWorkload;
let operator: OperatorProcess;

beforeAll(async () => {
  ticdc = await deployTicdc(c, { namespace: NS, replicas: 4, sim: { moveRatePerSec: 4, seed: 31 } });
  const { start } = await operatorFor(c, NS);
  operator = start();
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  await ticdc?.sim.stop();
  await c.kubectl(['delete', 'namespace', NS, '--wait=false']);
});

const drainList = (names: string[], pods: string[]) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: names.map((name, i) => ({
      apiVersion: 'drain.ticdc.io/v1alpha1',
      kind: 'CaptureDrain',
      metadata: { name, namespace: NS },
      spec: { podName: pods[i], podAction: 'Delete' },
    })),
  });

describe('one drain at a time per TiCDC cluster', () => {
  test('brand-new drains of one cluster created together: exactly one holds the slot at a time, none is held', async () => {
    const pods = ticdc.sim
      .captures()
      .filter((x) => !x.isOwner)
      .map((x) => x.podName!)
      .sort();
    const names = ['race-a', 'race-b', 'race-c'];
    // Sampled while they run: never two started and unfinished at once.
    const overlaps: string[] = [];
    await c.kubectlOk(['apply', '-f', '-'], { input: drainList(names, pods.slice(0, 3)) });
    const finals = await eventually(
      'all three drains finished',
      async () => {
        // One list read: a snapshot of all three at one resourceVersion (three reads taken one after
        // another can see the first before its completion and the next after its start).
        const list = await c.getJson<{ items: { metadata: { name: string }; status?: DrainStatus }[] }>([
          'get',
          'capturedrains',
          '-n',
          NS,
        ]);
        const ss = names.map((n) => list.items.find((x) => x.metadata.name === n)?.status ?? {});
        const active = names.filter(
          (_, i) => ss[i]!.startTime && ss[i]!.phase !== 'Completed' && ss[i]!.phase !== 'Failed',
        );
        if (active.length > 1) overlaps.push(active.join(','));
        return ss.every((s) => s.phase === 'Completed' || s.phase === 'Failed') ? ss : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 200 },
    );
    expect(overlaps).toEqual([]);
    for (const s of finals) expect(s).toMatchObject({ phase: 'Completed', reason: 'Drained' });
    // The recorded times agree: each drain started after the previous one completed.
    const ordered = [...finals].sort((a, b) => Date.parse(a.startTime!) - Date.parse(b.startTime!));
    for (let i = 1; i < ordered.length; i++)
      expect(Date.parse(ordered[i]!.startTime!)).toBeGreaterThanOrEqual(
        Date.parse(ordered[i - 1]!.completionTime!),
      );
    // The later ones waited in line.
    const queued = (s: DrainStatus) => s.history!.some((h) => h.phase === 'Queued');
    expect(ordered.slice(1).every(queued)).toBe(true);
    // The claim is a Lease in the operator's namespace, free again once the last drain ended.
    const leases = await c.getJson<{
      items: { metadata: { name: string }; spec: { holderIdentity?: string } }[];
    }>(['get', 'leases', '-n', NS]);
    const slot = leases.items.filter((l) => l.metadata.name.startsWith('capture-drain-slot-'));
    expect(slot).toHaveLength(1);
    expect(slot[0]!.spec.holderIdentity ?? '').toBe('');

    await eventually('4 captures again', async () => ticdc.sim.captures().length === 4, {
      timeoutMs: 60_000,
    });
    expect(ticdc.sim.violations()).toEqual([]);
  });
});
