import { describe, expect, test } from '@jest/globals';
import { drainUpdateNeedsReconcile } from '../../src/drain/controller.js';
import type { KubeObject } from '../../src/kube/port.js';

const obj = (rv: string, meta: Partial<KubeObject['metadata']> = {}): KubeObject => ({
  apiVersion: 'drain.ticdc.io/v1alpha1',
  kind: 'CaptureDrain',
  metadata: { namespace: 'ns', name: 'd', resourceVersion: rv, generation: 1, ...meta },
});

describe('drainUpdateNeedsReconcile', () => {
  test('our status writes and our finalizer being added do not re-run the drain', () => {
    expect(drainUpdateNeedsReconcile(obj('1'), obj('2'))).toBe(false);
    expect(drainUpdateNeedsReconcile(obj('1'), obj('2', { finalizers: ['drain.ticdc.io/finalizer'] }))).toBe(
      false,
    );
  });

  test('spec changes, deletion, a finalizer removed and resyncs do', () => {
    const a = obj('1', { finalizers: ['drain.ticdc.io/finalizer'] });
    expect(drainUpdateNeedsReconcile(a, obj('2', { generation: 2, finalizers: a.metadata.finalizers }))).toBe(
      true,
    );
    expect(
      drainUpdateNeedsReconcile(
        a,
        obj('2', { deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: a.metadata.finalizers }),
      ),
    ).toBe(true);
    expect(drainUpdateNeedsReconcile(a, obj('2'))).toBe(true);
    expect(drainUpdateNeedsReconcile(a, a)).toBe(true);
  });
});
