// One TiCDC client (keep-alive connection pools) per cluster (namespace + endpoint), built from the
// Secrets the settings name. When those change (a Secret's new resourceVersion, another Secret, the
// insecure flag) the cluster gets a fresh client and the old one is closed once the calls that may
// still hold it are over (retireAfterMs); a client no drain or rollout asked for during idleAfterMs
// is closed too. Closing a client closes its undici pools (sockets, TLS sessions).
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

interface Entry {
  /** What the client was built from: the insecure flag and the Secrets' names and versions. */
  version: string;
  client: TicdcClient;
  lastUsedAt: number;
}

export class TicdcClientPool {
  /** By cluster: `${namespace}|${endpoint}`. */
  private readonly clients = new Map<string, Entry>();
  /** Replaced clients waiting for their retirement timer. */
  private readonly retiring = new Set<TicdcClient>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private lastSweepAt = 0;
  private readonly idleAfterMs: number;
  private readonly retireAfterMs: number;
  private readonly now: () => number;

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
      /** Close a cluster's client after this long without a get(). Default 10 min. */
      idleAfterMs?: number;
      /** Close a replaced client this long after the replacement. Default 60 s. */
      retireAfterMs?: number;
      now?: () => number;
    } = {},
  ) {
    this.idleAfterMs = opts.idleAfterMs ?? 600_000;
    this.retireAfterMs = opts.retireAfterMs ?? 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** Clients currently kept (one per cluster). */
  get size(): number {
    return this.clients.size;
  }

  async get(namespace: string, cluster: ClusterSettings): Promise<TicdcClient> {
    const tls = cluster.tlsSecret ? await this.secret(namespace, cluster.tlsSecret) : undefined;
    const creds = cluster.credentialsSecret
      ? await this.secret(namespace, cluster.credentialsSecret)
      : undefined;
    const now = this.now();
    this.sweep(now);
    const key = `${namespace}|${cluster.endpoint}`;
    const version = [
      cluster.insecureSkipVerify,
      tls && `${tls.metadata.name}@${tls.metadata.resourceVersion}`,
      creds && `${creds.metadata.name}@${creds.metadata.resourceVersion}`,
    ].join('|');
    const existing = this.clients.get(key);
    if (existing?.version === version) {
      existing.lastUsedAt = now;
      return existing.client;
    }
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
      this.clients.set(key, { version, client, lastUsedAt: now });
      if (existing) this.retire(existing.client);
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

  /** Closes the clients of clusters nobody asked for during idleAfterMs (at most once a minute). */
  private sweep(now: number): void {
    if (now - this.lastSweepAt < Math.min(60_000, this.idleAfterMs)) return;
    this.lastSweepAt = now;
    for (const [key, e] of this.clients) {
      if (now - e.lastUsedAt < this.idleAfterMs) continue;
      this.clients.delete(key);
      void e.client.close().catch(() => undefined);
    }
  }

  /** Closes a replaced client later: a reconcile may still be using it. */
  private retire(client: TicdcClient): void {
    this.retiring.add(client);
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.retiring.delete(client);
      void client.close().catch(() => undefined);
    }, this.retireAfterMs);
    t.unref?.();
    this.timers.add(t);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const all = [...[...this.clients.values()].map((e) => e.client), ...this.retiring];
    this.clients.clear();
    this.retiring.clear();
    await Promise.allSettled(all.map((c) => c.close()));
  }
}
