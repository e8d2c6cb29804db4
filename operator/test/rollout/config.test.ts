// --rollouts: on by default, off with false, anything else is a clear error.
import { describe, expect, test } from '@jest/globals';
import { CONFIG_USAGE, ConfigError, loadConfig } from '../../src/config.js';

describe('--rollouts', () => {
  test('defaults to on', () => expect(loadConfig([], {}).rollouts).toBe(true));
  test('true|false', () => {
    expect(loadConfig(['--rollouts', 'false'], {}).rollouts).toBe(false);
    expect(loadConfig(['--rollouts=TRUE'], {}).rollouts).toBe(true);
  });
  test('rejects other values', () => {
    expect(() => loadConfig(['--rollouts', 'yes'], {})).toThrow(ConfigError);
    expect(() => loadConfig(['--rollouts', 'yes'], {})).toThrow(
      '--rollouts must be true or false, got "yes"',
    );
  });
  test('is in the usage text', () => expect(CONFIG_USAGE).toMatch(/--rollouts true\|false/));
});
