import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, test } from '@jest/globals';
import {
  admissionResponse,
  parseAdmissionReview,
  type AdmissionRequest,
} from '../../src/webhook/admission.js';
import type { CertSource } from '../../src/webhook/cert-sources.js';
import { renew, type KeyPairPem, type WebhookPki } from '../../src/webhook/certs.js';
import { GATE_PATH, WebhookServer } from '../../src/webhook/server.js';
import { DEFAULT_CERT_POLICY } from '../../src/webhook/certs.js';

const pkiFor = (now = Date.now()): WebhookPki =>
  renew(undefined, 'all', { hosts: ['127.0.0.1'], now, policy: DEFAULT_CERT_POLICY, commonName: 'test' });

class MemorySource implements CertSource {
  readonly description = 'memory';
  pair: KeyPairPem | undefined;
  async load(): Promise<KeyPairPem> {
    if (!this.pair) throw new Error('no certificate yet');
    return this.pair;
  }
}

function post(
  port: number,
  ca: string,
  body: string,
  opts: { path?: string; contentType?: string } = {},
): Promise<{ status: number; json: Record<string, unknown>; peerCert: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? GATE_PATH,
        method: 'POST',
        ca,
        agent: false,
        headers: { 'Content-Type': opts.contentType ?? 'application/json' },
      },
      (res) => {
        const peer = (res.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256 ?? '';
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode!, json: JSON.parse(text || '{}'), peerCert: peer }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const review = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'abc-123',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      name: 'ticdc-0',
      namespace: 'tidb',
      operation: 'DELETE',
      userInfo: { username: 'alice', groups: ['system:authenticated'] },
      oldObject: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'ticdc-0' } },
      object: null,
      dryRun: false,
      somethingNew: { field: 1 },
      ...over,
    },
  });

let server: WebhookServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('webhook server', () => {
  test('is not ready without a certificate, serves once one loads, and answers AdmissionReviews', async () => {
    const source = new MemorySource();
    const seen: AdmissionRequest[] = [];
    server = new WebhookServer({
      host: '127.0.0.1',
      port: 0,
      source,
      review: async (r) => {
        seen.push(r);
        return { allowed: false, code: 429, message: 'must be drained first' };
      },
    });
    expect(await server.refresh()).toBe(false);
    expect(server.readyCheck()).toContain('not loaded');
    const pki = pkiFor();
    source.pair = pki.serving;
    expect(await server.refresh()).toBe(true);
    expect(server.readyCheck()).toBeUndefined();
    const res = await post(server.port, pki.caBundle, review());
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: {
        uid: 'abc-123',
        allowed: false,
        status: { status: 'Failure', code: 429, reason: 'TooManyRequests', message: 'must be drained first' },
      },
    });
    expect(seen[0]?.userInfo.username).toBe('alice');
  });

  test('malformed requests get 400 with the reason; other paths 404; other content types 415', async () => {
    const source = new MemorySource();
    const pki = pkiFor();
    source.pair = pki.serving;
    server = new WebhookServer({
      host: '127.0.0.1',
      port: 0,
      source,
      review: async () => ({ allowed: true }),
    });
    await server.refresh();
    const bad = await post(server.port, pki.caBundle, review({ uid: undefined }));
    expect(bad.status).toBe(400);
    expect(String(bad.json.message)).toContain('request.uid');
    expect((await post(server.port, pki.caBundle, '{not json')).status).toBe(400);
    expect((await post(server.port, pki.caBundle, review(), { path: '/other' })).status).toBe(404);
    expect((await post(server.port, pki.caBundle, review(), { contentType: 'text/plain' })).status).toBe(415);
  });

  test('a renewed certificate is served without a restart', async () => {
    const source = new MemorySource();
    const first = pkiFor();
    source.pair = first.serving;
    server = new WebhookServer({
      host: '127.0.0.1',
      port: 0,
      source,
      review: async () => ({ allowed: true }),
    });
    await server.refresh();
    const a = await post(server.port, first.caBundle, review());
    const second = pkiFor();
    source.pair = second.serving;
    await server.refresh();
    const b = await post(server.port, second.caBundle, review());
    expect(a.peerCert).toBe(new X509Certificate(first.serving.certPem).fingerprint256);
    expect(b.peerCert).toBe(new X509Certificate(second.serving.certPem).fingerprint256);
    // The old CA no longer verifies the server.
    await expect(post(server.port, first.caBundle, review())).rejects.toThrow();
  });
});

describe('admission parsing', () => {
  test('keeps unknown fields and reads DELETE and eviction requests', () => {
    const r = parseAdmissionReview(JSON.parse(review()));
    expect(r.operation).toBe('DELETE');
    expect((r as Record<string, unknown>).somethingNew).toEqual({ field: 1 });
  });

  test('rejects what is not an AdmissionReview v1', () => {
    expect(() =>
      parseAdmissionReview({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview' }),
    ).toThrow(/apiVersion/);
    expect(() => parseAdmissionReview(JSON.parse(review({ operation: 'PATCH' })))).toThrow(/operation/);
  });

  test('allowed responses carry no status unless there is a message; warnings pass through', () => {
    expect(admissionResponse('u', { allowed: true })).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'u', allowed: true },
    });
    expect(admissionResponse('u', { allowed: true, warnings: ['w'] }).response).toEqual({
      uid: 'u',
      allowed: true,
      warnings: ['w'],
    });
    expect(admissionResponse('u', { allowed: false, message: 'no' }).response).toMatchObject({
      status: { code: 403, reason: 'Forbidden', message: 'no' },
    });
  });
});
