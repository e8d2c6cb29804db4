import { describe, expect, it } from '@jest/globals';
import {
  findCondition,
  isConditionFalse,
  isConditionPresentAndEqual,
  isConditionTrue,
  removeStatusCondition,
  setStatusCondition,
  type Condition,
} from '../../src/kube/conditions.js';

const T0 = new Date('2026-11-21T10:00:00.456Z');
const T1 = new Date('2026-11-21T10:05:00Z');

describe('setStatusCondition (apimachinery port)', () => {
  it('adds a new condition with lastTransitionTime = now (seconds precision)', () => {
    const cs: Condition[] = [];
    expect(
      setStatusCondition(
        cs,
        { type: 'Ready', status: 'False', reason: 'Draining', message: 'm', observedGeneration: 1 },
        T0,
      ),
    ).toBe(true);
    expect(cs).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'Draining',
        message: 'm',
        observedGeneration: 1,
        lastTransitionTime: '2026-11-21T10:00:00Z',
      },
    ]);
  });

  it('keeps lastTransitionTime when status is unchanged, but updates reason/message/observedGeneration', () => {
    const cs: Condition[] = [];
    setStatusCondition(
      cs,
      { type: 'Ready', status: 'False', reason: 'Draining', message: 'a', observedGeneration: 1 },
      T0,
    );
    expect(
      setStatusCondition(
        cs,
        { type: 'Ready', status: 'False', reason: 'Stalled', message: 'b', observedGeneration: 2 },
        T1,
      ),
    ).toBe(true);
    expect(cs[0]).toMatchObject({
      reason: 'Stalled',
      message: 'b',
      observedGeneration: 2,
      lastTransitionTime: '2026-11-21T10:00:00Z',
    });
    expect(
      setStatusCondition(
        cs,
        { type: 'Ready', status: 'False', reason: 'Stalled', message: 'b', observedGeneration: 2 },
        T1,
      ),
    ).toBe(false);
  });

  it('moves lastTransitionTime when status changes (or takes the given one)', () => {
    const cs: Condition[] = [];
    setStatusCondition(cs, { type: 'Ready', status: 'False', reason: 'R', message: '' }, T0);
    setStatusCondition(cs, { type: 'Ready', status: 'True', reason: 'R', message: '' }, T1);
    expect(cs[0]!.lastTransitionTime).toBe('2026-11-21T10:05:00Z');
    setStatusCondition(
      cs,
      {
        type: 'Ready',
        status: 'False',
        reason: 'R',
        message: '',
        lastTransitionTime: '2020-01-01T00:00:00Z',
      },
      T1,
    );
    expect(cs[0]!.lastTransitionTime).toBe('2020-01-01T00:00:00Z');
  });

  it('find/remove/is helpers', () => {
    const cs: Condition[] = [];
    setStatusCondition(cs, { type: 'Ready', status: 'True', reason: 'Done', message: '' }, T0);
    setStatusCondition(cs, { type: 'Stalled', status: 'False', reason: 'Ok', message: '' }, T0);
    expect(findCondition(cs, 'Ready')?.reason).toBe('Done');
    expect(isConditionTrue(cs, 'Ready')).toBe(true);
    expect(isConditionFalse(cs, 'Stalled')).toBe(true);
    expect(isConditionTrue(cs, 'Missing')).toBe(false);
    expect(isConditionPresentAndEqual(cs, 'Stalled', 'False')).toBe(true);
    expect(removeStatusCondition(cs, 'Ready')).toBe(true);
    expect(removeStatusCondition(cs, 'Ready')).toBe(false);
    expect(cs.map((c) => c.type)).toEqual(['Stalled']);
    expect(isConditionTrue(undefined, 'Ready')).toBe(false);
  });
});
