// Every metric a dashboard panel or an alert rule uses exists in the operator's registry and is in
// docs/metrics.md, and the table describes the registry as it is (every operator metric, its type
// and labels). The registry is the one a real operator process fills: the manager with every
// feature on, the webhook server, the gate's metrics and the leader elector.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import type { Registry } from 'prom-client';
import { parse } from 'yaml';
import { createGateMetrics } from '../../src/gate/metrics.js';
import { EventRecorder } from '../../src/kube/events.js';
import { LeaderElector } from '../../src/kube/leader.js';
import { createManager } from '../../src/manager.js';
import { createRegistry } from '../../src/observability/metrics.js';
import { silentLogger } from '../../src/observability/logger.js';
import { WebhookServer } from '../../src/webhook/server.js';
import { FakeKube } from '../support/fake-kube.js';
import { testConfig } from '../support/operator-harness.js';

// Tests run from dist/operator/test/observability; the sources live at the repository root.
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const MONITORING = join(REPO, 'charts/capture-drain-operator/monitoring');

function operatorRegistry(): Registry {
  const registry = createRegistry();
  const kube = new FakeKube();
  createManager({
    config: testConfig('cdo', {
      nodeDrains: true,
      rollouts: true,
      webhook: {
        host: '127.0.0.1',
        port: 0,
        certMode: 'files',
        certDir: '/nonexistent',
        secret: 'cdo-webhook',
        configuration: '',
        hosts: [],
      },
    }),
    kube,
    events: new EventRecorder({ client: kube, reportingController: 'test', reportingInstance: 'test' }),
    registry,
    logger: silentLogger(),
  });
  createGateMetrics(registry);
  new WebhookServer({
    host: '127.0.0.1',
    port: 0,
    source: { description: 'none', load: () => Promise.reject(new Error('none')) },
    review: async () => ({ allowed: true }),
    registry,
  });
  new LeaderElector({
    client: kube,
    namespace: 'cdo',
    name: 'capture-drain-operator',
    identity: 'test',
    registry,
    onStartedLeading: async () => undefined,
  });
  return registry;
}

const PROMQL_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'atan2',
  'inf',
  'nan',
  // Aggregation operators may be followed by a grouping clause rather than "(".
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'group',
  'limitk',
  'limit_ratio',
]);

/**
 * Metric names a PromQL expression selects: identifiers that are not functions (followed by "("),
 * keywords, label names in matchers or grouping clauses, strings, durations or template variables.
 */
function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery durations
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // grouping clauses
    .replace(/\$\{?\w+\}?/g, ' '); // dashboard variables ($namespace, ${datasource}, $__rate_interval)
  const names = new Set<string>();
  for (const m of s.matchAll(/(?<![\w:.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, id, call] = m;
    if (call || PROMQL_KEYWORDS.has(id!.toLowerCase())) continue;
    names.add(id!);
  }
  return [...names];
}

interface DocRow {
  type: string;
  labels: string[];
}

function metricsTable(): Map<string, DocRow> {
  const md = readFileSync(join(REPO, 'docs/metrics.md'), 'utf8');
  const rows = new Map<string, DocRow>();
  for (const line of md.split('\n')) {
    const m = /^\|\s*`([a-zA-Z_:][\w:]*)`\s*\|\s*(\w+)\s*\|([^|]*)\|/.exec(line);
    if (!m) continue;
    const labels = [...m[3]!.matchAll(/`(\w+)`/g)].map((l) => l[1]!).sort();
    rows.set(m[1]!, { type: m[2]!, labels });
  }
  return rows;
}

interface Dashboard {
  templating: { list: { name: string; query?: unknown; definition?: string }[] };
  panels: { title: string; type: string; targets?: { expr: string }[] }[];
}

function dashboardExprs(): { where: string; expr: string }[] {
  const d = JSON.parse(readFileSync(join(MONITORING, 'dashboard.json'), 'utf8')) as Dashboard;
  const out: { where: string; expr: string }[] = [];
  for (const p of d.panels)
    for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}"`, expr: t.expr });
  for (const v of d.templating.list)
    if (v.definition)
      out.push({
        where: `variable $${v.name}`,
        expr: v.definition.replace(/^label_values\((.*),\s*\w+\)$/, '$1'),
      });
  return out;
}

function ruleExprs(): { where: string; expr: string }[] {
  const f = parse(readFileSync(join(MONITORING, 'alerts.yaml'), 'utf8')) as {
    groups: { rules: { alert?: string; record?: string; expr: string }[] }[];
  };
  return f.groups.flatMap((g) =>
    g.rules.map((r) => ({ where: `rule ${r.alert ?? r.record}`, expr: r.expr })),
  );
}

/** A series name as scraped -> the metric that exports it (histogram _bucket/_sum/_count). */
function exporter(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m && (types.get(m[1]!) === 'histogram' || (types.get(m[1]!) === 'summary' && m[2] !== 'bucket')))
    return m[1];
  return undefined;
}

describe('PromQL metric names', () => {
  test('functions, keywords, label names, strings, durations and variables are not metric names', () => {
    expect(
      metricNames(
        'histogram_quantile(0.9, sum by (route, le) (rate(a_seconds_bucket{route=~"x|y", outcome!="ok"}[$__rate_interval])))',
      ),
    ).toEqual(['a_seconds_bucket']);
    expect(
      metricNames('b_age > on (job, namespace) group_left () b_timeout and max without (pod) (c) offset 5m'),
    ).toEqual(['b_age', 'b_timeout', 'c']);
    expect(metricNames('min(x_seconds) < 14 * 86400 or vector(0) unless count(y:recorded)')).toEqual([
      'x_seconds',
      'y:recorded',
    ]);
    expect(metricNames('sum(rate(d_total[5m])) / sum(rate(d_total[5m])) > bool 0.25')).toEqual(['d_total']);
  });
});

describe('metrics used by the dashboard and the alert rules', () => {
  const registry = operatorRegistry();
  const types = new Map(registry.getMetricsAsArray().map((m) => [m.name, String(m.type)]));
  const table = metricsTable();
  const uses = [...dashboardExprs(), ...ruleExprs()];

  test('the dashboard and the rules have queries to check', () => {
    expect(dashboardExprs().length).toBeGreaterThan(25);
    expect(ruleExprs().length).toBe(8);
    for (const u of uses) expect(metricNames(u.expr).length).toBeGreaterThan(0);
  });

  test('every metric they use is exported by the operator and documented in docs/metrics.md', () => {
    const problems: string[] = [];
    for (const u of uses)
      for (const name of metricNames(u.expr)) {
        const metric = exporter(name, types);
        if (!metric) problems.push(`${u.where}: ${name} is not in the operator's registry`);
        else if (!table.has(metric)) problems.push(`${u.where}: ${metric} is not in docs/metrics.md`);
      }
    expect(problems).toEqual([]);
  });

  test("docs/metrics.md lists every operator metric with the registry's type and labels, and nothing else", async () => {
    const own = registry
      .getMetricsAsArray()
      .filter((m) => !/^(process_|nodejs_)/.test(m.name))
      .map((m) => m.name)
      .sort();
    expect([...table.keys()].sort()).toEqual(own);
    for (const name of own) {
      const m = registry.getSingleMetric(name)! as unknown as { type: string; labelNames: string[] };
      expect({ name, type: table.get(name)!.type, labels: table.get(name)!.labels }).toEqual({
        name,
        type: m.type,
        labels: [...m.labelNames].sort(),
      });
    }
  });
});
