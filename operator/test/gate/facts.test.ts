import { describe, expect, test } from '@jest/globals';
import { disruptionBudgetFacts, nodeFacts } from '../../src/gate/facts.js';
import { capturePod } from '../support/builders.js';

describe('gate facts', () => {
  test("a node's readiness as the node lifecycle controller sets it", () => {
    const ready = { type: 'Ready', status: 'True' };
    expect(nodeFacts('n', { metadata: { name: 'n' }, status: { conditions: [ready] } })).toEqual({
      name: 'n',
      ready: true,
    });
    expect(
      nodeFacts('n', {
        metadata: { name: 'n' },
        status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }] },
      }),
    ).toEqual({ name: 'n', ready: false, why: 'Ready Unknown (NodeStatusUnknown)' });
    expect(
      nodeFacts('n', {
        metadata: { name: 'n' },
        spec: { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] },
        status: { conditions: [ready] },
      }),
    ).toEqual({ name: 'n', ready: false, why: 'taint node.kubernetes.io/unreachable' });
    expect(nodeFacts('n', { metadata: { name: 'n' }, status: {} })?.ready).toBe(false);
    // Gone: left to PodGC, no rule applies.
    expect(nodeFacts('n', undefined)).toBeUndefined();
    // A cordon (unschedulable taint) is no NotReady.
    expect(
      nodeFacts('n', {
        metadata: { name: 'n' },
        spec: { taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] },
        status: { conditions: [ready] },
      })?.ready,
    ).toBe(true);
  });

  test('only the PDBs selecting the pod, with their status as decide() reads it', () => {
    const pod = capturePod('ticdc-1', { uid: 'u', labels: { app: 'ticdc' } });
    const facts = disruptionBudgetFacts(pod, [
      {
        metadata: { name: 'mine', generation: 2 },
        spec: { selector: { matchLabels: { app: 'ticdc' } }, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
        status: { observedGeneration: 1, disruptionsAllowed: 1, currentHealthy: 3, desiredHealthy: 2 },
      },
      { metadata: { name: 'other' }, spec: { selector: { matchLabels: { app: 'web' } } } },
      { metadata: { name: 'null-selector' }, spec: { selector: null } },
    ]);
    expect(facts).toEqual([
      {
        name: 'mine',
        disruptionsAllowed: 1,
        currentHealthy: 3,
        desiredHealthy: 2,
        stale: true,
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
    ]);
  });
});
