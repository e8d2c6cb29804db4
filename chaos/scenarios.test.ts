import { describe, expect, test } from '@jest/globals';
import { kubernetesScenarios, operationScenarios, SHORT_RUN, ticdcScenarios } from './scenarios.js';

describe('scenario lists', () => {
  test("every name of the short run is a scenario's (a misspelt one would silently not run)", () => {
    const names = new Set(
      [...ticdcScenarios(), ...kubernetesScenarios(), ...operationScenarios(3)].map((s) => s.name),
    );
    expect([...SHORT_RUN].filter((n) => !names.has(n))).toEqual([]);
    // Each group keeps at least one scenario in the short run.
    for (const group of [ticdcScenarios(), kubernetesScenarios(), operationScenarios(3)])
      expect(group.some((s) => SHORT_RUN.has(s.name))).toBe(true);
  });
});
