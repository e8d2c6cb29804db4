// The metrics the alert rules and the dashboard need beyond the counters the engine records: drain
// state read from the cache at scrape time, pods held by the gate, the webhook certificate expiry.
import { afterEach, describe, expect, test } from '@jest/globals';
import type { CaptureDrainObject } from '../../src/api/capturedrain.js';
import { drainStateRows, exportDrainState, statefulSetNameOf } from '../../src/drain/state-metrics.js';
import { HeldPods, createGateMetrics } from '../../src/gate/metrics.js';
import type { StatefulSet } from '../../src/kube/objects.js';
import { createRegistry } from '../../src/observability/metrics.js';
import type { CertSource } from '../../src/webhook/cert-sources.js';
import { DEFAULT_CERT_POLICY, notAfter, renew, type KeyPairPem } from '../../src/webhook/certs.js';
import { WebhookServer } from '../../src/webhook/server.js';

const T0 = Date.parse('2026-06-01T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function drain(
  name: string,
  o: {
    phase?: string;
    start?: number;
    created?: number;
    timeout?: string;
    pod?: string;
    endpoint?: string;
    eta?: number;
    remaining?: Record<string, number>;
  } = {},
): CaptureDrainObject {
  return {
    apiVersion: 'drain.ticdc.io/v1alpha1',
    kind: 'CaptureDrain',
    metadata: { name, namespace: 'tidb', creationTimestamp: iso(o.created ?? T0 - 60_000) },
    spec: {
      podName: o.pod ?? 'ticdc-0',
      ...(o.timeout ? { timeout: o.timeout } : {}),
    },
    status: {
      ...(o.phase ? { phase: o.phase } : {}),
      ...(o.start !== undefined ? { startTime: iso(o.start) } : {}),
      ...(o.endpoint ? { clusterEndpoint: o.endpoint } : {}),
      ...(o.eta !== undefined ? { estimatedCompletionTime: iso(o.eta) } : {}),
      ...(o.remaining ? { remaining: o.remaining } : {}),
    },
  } as CaptureDrainObject;
}

const sts = (name: string, timeout?: string): StatefulSet =>
  ({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name,
      namespace: 'tidb',
      ...(timeout ? { annotations: { 'drain.ticdc.io/timeout': timeout } } : {}),
    },
  }) as StatefulSet;

describe('drain state rows', () => {
  test('counts every drain by namespace, cluster and phase; ages, timeouts and ETAs only running ones', () => {
    const a = 'http://a:8300';
    const rows = drainStateRows(
      [
        drain('d1', {
          phase: 'Draining',
          start: T0 - 700_000,
          endpoint: a,
          eta: T0 + 30_000,
          remaining: { tables: 4 },
        }),
        drain('d2', { phase: 'Queued', created: T0 - 5_000, endpoint: a, timeout: '30s', pod: 'other-1' }),
        drain('d3', { phase: 'Completed', endpoint: a }),
        drain('d4', { phase: 'Failed', endpoint: 'http://b:8300' }),
        drain('d5', { pod: 'cdc-2' }),
      ],
      {
        now: T0,
        defaults: { timeout: '10m' },
        statefulSet: (ns, name) => (ns === 'tidb' && name === 'cdc' ? sts('cdc', '1h') : undefined),
      },
    );
    expect(rows.counts).toEqual(
      expect.arrayContaining([
        { namespace: 'tidb', cluster: a, phase: 'Draining', count: 1 },
        { namespace: 'tidb', cluster: a, phase: 'Queued', count: 1 },
        { namespace: 'tidb', cluster: a, phase: 'Completed', count: 1 },
        { namespace: 'tidb', cluster: 'http://b:8300', phase: 'Failed', count: 1 },
        { namespace: 'tidb', cluster: '', phase: 'Pending', count: 1 },
      ]),
    );
    expect(rows.counts).toHaveLength(5);
    const byName = Object.fromEntries(rows.active.map((r) => [r.capturedrain, r]));
    expect(Object.keys(byName).sort()).toEqual(['d1', 'd2', 'd5']);
    // Started: age from startTime; default timeout; ETA from the estimate.
    expect(byName.d1).toMatchObject({
      ageSeconds: 700,
      timeoutSeconds: 600,
      etaSeconds: 30,
      phase: 'Draining',
    });
    expect(byName.d1!.remaining).toEqual({ tables: 4 });
    // Not started: age from creation; the spec's timeout wins.
    expect(byName.d2).toMatchObject({ ageSeconds: 5, timeoutSeconds: 30, pod: 'other-1' });
    expect(byName.d2!.etaSeconds).toBeUndefined();
    // The StatefulSet's annotation beats the operator default.
    expect(byName.d5).toMatchObject({ timeoutSeconds: 3600, phase: 'Pending' });
  });

  test('an ETA in the past is 0, not negative', () => {
    const { active } = drainStateRows([drain('d', { phase: 'Draining', start: T0, eta: T0 - 10_000 })], {
      now: T0,
      defaults: { timeout: '10m' },
    });
    expect(active[0]!.etaSeconds).toBe(0);
  });

  test('StatefulSet names from pod names', () => {
    expect(statefulSetNameOf('ticdc-12')).toBe('ticdc');
    expect(statefulSetNameOf('my-cdc-0')).toBe('my-cdc');
    expect(statefulSetNameOf('standalone')).toBeUndefined();
  });

  test('the gauges export the rows while the term is live and nothing otherwise', async () => {
    const registry = createRegistry({ defaultMetrics: false });
    let live = true;
    const items = [drain('d1', { phase: 'Draining', start: T0 - 700_000, endpoint: 'http://a:8300' })];
    exportDrainState(registry, {
      drains: { list: () => items, get: () => undefined } as never,
      defaults: { timeout: '10m' },
      live: () => live,
      now: () => T0,
    });
    const text = await registry.metrics();
    expect(text).toContain(
      'capture_drain_drains{namespace="tidb",cluster="http://a:8300",phase="Draining"} 1',
    );
    expect(text).toContain(
      'capture_drain_drain_age_seconds{namespace="tidb",capturedrain="d1",pod="ticdc-0",phase="Draining",cluster="http://a:8300"} 700',
    );
    expect(text).toContain('capture_drain_drain_timeout_seconds{namespace="tidb",capturedrain="d1"} 600');
    live = false;
    const after = await registry.metrics();
    expect(after).not.toMatch(/^capture_drain_drain_age_seconds\{/m);
    expect(after).not.toMatch(/^capture_drain_drains\{/m);
  });
});

describe('held pods', () => {
  test('a hold starts at the first denial, ends when a delete is admitted, and is forgotten when nobody asks again', () => {
    let now = T0;
    const held = new HeldPods(() => now, 60_000);
    held.denied('tidb', 'ticdc-0');
    now += 20_000;
    held.denied('tidb', 'ticdc-0');
    held.denied('tidb', 'ticdc-1');
    now += 10_000;
    expect(held.list()).toEqual([
      { namespace: 'tidb', pod: 'ticdc-0', seconds: 30 },
      { namespace: 'tidb', pod: 'ticdc-1', seconds: 10 },
    ]);
    held.admitted('tidb', 'ticdc-0');
    expect(held.list().map((h) => h.pod)).toEqual(['ticdc-1']);
    now += 61_000; // ticdc-1 last denied 71 s ago
    expect(held.list()).toEqual([]);
  });

  test('exported as capture_drain_gate_pod_held_seconds, shared by every createGateMetrics of a registry', async () => {
    let now = T0;
    const registry = createRegistry({ defaultMetrics: false });
    const a = createGateMetrics(registry, { now: () => now });
    const b = createGateMetrics(registry);
    expect(b.held).toBe(a.held);
    a.held.denied('tidb', 'ticdc-2');
    now += 42_000;
    expect(await registry.metrics()).toContain(
      'capture_drain_gate_pod_held_seconds{namespace="tidb",pod="ticdc-2"} 42',
    );
  });
});

describe('webhook certificate expiry', () => {
  let server: WebhookServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  test('seconds until the serving certificate in use expires; absent before one is loaded', async () => {
    const pki = renew(undefined, 'all', {
      hosts: ['127.0.0.1'],
      now: Date.now(),
      policy: DEFAULT_CERT_POLICY,
      commonName: 'test',
    });
    const loaded: { pair?: KeyPairPem } = {};
    const source: CertSource = {
      description: 'memory',
      load: async () => {
        if (!loaded.pair) throw new Error('none yet');
        return loaded.pair;
      },
    };
    const registry = createRegistry({ defaultMetrics: false });
    const end = notAfter(pki.serving.certPem);
    server = new WebhookServer({
      host: '127.0.0.1',
      port: 0,
      source,
      review: async () => ({ allowed: true }),
      registry,
      now: () => end - 86_400_000,
    });
    expect(await registry.metrics()).not.toMatch(
      /^capture_drain_webhook_certificate_expires_in_seconds[{ ]/m,
    );
    loaded.pair = pki.serving;
    expect(await server.refresh()).toBe(true);
    expect(await registry.metrics()).toMatch(
      /^capture_drain_webhook_certificate_expires_in_seconds\{certificate="serving"\} 86400$/m,
    );
  });
});
