// `capture-drain plan` against the in-memory Kubernetes fake and the TiCDC simulator (static
// captures at the pods' addresses): it prints the order and estimate and acts on nothing.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { TicdcSimulator } from '../../../e2e/ticdc-sim/index.js';
import { parsePlanArgs, planCommand } from '../../src/cli/plan.js';
import { Resources, type KubeObject } from '../../src/kube/port.js';
import { FakeKube } from '../support/fake-kube.js';

const NS = 'tidb';
let sim: TicdcSimulator;
let kube: FakeKube;

function seed(endpoint: string, annotations: Record<string, string> = {}) {
  kube = new FakeKube();
  const sts = kube.seed(Resources.statefulsets, {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name: 'ticdc',
      namespace: NS,
      generation: 1,
      labels: { 'drain.ticdc.io/managed': 'true' },
      annotations: { 'drain.ticdc.io/endpoint': endpoint, ...annotations },
    },
    spec: {
      replicas: 3,
      serviceName: 'ticdc-peer',
      updateStrategy: { type: 'OnDelete' },
      template: { metadata: { labels: { 'drain.ticdc.io/managed': 'true' } } },
    },
    status: { observedGeneration: 1, updateRevision: 'new' },
  } as KubeObject);
  for (let i = 0; i < 3; i++)
    kube.seed(Resources.pods, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `ticdc-${i}`,
        namespace: NS,
        labels: { 'drain.ticdc.io/managed': 'true', 'controller-revision-hash': 'old' },
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'StatefulSet',
            name: 'ticdc',
            uid: sts.metadata.uid!,
            controller: true,
          },
        ],
      },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
}

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await planCommand(argv, { out: (l) => out.push(l), err: (l) => err.push(l) }, { kube });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  sim = await TicdcSimulator.start({
    mode: 'newarch',
    captureNames: [0, 1, 2].map((i) => `ticdc-${i}.ticdc-peer.${NS}.svc`),
    host: '127.0.0.1',
    seed: 3,
  });
});
afterAll(async () => {
  await sim.stop();
});

describe('capture-drain plan', () => {
  test('text: the order (OnDelete: coordinator last), the next step and the estimate; nothing created', async () => {
    seed(sim.url);
    const owner = sim
      .captures()
      .find((c) => c.isOwner)!
      .address.split('.')[0]!;
    const r = await run(['--namespace', NS, '--statefulset', 'ticdc']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/StatefulSet ticdc: RollingUpdate; 3 replicas, OnDelete, update revision new/);
    const order = [...r.out.matchAll(/^\s+\d\. (ticdc-\d)/gm)].map((m) => m[1]);
    expect(order).toHaveLength(3);
    expect(order.at(-1)).toBe(owner);
    expect(r.out).toMatch(/\(coordinator\)/);
    expect(r.out).toMatch(/Next step: drain ticdc-\d \(trigger RollingUpdate, podAction Delete\)/);
    expect(r.out).toMatch(/Estimated time for the whole rollout: unknown/);
    expect(kube.objects(Resources.capturedrains)).toHaveLength(0);
    expect(kube.callsOf('create')).toHaveLength(0);
    expect(kube.callsOf('patch')).toHaveLength(0);
  });

  test('a capture a finished drain left in the TiCDC drain session is named, with the way out', async () => {
    seed(sim.url);
    const pod = kube.peek<KubeObject>(Resources.pods, NS, 'ticdc-1')!;
    // A hand-made drain (no StatefulSet label) that drained ticdc-1 and kept it running.
    kube.seed(Resources.capturedrains, {
      apiVersion: 'drain.ticdc.io/v1alpha1',
      kind: 'CaptureDrain',
      metadata: { name: 'by-hand', namespace: NS },
      spec: { podName: 'ticdc-1', podAction: 'None' },
      status: {
        phase: 'Completed',
        reason: 'Drained',
        captureID: 'cap-1',
        podUID: pod.metadata.uid,
        startTime: '2026-12-03T10:00:00Z',
        drainedTime: '2026-12-03T10:00:05Z',
      },
    } as KubeObject);
    const r = await run(['--namespace', NS, '--statefulset', 'ticdc']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      'Note: capture cap-1 of pod ticdc-1 was drained and kept running (CaptureDrain by-hand): TiCDC keeps its drain session',
    );
    expect(r.out).toContain(`kubectl delete pod ticdc-1 -n ${NS}`);
  });

  test('json, and a scale-in pending', async () => {
    seed(sim.url, { 'drain.ticdc.io/replicas': '2' });
    const r = await run(['-n', NS, '--statefulset', 'ticdc', '-o', 'json']);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({
      phase: 'ScalingIn',
      step: { type: 'Drain', pod: 'ticdc-2', trigger: 'ScaleIn' },
    });
    expect(j.queue[0]).toMatchObject({ pod: 'ticdc-2', kind: 'ScaleIn' });
    expect(j.etaSeconds).toBeNull();
  });

  test('TiCDC unreachable: the plan says so and starts nothing', async () => {
    seed('http://127.0.0.1:1');
    const r = await run(['--namespace', NS, '--statefulset', 'ticdc']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Next step: wait \(Captures\)/);
    expect(r.out).toMatch(/Reading TiCDC's capture list failed/);
  });

  test('--endpoint overrides the annotation', async () => {
    seed('http://127.0.0.1:1');
    const r = await run(['--namespace', NS, '--statefulset', 'ticdc', '--endpoint', sim.url]);
    expect(r.out).toMatch(/Next step: drain/);
  });

  test('errors: usage, missing or unmanaged StatefulSet', async () => {
    seed(sim.url);
    expect(() => parsePlanArgs(['-n', NS])).toThrow('--statefulset is required');
    expect(() => parsePlanArgs(['-n', 'x', '--statefulset', 'y', '-o', 'yaml'])).toThrow(/text or json/);
    expect(() => parsePlanArgs(['a', 'b'])).toThrow(/one StatefulSet/);
    expect((await run(['-n', NS])).code).toBe(64);
    // Without -n: the context's namespace, here none, so "default" (as kubectl).
    expect(parsePlanArgs(['ticdc'])).toEqual({ statefulSet: 'ticdc', output: 'text' });
    expect(parsePlanArgs(['-n=tidb', 'ticdc', '--context', 'c1'])).toMatchObject({
      namespace: 'tidb',
      context: 'c1',
      statefulSet: 'ticdc',
    });
    expect(await run(['--statefulset', 'ticdc'])).toMatchObject({
      code: 1,
      err: expect.stringMatching(/StatefulSet default\/ticdc not found/),
    });
    const missing = await run(['-n', NS, '--statefulset', 'nope']);
    expect(missing).toMatchObject({
      code: 1,
      err: expect.stringMatching(/StatefulSet tidb\/nope not found/),
    });
  });
});
