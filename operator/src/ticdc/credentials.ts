// Builds the `tls` and `credentials` options of createTicdcClient from files (CLI flags) or from
// Kubernetes Secret data. Errors name the flag, file or Secret key, never a value.
import { readFile } from 'node:fs/promises';
import type { TicdcCredentials, TicdcTlsOptions } from './options.js';

/** Configuration problem of TLS material or credentials (not a TiCDC answer). */
export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
}

export interface TlsFileOptions {
  /** `--ca F`: PEM CA bundle. */
  ca?: string;
  /** `--cert F`: PEM client certificate (needs `key`). */
  cert?: string;
  /** `--key F`: PEM client key (needs `cert`). */
  key?: string;
  insecureSkipVerify?: boolean;
  serverName?: string;
}

export interface CredentialFileOptions {
  /** `--username U`. */
  username?: string;
  /** `--password-file F`: the password; one trailing newline is ignored. */
  passwordFile?: string;
}

/** Kubernetes Secret `data`: base64 values by key. */
export type SecretData = Readonly<Record<string, string | undefined>> | undefined;

const PEM = /-----BEGIN [A-Z0-9 ]+-----/;
const BASE64 = /^[A-Za-z0-9+/\r\n]*={0,2}\s*$/;

function stripNewline(text: string): string {
  return text.replace(/\r?\n$/, '');
}

async function readPem(flag: string, file: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'error';
    throw new CredentialsError(`${flag} ${file}: cannot read the file (${code})`);
  }
  if (!PEM.test(data.toString('latin1'))) throw new CredentialsError(`${flag} ${file}: not a PEM file`);
  return data;
}

/** `--ca/--cert/--key` → TLS options, or undefined when no TLS flag was given. */
export async function tlsFromFiles(opts: TlsFileOptions): Promise<TicdcTlsOptions | undefined> {
  if (opts.cert && !opts.key) throw new CredentialsError('--cert needs --key');
  if (opts.key && !opts.cert) throw new CredentialsError('--key needs --cert');
  if (!opts.ca && !opts.cert && !opts.insecureSkipVerify && !opts.serverName) return undefined;
  return {
    ...(opts.ca ? { ca: await readPem('--ca', opts.ca) } : {}),
    ...(opts.cert ? { cert: await readPem('--cert', opts.cert) } : {}),
    ...(opts.key ? { key: await readPem('--key', opts.key) } : {}),
    ...(opts.insecureSkipVerify ? { insecureSkipVerify: true } : {}),
    ...(opts.serverName ? { serverName: opts.serverName } : {}),
  };
}

/** `--username U --password-file F` → credentials, or undefined when neither was given. */
export async function credentialsFromFiles(
  opts: CredentialFileOptions,
): Promise<TicdcCredentials | undefined> {
  if (!opts.username && !opts.passwordFile) return undefined;
  if (!opts.username) throw new CredentialsError('--password-file needs --username');
  if (!opts.passwordFile) throw new CredentialsError('--username needs --password-file');
  let password: string;
  try {
    password = stripNewline(await readFile(opts.passwordFile, 'utf8'));
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'error';
    throw new CredentialsError(`--password-file ${opts.passwordFile}: cannot read the file (${code})`);
  }
  return { username: opts.username, password };
}

function secretValue(data: SecretData, secret: string, key: string): Buffer | undefined {
  const raw = data?.[key];
  if (raw === undefined || raw === '') return undefined;
  if (!BASE64.test(raw)) throw new CredentialsError(`Secret ${secret}: key "${key}" is not valid base64`);
  return Buffer.from(raw, 'base64');
}

function required(data: SecretData, secret: string, key: string, why: string): Buffer {
  const value = secretValue(data, secret, key);
  if (!value) throw new CredentialsError(`Secret ${secret}: missing key "${key}" (${why})`);
  return value;
}

function pem(value: Buffer, secret: string, key: string): Buffer {
  if (!PEM.test(value.toString('latin1')))
    throw new CredentialsError(`Secret ${secret}: key "${key}" is not PEM`);
  return value;
}

/**
 * TLS Secret (`ca.crt`, `tls.crt`, `tls.key`, as cert-manager and tidb-operator write them) → TLS
 * options. `ca.crt` is required (TiCDC clusters use a private CA); `tls.crt` and `tls.key` are
 * optional but go together (a client certificate is needed when TiCDC sets mtls or cert-allowed-cn).
 * `secret` names the Secret in errors, e.g. `ns/name`.
 */
export function tlsFromSecretData(
  data: SecretData,
  secret: string,
  extra: Pick<TicdcTlsOptions, 'insecureSkipVerify' | 'serverName'> = {},
): TicdcTlsOptions {
  const ca = pem(
    required(data, secret, 'ca.crt', 'the CA that signed the TiCDC server certificate'),
    secret,
    'ca.crt',
  );
  const cert = secretValue(data, secret, 'tls.crt');
  const key = secretValue(data, secret, 'tls.key');
  if (cert && !key)
    throw new CredentialsError(`Secret ${secret}: missing key "tls.key" (tls.crt is set; both are needed)`);
  if (key && !cert)
    throw new CredentialsError(`Secret ${secret}: missing key "tls.crt" (tls.key is set; both are needed)`);
  return {
    ca,
    ...(cert && key ? { cert: pem(cert, secret, 'tls.crt'), key: pem(key, secret, 'tls.key') } : {}),
    ...(extra.insecureSkipVerify ? { insecureSkipVerify: true } : {}),
    ...(extra.serverName ? { serverName: extra.serverName } : {}),
  };
}

/** Credentials Secret (`username`, `password`) → basic-auth credentials. */
export function credentialsFromSecretData(data: SecretData, secret: string): TicdcCredentials {
  const username = stripNewline(
    required(data, secret, 'username', 'the TiDB user for TiCDC basic auth').toString('utf8'),
  );
  if (username === '') throw new CredentialsError(`Secret ${secret}: key "username" is empty`);
  const rawPassword = data?.['password'];
  if (rawPassword === undefined) throw new CredentialsError(`Secret ${secret}: missing key "password"`);
  const password =
    rawPassword === '' ? '' : stripNewline(required(data, secret, 'password', '').toString('utf8'));
  return { username, password };
}
