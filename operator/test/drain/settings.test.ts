// Settings resolution order: spec, then the StatefulSet's annotations, then the operator's defaults.
import { describe, expect, test } from '@jest/globals';
import { TicdcClientPool, type TicdcClientFactory } from '../../src/drain/ticdc-clients.js';
import {
  BUILTIN_DEFAULTS,
  SettingsError,
  resolveSettings,
  type OperatorDefaults,
} from '../../src/drain/settings.js';
import type { CaptureDrainSpec } from '../../src/api/capturedrain.js';
import { Resources } from '../../src/kube/port.js';
import type { TicdcClient } from '../../src/ticdc/types.js';
import { FakeKube } from '../support/fake-kube.js';
import { SETTINGS_ANNOTATIONS } from '../../src/api/names.js';
import type { StatefulSet } from '../../src/kube/objects.js';

const defaults: OperatorDefaults = {
  ...BUILTIN_DEFAULTS,
  endpoint: 'http://ticdc-default:8300',
  tlsSecret: 'default-tls',
  credentialsSecret: 'default-creds',
};
const sts = (annotations: Record<string, string>): StatefulSet => ({
  metadata: { name: 'ticdc', namespace: 'tidb', annotations },
  spec: { serviceName: 'ticdc-peer' },
});
const resolve = (spec: CaptureDrainSpec, statefulSet?: StatefulSet, d = defaults) =>
  resolveSettings({ namespace: 'tidb', spec, ...(statefulSet ? { statefulSet } : {}), defaults: d });

describe('settings resolution: TLS and credentials Secrets', () => {
  test('the operator defaults apply when neither spec nor StatefulSet names a Secret', () => {
    const s = resolve({ podName: 'ticdc-0' }, sts({}));
    expect(s.cluster.tlsSecret).toBe('default-tls');
    expect(s.cluster.credentialsSecret).toBe('default-creds');
    // A TLS Secret means TLS: the default endpoint is upgraded like an annotated one.
    expect(s.cluster.endpoint).toBe('https://ticdc-default:8300');
  });

  test('the StatefulSet annotations win over the defaults', () => {
    const s = resolve(
      { podName: 'ticdc-0' },
      sts({
        [SETTINGS_ANNOTATIONS.endpoint]: 'https://ticdc:8300',
        [SETTINGS_ANNOTATIONS.tlsSecret]: 'sts-tls',
        [SETTINGS_ANNOTATIONS.credentialsSecret]: 'sts-creds',
      }),
    );
    expect(s.cluster).toMatchObject({
      endpoint: 'https://ticdc:8300',
      tlsSecret: 'sts-tls',
      credentialsSecret: 'sts-creds',
    });
  });

  test('the spec wins over both, each Secret on its own', () => {
    const s = resolve(
      { podName: 'ticdc-0', cluster: { tlsSecretRef: { name: 'spec-tls' } } },
      sts({ [SETTINGS_ANNOTATIONS.credentialsSecret]: 'sts-creds' }),
    );
    expect(s.cluster.tlsSecret).toBe('spec-tls');
    expect(s.cluster.credentialsSecret).toBe('sts-creds');
  });

  test('without defaults nothing is invented', () => {
    const s = resolve({ podName: 'ticdc-0' }, sts({ [SETTINGS_ANNOTATIONS.endpoint]: 'http://ticdc:8300' }), {
      ...BUILTIN_DEFAULTS,
    });
    expect(s.cluster).toEqual({ endpoint: 'http://ticdc:8300', insecureSkipVerify: false });
  });

  test('timeouts follow the same order', () => {
    const d = { ...defaults, timeout: '20m', stallTimeout: '5m', onTimeout: 'Release' as const };
    expect(resolve({ podName: 'p' }, sts({}), d).policy).toMatchObject({
      timeoutMs: 20 * 60_000,
      stallTimeoutMs: 5 * 60_000,
      onTimeout: 'Release',
    });
    expect(
      resolve({ podName: 'p' }, sts({ [SETTINGS_ANNOTATIONS.timeout]: '15m' }), d).policy.timeoutMs,
    ).toBe(15 * 60_000);
    expect(
      resolve({ podName: 'p', timeout: '12m' }, sts({ [SETTINGS_ANNOTATIONS.timeout]: '15m' }), d).policy
        .timeoutMs,
    ).toBe(12 * 60_000);
  });

  test('no endpoint anywhere is a readable error', () => {
    expect(() => resolve({ podName: 'p' }, sts({}), { ...BUILTIN_DEFAULTS })).toThrow(SettingsError);
    expect(() => resolve({ podName: 'p' }, sts({}), { ...BUILTIN_DEFAULTS })).toThrow(/no TiCDC endpoint/);
  });
});

describe('default Secrets are read from the drain namespace', () => {
  const pem = (label: string) =>
    Buffer.from(`-----BEGIN ${label}-----\nAAAA\n-----END ${label}-----\n`).toString('base64');
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  test('the pool fetches the default Secrets from the namespace it is given', async () => {
    const kube = new FakeKube();
    kube.seed(Resources.secrets, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'default-tls', namespace: 'tidb' },
      data: { 'ca.crt': pem('CERTIFICATE') },
    });
    kube.seed(Resources.secrets, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'default-creds', namespace: 'tidb' },
      data: { username: b64('root'), password: b64('secret') },
    });
    const made: Parameters<TicdcClientFactory>[0][] = [];
    const pool = new TicdcClientPool(kube, {
      factory: (opts) => {
        made.push(opts);
        return { close: async () => {} } as unknown as TicdcClient;
      },
    });
    const s = resolve({ podName: 'ticdc-0' }, sts({}));
    await pool.get('tidb', s.cluster);
    expect(made).toHaveLength(1);
    expect(made[0]!.endpoint).toBe('https://ticdc-default:8300');
    expect(made[0]!.credentials).toEqual({ username: 'root', password: 'secret' });
    expect(made[0]!.tls?.ca).toBeDefined();
    const gets = kube.callsOf('get').map((c) => `${c.namespace}/${c.name}`);
    expect(gets).toEqual(['tidb/default-tls', 'tidb/default-creds']);

    // Another namespace has no such Secrets: the error names the namespace it looked in.
    await expect(pool.get('other', s.cluster)).rejects.toThrow('Secret other/default-tls not found');
  });
});
