// The chart's monitoring parts and the alert rules with the real tools (no cluster needed): helm
// lints and renders the PrometheusRule and the Grafana dashboard ConfigMap on and off, the rendered
// rules are exactly monitoring/alerts.yaml, and promtool (built from source with the control plane)
// checks the rule file and runs its unit tests, which fail when a rule is broken.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { CONTROLPLANE, run, type RunResult } from '../harness/cluster.js';
import { CHART } from '../harness/operator.js';

const HELM = join(CONTROLPLANE, 'bin/helm');
const PROMTOOL = join(CONTROLPLANE, 'prometheus-bin/promtool');
const MONITORING = join(CHART, 'monitoring');
const RULES_FILE = join(MONITORING, 'alerts.yaml');
const RULES_TESTS = join(MONITORING, 'alerts.test.yaml');
const DEFAULT_BASE = 'https://github.com/capture-drain-operator/capture-drain-operator/blob/main/docs';
const ON = ['--set', 'metrics.prometheusRule.enabled=true', '--set', 'metrics.grafanaDashboard.enabled=true'];

const work = mkdtempSync(join(tmpdir(), 'cdo-monitoring-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const helm = (args: string[]): Promise<RunResult> =>
  run(HELM, args, {
    HELM_CACHE_HOME: join(work, 'helm/cache'),
    HELM_CONFIG_HOME: join(work, 'helm/config'),
    HELM_DATA_HOME: join(work, 'helm/data'),
    KUBECONFIG: join(work, 'no-kubeconfig'),
  });
const promtool = (...args: string[]): Promise<RunResult> => run(PROMTOOL, args, {});

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations: Record<string, string>;
}
interface Manifest {
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: { groups: { name: string; rules: Rule[] }[] };
  data?: Record<string, string>;
}

async function render(...set: string[]): Promise<Manifest[]> {
  const r = await helm(['template', 'cdo', CHART, '--namespace', 'capture-drain', ...set]);
  if (r.code !== 0) throw new Error(`helm template ${set.join(' ')} failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJSON() as Manifest | null)
    .filter((m): m is Manifest => !!m);
}
const ruleOf = (ms: Manifest[]) => ms.find((m) => m.kind === 'PrometheusRule');
const dashboardOf = (ms: Manifest[]) =>
  ms.find((m) => m.kind === 'ConfigMap' && m.metadata.name.endsWith('-dashboard'));
const fileGroups = () => (parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: Rule[] }[] }).groups;
/** The alerts of the rule file, the one list of them (the runbooks' test reads it too). */
const ALERTS = fileGroups().flatMap((g) => g.rules.map((r) => r.alert));

describe('chart monitoring parts', () => {
  test.each([
    [[]],
    [ON],
    [[...ON, '--set', 'metrics.serviceMonitor.enabled=true']],
    [[...ON, '--set', 'deployment.enabled=false']],
  ])('helm lint --strict %j is clean', async (set) => {
    const r = await helm(['lint', '--strict', CHART, ...set]);
    expect(r.stderr + r.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(r.code).toBe(0);
  });

  test('off by default: no PrometheusRule and no dashboard ConfigMap', async () => {
    const ms = await render();
    expect(ruleOf(ms)).toBeUndefined();
    expect(dashboardOf(ms)).toBeUndefined();
    const sm = (await render('--set', 'metrics.serviceMonitor.enabled=true')).find(
      (m) => m.kind === 'ServiceMonitor',
    ) as unknown as {
      spec: { endpoints: { honorLabels: boolean }[] };
    };
    expect(sm.spec.endpoints[0]!.honorLabels).toBe(true);
  });

  test('the PrometheusRule carries exactly the groups of monitoring/alerts.yaml, every shared alert with a runbook', async () => {
    const rule = ruleOf(await render(...ON, '--set', 'metrics.prometheusRule.labels.release=kps'))!;
    expect(rule.metadata).toMatchObject({ name: 'cdo-capture-drain-operator', namespace: 'capture-drain' });
    expect(rule.metadata.labels).toMatchObject({ release: 'kps' });
    expect(rule.spec!.groups).toEqual(fileGroups());
    const rules = rule.spec!.groups.flatMap((g) => g.rules);
    expect(new Set(ALERTS).size).toBe(ALERTS.length);
    expect(ALERTS.length).toBeGreaterThanOrEqual(8);
    for (const r of rules) {
      expect(r.annotations.summary).toBeTruthy();
      expect(r.annotations.description).toBeTruthy();
      expect(r.annotations.runbook_url).toBe(`${DEFAULT_BASE}/troubleshooting.md#${r.alert.toLowerCase()}`);
    }
  });

  test('runbookBaseUrl moves every runbook link and nothing else; a malformed one is refused', async () => {
    const base = 'https://docs.example.com/cdo/v1';
    const groups = ruleOf(await render(...ON, '--set', `metrics.prometheusRule.runbookBaseUrl=${base}`))!
      .spec!.groups;
    const rules = groups.flatMap((g) => g.rules);
    for (const r of rules)
      expect(r.annotations.runbook_url).toBe(`${base}/troubleshooting.md#${r.alert.toLowerCase()}`);
    const strip = (rs: Rule[]) =>
      rs.map((r) => ({ ...r, annotations: { ...r.annotations, runbook_url: '' } }));
    expect(strip(rules)).toEqual(strip(fileGroups().flatMap((g) => g.rules)));
    const bad = await helm([
      'template',
      'cdo',
      CHART,
      ...ON,
      '--set',
      'metrics.prometheusRule.runbookBaseUrl=docs',
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('runbookBaseUrl');
  });

  test('the dashboard ConfigMap: sidecar label (configurable), namespace, folder annotation, the JSON as is', async () => {
    const def = dashboardOf(await render(...ON))!;
    expect(def.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(def.metadata.namespace).toBe('capture-drain');
    const json = def.data!['capture-drain-operator.json']!;
    expect(JSON.parse(json)).toEqual(JSON.parse(readFileSync(join(MONITORING, 'dashboard.json'), 'utf8')));
    const custom = dashboardOf(
      await render(
        ...ON,
        '--set',
        'metrics.grafanaDashboard.labelKey=dashboards',
        '--set',
        'metrics.grafanaDashboard.labelValue=ticdc',
        '--set',
        'metrics.grafanaDashboard.namespace=monitoring',
        '--set',
        'metrics.grafanaDashboard.annotations.grafana_folder=TiCDC',
      ),
    )!;
    expect(custom.metadata.labels).toMatchObject({ dashboards: 'ticdc' });
    expect(custom.metadata.labels).not.toHaveProperty('grafana_dashboard');
    expect(custom.metadata.namespace).toBe('monitoring');
    expect(custom.metadata.annotations).toEqual({ grafana_folder: 'TiCDC' });
  });
});

describe('promtool', () => {
  test('check rules: the rule file and the rules as the chart renders them', async () => {
    const file = await promtool('check', 'rules', RULES_FILE);
    expect(file.stdout + file.stderr).toContain(`SUCCESS: ${ALERTS.length} rules found`);
    expect(file.code).toBe(0);
    const rendered = join(work, 'rendered-rules.yaml');
    writeFileSync(rendered, stringify({ groups: ruleOf(await render(...ON))!.spec!.groups }));
    const r = await promtool('check', 'rules', rendered);
    expect(r.code).toBe(0);
  });

  test('test rules: every alert fires for its condition and not otherwise', async () => {
    const r = await promtool('test', 'rules', RULES_TESTS);
    expect(r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  // The unit tests are not vacuous: each of these broken rules makes them fail.
  test.each([
    ['CaptureDrainPodHeld threshold raised', '> 1200', '> 12000'],
    [
      'CaptureDrainStuck compared the wrong way',
      '> on (job, instance, namespace, capturedrain)',
      '< on (job, instance, namespace, capturedrain)',
    ],
    [
      'CaptureDrainTicdcErrors counting expected answers',
      'outcome=~"Transient|NotReady|Unauthorized|Tls|InvalidRequest"',
      'outcome!="ok"',
    ],
    ['CaptureDrainNoLeader for another Lease', 'name=~".*capture-drain-operator.*"', 'name=~".*"'],
    ['CaptureDrainRolloutBlocked without its for', 'for: 15m', 'for: 1m'],
  ])('test rules fails with %s', async (_what, from, to) => {
    const dir = mkdtempSync(join(work, 'broken-'));
    const text = readFileSync(RULES_FILE, 'utf8');
    expect(text).toContain(from);
    writeFileSync(join(dir, 'alerts.yaml'), text.replace(from, to));
    writeFileSync(join(dir, 'alerts.test.yaml'), readFileSync(RULES_TESTS, 'utf8'));
    const r = await promtool('test', 'rules', join(dir, 'alerts.test.yaml'));
    expect(r.stdout + r.stderr).toContain('FAILED');
    expect(r.code).not.toBe(0);
  });
});
