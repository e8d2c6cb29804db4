import { describe, expect, test } from '@jest/globals';
import { CONFIG_USAGE, ConfigError, loadConfig } from '../src/config.js';

describe('webhook flags', () => {
  test('no --webhook-address: no webhook server', () => {
    expect(loadConfig([], {}).webhook).toBeUndefined();
    expect(
      loadConfig(['--webhook-address', '127.0.0.1:1', '--webhook-hosts', 'h'], {}).webhook,
    ).toMatchObject({
      certMode: 'operator',
      certDir: '/etc/capture-drain/webhook',
      secret: 'capture-drain-operator-webhook-cert',
      configuration: 'capture-drain-operator',
    });
  });

  test('operator mode with hosts; ":PORT" listens on every interface', () => {
    const c = loadConfig(
      [
        '--webhook-address',
        ':9443',
        '--webhook-hosts',
        'cdo-webhook.ops.svc, cdo-webhook.ops.svc.cluster.local',
        '--webhook-secret',
        's',
        '--webhook-configuration',
        'cdo',
      ],
      {},
    );
    expect(c.webhook).toEqual({
      host: '0.0.0.0',
      port: 9443,
      certMode: 'operator',
      certDir: '/etc/capture-drain/webhook',
      hosts: ['cdo-webhook.ops.svc', 'cdo-webhook.ops.svc.cluster.local'],
      secret: 's',
      configuration: 'cdo',
    });
  });

  test('files mode needs no hosts', () => {
    const c = loadConfig(
      ['--webhook-address', '127.0.0.1:0', '--webhook-cert-mode', 'files', '--webhook-cert-dir', '/tmp/x'],
      {},
    );
    expect(c.webhook).toMatchObject({
      host: '127.0.0.1',
      port: 0,
      certMode: 'files',
      certDir: '/tmp/x',
      hosts: [],
    });
  });

  test('bad input gets clear errors', () => {
    expect(() => loadConfig(['--webhook-address', '9443'], {})).toThrow(
      /--webhook-address must be HOST:PORT/,
    );
    expect(() => loadConfig(['--webhook-address', ':9443'], {})).toThrow(/--webhook-hosts is required/);
    expect(() => loadConfig(['--webhook-address', ':9443', '--webhook-cert-mode', 'acme'], {})).toThrow(
      ConfigError,
    );
    expect(() => loadConfig(['--webhook-address', ':99999', '--webhook-hosts', 'a'], {})).toThrow(
      /webhook.port/,
    );
  });

  test('usage lists every webhook flag', () => {
    for (const f of ['address', 'cert-mode', 'cert-dir', 'secret', 'configuration', 'hosts'])
      expect(CONFIG_USAGE).toContain(`--webhook-${f}`);
  });
});
