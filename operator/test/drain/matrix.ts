// The observation classes of the exhaustive phase x observation table (machine.test.ts).
import type { Action, DrainContext, Outcome } from '../../src/drain/machine.js';
import type { TicdcErrorKind } from '../../src/ticdc/types.js';
import { T0, captures } from './fixtures.js';

export const PHASES = [
  'New',
  'Queued',
  'Pending',
  'ResigningOwner',
  'Draining',
  'Drained',
  'Releasing',
  'Completed',
  'Failed',
];

/** Every TiCDC error kind the machine may be told about. */
export const ERRORS: TicdcErrorKind[] = [
  'Transient',
  'NotReady',
  'DrainBusy',
  'Unauthorized',
  'Tls',
  'Unsupported',
  'OnlyOneCapture',
  'OwnerNotDrainable',
  'CaptureNotFound',
];

export interface ObservationClass {
  name: string;
  world?: (c: DrainContext) => DrainContext;
  outcome?: (a: Action) => Outcome;
}

/** The outcome a healthy cluster gives for each action, optionally varied. */
export function natural(a: Action, variant = 'natural'): Outcome {
  switch (a.type) {
    case 'wait':
      return { type: 'none' };
    case 'discover':
      if (variant === 'missing')
        return { type: 'discovered', captures: captures(false, false), flavor: 'V2' };
      return { type: 'discovered', captures: captures(variant === 'owner'), flavor: 'V2', version: 'v9.0.0' };
    case 'resign':
      if (variant === 'missing')
        return { type: 'resign', captures: captures(false, false), resignIssued: false, healthy: true };
      if (variant === 'owner')
        return { type: 'resign', captures: captures(true), resignIssued: true, healthy: true };
      if (variant === 'noOwner')
        return {
          type: 'resign',
          captures: captures().map((c) => ({ ...c, isOwner: false })),
          resignIssued: false,
          healthy: false,
        };
      return { type: 'resign', captures: captures(), resignIssued: false, healthy: variant !== 'unhealthy' };
    case 'drain':
      if (variant === 'zero')
        return {
          type: 'drain',
          counts: { maintainers: 0, dispatchers: 0 },
          target: { id: 'c1', liveness: 'Stopping' },
        };
      if (variant === 'same') return { type: 'drain', counts: { maintainers: 2, dispatchers: 10 } };
      return { type: 'drain', counts: { maintainers: 1, dispatchers: 5 } };
    case 'deletePod':
      return { type: 'podDeleted' };
    case 'awaitDeparture':
      return { type: 'departure', captures: variant === 'missing' ? captures(false, false) : captures() };
  }
}

export const CLASSES: ObservationClass[] = [
  { name: 'ok' },
  { name: 'ok:owner', outcome: (a) => natural(a, 'owner') },
  { name: 'ok:missing', outcome: (a) => natural(a, 'missing') },
  { name: 'ok:zero', outcome: (a) => natural(a, 'zero') },
  { name: 'ok:noProgress', outcome: (a) => natural(a, 'same') },
  { name: 'ok:noOwner', outcome: (a) => natural(a, 'noOwner') },
  { name: 'ok:unhealthy', outcome: (a) => natural(a, 'unhealthy') },
  { name: 'slotBusy', world: (c) => ({ ...c, slot: { free: false, holder: 'other' } }) },
  { name: 'podMissing', world: (c) => ({ ...c, pod: undefined }) },
  { name: 'podReplaced', world: (c) => ({ ...c, pod: { uid: 'uid-2', terminating: false } }) },
  { name: 'podTerminating', world: (c) => ({ ...c, pod: { uid: 'uid-1', terminating: true } }) },
  { name: 'timeout', world: (c) => ({ ...c, now: T0 + 601_000 }) },
  { name: 'stall', world: (c) => ({ ...c, now: T0 + 181_000 }) },
  ...ERRORS.map((kind) => ({
    name: `err:${kind}`,
    outcome: (a: Action): Outcome =>
      a.type === 'wait'
        ? { type: 'none' }
        : { type: 'error', kind, message: `${kind} happened`, retryable: false },
  })),
];
