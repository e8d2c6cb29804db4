// credentials.ts: TLS material and basic-auth credentials from files and from Secret data.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CredentialsError,
  credentialsFromFiles,
  credentialsFromSecretData,
  tlsFromFiles,
  tlsFromSecretData,
} from '../../src/ticdc/credentials.js';

const CA = '-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n';
const CRT = '-----BEGIN CERTIFICATE-----\nQ1JU\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

let dir: string;
const file = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ticdc-creds-'));
  writeFileSync(file('ca.crt'), CA);
  writeFileSync(file('tls.crt'), CRT);
  writeFileSync(file('tls.key'), KEY);
  writeFileSync(file('password'), 'pa ss\n');
  writeFileSync(file('not-pem'), 'hello');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function rejection(p: Promise<unknown>): Promise<CredentialsError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CredentialsError);
    return err as CredentialsError;
  }
  throw new Error('expected a CredentialsError');
}

function thrown(fn: () => unknown): CredentialsError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CredentialsError);
    return err as CredentialsError;
  }
  throw new Error('expected a CredentialsError');
}

describe('from files (CLI flags)', () => {
  it('reads --ca --cert --key', async () => {
    const tls = await tlsFromFiles({
      ca: file('ca.crt'),
      cert: file('tls.crt'),
      key: file('tls.key'),
      serverName: 'x',
    });
    expect(tls?.ca?.toString()).toBe(CA);
    expect(tls?.cert?.toString()).toBe(CRT);
    expect(tls?.key?.toString()).toBe(KEY);
    expect(tls?.serverName).toBe('x');
  });

  it('no flag → no TLS options', async () => {
    await expect(tlsFromFiles({})).resolves.toBeUndefined();
  });

  it('--cert and --key go together', async () => {
    expect((await rejection(tlsFromFiles({ cert: file('tls.crt') }))).message).toBe('--cert needs --key');
    expect((await rejection(tlsFromFiles({ key: file('tls.key') }))).message).toBe('--key needs --cert');
  });

  it('names the flag and file of an unreadable or non-PEM file, never its content', async () => {
    const missing = await rejection(tlsFromFiles({ ca: file('nope.crt') }));
    expect(missing.message).toBe(`--ca ${file('nope.crt')}: cannot read the file (ENOENT)`);
    const notPem = await rejection(tlsFromFiles({ ca: file('not-pem') }));
    expect(notPem.message).toBe(`--ca ${file('not-pem')}: not a PEM file`);
    expect(notPem.message).not.toContain('hello');
  });

  it('reads --username and --password-file, dropping one trailing newline', async () => {
    await expect(credentialsFromFiles({ username: 'cdc', passwordFile: file('password') })).resolves.toEqual({
      username: 'cdc',
      password: 'pa ss',
    });
    await expect(credentialsFromFiles({})).resolves.toBeUndefined();
  });

  it('--username and --password-file go together', async () => {
    expect((await rejection(credentialsFromFiles({ username: 'cdc' }))).message).toBe(
      '--username needs --password-file',
    );
    expect((await rejection(credentialsFromFiles({ passwordFile: file('password') }))).message).toBe(
      '--password-file needs --username',
    );
    const missing = await rejection(credentialsFromFiles({ username: 'u', passwordFile: file('nope') }));
    expect(missing.message).toContain('ENOENT');
  });
});

describe('from Secret data', () => {
  const full = { 'ca.crt': b64(CA), 'tls.crt': b64(CRT), 'tls.key': b64(KEY) };

  it('decodes ca.crt, tls.crt and tls.key', () => {
    const tls = tlsFromSecretData(full, 'ns/ticdc-tls', { serverName: 'ticdc' });
    expect(tls.ca?.toString()).toBe(CA);
    expect(tls.cert?.toString()).toBe(CRT);
    expect(tls.key?.toString()).toBe(KEY);
    expect(tls.serverName).toBe('ticdc');
  });

  it('a CA alone is fine (no client certificate)', () => {
    const tls = tlsFromSecretData({ 'ca.crt': b64(CA) }, 'ns/s');
    expect(tls.cert).toBeUndefined();
    expect(tls.key).toBeUndefined();
  });

  it('names the missing key, never a value', () => {
    expect(
      thrown(() => tlsFromSecretData({ 'tls.crt': b64(CRT), 'tls.key': b64(KEY) }, 'ns/s')).message,
    ).toMatch(/^Secret ns\/s: missing key "ca.crt"/);
    const noKey = thrown(() => tlsFromSecretData({ 'ca.crt': b64(CA), 'tls.crt': b64(CRT) }, 'ns/s'));
    expect(noKey.message).toMatch(/missing key "tls.key"/);
    expect(noKey.message).not.toContain(b64(CRT));
    expect(
      thrown(() => tlsFromSecretData({ 'ca.crt': b64(CA), 'tls.key': b64(KEY) }, 'ns/s')).message,
    ).toMatch(/missing key "tls.crt"/);
    expect(thrown(() => tlsFromSecretData(undefined, 'ns/s')).message).toMatch(/missing key "ca.crt"/);
  });

  it('rejects values that are not base64 or not PEM, naming the key only', () => {
    const notB64 = thrown(() => tlsFromSecretData({ ...full, 'tls.key': 'not base64 !!' }, 'ns/s'));
    expect(notB64.message).toBe('Secret ns/s: key "tls.key" is not valid base64');
    const notPem = thrown(() => tlsFromSecretData({ ...full, 'ca.crt': b64('plain text') }, 'ns/s'));
    expect(notPem.message).toBe('Secret ns/s: key "ca.crt" is not PEM');
  });

  it('decodes username and password', () => {
    expect(
      credentialsFromSecretData({ username: b64('cdc'), password: b64('s3cret\n') }, 'ns/creds'),
    ).toEqual({
      username: 'cdc',
      password: 's3cret',
    });
    expect(credentialsFromSecretData({ username: b64('root'), password: '' }, 'ns/creds')).toEqual({
      username: 'root',
      password: '',
    });
  });

  it('names a missing username or password, never the other value', () => {
    const noUser = thrown(() => credentialsFromSecretData({ password: b64('s3cret') }, 'ns/creds'));
    expect(noUser.message).toMatch(/^Secret ns\/creds: missing key "username"/);
    expect(noUser.message).not.toContain('s3cret');
    expect(thrown(() => credentialsFromSecretData({ username: b64('cdc') }, 'ns/creds')).message).toBe(
      'Secret ns/creds: missing key "password"',
    );
    expect(
      thrown(() => credentialsFromSecretData({ username: b64('\n'), password: b64('x') }, 'ns/creds'))
        .message,
    ).toBe('Secret ns/creds: key "username" is empty');
  });
});
