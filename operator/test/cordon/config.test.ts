// The --node-drains flag (node cordon controller on/off).
import { describe, expect, test } from '@jest/globals';
import { CONFIG_USAGE, ConfigError, loadConfig } from '../../src/config.js';

describe('--node-drains', () => {
  test('defaults to true', () => {
    expect(loadConfig([], {}).nodeDrains).toBe(true);
  });

  test.each([
    [['--node-drains', 'false'], {}, false],
    [['--node-drains', 'TRUE'], {}, true],
    [[], { NODE_DRAINS: 'false' }, false],
    [['--node-drains', 'true'], { NODE_DRAINS: 'false' }, true],
  ])('%j with env %j -> %s', (argv, env, want) => {
    expect(loadConfig(argv, env).nodeDrains).toBe(want);
  });

  test('anything else is a clear error', () => {
    expect(() => loadConfig(['--node-drains', 'maybe'], {})).toThrow(ConfigError);
    expect(() => loadConfig(['--node-drains', 'maybe'], {})).toThrow(
      '--node-drains must be true or false, got "maybe"',
    );
  });

  test('is in the usage text', () => {
    expect(CONFIG_USAGE).toMatch(/--node-drains true\|false .*default true/);
  });
});
