import { afterEach, describe, expect, it } from '@jest/globals';
import { createDrainMetrics, createRegistry } from '../../src/observability/metrics.js';
import {
  createProbeServer,
  informersHealthyCheck,
  syncedCheck,
  type ProbeServer,
} from '../../src/observability/server.js';

let server: ProbeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(opts: Partial<Parameters<typeof createProbeServer>[0]> = {}) {
  const registry = createRegistry();
  server = createProbeServer({ registry, port: 0, host: '127.0.0.1', ...opts });
  const port = await server.listen();
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
  };
  return { registry, get };
}

describe('probe server', () => {
  it('serves /metrics with default Node metrics and the drain metrics', async () => {
    const { registry, get } = await start();
    const m = createDrainMetrics(registry);
    expect(createDrainMetrics(registry).drainsTotal).toBe(m.drainsTotal); // idempotent per registry
    m.drainsTotal.inc({ phase: 'Completed', reason: 'Drained' });
    m.activeDrains.set({ phase: 'Draining' }, 2);
    m.drainDuration.observe(42);
    m.releaseLag.observe(0.3);
    m.ticdcRequestDuration.observe({ route: '/api/v2/captures', method: 'GET', outcome: 'ok' }, 0.01);
    m.ticdcRequestsTotal.inc({ route: '/api/v2/captures', method: 'GET', outcome: 'ok' });
    m.webhookRequestsTotal.inc({ operation: 'DELETE', decision: 'deny' });
    m.webhookUnprotectedTotal.inc();
    const r = await get('/metrics');
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/text\/plain/);
    for (const name of [
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
      'capture_drain_drains_total{phase="Completed",reason="Drained"} 1',
      'capture_drain_active_drains{phase="Draining"} 2',
      'capture_drain_duration_seconds_bucket{le="3600"} 1',
      'capture_drain_release_lag_seconds_count 1',
      'capture_drain_ticdc_request_duration_seconds_count{route="/api/v2/captures",method="GET",outcome="ok"} 1',
      'capture_drain_ticdc_requests_total{route="/api/v2/captures",method="GET",outcome="ok"} 1',
      'capture_drain_webhook_requests_total{operation="DELETE",decision="deny"} 1',
      'capture_drain_webhook_unprotected_total 1',
    ]) {
      expect(r.body).toContain(name);
    }
    expect(r.body).toContain('capture_drain_duration_seconds_bucket{le="1"} 0');
  });

  it('/leaderz and capture_drain_leader_ready follow the leader checks, apart from /readyz', async () => {
    let leading = false;
    let synced = false;
    const { get } = await start({
      readyChecks: { webhook: () => undefined },
      leaderChecks: {
        leader: () => (leading ? undefined : 'standby (lease held by other)'),
        informers: syncedCheck({ hasSynced: () => synced }),
      },
    });
    const gauge = async () => /^capture_drain_leader_ready (\d)$/m.exec((await get('/metrics')).body)?.[1];
    // A standby serves the webhook: ready, but not leader-ready.
    expect((await get('/readyz')).status).toBe(200);
    const standby = await get('/leaderz');
    expect(standby.status).toBe(500);
    expect(standby.body).toContain('[-]leader failed: standby (lease held by other)');
    expect(await gauge()).toBe('0');
    leading = true; // elected, caches still syncing
    expect((await get('/leaderz')).body).toContain('[-]informers failed: informer caches not synced');
    expect(await gauge()).toBe('0');
    synced = true;
    expect(await get('/leaderz')).toMatchObject({ status: 200, body: 'ok' });
    expect(await gauge()).toBe('1');
    expect((await get('/leaderz?verbose')).body).toContain('[+]leader ok\n[+]informers ok');
  });

  it('/leaderz without leader checks fails', async () => {
    const { get } = await start();
    expect((await get('/leaderz')).status).toBe(500);
    expect((await get('/metrics')).body).toMatch(/^capture_drain_leader_ready 0$/m);
  });

  it('/healthz and /readyz run their checks; failures give 500 with the reason', async () => {
    let synced = false;
    let healthy = true;
    const { get } = await start({
      healthChecks: { informers: informersHealthyCheck({ isHealthy: () => healthy }) },
      readyChecks: { informers: syncedCheck({ hasSynced: () => synced }) },
    });
    expect(await get('/healthz')).toMatchObject({ status: 200, body: 'ok' });
    const notReady = await get('/readyz');
    expect(notReady.status).toBe(500);
    expect(notReady.body).toContain('[-]informers failed: informer caches not synced');
    synced = true;
    expect((await get('/readyz')).status).toBe(200);
    const verbose = await get('/readyz?verbose');
    expect(verbose.body).toContain('[+]informers ok');
    expect(verbose.body).toContain('[+]shutdown ok');
    healthy = false;
    expect((await get('/healthz')).status).toBe(500);
    expect((await get('/healthz?exclude=informers')).status).toBe(200);
    expect((await get('/nope')).status).toBe(404);
  });

  it('pluggable checks: throwing, false, async and slow checks fail', async () => {
    const { get } = await start({ checkTimeoutMs: 50 });
    server!.addReadyCheck('throws', () => {
      throw new Error('ticdc unreachable');
    });
    server!.addReadyCheck('false', () => false);
    server!.addReadyCheck('async', async () => 'not yet');
    server!.addReadyCheck('slow', () => new Promise<void>((r) => setTimeout(r, 500)));
    const r = await get('/readyz');
    expect(r.status).toBe(500);
    expect(r.body).toContain('[-]throws failed: ticdc unreachable');
    expect(r.body).toContain('[-]false failed: check returned false');
    expect(r.body).toContain('[-]async failed: not yet');
    expect(r.body).toContain('[-]slow failed: timed out');
  });

  it('markShuttingDown fails readiness but not liveness; close() is graceful and idempotent', async () => {
    const { get } = await start();
    server!.markShuttingDown();
    expect((await get('/readyz')).status).toBe(500);
    expect((await get('/healthz')).status).toBe(200);
    await server!.close();
    await server!.close();
    await expect(get('/healthz')).rejects.toThrow();
  });
});
