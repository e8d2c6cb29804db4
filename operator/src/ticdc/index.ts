// Public surface of the TiCDC client package.
export { createTicdcClient, PROBE_ID_PREFIX } from './client.js';
export type { TicdcClientOptions, TicdcCredentials, TicdcRequestInfo, TicdcTlsOptions } from './options.js';
export {
  CredentialsError,
  credentialsFromFiles,
  credentialsFromSecretData,
  tlsFromFiles,
  tlsFromSecretData,
  type CredentialFileOptions,
  type SecretData,
  type TlsFileOptions,
} from './credentials.js';
export { ROUTES, type Route } from './routes.js';
export * from './types.js';
export * from './liveness.js';
