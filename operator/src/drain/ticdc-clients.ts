// One TiCDC client (keep-alive pool) per cluster and credentials, built from the Secrets the
// settings name. A changed Secret (new resourceVersion) gets a fresh client.
import type { DrainMetrics } from '../observability/metrics.js';
import { Resources, type KubeClient, type KubeObject } from '../kube/port.js';
import { createTicdcClient } from '../ticdc/client.js';
import { CredentialsError, credentialsFromSecretData, tlsFromSecretData } from '../ticdc/credentials.js';
import type { RequestFence } from '../ticdc/options.js';
import type { TicdcClient } from '../ticdc/types.js';
import { SettingsError, type ClusterSettings } from './settings.js';

interface SecretLike extends KubeObject {
  data?: Record<string, string>;
}

export type TicdcClientFactory = (opts: Parameters<typeof createTicdcClient>[0]) => TicdcClient;

export class TicdcClientPool {
  private readonly clients = new Map<string, TicdcClient>();

  constructor(
    private readonly kube: KubeClient,
    private readonly opts: {
      metrics?: DrainMetrics;
      requestTimeoutMs?: number;
      factory?: TicdcClientFactory;
      /** Every request of every client is refused/cancelled once this (the leadership term) ends. */
      fence?: RequestFence;
      /** Advertise address -> base URL of that capture (default: the address itself, in-cluster DNS). */
      resolveCaptureAddress?: (address: string) => string | undefined;
    } = {},
  ) {}

  async get(namespace: string, cluster: ClusterSettings): Promise<TicdcClient> {
    const tls = cluster.tlsSecret ? await this.secret(namespace, cluster.tlsSecret) : undefined;
    const creds = cluster.credentialsSecret
      ? await this.secret(namespace, cluster.credentialsSecret)
      : undefined;
    const key = [
      cluster.endpoint,
      cluster.insecureSkipVerify,
      tls && `${namespace}/${tls.metadata.name}@${tls.metadata.resourceVersion}`,
      creds && `${namespace}/${creds.metadata.name}@${creds.metadata.resourceVersion}`,
    ].join('|');
    const existing = this.clients.get(key);
    if (existing) return existing;
    try {
      const factory = this.opts.factory ?? createTicdcClient;
      const metrics = this.opts.metrics;
      const client = factory({
        endpoint: cluster.endpoint,
        ...(tls || cluster.insecureSkipVerify
          ? {
              tls: tls
                ? tlsFromSecretData(tls.data, `${namespace}/${tls.metadata.name}`, {
                    insecureSkipVerify: cluster.insecureSkipVerify,
                  })
                : { insecureSkipVerify: true },
            }
          : {}),
        ...(creds
          ? { credentials: credentialsFromSecretData(creds.data, `${namespace}/${creds.metadata.name}`) }
          : {}),
        ...(this.opts.requestTimeoutMs ? { requestTimeoutMs: this.opts.requestTimeoutMs } : {}),
        ...(this.opts.fence ? { fence: this.opts.fence } : {}),
        ...(this.opts.resolveCaptureAddress ? { resolveAddress: this.opts.resolveCaptureAddress } : {}),
        ...(metrics
          ? {
              onRequest: (r) => {
                const labels = { route: r.route, method: r.method, outcome: r.outcome };
                metrics.ticdcRequestsTotal.inc(labels);
                metrics.ticdcRequestDuration.observe(labels, r.durationMs / 1000);
              },
            }
          : {}),
      });
      this.clients.set(key, client);
      return client;
    } catch (err) {
      if (err instanceof CredentialsError) throw new SettingsError(err.message);
      throw err;
    }
  }

  private async secret(namespace: string, name: string): Promise<SecretLike> {
    let s: SecretLike | undefined;
    try {
      s = await this.kube.get<SecretLike>(Resources.secrets, namespace, name);
    } catch (err) {
      // The API server failed to answer: the Secret may well exist. Retried, bounded by stallTimeout.
      throw new SettingsError(
        `Secret ${namespace}/${name} could not be read: ${(err as Error).message}`,
        true,
      );
    }
    // Missing for a moment (created after the drain, or re-created): retried until stallTimeout.
    if (!s) throw new SettingsError(`Secret ${namespace}/${name} not found`, true);
    return s;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
  }
}
