import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import {
  DEFAULT_CERT_POLICY,
  coversHost,
  issueCa,
  issueServing,
  notAfter,
  renew,
  renewalNeeded,
  splitPem,
  type CertPolicy,
} from '../../src/webhook/certs.js';
import {
  FileCertSource,
  SecretCertSource,
  assertUsable,
  pkiFromSecret,
  secretData,
} from '../../src/webhook/cert-sources.js';
import { Resources, type KubeObject } from '../../src/kube/port.js';
import { FakeKube, conflict } from '../support/fake-kube.js';

const DAY = 24 * 3600 * 1000;
const T0 = Date.parse('2026-03-01T00:00:00Z');
const HOSTS = ['cdo-webhook.ops.svc', '127.0.0.1'];
const opts = (now: number, hosts = HOSTS, policy: CertPolicy = DEFAULT_CERT_POLICY) => ({
  hosts,
  now,
  policy,
  commonName: 'test-ca',
});

describe('webhook PKI', () => {
  const pki = renew(undefined, 'all', opts(T0));

  test('issues a CA and a serving certificate for DNS names and IPs, signed by it', () => {
    const ca = new X509Certificate(pki.ca.certPem);
    const leaf = new X509Certificate(pki.serving.certPem);
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(coversHost(pki.serving.certPem, 'cdo-webhook.ops.svc')).toBe(true);
    expect(coversHost(pki.serving.certPem, '127.0.0.1')).toBe(true);
    expect(coversHost(pki.serving.certPem, 'other.svc')).toBe(false);
    expect(notAfter(pki.serving.certPem)).toBeGreaterThan(T0 + 364 * DAY);
    expect(splitPem(pki.caBundle)).toHaveLength(1);
  });

  test('a fresh PKI needs nothing; missing or broken ones start over', () => {
    expect(renewalNeeded(pki, HOSTS, T0, DEFAULT_CERT_POLICY)).toBe('none');
    expect(renewalNeeded(undefined, HOSTS, T0, DEFAULT_CERT_POLICY)).toBe('all');
    expect(
      renewalNeeded(
        { ...pki, serving: { ...pki.serving, keyPem: pki.ca.keyPem } },
        HOSTS,
        T0,
        DEFAULT_CERT_POLICY,
      ),
    ).toBe('all');
    expect(
      renewalNeeded({ ...pki, serving: { ...pki.serving, certPem: 'junk' } }, HOSTS, T0, DEFAULT_CERT_POLICY),
    ).toBe('all');
  });

  test('renews the serving certificate before it expires, and when the hosts change', () => {
    expect(renewalNeeded(pki, HOSTS, T0 + 270 * DAY, DEFAULT_CERT_POLICY)).toBe('none');
    expect(renewalNeeded(pki, HOSTS, T0 + 280 * DAY, DEFAULT_CERT_POLICY)).toBe('serving');
    expect(renewalNeeded(pki, [...HOSTS, 'new.svc'], T0, DEFAULT_CERT_POLICY)).toBe('serving');
    const next = renew(pki, 'serving', opts(T0 + 280 * DAY));
    expect(next.ca.certPem).toBe(pki.ca.certPem);
    expect(next.serving.certPem).not.toBe(pki.serving.certPem);
    expect(renewalNeeded(next, HOSTS, T0 + 280 * DAY, DEFAULT_CERT_POLICY)).toBe('none');
  });

  test('renews the CA a year before it expires and keeps the old CA trusted while it is valid', () => {
    const at = T0 + (10 * 365 - 300) * DAY;
    expect(renewalNeeded(pki, HOSTS, at, DEFAULT_CERT_POLICY)).toBe('ca');
    const next = renew(pki, 'ca', opts(at));
    expect(next.ca.certPem).not.toBe(pki.ca.certPem);
    const bundle = splitPem(next.caBundle).map((c) => new X509Certificate(c).fingerprint256);
    expect(bundle).toEqual([
      new X509Certificate(next.ca.certPem).fingerprint256,
      new X509Certificate(pki.ca.certPem).fingerprint256,
    ]);
    expect(
      new X509Certificate(next.serving.certPem).verify(new X509Certificate(next.ca.certPem).publicKey),
    ).toBe(true);
    // Once the old CA has expired it leaves the bundle on the next renewal.
    const later = renew(next, 'serving', opts(T0 + 10 * 365 * DAY + DAY));
    expect(splitPem(later.caBundle)).toHaveLength(1);
  });

  test('a serving certificate from a CA not in the bundle is renewed', () => {
    const other = issueCa({ commonName: 'other', now: T0, validityMs: 3650 * DAY });
    const foreign = issueServing({ ca: other, hosts: HOSTS, now: T0, validityMs: 365 * DAY });
    expect(renewalNeeded({ ...pki, serving: foreign }, HOSTS, T0, DEFAULT_CERT_POLICY)).toBe('serving');
  });

  test('Secret round trip', () => {
    expect(pkiFromSecret({ metadata: {}, data: secretData(pki) } as KubeObject)).toEqual(pki);
    expect(pkiFromSecret({ metadata: {}, data: {} } as KubeObject)).toBeUndefined();
    expect(pkiFromSecret(undefined)).toBeUndefined();
  });
});

describe('SecretCertSource', () => {
  const NS = 'ops';
  const vwc = (): KubeObject => ({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: 'cdo' },
    webhooks: [
      { name: 'pod-delete.drain.ticdc.io', clientConfig: { url: 'https://127.0.0.1:1/x' } },
      { name: 'pod-eviction.drain.ticdc.io', clientConfig: { url: 'https://127.0.0.1:1/x' } },
    ],
  });
  const source = (kube: FakeKube, now = () => T0) =>
    new SecretCertSource({
      kube,
      namespace: NS,
      secretName: 'cdo-webhook-cert',
      webhookConfiguration: 'cdo',
      hosts: HOSTS,
      now,
    });
  const bundleOf = (kube: FakeKube) =>
    kube
      .peek<KubeObject & { webhooks: { clientConfig: { caBundle?: string } }[] }>(
        Resources.validatingwebhookconfigurations,
        undefined,
        'cdo',
      )!
      .webhooks.map((w) => w.clientConfig.caBundle);

  test('the first replica creates the Secret and publishes the caBundle on every webhook', async () => {
    const kube = new FakeKube();
    kube.seed(Resources.validatingwebhookconfigurations, vwc());
    const pair = await source(kube).load();
    const secret = kube.peek<KubeObject & { data: Record<string, string>; type: string }>(
      Resources.secrets,
      NS,
      'cdo-webhook-cert',
    )!;
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Buffer.from(secret.data['tls.crt']!, 'base64').toString()).toBe(pair.certPem);
    const want = secret.data['ca.crt'];
    expect(bundleOf(kube)).toEqual([want, want]);
  });

  test('another replica reuses the Secret: no new certificate, no second patch', async () => {
    const kube = new FakeKube();
    kube.seed(Resources.validatingwebhookconfigurations, vwc());
    const a = await source(kube).load();
    const patches = kube.callsOf('patch').length;
    const b = await source(kube).load();
    expect(b).toEqual(a);
    expect(kube.callsOf('create').length).toBe(1);
    expect(kube.callsOf('patch').length).toBe(patches);
  });

  test('a replica that loses the create race uses the winner certificate', async () => {
    const kube = new FakeKube();
    const winner = source(kube);
    const loser = source(kube);
    // The loser's GET sees nothing; the winner creates in between; the loser's create then conflicts.
    const w = await winner.sync();
    const realGet = kube.get.bind(kube);
    let first = true;
    kube.get = (async (type, ns, name) => {
      if (first && type === Resources.secrets) {
        first = false;
        return undefined;
      }
      return realGet(type, ns, name);
    }) as typeof kube.get;
    const l = await loser.sync();
    expect(l.serving.certPem).toBe(w.serving.certPem);
  });

  test('renews before expiry with an optimistic update and republishes', async () => {
    const kube = new FakeKube();
    kube.seed(Resources.validatingwebhookconfigurations, vwc());
    let now = T0;
    const s = source(kube, () => now);
    const first = await s.load();
    now = T0 + 300 * DAY;
    const second = await s.load();
    expect(second.certPem).not.toBe(first.certPem);
    expect(kube.callsOf('replace')).toHaveLength(1);
    // Same CA: the bundle did not change, so no new caBundle patch was needed.
    const secret = kube.peek<KubeObject & { data: Record<string, string> }>(
      Resources.secrets,
      NS,
      'cdo-webhook-cert',
    )!;
    expect(bundleOf(kube)).toEqual([secret.data['ca.crt'], secret.data['ca.crt']]);
  });

  test('an update conflict re-reads and converges', async () => {
    const kube = new FakeKube();
    let now = T0;
    const s = source(kube, () => now);
    await s.sync();
    now = T0 + 300 * DAY;
    kube.failNext('replace', conflict(Resources.secrets, 'cdo-webhook-cert'));
    const pki = await s.sync();
    expect(renewalNeeded(pki, HOSTS, now, DEFAULT_CERT_POLICY)).toBe('none');
  });

  test('a wiped caBundle is restored; a missing configuration is not an error', async () => {
    const kube = new FakeKube();
    const s = source(kube);
    await expect(s.load()).resolves.toBeDefined();
    kube.seed(Resources.validatingwebhookconfigurations, vwc());
    await s.load();
    expect(bundleOf(kube).every(Boolean)).toBe(true);
    await kube.patch(
      Resources.validatingwebhookconfigurations,
      undefined,
      'cdo',
      [{ op: 'remove', path: '/webhooks/1/clientConfig/caBundle' }],
      'json',
    );
    expect(
      await s.publishCaBundle(pkiFromSecret(kube.peek(Resources.secrets, NS, 'cdo-webhook-cert'))!.caBundle),
    ).toBe(true);
    expect(bundleOf(kube).every(Boolean)).toBe(true);
  });
});

describe('FileCertSource', () => {
  test('reads tls.crt/tls.key from the directory each time (a renewed mounted Secret is picked up)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdo-webhook-'));
    const source = new FileCertSource(dir);
    await expect(source.load()).rejects.toThrow(/tls\.crt|ENOENT/);
    const a = renew(undefined, 'all', opts(T0)).serving;
    writeFileSync(join(dir, 'tls.crt'), a.certPem);
    writeFileSync(join(dir, 'tls.key'), a.keyPem);
    expect(await source.load()).toEqual(a);
    const b = renew(undefined, 'all', opts(T0)).serving;
    writeFileSync(join(dir, 'tls.crt'), b.certPem);
    writeFileSync(join(dir, 'tls.key'), b.keyPem);
    expect(await source.load()).toEqual(b);
    // A certificate with the wrong key cannot back the server.
    expect(() => assertUsable({ certPem: a.certPem, keyPem: b.keyPem })).toThrow();
  });
});
