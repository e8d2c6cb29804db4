// `capture-drain drain POD`: the CaptureDrain it creates, its flags, and following it to the end.
import { describe, expect, test } from '@jest/globals';
import type { CaptureDrainObject } from '../../src/api/capturedrain.js';
import { drainObject, kubeDrainCommand, parseKubeDrainArgs } from '../../src/cli/drain-kube.js';
import { Resources, type KubeClient } from '../../src/kube/port.js';

describe('parseKubeDrainArgs', () => {
  test('the spec from the flags; kubectl flags', () => {
    const a = parseKubeDrainArgs([
      'ticdc-1',
      '-n=tidb',
      '--pod-action',
      'delete',
      '--timeout',
      '20m',
      '--stall-timeout',
      '5m',
      '--on-timeout',
      'Release',
      '--context',
      'prod',
    ]);
    expect(a).toEqual({
      pod: 'ticdc-1',
      namespace: 'tidb',
      context: 'prod',
      spec: {
        podName: 'ticdc-1',
        trigger: 'Manual',
        podAction: 'Delete',
        timeout: '20m',
        stallTimeout: '5m',
        onTimeout: 'Release',
      },
      detach: false,
      intervalMs: 1000,
    });
    expect(parseKubeDrainArgs(['p', '--detach', '--name', 'mine'])).toMatchObject({
      spec: { podName: 'p', trigger: 'Manual' },
      name: 'mine',
      detach: true,
    });
    expect(parseKubeDrainArgs(['-h'])).toBe('help');
  });

  test('usage errors', () => {
    expect(() => parseKubeDrainArgs([])).toThrow(/give the pod/);
    expect(() => parseKubeDrainArgs(['a', 'b'])).toThrow(/give the pod/);
    expect(() => parseKubeDrainArgs(['a', '--pod-action', 'Evict'])).toThrow(/None, Delete/);
    expect(() => parseKubeDrainArgs(['a', '--timeout', '10'])).toThrow(/duration/);
    expect(() => parseKubeDrainArgs(['a', '--on-timeout', 'x'])).toThrow(/Release/);
  });

  test('the object: a generated name from the pod unless --name', () => {
    const a = parseKubeDrainArgs(['ticdc-1']);
    if (a === 'help') throw new Error('help');
    expect(drainObject(a, 'tidb')).toEqual({
      apiVersion: 'drain.ticdc.io/v1alpha1',
      kind: 'CaptureDrain',
      metadata: { namespace: 'tidb', generateName: 'ticdc-1-' },
      spec: { podName: 'ticdc-1', trigger: 'Manual' },
    });
    expect(drainObject({ ...a, name: 'x' }, 'tidb').metadata).toEqual({ namespace: 'tidb', name: 'x' });
  });
});

describe('kubeDrainCommand', () => {
  test('creates the CaptureDrain in the namespace and follows it; exit code of the outcome', async () => {
    const created: CaptureDrainObject[] = [];
    let reads = 0;
    const kube = {
      create: async (type: unknown, obj: CaptureDrainObject) => {
        expect(type).toBe(Resources.capturedrains);
        const named = { ...obj, metadata: { ...obj.metadata, name: 'ticdc-1-x7k2p' } };
        created.push(named);
        return named;
      },
      list: async () => {
        reads++;
        const status = reads < 2 ? { phase: 'Draining' } : { phase: 'Failed', reason: 'LegacyFallback' };
        return { items: [{ ...created[0]!, status }], resourceVersion: '1' };
      },
      get: async () => undefined,
    } as unknown as KubeClient;
    const out: string[] = [];
    const err: string[] = [];
    const code = await kubeDrainCommand(
      ['ticdc-1', '--interval', '0.1'],
      { out: (l) => out.push(l), err: (l) => err.push(l) },
      { kube, namespace: 'tidb' },
    );
    expect(code).toBe(4);
    expect(created[0]!.metadata).toEqual({
      namespace: 'tidb',
      generateName: 'ticdc-1-',
      name: 'ticdc-1-x7k2p',
    });
    expect(err).toEqual(['capturedrain.drain.ticdc.io/ticdc-1-x7k2p created for pod tidb/ticdc-1']);
    expect(out.at(-1)).toBe('Done: 1 drain: 1 LegacyFallback');
  });
});
