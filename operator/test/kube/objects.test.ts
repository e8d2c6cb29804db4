import { describe, expect, test } from '@jest/globals';
import { isPodReady, objectRef, ownerStatefulSet, podOrdinal, type Pod } from '../../src/kube/objects.js';

describe('kube objects', () => {
  test('podOrdinal(podName, statefulSet)', () => {
    expect(podOrdinal('ticdc-12', 'ticdc')).toBe(12);
    expect(podOrdinal('ticdc-0', 'ticdc')).toBe(0);
    expect(podOrdinal('ticdc-peer-1', 'ticdc')).toBeUndefined();
    expect(podOrdinal('ticdc-01', 'ticdc')).toBeUndefined();
    expect(podOrdinal('other-1', 'ticdc')).toBeUndefined();
  });

  test('ownerStatefulSet: the controller owner reference of kind StatefulSet', () => {
    const owner = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'ticdc', uid: 'u1' };
    expect(ownerStatefulSet({ metadata: { ownerReferences: [{ ...owner, controller: true }] } })).toEqual({
      name: 'ticdc',
      uid: 'u1',
    });
    expect(ownerStatefulSet({ metadata: { ownerReferences: [owner] } })).toBeUndefined();
    expect(ownerStatefulSet({ metadata: {} })).toBeUndefined();
    expect(ownerStatefulSet(undefined)).toBeUndefined();
  });

  test('isPodReady reads the Ready condition', () => {
    const pod = (status: string): Pod => ({
      metadata: {},
      status: { conditions: [{ type: 'Ready', status }] },
    });
    expect(isPodReady(pod('True'))).toBe(true);
    expect(isPodReady(pod('False'))).toBe(false);
    expect(isPodReady({ metadata: {} })).toBe(false);
  });

  test('objectRef keeps namespace and UID only when set', () => {
    expect(objectRef({ metadata: { name: 'n1' } }, 'v1', 'Node')).toEqual({
      apiVersion: 'v1',
      kind: 'Node',
      name: 'n1',
    });
    expect(objectRef({ metadata: { name: 'p', namespace: 'ns', uid: 'u' } }, 'v1', 'Pod')).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      name: 'p',
      namespace: 'ns',
      uid: 'u',
    });
  });
});
