// The webhook's self-signed PKI: a CA and a serving certificate signed by it (node-forge signs;
// Node's crypto makes the RSA keys, natively and fast, and parses certificates), plus the pure
// rotation decision. The CA bundle the API server trusts may hold the previous CA too, so replicas
// still serving a certificate of the old CA stay trusted while they pick up the new one.
import { Buffer } from 'node:buffer';
import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';
import { createRequire } from 'node:module';
import type * as Forge from 'node-forge';

// node-forge is CommonJS without named exports Node can detect; require gives the real object.
// Loaded on first use (only the operator-mode webhook issues certificates): it is ~35 ms of start-up.
let forgeModule: typeof Forge | undefined;
const forge = (): typeof Forge =>
  (forgeModule ??= createRequire(import.meta.url)('node-forge') as typeof Forge);

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

/** What the webhook Secret holds (operator cert mode). */
export interface WebhookPki {
  /** Current CA. */
  ca: KeyPairPem;
  /** PEM bundle the API server trusts: the current CA, then still-valid previous ones. */
  caBundle: string;
  serving: KeyPairPem;
}

export interface CertPolicy {
  caValidityMs: number;
  servingValidityMs: number;
  /** Renew the serving certificate when less than this remains. */
  servingRenewBeforeMs: number;
  /** Renew the CA when less than this remains (then the serving certificate too). */
  caRenewBeforeMs: number;
}

const DAY = 24 * 3600 * 1000;
export const DEFAULT_CERT_POLICY: CertPolicy = {
  caValidityMs: 10 * 365 * DAY,
  servingValidityMs: 365 * DAY,
  servingRenewBeforeMs: 90 * DAY,
  // A new CA early enough that the serving certificates it signs never outlive it.
  caRenewBeforeMs: 365 * DAY,
};

function newKeys(): { publicKey: Forge.pki.rsa.PublicKey; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { publicKey: forge().pki.publicKeyFromPem(publicKey), keyPem: privateKey };
}

/**
 * Signs with Node's crypto (forge's pure-JS RSA is slow, more so under a loaded CPU): forge builds
 * the to-be-signed structure, Node signs its DER, forge writes the PEM.
 */
function signAndEncode(cert: Forge.pki.Certificate, signerKeyPem: string): string {
  const sha256WithRSA = forge().pki.oids.sha256WithRSAEncryption!;
  cert.signatureOid = sha256WithRSA;
  cert.siginfo.algorithmOid = sha256WithRSA;
  // getTBSCertificate exists at runtime (cert.sign uses it) but is missing from @types/node-forge.
  const pki = forge().pki as unknown as { getTBSCertificate(c: Forge.pki.Certificate): Forge.asn1.Asn1 };
  const tbs = pki.getTBSCertificate(cert);
  const der = Buffer.from(forge().asn1.toDer(tbs).getBytes(), 'binary');
  cert.signature = sign('sha256', der, signerKeyPem).toString('binary');
  cert.tbsCertificate = tbs;
  return forge().pki.certificateToPem(cert).replace(/\r\n/g, '\n');
}

function baseCert(
  publicKey: Forge.pki.rsa.PublicKey,
  now: number,
  validityMs: number,
): Forge.pki.Certificate {
  const cert = forge().pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive 128-bit serial (leading byte < 0x80).
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  // Backdated a little for clock skew between the operator and the API server.
  cert.validity.notBefore = new Date(now - 5 * 60_000);
  cert.validity.notAfter = new Date(now + validityMs);
  return cert;
}

export function issueCa(opts: { commonName: string; now: number; validityMs: number }): KeyPairPem {
  const keys = newKeys();
  const cert = baseCert(keys.publicKey, opts.now, opts.validityMs);
  const subject = [{ name: 'commonName', value: opts.commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  return { certPem: signAndEncode(cert, keys.keyPem), keyPem: keys.keyPem };
}

export function issueServing(opts: {
  ca: KeyPairPem;
  hosts: string[];
  now: number;
  validityMs: number;
}): KeyPairPem {
  if (!opts.hosts.length) throw new Error('a serving certificate needs at least one host');
  const caCert = forge().pki.certificateFromPem(opts.ca.certPem);
  const keys = newKeys();
  const cert = baseCert(keys.publicKey, opts.now, opts.validityMs);
  cert.setSubject([{ name: 'commonName', value: opts.hosts[0]!.slice(0, 64) }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: opts.hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })),
    },
  ]);
  return { certPem: signAndEncode(cert, opts.ca.keyPem), keyPem: keys.keyPem };
}

/** Splits a PEM bundle into its certificates. */
export function splitPem(bundle: string): string[] {
  return (
    bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((c) => `${c}\n`) ?? []
  );
}

export function notAfter(certPem: string): number {
  return Date.parse(new X509Certificate(certPem).validTo);
}

export function coversHost(certPem: string, host: string): boolean {
  const x = new X509Certificate(certPem);
  return isIP(host) ? x.checkIP(host) !== undefined : x.checkHost(host, { wildcards: false }) !== undefined;
}

export type Renewal =
  /** Nothing to do. */
  | 'none'
  /** New serving certificate from the current CA. */
  | 'serving'
  /** New CA (the old one stays in the bundle while valid), then a new serving certificate. */
  | 'ca'
  /** Missing or unusable: start over. */
  | 'all';

/** What the stored PKI needs now. Pure apart from parsing. */
export function renewalNeeded(
  pki: WebhookPki | undefined,
  hosts: string[],
  now: number,
  policy: CertPolicy,
): Renewal {
  if (!pki) return 'all';
  let caX: X509Certificate, servingX: X509Certificate;
  try {
    caX = new X509Certificate(pki.ca.certPem);
    servingX = new X509Certificate(pki.serving.certPem);
    // The key must match, or the TLS server could not use the pair.
    if (!servingX.checkPrivateKey(createPrivateKey(pki.serving.keyPem))) return 'all';
    if (!caX.checkPrivateKey(createPrivateKey(pki.ca.keyPem))) return 'all';
  } catch {
    return 'all';
  }
  const caEnd = Date.parse(caX.validTo);
  if (caEnd - now < policy.caRenewBeforeMs) return 'ca';
  if (!servingX.verify(caX.publicKey)) return 'serving';
  if (!splitPem(pki.caBundle).some((c) => new X509Certificate(c).fingerprint256 === caX.fingerprint256))
    return 'serving';
  if (Date.parse(servingX.validTo) - now < policy.servingRenewBeforeMs) return 'serving';
  if (Date.parse(servingX.validFrom) > now + 10 * 60_000) return 'serving';
  if (!hosts.every((h) => coversHost(pki.serving.certPem, h))) return 'serving';
  return 'none';
}

/** Applies a renewal: a fresh PKI, or a new serving certificate (and CA) keeping valid old CAs trusted. */
export function renew(
  pki: WebhookPki | undefined,
  renewal: Renewal,
  opts: { hosts: string[]; now: number; policy: CertPolicy; commonName: string },
): WebhookPki {
  if (renewal === 'none' && pki) return pki;
  const freshCa = renewal === 'all' || renewal === 'ca' || !pki;
  const ca = freshCa
    ? issueCa({ commonName: opts.commonName, now: opts.now, validityMs: opts.policy.caValidityMs })
    : pki.ca;
  // Previous CAs stay trusted while valid: other replicas may still serve certificates they signed.
  const previous = (pki ? splitPem(pki.caBundle) : []).filter((c) => {
    try {
      return (
        notAfter(c) > opts.now &&
        new X509Certificate(c).fingerprint256 !== new X509Certificate(ca.certPem).fingerprint256
      );
    } catch {
      return false;
    }
  });
  const caBundle = `${[ca.certPem, ...previous].map((c) => c.trim()).join('\n')}\n`;
  const serving = issueServing({
    ca,
    hosts: opts.hosts,
    now: opts.now,
    validityMs: opts.policy.servingValidityMs,
  });
  return { ca, caBundle, serving };
}
