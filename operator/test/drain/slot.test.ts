// The cluster slot's pure rules: Lease names and the verdict on a read Lease.
import { describe, expect, test } from '@jest/globals';
import { claimVerdict, holderIdentity, parseHolder, slotLeaseName } from '../../src/drain/slot.js';

const me = { namespace: 'ns', name: 'a', uid: 'uid-a' };
const other = { namespace: 'ns', name: 'b', uid: 'uid-b' };

describe('cluster slot claims', () => {
  test('one Lease name per endpoint, valid whatever the endpoint', () => {
    const a = slotLeaseName('http://ticdc-peer.ns.svc:8301');
    expect(a).toMatch(/^capture-drain-slot-[0-9a-f]{16}$/);
    expect(slotLeaseName('http://ticdc-peer.ns.svc:8301')).toBe(a);
    expect(slotLeaseName('https://ticdc-peer.ns.svc:8301')).not.toBe(a);
  });

  test('holder identity round-trips; empty or foreign holders are none', () => {
    expect(parseHolder(holderIdentity(me))).toEqual(me);
    expect(parseHolder('')).toBeUndefined();
    expect(parseHolder(undefined)).toBeUndefined();
    expect(parseHolder('someone-else')).toBeUndefined();
  });

  test.each([
    ['no Lease: create it', undefined, undefined, { type: 'Create' }],
    ['released Lease: take it', { holderIdentity: '' }, undefined, { type: 'TakeOver', why: 'free' }],
    ['ours already', { holderIdentity: holderIdentity(me) }, undefined, { type: 'Held' }],
    [
      'another holder, not looked up yet',
      { holderIdentity: holderIdentity(other) },
      undefined,
      { type: 'LookUpHolder', holder: other },
    ],
    [
      'another live holder: busy',
      { holderIdentity: holderIdentity(other) },
      { found: { uid: 'uid-b', phase: 'Draining' as const, deleting: false } },
      { type: 'Busy', holder: 'ns/b' },
    ],
    [
      'holder claimed but not started yet (no phase): busy',
      { holderIdentity: holderIdentity(other) },
      { found: { uid: 'uid-b', deleting: false } },
      { type: 'Busy', holder: 'ns/b' },
    ],
    [
      'holder deleted: stale',
      { holderIdentity: holderIdentity(other) },
      {},
      { type: 'TakeOver', why: 'holder ns/b is gone' },
    ],
    [
      'holder recreated under the same name (another uid): stale',
      { holderIdentity: holderIdentity(other) },
      { found: { uid: 'uid-b2', deleting: false } },
      { type: 'TakeOver', why: 'holder ns/b is gone' },
    ],
    [
      'holder completed: stale',
      { holderIdentity: holderIdentity(other) },
      { found: { uid: 'uid-b', phase: 'Completed' as const, deleting: false } },
      { type: 'TakeOver', why: 'holder ns/b has ended' },
    ],
    [
      'holder being deleted: stale',
      { holderIdentity: holderIdentity(other) },
      { found: { uid: 'uid-b', phase: 'Draining' as const, deleting: true } },
      { type: 'TakeOver', why: 'holder ns/b has ended' },
    ],
  ])('%s', (_, lease, holder, verdict) => {
    expect(claimVerdict(me, lease, holder)).toEqual(verdict);
  });
});
