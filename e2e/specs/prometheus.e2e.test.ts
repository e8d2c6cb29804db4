// A real Prometheus scraping the operator (running on the host, its webhook gating the real API
// server) during drains on the real control plane: every query of the Grafana dashboard returns
// data, and the alert rules of monitoring/alerts.yaml, loaded as a rule file, fire for a stuck
// drain and a held pod and resolve once they are over, while the others stay silent.
//
// The rules are loaded with shorter `for:` durations, rate windows and the held-pod threshold
// (shortRules below) so that the suite takes a few minutes; the expressions are otherwise the file's.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { podDrainName } from '../../operator/src/drain/contract.js';
import { eventually } from '../harness/cluster.js';
import { CHART, type OperatorProcess } from '../harness/operator.js';
import { startPrometheus, type PrometheusProcess } from '../harness/prometheus.js';
import {
  applyGateWebhook,
  caBundles,
  freePort,
  gateOperatorArgs,
  removeGateWebhook,
} from '../harness/webhook.js';
import { deployTicdc, type TicdcWorkload } from '../harness/workload.js';
import { captureDrain, cluster, operatorFor, podUid, waitForDrain } from './support/suite.js';

const NS = 'e2e-prom';
const OPERATOR_NS = 'e2e-prom-op';
const JOB = 'capture-drain-operator';
const MONITORING = join(CHART, 'monitoring');
const c = cluster();
const work = mkdtempSync(join(tmpdir(), 'cdo-prom-'));
let operator: OperatorProcess;
let ticdc: TicdcWorkload;
let prom: PrometheusProcess;

interface Rule {
  alert: string;
  expr: string;
  for?: string;
}

/**
 * The rule file with waits a test can afford: every `for` 2s, 5m/15m windows 20s/30s, the held-pod
 * threshold 1200 s -> 5 s. Each replacement must apply (a changed rule fails here, not silently).
 */
function shortRules(text: string): string {
  const file = parse(text) as { groups: { rules: Rule[] }[] };
  const swaps: [RegExp, string, string][] = [
    [/\[5m\]/g, '[20s]', 'CaptureDrainTicdcErrors'],
    [/\[15m\]/g, '[30s]', 'CaptureDrainGateBypassed'],
    [/> 1200$/, '> 5', 'CaptureDrainPodHeld'],
  ];
  for (const g of file.groups)
    for (const r of g.rules) {
      if (r.for) r.for = '2s';
      for (const [re, to, alert] of swaps)
        if (r.alert === alert) {
          const next = r.expr.trim().replace(re, to);
          if (next === r.expr.trim()) throw new Error(`shortRules: ${alert} no longer matches ${re}`);
          r.expr = next;
        }
    }
  return stringify(file);
}

interface Dashboard {
  panels: { title: string; targets?: { expr: string }[] }[];
}

/** Each panel query with Grafana's variables as a user would have them: this namespace, 1m. */
function dashboardQueries(): { panel: string; expr: string }[] {
  const d = JSON.parse(readFileSync(join(MONITORING, 'dashboard.json'), 'utf8')) as Dashboard;
  return d.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      panel: p.title,
      expr: t.expr.replaceAll('$namespace', NS).replaceAll('$__rate_interval', '1m'),
    })),
  );
}

const firing = async (alertname: string) =>
  (await prom.alerts('firing')).filter((a) => a.labels.alertname === alertname);

/** A kubectl drain-like eviction loop for one pod: retries every 2 s until admitted or stopped. */
function evictUntilAdmitted(pod: string) {
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const r = await c.kubectl(
        ['create', '--raw', `/api/v1/namespaces/${NS}/pods/${pod}/eviction`, '-f', '-'],
        {
          input: JSON.stringify({
            apiVersion: 'policy/v1',
            kind: 'Eviction',
            metadata: { name: pod, namespace: NS },
          }),
        },
      );
      if (r.code === 0) return true;
      await new Promise((res) => setTimeout(res, 2000));
    }
    return false;
  })();
  return { done, stop: () => (stopped = true) };
}

beforeAll(async () => {
  const webhookPort = await freePort();
  // Generous Lease timings: one replica, and a lost Lease (the process exits) under a loaded CI
  // machine would end the drains this suite watches.
  const { start } = await operatorFor(c, OPERATOR_NS, [
    ...gateOperatorArgs(webhookPort),
    '--namespaces',
    NS,
    '--leader-elect-lease-duration',
    '60s',
    '--leader-elect-renew-deadline',
    '45s',
    '--leader-elect-retry-period',
    '2s',
  ]);
  operator = start();
  await applyGateWebhook(c, { releaseNamespace: OPERATOR_NS, port: webhookPort, namespaces: [NS] });
  await eventually('caBundle published by the operator', async () => (await caBundles(c)).every(Boolean), {
    timeoutMs: 30_000,
  });
  const metricsPort = await eventually(
    'operator metrics port',
    async () => /"port":(\d+)[^\n]*Serving metrics and probes/.exec(operator.logs())?.[1],
    { timeoutMs: 30_000 },
  );
  // Slow moves (about 30 s per capture) so that queries and alerts are checked while drains run.
  ticdc = await deployTicdc(c, {
    namespace: NS,
    replicas: 4,
    sim: { seed: 41, changefeeds: 2, tablesPerChangefeed: 8, moveRatePerSec: 0.2 },
  });
  const rules = join(work, 'alerts.yaml');
  writeFileSync(rules, shortRules(readFileSync(join(MONITORING, 'alerts.yaml'), 'utf8')));
  prom = await startPrometheus({
    dir: join(work, 'prometheus'),
    targets: [{ job: JOB, target: `127.0.0.1:${metricsPort}`, labels: { namespace: OPERATOR_NS } }],
    ruleFiles: [rules],
    // 2 s: a 1 s scrape timeout is missed on a loaded machine, and a failed scrape marks every
    // series stale at once.
    intervalSeconds: 2,
  });
  await eventually('operator scraped', async () => (await prom.query(`up{job="${JOB}"} == 1`)).length > 0, {
    timeoutMs: 30_000,
  });
}, 240_000);

afterAll(async () => {
  await prom?.stop();
  await removeGateWebhook(c);
  await operator?.stop();
  await ticdc?.sim.stop();
  for (const ns of [NS, OPERATOR_NS]) await c.kubectl(['delete', 'namespace', ns, '--wait=false']);
  rmSync(work, { recursive: true, force: true });
});

describe('Prometheus scraping the operator', () => {
  let eviction: ReturnType<typeof evictUntilAdmitted>;
  let heldPod: string;
  let heldDrain: string;
  const stuckDrain = 'queued-past-timeout';

  test('a stuck drain and a held pod fire their alerts; during the drains every dashboard query returns data', async () => {
    const nonOwners = ticdc.sim
      .captures()
      .filter((x) => !x.isOwner && x.podName !== 'ticdc-3')
      .map((x) => x.podName!);
    heldPod = nonOwners[0]!;
    const queuedPod = nonOwners[1]!;
    // An eviction the gate holds (429) until the pod is drained: its drain takes the cluster's slot.
    eviction = evictUntilAdmitted(heldPod);
    heldDrain = podDrainName(heldPod, (await podUid(c, NS, heldPod))!);
    await waitForDrain(c, NS, heldDrain, (s) => s.phase === 'Draining', 60_000);
    // TiCDC's scheduler stops moving work: that drain holds the cluster's slot, the pod stays held.
    ticdc.sim.setFaults({ stall: true });
    // A drain queued behind it with a 5 s timeout: not terminal past its timeout (Queued drains are
    // not timed out by the operator: they have not started).
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, stuckDrain, {
        podName: queuedPod,
        timeout: '5s',
        onTimeout: 'Release',
        podAction: 'Delete',
      }),
    });
    await waitForDrain(c, NS, stuckDrain, (s) => s.phase === 'Queued', 30_000);
    // A scale-in: the rollout controller takes its first step (a drain of ticdc-3, queued too).
    await c.kubectlOk(['scale', 'statefulset', ticdc.name, '-n', NS, '--replicas=3']);

    const stuck = await eventually(
      'CaptureDrainStuck firing',
      async () => {
        const a = await firing('CaptureDrainStuck');
        return a.length ? a : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    expect(
      stuck.map((a) => [a.labels.namespace, a.labels.capturedrain, a.labels.phase, a.labels.pod]),
    ).toEqual([[NS, stuckDrain, 'Queued', queuedPod]]);
    const held = await eventually(
      'CaptureDrainPodHeld firing',
      async () => {
        const a = await firing('CaptureDrainPodHeld');
        return a.length ? a : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    // The evicted pod is held; the scale-in's delete of ticdc-3 (queued behind it) may be held too.
    const heldPods = held.map((a) => [a.labels.namespace, a.labels.pod]);
    expect(heldPods).toEqual(expect.arrayContaining([[NS, heldPod]]));
    for (const p of heldPods)
      expect([
        [NS, heldPod],
        [NS, 'ticdc-3'],
      ]).toContainEqual(p);

    // Work moves again; some TiCDC requests fail (503): the errors-by-route panel has data.
    ticdc.sim.setFaults({ stall: false, errorRate: 0.3, errorStatus: 503 });

    // Every query must return data at some check while a drain runs (not necessarily all at the
    // same instant: the held pod's drain may end before another drain's ETA is first estimated).
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(25);
    const seen = new Set<string>();
    const key = (q: { panel: string; expr: string }) => `${q.panel}: ${q.expr}`;
    await eventually(
      'every dashboard query returned data during a drain',
      async () => {
        const results = await Promise.all(
          queries.map(async (q) => [key(q), (await prom.query(q.expr)).length] as const),
        );
        const running = await prom.query(
          `sum(capture_drain_drains{namespace="${NS}",phase!~"Completed|Failed"}) > 0`,
        );
        if (!running.length) throw new Error('no drain is running any more');
        for (const [k, n] of results) if (n > 0) seen.add(k);
        return seen.size === queries.length;
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    ).catch((err: Error) => {
      const missing = queries.map(key).filter((k) => !seen.has(k));
      throw new Error(`${err.message}\nqueries that never returned data:\n${missing.join('\n')}`);
    });
  }, 300_000);

  test('once the drains finish the alerts resolve, and the others never fired', async () => {
    ticdc.sim.setFaults({ errorRate: 0 });
    expect(await eviction.done).toBe(true);
    await waitForDrain(c, NS, stuckDrain, (s) => s.phase === 'Completed' || s.phase === 'Failed', 180_000);
    await eventually(
      'CaptureDrainStuck and CaptureDrainPodHeld resolved',
      async () =>
        (await firing('CaptureDrainStuck')).length + (await firing('CaptureDrainPodHeld')).length === 0,
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    expect(await prom.query(`capture_drain_gate_pod_held_seconds{pod="${heldPod}"}`)).toEqual([]);
    // Never pending or firing during the whole run: ALERTS keeps every state it had.
    const others = await prom.query(
      'max_over_time(ALERTS{alertname=~"CaptureDrainFailed|CaptureDrainGateBypassed|CaptureDrainNoLeader|CaptureDrainWebhookCertExpiring|CaptureDrainRolloutBlocked"}[30m])',
    );
    expect(others.map((s) => s.metric.alertname)).toEqual([]);
    // The evaluation used the operator's own series, not absent ones: the leader was seen.
    expect((await prom.query('max_over_time(leader_election_master_status[1m]) == 1')).length).toBe(1);
  }, 300_000);
});
