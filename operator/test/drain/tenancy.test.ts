// What a CaptureDrain's creator may make the operator do: the pure rules of drain/tenancy.ts.
import { describe, expect, test } from '@jest/globals';
import { BUILTIN_DEFAULTS } from '../../src/drain/settings.js';
import {
  capturePodRefusal,
  endpointAllowed,
  parseEndpointPattern,
  parseEndpointPatterns,
  specRefusal,
} from '../../src/drain/tenancy.js';
import type { StatefulSet } from '../../src/kube/objects.js';
import { capturePod } from '../support/builders.js';

const sts = (
  over: { uid?: string; labels?: Record<string, string>; annotations?: Record<string, string> } = {},
) =>
  ({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name: 'ticdc',
      namespace: 'tidb',
      uid: over.uid ?? 'sts-ticdc',
      labels: over.labels ?? { 'drain.ticdc.io/managed': 'true' },
      annotations: over.annotations ?? {
        'drain.ticdc.io/endpoint': 'http://ticdc.tidb.svc:8300',
        'drain.ticdc.io/credentials-secret': 'ticdc-creds',
        'drain.ticdc.io/tls-secret': 'ticdc-tls',
      },
    },
  }) satisfies StatefulSet;

describe('capturePodRefusal', () => {
  test('a managed pod controlled by its managed StatefulSet is drained', () => {
    expect(capturePodRefusal(capturePod('ticdc-0', { statefulSetUid: 'sts-ticdc' }), sts())).toBeUndefined();
  });

  test.each([
    [
      'an unlabelled pod (a database)',
      capturePod('victim', { managed: false }),
      sts(),
      /not a managed capture pod/,
    ],
    [
      'a labelled pod without a StatefulSet',
      capturePod('bare', { statefulSet: null }),
      undefined,
      /not controlled by a StatefulSet/,
    ],
    [
      'a labelled pod whose StatefulSet is gone',
      capturePod('ticdc-0', { statefulSetUid: 'sts-ticdc' }),
      undefined,
      /does not exist/,
    ],
    [
      'a labelled pod naming a StatefulSet of the same name but another UID',
      capturePod('ticdc-0', { statefulSetUid: 'forged' }),
      sts(),
      /does not exist/,
    ],
    [
      'a labelled pod of an unmanaged StatefulSet',
      capturePod('db-0', { statefulSetUid: 'sts-ticdc' }),
      sts({ labels: {} }),
      /StatefulSet ticdc of pod tidb\/db-0 is not labelled drain.ticdc.io\/managed=true/,
    ],
  ])('%s is refused', (_what, pod, statefulSet, message) => {
    expect(capturePodRefusal(pod, statefulSet)).toMatch(message);
  });
});

describe('allowed endpoint patterns', () => {
  test.each([
    ['ticdc.tidb.svc', 'http://ticdc.tidb.svc:8300', true],
    ['ticdc.tidb.svc', 'https://TICDC.tidb.svc', true],
    ['ticdc.tidb.svc:8300', 'http://ticdc.tidb.svc:8300', true],
    ['ticdc.tidb.svc:8300', 'http://ticdc.tidb.svc:8301', false],
    ['ticdc.tidb.svc:443', 'https://ticdc.tidb.svc', true],
    ['*.tidb.svc', 'http://ticdc-peer.tidb.svc:8300', true],
    ['*.tidb.svc', 'http://a.b.tidb.svc:8300', true],
    ['*.tidb.svc', 'http://tidb.svc:8300', false],
    ['*.tidb.svc', 'http://eviltidb.svc:8300', false],
    ['*.tidb.svc', 'http://ticdc.tidb.svc.evil.example:8300', false],
    ['127.0.0.1:8300', 'http://127.0.0.1:8300', true],
    ['127.0.0.1:8300', 'http://127.0.0.2:8300', false],
    ['[::1]:8300', 'http://[::1]:8300', true],
    ['ticdc.tidb.svc', 'http://user:pw@evil.example/?ticdc.tidb.svc', false],
  ])('%s vs %s: %s', (pattern, url, allowed) => {
    expect(endpointAllowed(url, [parseEndpointPattern(pattern)])).toBe(allowed);
  });

  test('no patterns allow nothing; blank entries are ignored', () => {
    expect(endpointAllowed('http://ticdc:8300', [])).toBe(false);
    expect(parseEndpointPatterns(['', ' ticdc ', ''])).toEqual([
      { host: 'ticdc', wildcard: false, text: 'ticdc' },
    ]);
  });

  test.each(['*', '*.svc.', 'http://ticdc', 'ticdc/x', 'ticdc:0', 'ticdc:99999', '*.[::1]', 'a..b', '*.svc'])(
    '%s is rejected',
    (p) => {
      expect(() => parseEndpointPattern(p)).toThrow(/allowed endpoint/);
    },
  );
});

describe('specRefusal', () => {
  const base = { statefulSet: sts(), defaults: BUILTIN_DEFAULTS, allowedEndpoints: [] };

  test('no cluster overrides, or overrides that repeat what the StatefulSet names, are honoured', () => {
    expect(specRefusal({ ...base, spec: { podName: 'ticdc-0' } })).toBeUndefined();
    expect(
      specRefusal({
        ...base,
        spec: {
          cluster: {
            endpoint: 'http://ticdc.tidb.svc:8300/',
            credentialsSecretRef: { name: 'ticdc-creds' },
            tlsSecretRef: { name: 'ticdc-tls' },
          },
        },
      }),
    ).toBeUndefined();
  });

  test("an endpoint the StatefulSet does not name is refused unless the operator's allow-list matches it", () => {
    const spec = { cluster: { endpoint: 'http://127.0.0.1:9999' } };
    expect(specRefusal({ ...base, spec })).toMatch(
      /spec.cluster.endpoint "http:\/\/127.0.0.1:9999" is not allowed.*--allowed-endpoints \(none\)/,
    );
    expect(
      specRefusal({ ...base, spec, allowedEndpoints: [parseEndpointPattern('127.0.0.1:9999')] }),
    ).toBeUndefined();
    // The operator's own default endpoint is trusted, even without a StatefulSet (captureAddress drains).
    expect(
      specRefusal({
        spec,
        defaults: { ...BUILTIN_DEFAULTS, endpoint: 'http://127.0.0.1:9999' },
        allowedEndpoints: [],
      }),
    ).toBeUndefined();
    expect(specRefusal({ spec, defaults: BUILTIN_DEFAULTS, allowedEndpoints: [] })).toMatch(/not allowed/);
  });

  test('a Secret neither the StatefulSet nor the defaults name is refused, even towards an allowed endpoint', () => {
    const allowedEndpoints = [parseEndpointPattern('*.tidb.svc')];
    expect(
      specRefusal({
        ...base,
        allowedEndpoints,
        spec: {
          cluster: { endpoint: 'http://other.tidb.svc:8300', credentialsSecretRef: { name: 'db-admin' } },
        },
      }),
    ).toMatch(/spec.cluster.credentialsSecretRef names Secret "db-admin", which neither/);
    expect(specRefusal({ ...base, spec: { cluster: { tlsSecretRef: { name: 'other-tls' } } } })).toMatch(
      /spec.cluster.tlsSecretRef names Secret "other-tls"/,
    );
    expect(
      specRefusal({
        spec: { cluster: { credentialsSecretRef: { name: 'shared' } } },
        defaults: { ...BUILTIN_DEFAULTS, credentialsSecret: 'shared' },
        allowedEndpoints: [],
      }),
    ).toBeUndefined();
  });

  test('insecureSkipVerify is refused when credentials would go over the unverified connection', () => {
    expect(specRefusal({ ...base, spec: { cluster: { insecureSkipVerify: true } } })).toMatch(
      /insecureSkipVerify would send the credentials of Secret ticdc-creds/,
    );
    expect(
      specRefusal({
        ...base,
        statefulSet: sts({ annotations: { 'drain.ticdc.io/endpoint': 'https://ticdc.tidb.svc:8300' } }),
        spec: { cluster: { insecureSkipVerify: true } },
      }),
    ).toBeUndefined();
  });
});
