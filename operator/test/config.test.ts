// Operator flags and their environment variables: parsing, defaults and readable errors.
import { describe, expect, test } from '@jest/globals';
import { CONFIG_USAGE, ConfigError, loadConfig } from '../src/config.js';

const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(argv, env);

describe('operator config: default Secrets', () => {
  test('unset by default', () => {
    const c = load([]);
    expect(c.defaultTlsSecret).toBeUndefined();
    expect(c.defaultCredentialsSecret).toBeUndefined();
  });

  test('flags set them', () => {
    const c = load(['--default-tls-secret', 'ticdc-tls', '--default-credentials-secret=ticdc.auth']);
    expect(c.defaultTlsSecret).toBe('ticdc-tls');
    expect(c.defaultCredentialsSecret).toBe('ticdc.auth');
  });

  test('environment variables set them; flags win over them', () => {
    const env = { DEFAULT_TLS_SECRET: 'env-tls', DEFAULT_CREDENTIALS_SECRET: 'env-creds' };
    expect(load([], env)).toMatchObject({
      defaultTlsSecret: 'env-tls',
      defaultCredentialsSecret: 'env-creds',
    });
    expect(load(['--default-tls-secret', 'flag-tls'], env)).toMatchObject({
      defaultTlsSecret: 'flag-tls',
      defaultCredentialsSecret: 'env-creds',
    });
  });

  test('an empty value means no default (an unset chart value renders as "")', () => {
    const c = load(['--default-tls-secret='], { DEFAULT_CREDENTIALS_SECRET: '' });
    expect(c.defaultTlsSecret).toBeUndefined();
    expect(c.defaultCredentialsSecret).toBeUndefined();
  });

  test.each([
    ['--default-tls-secret', 'Bad_Name', /defaultTlsSecret: a Secret name/],
    ['--default-credentials-secret', 'has space', /defaultCredentialsSecret: a Secret name/],
    ['--default-tls-secret', '-leading-dash', /defaultTlsSecret: a Secret name/],
    ['--default-tls-secret', 'a'.repeat(254), /defaultTlsSecret: .*253/],
  ])('%s %s is rejected', (flag, value, message) => {
    expect(() => load([`${flag}=${value}`])).toThrow(ConfigError);
    expect(() => load([`${flag}=${value}`])).toThrow(message);
  });

  test('a missing value is a usage error', () => {
    expect(() => load(['--default-tls-secret'])).toThrow(/--default-tls-secret.*argument/);
  });

  test('the usage text lists both flags and their environment variables', () => {
    expect(CONFIG_USAGE).toMatch(/--default-tls-secret NAME .*\[DEFAULT_TLS_SECRET\]/s);
    expect(CONFIG_USAGE).toMatch(/--default-credentials-secret NAME .*\[DEFAULT_CREDENTIALS_SECRET\]/);
  });
});

describe('operator config: leader election timings', () => {
  test('defaults: 10s / 7s / 1s, documented in the usage', () => {
    expect(load([])).toMatchObject({ leaseDuration: '10s', renewDeadline: '7s', retryPeriod: '1s' });
    for (const flag of [
      '--leader-elect-lease-duration',
      '--leader-elect-renew-deadline',
      '--leader-elect-retry-period',
    ])
      expect(CONFIG_USAGE).toContain(flag);
  });

  test('flags set them (durations)', () => {
    const c = load([
      '--leader-elect-lease-duration=15s',
      '--leader-elect-renew-deadline=10s',
      '--leader-elect-retry-period=2s',
    ]);
    expect(c).toMatchObject({ leaseDuration: '15s', renewDeadline: '10s', retryPeriod: '2s' });
  });

  test('renewDeadline < leaseDuration, retryPeriod x 1.2 < renewDeadline, durations only', () => {
    const bad = (argv: string[], msg: RegExp) => expect(() => load(argv)).toThrow(msg);
    bad(
      ['--leader-elect-lease-duration=7s'],
      /renew-deadline \(7s\) must be shorter than --leader-elect-lease-duration/,
    );
    bad(['--leader-elect-renew-deadline=12s'], /must be shorter/);
    bad(['--leader-elect-retry-period=7s'], /must be longer than 1.2 x --leader-elect-retry-period/);
    bad(['--leader-elect-retry-period=6s'], /1.2 x/);
    expect(() => load(['--leader-elect-lease-duration=ten'])).toThrow(ConfigError);
    bad(
      [
        '--leader-elect-lease-duration=500ms',
        '--leader-elect-renew-deadline=400ms',
        '--leader-elect-retry-period=100ms',
      ],
      /at least 1s/,
    );
  });
});

describe('operator config: allowed endpoints', () => {
  test('none by default: a CaptureDrain may not name its own endpoint', () => {
    expect(load([]).allowedEndpoints).toEqual([]);
  });

  test('the flag (or ALLOWED_ENDPOINTS) lists host patterns', () => {
    expect(load(['--allowed-endpoints', '*.tidb.svc, ticdc.example.com:8301']).allowedEndpoints).toEqual([
      '*.tidb.svc',
      'ticdc.example.com:8301',
    ]);
    expect(load([], { ALLOWED_ENDPOINTS: 'ticdc:8300' }).allowedEndpoints).toEqual(['ticdc:8300']);
    expect(CONFIG_USAGE).toContain('--allowed-endpoints');
  });

  test('a malformed pattern fails at start-up', () => {
    expect(() => load(['--allowed-endpoints', 'http://ticdc:8300'])).toThrow(ConfigError);
    expect(() => load(['--allowed-endpoints', '*'])).toThrow(/--allowed-endpoints: allowed endpoint "\*"/);
  });
});
