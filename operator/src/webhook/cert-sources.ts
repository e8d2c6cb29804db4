// Where the webhook's serving certificate comes from.
// - SecretCertSource (--webhook-cert-mode operator): a self-signed CA and serving certificate in a
//   Secret of the operator's namespace. Every replica runs it: the first creates the Secret, the
//   others (409 on create, or a stale resourceVersion on update) re-read and use the winner's. It
//   renews before expiry and keeps the ValidatingWebhookConfiguration's caBundle current.
// - FileCertSource (--webhook-cert-mode files): tls.crt/tls.key from a directory (a mounted
//   cert-manager Secret); the kubelet swaps the files on renewal and the next poll picks them up.
import { Buffer } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { KubeApiError, Resources, type KubeClient, type KubeObject } from '../kube/port.js';
import { silentLogger } from '../observability/logger.js';
import {
  DEFAULT_CERT_POLICY,
  renew,
  renewalNeeded,
  type CertPolicy,
  type KeyPairPem,
  type WebhookPki,
} from './certs.js';
import { OPERATOR_NAME } from '../api/names.js';

export interface CertSource {
  readonly description: string;
  /** The serving pair to use now; throws when none is available yet. */
  load(): Promise<KeyPairPem>;
}

/** Throws when the pair cannot back a TLS server (bad PEM, key does not match). */
export function assertUsable(pair: KeyPairPem): void {
  createSecureContext({ cert: pair.certPem, key: pair.keyPem });
}

interface SecretObject extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

const KEYS = { cert: 'tls.crt', key: 'tls.key', caCert: 'ca.crt', caKey: 'ca.key' } as const;
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64').toString('utf8') : '');

export function pkiFromSecret(secret: SecretObject | undefined): WebhookPki | undefined {
  const d = secret?.data;
  if (!d?.[KEYS.cert] || !d[KEYS.key] || !d[KEYS.caCert] || !d[KEYS.caKey]) return undefined;
  const caBundle = unb64(d[KEYS.caCert]);
  // The current CA is the first of the bundle.
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(caBundle)?.[0];
  if (!first) return undefined;
  return {
    ca: { certPem: `${first}\n`, keyPem: unb64(d[KEYS.caKey]) },
    caBundle,
    serving: { certPem: unb64(d[KEYS.cert]), keyPem: unb64(d[KEYS.key]) },
  };
}

export function secretData(pki: WebhookPki): Record<string, string> {
  return {
    [KEYS.cert]: b64(pki.serving.certPem),
    [KEYS.key]: b64(pki.serving.keyPem),
    [KEYS.caCert]: b64(pki.caBundle),
    [KEYS.caKey]: b64(pki.ca.keyPem),
  };
}

export interface SecretCertSourceOptions {
  kube: KubeClient;
  namespace: string;
  secretName: string;
  /** ValidatingWebhookConfiguration whose caBundle to keep current; empty = none. */
  webhookConfiguration?: string;
  hosts: string[];
  policy?: CertPolicy;
  now?: () => number;
  logger?: Logger;
}

export class SecretCertSource implements CertSource {
  readonly description: string;
  private readonly log: Logger;
  private readonly policy: CertPolicy;
  private readonly now: () => number;
  private missingConfigLogged = false;

  constructor(private readonly opts: SecretCertSourceOptions) {
    this.description = `Secret ${opts.namespace}/${opts.secretName}`;
    this.log = (opts.logger ?? silentLogger()).child({ component: 'webhook-certs' });
    this.policy = opts.policy ?? DEFAULT_CERT_POLICY;
    this.now = opts.now ?? Date.now;
  }

  async load(): Promise<KeyPairPem> {
    const pki = await this.sync();
    await this.publishCaBundle(pki.caBundle);
    return pki.serving;
  }

  /** The Secret's PKI, created or renewed when needed; converges with other replicas on conflicts. */
  async sync(): Promise<WebhookPki> {
    const { kube, namespace, secretName, hosts } = this.opts;
    for (let attempt = 0; attempt < 5; attempt++) {
      const secret = await kube.get<SecretObject>(Resources.secrets, namespace, secretName);
      const current = pkiFromSecret(secret);
      const now = this.now();
      const renewal = renewalNeeded(current, hosts, now, this.policy);
      if (renewal === 'none' && current) return current;
      const next = renew(current, renewal, {
        hosts,
        now,
        policy: this.policy,
        commonName: `${secretName}-ca`,
      });
      try {
        if (!secret) {
          await kube.create<SecretObject>(Resources.secrets, {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: {
              name: secretName,
              namespace,
              labels: { 'app.kubernetes.io/managed-by': OPERATOR_NAME },
            },
            type: 'kubernetes.io/tls',
            data: secretData(next),
          });
        } else {
          // resourceVersion makes the update optimistic: a replica that lost the race re-reads.
          await kube.replace<SecretObject>(Resources.secrets, { ...secret, data: secretData(next) });
        }
        this.log.info({ secret: this.description, renewal, hosts }, 'Webhook certificate issued');
        return next;
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 409) continue; // another replica won
        throw err;
      }
    }
    throw new Error(`${this.description}: kept conflicting with other writers`);
  }

  /** Sets caBundle on every webhook of the configuration that does not carry it yet. */
  async publishCaBundle(caBundle: string): Promise<boolean> {
    const name = this.opts.webhookConfiguration;
    if (!name) return false;
    const vwc = await this.opts.kube.get<
      KubeObject & { webhooks?: { name: string; clientConfig?: { caBundle?: string } }[] }
    >(Resources.validatingwebhookconfigurations, undefined, name);
    if (!vwc) {
      if (!this.missingConfigLogged)
        this.log.warn({ name }, 'ValidatingWebhookConfiguration not found; caBundle not published yet');
      this.missingConfigLogged = true;
      return false;
    }
    this.missingConfigLogged = false;
    const want = b64(caBundle);
    const ops = (vwc.webhooks ?? []).flatMap((w, i) =>
      w.clientConfig?.caBundle === want
        ? []
        : [
            // `test` guards against the list having changed since the read.
            { op: 'test', path: `/webhooks/${i}/name`, value: w.name },
            { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: want },
          ],
    );
    if (!ops.length) return false;
    await this.opts.kube.patch(Resources.validatingwebhookconfigurations, undefined, name, ops, 'json');
    this.log.info({ name, webhooks: ops.length / 2 }, 'Published the webhook CA bundle');
    return true;
  }
}

export class FileCertSource implements CertSource {
  readonly description: string;
  constructor(private readonly dir: string) {
    this.description = `directory ${dir}`;
  }

  async load(): Promise<KeyPairPem> {
    const [certPem, keyPem] = await Promise.all([
      readFile(join(this.dir, 'tls.crt'), 'utf8'),
      readFile(join(this.dir, 'tls.key'), 'utf8'),
    ]);
    return { certPem, keyPem };
  }
}
