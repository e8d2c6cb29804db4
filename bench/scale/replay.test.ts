// The anchors' polling policies replayed on recorded timelines, and the percentile helpers.
import { describe, expect, it } from '@jest/globals';
import { backoffWithResync, fixedInterval, mean, percentile, replay } from './replay.js';

describe('fixedInterval', () => {
  it('polls from the start every interval until the first poll at or after zero', () => {
    expect(fixedInterval(1000)({ start: 10_000, zero: 12_500 })).toEqual([10_000, 11_000, 12_000, 13_000]);
    expect(fixedInterval(1000)({ start: 10_000, zero: 12_000 })).toEqual([10_000, 11_000, 12_000]);
  });
});

describe('backoffWithResync', () => {
  const policy = (epoch: number) =>
    backoffWithResync({ baseMs: 1000, maxMs: 4000, resyncMs: 30_000, resyncEpoch: epoch });

  it('doubles the delay up to its cap', () => {
    // start 0: 0, 1, 3, 7, 11, 15 s (delays 1, 2, 4, 4, 4); no resync before 30 s.
    expect(policy(-5000)({ start: 0, zero: 14_000 })).toEqual([0, 1000, 3000, 7000, 11_000, 15_000]);
  });

  it('releases at a resync that comes before the next backoff poll', () => {
    // Backoff polls at 0, 1, 3, 7, 11 s; the resync at 10 s (epoch -20 s) sees zero (9.5 s) first.
    expect(policy(-20_000)({ start: 0, zero: 9500 })).toEqual([0, 1000, 3000, 7000, 10_000]);
  });
});

describe('replay', () => {
  it('gives each timeline its lag (release poll - zero) and its request rate', () => {
    const r = replay(fixedInterval(1000), [
      { start: 0, zero: 2500 },
      { start: 0, zero: 4000 },
    ]);
    expect(r.lags).toEqual([500, 0]);
    // 4 polls over 3 s; 5 polls over 4 s.
    expect(r.rates).toEqual([4 / 3, 5 / 4]);
  });
});

describe('percentile and mean', () => {
  it('nearest rank; NaN for an empty sample (reported as not measured)', () => {
    const v = [5, 1, 4, 2, 3];
    expect([percentile(v, 50), percentile(v, 99), percentile(v, 0), percentile([7], 99)]).toEqual([
      3, 5, 1, 7,
    ]);
    expect(percentile([], 50)).toBeNaN();
    expect(mean([1, 2, 6])).toBe(3);
    expect(mean([])).toBeNaN();
  });
});
