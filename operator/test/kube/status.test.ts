import { describe, expect, it } from '@jest/globals';
import { setStatusCondition, type Condition } from '../../src/kube/conditions.js';
import { Resources, type KubeObject } from '../../src/kube/port.js';
import { isConflict, patchStatus, updateStatus } from '../../src/kube/status.js';
import { FakeKube } from '../support/fake-kube.js';

interface Drain extends KubeObject {
  spec: { podName: string };
  status?: { phase?: string; message?: string; conditions?: Condition[] };
}

const cd = Resources.capturedrains;

function setup() {
  const fake = new FakeKube();
  const obj = fake.seed<Drain>(cd, {
    apiVersion: 'drain.ticdc.io/v1alpha1',
    kind: 'CaptureDrain',
    metadata: { namespace: 'ns', name: 'd' },
    spec: { podName: 'cdc-0' },
    status: { phase: 'Pending', message: 'waiting', conditions: [] },
  });
  return { fake, obj };
}

describe('patchStatus', () => {
  it('skips the write when nothing changed', async () => {
    const { fake, obj } = setup();
    const r = await patchStatus(fake, cd, obj, { phase: 'Pending', message: 'waiting', conditions: [] });
    expect(r.changed).toBe(false);
    expect(r.object).toBe(obj);
    expect(fake.callsOf('patch')).toHaveLength(0);
  });

  it('merge-patches /status with resourceVersion, whole arrays and nulls for removed fields', async () => {
    const { fake, obj } = setup();
    const conditions: Condition[] = [];
    setStatusCondition(conditions, { type: 'Ready', status: 'False', reason: 'Draining', message: '' });
    setStatusCondition(conditions, { type: 'Stalled', status: 'False', reason: 'Progressing', message: '' });
    const r = await patchStatus(fake, cd, obj, { phase: 'Draining', conditions });
    expect(r.changed).toBe(true);
    const call = fake.callsOf('patch')[0]!;
    expect(call).toMatchObject({ patchType: 'merge', subresource: 'status', namespace: 'ns', name: 'd' });
    expect(call.body).toEqual({
      metadata: { resourceVersion: obj.metadata.resourceVersion },
      status: { phase: 'Draining', message: null, conditions },
    });
    expect(r.object.status).toEqual({ phase: 'Draining', conditions });
    expect(r.object.metadata.generation).toBe(obj.metadata.generation); // status writes never bump generation
  });

  it('surfaces a stale read as a 409 conflict', async () => {
    const { fake, obj } = setup();
    await fake.patch(cd, 'ns', 'd', { metadata: { labels: { touched: 'yes' } } }, 'merge'); // someone else wrote
    const err = await patchStatus(fake, cd, obj, { phase: 'Draining' }).catch((e: unknown) => e);
    expect(isConflict(err)).toBe(true);
    expect(fake.peek<Drain>(cd, 'ns', 'd')!.status!.phase).toBe('Pending');
  });

  it('updateStatus mutates a clone and patches', async () => {
    const { fake, obj } = setup();
    const r = await updateStatus(fake, cd, obj, (s) => {
      s.phase = 'Queued';
      setStatusCondition(s.conditions!, { type: 'Ready', status: 'False', reason: 'Queued', message: '' });
    });
    expect(r.changed).toBe(true);
    expect(obj.status!.phase).toBe('Pending'); // the cached object was not mutated
    expect(r.object.status!.conditions).toHaveLength(1);
  });

  it('requires a resourceVersion (no blind writes)', async () => {
    const { fake } = setup();
    await expect(
      patchStatus(fake, cd, { metadata: { namespace: 'ns', name: 'd' } } as Drain, {}),
    ).rejects.toThrow(/resourceVersion/);
  });
});
