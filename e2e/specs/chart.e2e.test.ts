// The Helm chart with the real helm binary (built with the control plane): lint, what it renders
// for the values users set, values rejected by values.schema.json, the CRD it ships, and one real
// install/uninstall (deployment.enabled=false, as e2e runs the operator outside the cluster).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parseAllDocuments, parse } from 'yaml';
import { CONFIG_USAGE, loadConfig } from '../../operator/src/config.js';
import { CONTROLPLANE, Cluster, REPO, eventually, run, type RunResult } from '../harness/cluster.js';
import { CHART, serviceAccountKubeconfig, startOperator, type OperatorProcess } from '../harness/operator.js';
import { captureUrlArgs } from '../harness/capture-router.js';
import { deployTicdc, type TicdcWorkload } from '../harness/workload.js';
import { LOG_DIR, captureDrain, podUid, waitForDrain } from './support/suite.js';

const HELM = join(CONTROLPLANE, 'bin/helm');
const NS = 'e2e-chart';
const RELEASE = 'cdo-chart';
const FULLNAME = `${RELEASE}-capture-drain-operator`;
const helmHome = mkdtempSync(join(tmpdir(), 'cdo-helm-'));
const chartYaml = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string };

// helm needs no cluster for lint and template: only its own state dirs, kept out of $HOME.
const helm = (args: string[]): Promise<RunResult> =>
  run(HELM, args, {
    HELM_CACHE_HOME: join(helmHome, 'cache'),
    HELM_CONFIG_HOME: join(helmHome, 'config'),
    HELM_DATA_HOME: join(helmHome, 'data'),
    KUBECONFIG: join(helmHome, 'no-kubeconfig'),
  });

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

/** `helm template` with `--set`-style values; throws with helm's stderr when it fails. */
async function render(...set: string[]): Promise<Manifest[]> {
  const r = await helm(['template', RELEASE, CHART, '--namespace', NS, ...set]);
  if (r.code !== 0) throw new Error(`helm template ${set.join(' ')} failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJSON() as Manifest | null)
    .filter((m): m is Manifest => !!m);
}
const kinds = (ms: Manifest[]) => ms.map((m) => m.kind).sort();
const find = (ms: Manifest[], kind: string, name?: string) =>
  ms.find((m) => m.kind === kind && (name === undefined || m.metadata.name === name));

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are read field by field */
const deploymentOf = (ms: Manifest[]) => find(ms, 'Deployment', FULLNAME) as any;
const containerOf = (ms: Manifest[]) => deploymentOf(ms).spec.template.spec.containers[0];
const argsOf = async (...set: string[]): Promise<string[]> => containerOf(await render(...set)).args;

afterAll(() => rmSync(helmHome, { recursive: true, force: true }));

describe('chart: lint and defaults', () => {
  test.each([
    [[]],
    [['--set', 'deployment.enabled=false']],
    [['--set', 'webhook.certificate.mode=certManager', '--set', 'metrics.serviceMonitor.enabled=true']],
    [['--set', 'replicaCount=1', '--set', 'leaderElection.enabled=false', '--set', 'webhook.enabled=false']],
  ])('helm lint --strict %j is clean', async (set) => {
    const r = await helm(['lint', '--strict', CHART, ...set]);
    expect(r.stderr + r.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(r.code).toBe(0);
  });

  test('the defaults render every kind the operator needs', async () => {
    const ms = await render();
    expect(kinds(ms)).toEqual(
      expect.arrayContaining([
        'ClusterRole',
        'ClusterRoleBinding',
        'Deployment',
        'PodDisruptionBudget',
        'Role',
        'RoleBinding',
        'Service',
        'ServiceAccount',
      ]),
    );
    expect(find(ms, 'ServiceMonitor')).toBeUndefined();
    for (const m of ms) expect(m.metadata.labels?.['app.kubernetes.io/instance']).toBe(RELEASE);
    // Namespaced objects land in the release namespace.
    for (const m of ms.filter(
      (x) => !x.kind.startsWith('Cluster') && x.kind !== 'ValidatingWebhookConfiguration',
    ))
      expect(m.metadata.namespace).toBe(NS);
  });

  test('the Deployment: 2 replicas, hardened pod, probes, downward API, spread over nodes', async () => {
    const ms = await render();
    const d = deploymentOf(ms);
    expect(d.spec.replicas).toBe(2);
    const pod = d.spec.template.spec;
    expect(pod.serviceAccountName).toBe(find(ms, 'ServiceAccount')!.metadata.name);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const c = containerOf(ms);
    expect(c.image).toBe(`capture-drain-operator:${chartYaml.appVersion}`);
    expect(c.command).toBeUndefined(); // the image's entrypoint runs `capture-drain operator`
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'webhook', containerPort: 9443, protocol: 'TCP' },
    ]);
    expect(c.resources.requests).toBeDefined();
    expect(c.env).toEqual([
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    ]);
    const selector = d.spec.selector.matchLabels;
    expect(selector).toEqual({
      'app.kubernetes.io/name': 'capture-drain-operator',
      'app.kubernetes.io/instance': RELEASE,
    });
    const anti =
      pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm;
    expect(anti).toEqual({ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector } });
    // The metrics Service and the PDB select the same pods.
    expect((find(ms, 'Service', `${FULLNAME}-metrics`) as any).spec.selector).toEqual(selector);
    expect((find(ms, 'PodDisruptionBudget') as any).spec.selector.matchLabels).toEqual(selector);
    // A user's affinity replaces the default one.
    const custom = await render('--set', 'affinity.nodeAffinity.x=y');
    expect(deploymentOf(custom).spec.template.spec.affinity).toEqual({ nodeAffinity: { x: 'y' } });
  });

  test('the image is configurable', async () => {
    const ms = await render(
      '--set',
      'image.repository=registry.example/cdo',
      '--set',
      'image.tag=v9',
      '--set',
      'image.pullPolicy=Always',
      '--set',
      'imagePullSecrets[0].name=pull',
    );
    expect(containerOf(ms)).toMatchObject({ image: 'registry.example/cdo:v9', imagePullPolicy: 'Always' });
    expect(deploymentOf(ms).spec.template.spec.imagePullSecrets).toEqual([{ name: 'pull' }]);
  });
});

describe('chart: operator arguments', () => {
  // Flags that other parts of the operator add (webhook, rollouts, node drains): the chart passes them
  // per the shared contract; once they are in CONFIG_USAGE they go through loadConfig below too.
  const CONTRACT_FLAGS = [
    '--rollouts',
    '--node-drains',
    '--webhook-address',
    '--webhook-cert-mode',
    '--webhook-cert-dir',
    '--webhook-secret',
    '--webhook-configuration',
    '--webhook-hosts',
  ];
  const flagOf = (a: string) => a.split('=')[0]!;
  const known = (a: string) => CONFIG_USAGE.includes(`${flagOf(a)} `);

  test('defaults: every argument is a flag the operator knows, and it accepts them', async () => {
    const args = await argsOf();
    for (const a of args.filter((x) => !known(x))) expect(CONTRACT_FLAGS).toContain(flagOf(a));
    const config = loadConfig(args.filter(known), { POD_NAMESPACE: NS, POD_NAME: 'cdo-0' });
    expect(config).toMatchObject({
      namespaces: [],
      leaderElect: true,
      leaderElectionNamespace: NS,
      leaderElectionId: FULLNAME,
      httpPort: 8080,
      logLevel: 'info',
      defaultTimeout: '10m',
      defaultStallTimeout: '3m',
      defaultOnTimeout: 'Hold',
    });
    expect(config.defaultEndpoint).toBeUndefined();
    expect(config.defaultTlsSecret).toBeUndefined();
    expect(args).toEqual(expect.arrayContaining(['--rollouts=true', '--node-drains=true']));
  });

  test('values become flags: defaults, namespaces, log level, controllers', async () => {
    const args = await argsOf(
      '--set',
      'logLevel=debug',
      '--set',
      'watchNamespaces={tidb-a,tidb-b}',
      '--set',
      'defaults.timeout=20m',
      '--set',
      'defaults.stallTimeout=90s',
      '--set',
      'defaults.onTimeout=Release',
      '--set',
      'defaults.endpoint=https://ticdc.tidb:8300',
      '--set',
      'defaults.tlsSecret=ticdc-tls',
      '--set',
      'defaults.credentialsSecret=ticdc-auth',
      '--set',
      'metrics.port=9090',
      '--set',
      'rollouts.enabled=false',
      '--set',
      'nodeDrain.enabled=false',
    );
    const config = loadConfig(args.filter(known), { POD_NAMESPACE: NS });
    expect(config).toMatchObject({
      namespaces: ['tidb-a', 'tidb-b'],
      logLevel: 'debug',
      httpPort: 9090,
      defaultTimeout: '20m',
      defaultStallTimeout: '90s',
      defaultOnTimeout: 'Release',
      defaultEndpoint: 'https://ticdc.tidb:8300',
      defaultTlsSecret: 'ticdc-tls',
      defaultCredentialsSecret: 'ticdc-auth',
    });
    expect(args).toEqual(expect.arrayContaining(['--rollouts=false', '--node-drains=false']));
  });

  test('leader election timings: defaults 10s/7s/1s, values become flags, the schema rejects non-durations', async () => {
    const defaults = loadConfig((await argsOf()).filter(known), { POD_NAMESPACE: NS });
    expect(defaults).toMatchObject({ leaseDuration: '10s', renewDeadline: '7s', retryPeriod: '1s' });
    const args = await argsOf(
      '--set',
      'leaderElection.leaseDuration=15s',
      '--set',
      'leaderElection.renewDeadline=10s',
      '--set',
      'leaderElection.retryPeriod=2s',
    );
    expect(loadConfig(args.filter(known), { POD_NAMESPACE: NS })).toMatchObject({
      leaseDuration: '15s',
      renewDeadline: '10s',
      retryPeriod: '2s',
    });
    const bad = await helm(['template', RELEASE, CHART, '--set', 'leaderElection.retryPeriod=often']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/retryPeriod/);
  });

  test('webhook, operator certificate mode: the operator writes <fullname>-webhook-cert', async () => {
    const ms = await render();
    const args: string[] = containerOf(ms).args;
    expect(args).toEqual(
      expect.arrayContaining([
        '--webhook-address=:9443',
        '--webhook-cert-mode=operator',
        `--webhook-secret=${FULLNAME}-webhook-cert`,
        `--webhook-configuration=${FULLNAME}`,
        `--webhook-hosts=${FULLNAME}-webhook.${NS}.svc,${FULLNAME}-webhook.${NS}.svc.cluster.local`,
      ]),
    );
    expect(args.some((a) => a.startsWith('--webhook-cert-dir'))).toBe(false);
    expect(containerOf(ms).volumeMounts.map((v: { name: string }) => v.name)).toEqual(['tmp']);
  });

  test('webhook, certManager mode: the cert-manager Secret is mounted and read as files', async () => {
    const ms = await render('--set', 'webhook.certificate.mode=certManager', '--set', 'webhook.port=10443');
    const c = containerOf(ms);
    expect(c.args).toEqual(
      expect.arrayContaining([
        '--webhook-address=:10443',
        '--webhook-cert-mode=files',
        '--webhook-cert-dir=/etc/capture-drain/webhook',
      ]),
    );
    expect(c.args.some((a: string) => a.startsWith('--webhook-secret'))).toBe(false);
    expect(c.ports).toContainEqual({ name: 'webhook', containerPort: 10443, protocol: 'TCP' });
    expect(c.volumeMounts).toContainEqual({
      name: 'webhook-cert',
      mountPath: '/etc/capture-drain/webhook',
      readOnly: true,
    });
    expect(deploymentOf(ms).spec.template.spec.volumes).toContainEqual({
      name: 'webhook-cert',
      secret: { secretName: `${FULLNAME}-webhook-cert` },
    });
  });

  test('webhook disabled: no webhook port or flags', async () => {
    const c = containerOf(await render('--set', 'webhook.enabled=false'));
    expect(c.args.filter((a: string) => a.startsWith('--webhook'))).toEqual([]);
    expect(c.ports.map((p: { name: string }) => p.name)).toEqual(['http']);
  });
});

describe('chart: optional parts', () => {
  test('deployment.enabled=false renders only the ServiceAccount and RBAC', async () => {
    const ms = await render('--set', 'deployment.enabled=false', '--set', 'webhook.enabled=false');
    const identity = ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ServiceAccount'];
    expect([...new Set(kinds(ms))]).toEqual(identity);
    // With the webhook on, its configuration may come too, but still nothing that runs the operator.
    const withWebhook = await render(
      '--set',
      'deployment.enabled=false',
      '--set',
      'metrics.serviceMonitor.enabled=true',
    );
    expect(find(withWebhook, 'Deployment')).toBeUndefined();
    expect(find(withWebhook, 'ServiceMonitor')).toBeUndefined();
    expect(find(withWebhook, 'PodDisruptionBudget')).toBeUndefined();
    expect(find(withWebhook, 'Service', `${FULLNAME}-metrics`)).toBeUndefined();
  });

  test('the ClusterRole grants only what the enabled controllers use', async () => {
    type Rule = { resources: string[]; verbs: string[] };
    const rules = async (...set: string[]) => {
      const role = find(await render(...set), 'ClusterRole', FULLNAME) as unknown as { rules: Rule[] };
      return Object.fromEntries(role.rules.map((r) => [r.resources.join(','), r.verbs.join(',')]));
    };
    const all = await rules();
    expect(all).toMatchObject({
      capturedrains: 'get,list,watch,patch,create,delete',
      statefulsets: 'get,list,watch,patch',
      nodes: 'get,list,watch',
      persistentvolumeclaims: 'get,list',
      persistentvolumes: 'get',
      namespaces: 'get',
      validatingwebhookconfigurations: 'get,patch',
      // The gate checks PodDisruptionBudgets before an eviction starts a drain.
      poddisruptionbudgets: 'get,list,watch',
    });
    // The gate alone reads a pod's node (NotReady nodes), nothing more.
    expect((await rules('--set', 'nodeDrain.enabled=false')).nodes).toBe('get');
    const none = await rules(
      ...[
        '--set',
        'rollouts.enabled=false',
        '--set',
        'webhook.enabled=false',
        '--set',
        'nodeDrain.enabled=false',
      ],
    );
    expect(none).toMatchObject({ capturedrains: 'get,list,watch,patch', statefulsets: 'get,list,watch' });
    for (const r of [
      'nodes',
      'persistentvolumeclaims',
      'persistentvolumes',
      'namespaces',
      'validatingwebhookconfigurations',
      'poddisruptionbudgets',
    ])
      expect(none[r]).toBeUndefined();
    // Rollouts alone: create drains and patch StatefulSets, nothing about nodes or webhooks.
    const rollouts = await rules('--set', 'webhook.enabled=false', '--set', 'nodeDrain.enabled=false');
    expect(rollouts).toMatchObject({
      capturedrains: 'get,list,watch,patch,create',
      statefulsets: 'get,list,watch,patch',
    });
    expect(rollouts.nodes).toBeUndefined();
  });

  test('rbac.create=false and serviceAccount.create=false render neither', async () => {
    const ms = await render(
      '--set',
      'rbac.create=false',
      '--set',
      'serviceAccount.create=false',
      '--set',
      'serviceAccount.name=mine',
    );
    expect(kinds(ms).filter((k) => /Role|ServiceAccount/.test(k))).toEqual([]);
    expect(deploymentOf(ms).spec.template.spec.serviceAccountName).toBe('mine');
  });

  test('ServiceMonitor on: it scrapes the metrics Service by its labels and port name', async () => {
    const ms = await render(
      '--set',
      'metrics.serviceMonitor.enabled=true',
      '--set',
      'metrics.serviceMonitor.interval=15s',
      '--set',
      'metrics.serviceMonitor.labels.release=prom',
    );
    const sm = find(ms, 'ServiceMonitor') as any;
    const svc = find(ms, 'Service', `${FULLNAME}-metrics`) as any;
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.metadata.labels.release).toBe('prom');
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: [NS] });
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v);
    // honorLabels: the operator's namespace/pod/statefulset labels name the objects (docs/metrics.md).
    expect(sm.spec.endpoints).toEqual([
      { port: svc.spec.ports[0].name, path: '/metrics', interval: '15s', honorLabels: true },
    ]);
    expect(svc.spec.ports[0].targetPort).toBe('http');
  });

  test('ServiceMonitor without the metrics Service is refused with a reason', async () => {
    const r = await helm([
      'template',
      RELEASE,
      CHART,
      '--set',
      'metrics.serviceMonitor.enabled=true',
      '--set',
      'metrics.service.enabled=false',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/metrics.serviceMonitor.enabled needs metrics.service.enabled/);
  });

  test('one replica renders no PodDisruptionBudget (it would block every node drain)', async () => {
    const ms = await render('--set', 'replicaCount=1');
    expect(find(ms, 'PodDisruptionBudget')).toBeUndefined();
  });
});

describe('chart: tenancy (watchNamespaces RBAC)', () => {
  type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
  type Role = Manifest & { rules: Rule[] };
  type Binding = Manifest & {
    roleRef: { kind: string; name: string };
    subjects: { kind: string; name: string; namespace: string }[];
  };
  const NAMESPACED = ['capturedrains', 'capturedrains/status', 'pods', 'statefulsets', 'secrets', 'events'];
  const byResource = (role: Role) =>
    Object.fromEntries(role.rules.map((r) => [r.resources.join(','), r.verbs.join(',')]));
  const roles = (ms: Manifest[], kind: string) => ms.filter((m) => m.kind === kind) as Role[];
  const TENANTS = ['tidb-a', 'tidb-b'];
  const tenants = ['--set', `watchNamespaces={${TENANTS.join(',')}}`];

  test('unset: one ClusterRole holds every rule, bound cluster-wide; no Role in any other namespace', async () => {
    const ms = await render();
    const cr = find(ms, 'ClusterRole', FULLNAME) as Role;
    expect(Object.keys(byResource(cr))).toEqual(expect.arrayContaining(NAMESPACED));
    expect(cr.rules.find((r) => r.resources.includes('namespaces'))!.resourceNames).toBeUndefined();
    const crb = find(ms, 'ClusterRoleBinding', FULLNAME) as Binding;
    expect(crb.subjects).toEqual([{ kind: 'ServiceAccount', name: FULLNAME, namespace: NS }]);
    for (const r of roles(ms, 'Role')) expect(r.metadata.namespace).toBe(NS);
    expect(roles(ms, 'Role').map((r) => r.metadata.name)).not.toContain(FULLNAME);
  });

  test('set: a Role + RoleBinding per watched namespace; the ClusterRole keeps only cluster-scoped rules', async () => {
    const ms = await render(...tenants);
    for (const ns of TENANTS) {
      const role = ms.find(
        (m) => m.kind === 'Role' && m.metadata.name === FULLNAME && m.metadata.namespace === ns,
      ) as Role;
      expect(byResource(role)).toEqual({
        capturedrains: 'get,list,watch,patch,create,delete',
        'capturedrains/status': 'get,patch,update',
        pods: 'get,list,watch,delete',
        statefulsets: 'get,list,watch,patch',
        secrets: 'get',
        events: 'create,patch',
        // Node cordon: a capture pod's claims (node-local volumes stay on a cordoned node).
        persistentvolumeclaims: 'get,list',
        poddisruptionbudgets: 'get,list,watch',
      });
      const rb = ms.find(
        (m) => m.kind === 'RoleBinding' && m.metadata.name === FULLNAME && m.metadata.namespace === ns,
      ) as Binding;
      expect(rb.roleRef).toMatchObject({ kind: 'Role', name: FULLNAME });
      expect(rb.subjects).toEqual([{ kind: 'ServiceAccount', name: FULLNAME, namespace: NS }]);
    }
    const cr = find(ms, 'ClusterRole', FULLNAME) as Role;
    expect(byResource(cr)).toEqual({
      namespaces: 'get',
      nodes: 'get,list,watch',
      persistentvolumes: 'get',
      validatingwebhookconfigurations: 'get,patch',
    });
    expect(cr.rules.find((r) => r.resources.includes('namespaces'))!.resourceNames).toEqual(TENANTS);
    expect(
      cr.rules.find((r) => r.resources.includes('validatingwebhookconfigurations'))!.resourceNames,
    ).toEqual([FULLNAME]);
    // Node events go to namespace default (Nodes are cluster-scoped): only Events there.
    const nodeEvents = ms.find((m) => m.kind === 'Role' && m.metadata.namespace === 'default') as Role;
    expect(nodeEvents.metadata.name).toBe(`${FULLNAME}-node-events`);
    expect(byResource(nodeEvents)).toEqual({ events: 'create,patch' });
    // Lease and webhook Secret stay in the release namespace.
    const inRelease = roles(ms, 'Role').filter((r) => r.metadata.namespace === NS);
    expect(inRelease.map((r) => r.metadata.name).sort()).toEqual([
      `${FULLNAME}-leader-election`,
      `${FULLNAME}-webhook-cert`,
    ]);
    // Every Role has its RoleBinding, for the chart's ServiceAccount.
    const bindings = ms.filter((m) => m.kind === 'RoleBinding') as Binding[];
    expect(bindings.map((b) => `${b.metadata.namespace}/${b.roleRef.name}`).sort()).toEqual(
      roles(ms, 'Role')
        .map((r) => `${r.metadata.namespace}/${r.metadata.name}`)
        .sort(),
    );
    // The webhook only sees pods of the watched namespaces.
    const vwc = find(ms, 'ValidatingWebhookConfiguration') as any;
    for (const w of vwc.webhooks)
      expect(w.namespaceSelector.matchExpressions).toEqual([
        { key: 'kubernetes.io/metadata.name', operator: 'In', values: TENANTS },
      ]);
  });

  test('set: verbs still follow the enabled controllers', async () => {
    const off = ['rollouts', 'webhook', 'nodeDrain'].flatMap((k) => ['--set', `${k}.enabled=false`]);
    const none = await render(...tenants, ...off);
    // Nothing cluster-scoped is needed: no ClusterRole at all, and no Events Role in default.
    expect(kinds(none).filter((k) => k.startsWith('Cluster'))).toEqual([]);
    expect(none.find((m) => m.metadata.namespace === 'default')).toBeUndefined();
    const role = none.find((m) => m.kind === 'Role' && m.metadata.namespace === 'tidb-a') as Role;
    expect(byResource(role)).toMatchObject({
      capturedrains: 'get,list,watch,patch',
      statefulsets: 'get,list,watch',
    });

    const rollouts = await render(
      ...tenants,
      '--set',
      'webhook.enabled=false',
      '--set',
      'nodeDrain.enabled=false',
    );
    expect(
      byResource(rollouts.find((m) => m.kind === 'Role' && m.metadata.namespace === 'tidb-b') as Role),
    ).toMatchObject({ capturedrains: 'get,list,watch,patch,create', statefulsets: 'get,list,watch,patch' });
    expect(find(rollouts, 'ClusterRole')).toBeUndefined();

    // cert-manager mode and no node drains: the watched namespaces' get and the gate's node get
    // (a pod on a NotReady node is let go) remain cluster-scoped.
    const gate = await render(
      ...tenants,
      '--set',
      'nodeDrain.enabled=false',
      '--set',
      'webhook.certificate.mode=certManager',
    );
    expect(byResource(find(gate, 'ClusterRole', FULLNAME) as Role)).toEqual({
      namespaces: 'get',
      nodes: 'get',
    });

    // default watched: its Role already grants Events, no second Role there.
    const withDefault = await render('--set', 'watchNamespaces={default}');
    expect(
      withDefault
        .filter((m) => m.kind === 'Role' && m.metadata.namespace === 'default')
        .map((m) => m.metadata.name),
    ).toEqual([FULLNAME]);
  });
});

describe('chart: NetworkPolicy', () => {
  /* A NetworkPolicy as rendered. */
  type Peer = Record<string, unknown>;
  type Policy = Manifest & {
    spec: {
      podSelector: { matchLabels: Record<string, string> };
      policyTypes: string[];
      ingress: { ports: { port: number; protocol: string }[]; from: Peer[] }[] | null;
      egress?: unknown[];
    };
  };
  const APISERVER = ['--set', 'networkPolicy.webhook.from[0].ipBlock.cidr=10.0.0.0/24'];
  const MONITORING = [
    '--set',
    'networkPolicy.metrics.from[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring',
  ];
  const policyOf = (ms: Manifest[]) => find(ms, 'NetworkPolicy') as Policy | undefined;

  test('off by default', async () => {
    expect(policyOf(await render())).toBeUndefined();
  });

  test('on: webhook port from the API server peers, metrics port from the monitoring peers, egress open', async () => {
    const ms = await render('--set', 'networkPolicy.enabled=true', ...APISERVER, ...MONITORING);
    const p = policyOf(ms)!;
    expect(p.metadata.namespace).toBe(NS);
    expect(p.spec.podSelector.matchLabels).toEqual(deploymentOf(ms).spec.selector.matchLabels);
    expect(p.spec.policyTypes).toEqual(['Ingress']);
    expect(p.spec.egress).toBeUndefined();
    expect(p.spec.ingress).toEqual([
      { ports: [{ port: 9443, protocol: 'TCP' }], from: [{ ipBlock: { cidr: '10.0.0.0/24' } }] },
      {
        ports: [{ port: 8080, protocol: 'TCP' }],
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
      },
    ]);
    // The ports are the container's.
    const ports = containerOf(ms).ports.map((x: { containerPort: number }) => x.containerPort);
    expect(ports).toEqual([8080, 9443]);
  });

  test('ports follow webhook.port and metrics.port; probe peers join the metrics port', async () => {
    const p = policyOf(
      await render(
        '--set',
        'networkPolicy.enabled=true',
        ...APISERVER,
        '--set',
        'webhook.port=10443',
        '--set',
        'metrics.port=9090',
        '--set',
        'networkPolicy.probes.from[0].ipBlock.cidr=192.168.0.0/16',
      ),
    )!;
    expect(p.spec.ingress).toEqual([
      { ports: [{ port: 10443, protocol: 'TCP' }], from: [{ ipBlock: { cidr: '10.0.0.0/24' } }] },
      { ports: [{ port: 9090, protocol: 'TCP' }], from: [{ ipBlock: { cidr: '192.168.0.0/16' } }] },
    ]);
  });

  test('webhook off and no peers: no ingress at all (the node, hence the kubelet, stays allowed)', async () => {
    const p = policyOf(
      await render('--set', 'networkPolicy.enabled=true', '--set', 'webhook.enabled=false'),
    )!;
    expect(p.spec.ingress).toEqual([]);
    expect(p.spec.policyTypes).toEqual(['Ingress']);
  });

  test('egress rules restrict egress to them', async () => {
    const p = policyOf(
      await render(
        '--set',
        'networkPolicy.enabled=true',
        ...APISERVER,
        '--set',
        'networkPolicy.egress[0].ports[0].port=53',
        '--set',
        'networkPolicy.egress[0].ports[0].protocol=UDP',
        '--set',
        'networkPolicy.egress[1].to[0].ipBlock.cidr=10.96.0.1/32',
      ),
    )!;
    expect(p.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(p.spec.egress).toEqual([
      { ports: [{ port: 53, protocol: 'UDP' }] },
      { to: [{ ipBlock: { cidr: '10.96.0.1/32' } }] },
    ]);
  });

  test('no Deployment, no NetworkPolicy', async () => {
    const ms = await render('--set', 'networkPolicy.enabled=true', '--set', 'deployment.enabled=false');
    expect(policyOf(ms)).toBeUndefined();
  });

  test('on with the webhook but no API server peers is refused with a reason', async () => {
    const r = await helm(['template', RELEASE, CHART, '--set', 'networkPolicy.enabled=true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/networkPolicy.enabled with the webhook on needs networkPolicy.webhook.from/);
  });

  test('helm lint --strict is clean with it on', async () => {
    const r = await helm([
      'lint',
      '--strict',
      CHART,
      '--set',
      'networkPolicy.enabled=true',
      ...APISERVER,
      ...MONITORING,
    ]);
    expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(r.code).toBe(0);
  });
});

describe('chart: bad values are rejected with a readable message', () => {
  const bad: [string, string[], RegExp][] = [
    [
      'unknown onTimeout',
      ['--set', 'defaults.onTimeout=Maybe'],
      /\/defaults\/onTimeout': value must be one of 'Hold', 'Release'/,
    ],
    [
      'duration without unit',
      ['--set-string', 'defaults.timeout=10'],
      /\/defaults\/timeout': '10' does not match pattern/,
    ],
    [
      'duration in words',
      ['--set', 'defaults.stallTimeout=three minutes'],
      /\/defaults\/stallTimeout'.*does not match/,
    ],
    [
      'a number for a duration',
      ['--set', 'defaults.timeout=10'],
      /\/defaults\/timeout': got number, want string/,
    ],
    ['zero replicas', ['--set', 'replicaCount=0'], /\/replicaCount': minimum: got 0, want 1/],
    ['unknown log level', ['--set', 'logLevel=loud'], /\/logLevel': value must be one of 'trace'/],
    [
      'unknown failurePolicy',
      ['--set', 'webhook.failurePolicy=Maybe'],
      /\/webhook\/failurePolicy': value must be one of 'Ignore', 'Fail'/,
    ],
    [
      'unknown certificate mode',
      ['--set', 'webhook.certificate.mode=selfSigned'],
      /\/webhook\/certificate\/mode': value must be one of 'operator', 'certManager'/,
    ],
    ['a misspelt key', ['--set', 'defaults.onTimout=Hold'], /additional properties 'onTimout' not allowed/],
    ['an unknown top-level key', ['--set', 'replicas=3'], /additional properties 'replicas' not allowed/],
    [
      'a bad Secret name',
      ['--set', 'defaults.tlsSecret=TLS_Secret'],
      /\/defaults\/tlsSecret': 'TLS_Secret' does not match pattern/,
    ],
    [
      'an endpoint without scheme',
      ['--set', 'defaults.endpoint=ticdc:8300'],
      /\/defaults\/endpoint'.*does not match pattern/,
    ],
    ['a bad namespace', ['--set', 'watchNamespaces={Tidb}'], /\/watchNamespaces\/0'.*does not match pattern/],
    [
      'a namespace watched twice',
      ['--set', 'watchNamespaces={tidb,tidb}'],
      /\/watchNamespaces'.*items at 0 and 1 are equal/,
    ],
    [
      'a NetworkPolicy peer with an unknown key',
      ['--set', 'networkPolicy.webhook.from[0].cidr=10.0.0.0/8'],
      /additional properties 'cidr' not allowed/,
    ],
    [
      'a NetworkPolicy CIDR without prefix length',
      ['--set', 'networkPolicy.webhook.from[0].ipBlock.cidr=10.0.0.1'],
      /\/networkPolicy\/webhook\/from\/0\/ipBlock\/cidr'.*does not match pattern/,
    ],
    [
      'two replicas without leader election',
      ['--set', 'leaderElection.enabled=false'],
      /replicaCount > 1 needs leaderElection.enabled=true/,
    ],
  ];
  test.each(bad)('%s', async (_what, set, message) => {
    const r = await helm(['template', RELEASE, CHART, ...set]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  test('helm lint --strict fails on them too', async () => {
    const r = await helm(['lint', '--strict', CHART, '--set', 'defaults.onTimeout=Maybe']);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/value must be one of 'Hold', 'Release'/);
  });
});

describe('chart: CRD', () => {
  test('the chart ships the repository CRD unchanged', async () => {
    const repoCrd = readFileSync(join(REPO, 'crds/capturedrain.yaml'), 'utf8');
    expect(readFileSync(join(CHART, 'crds/capturedrain.yaml'), 'utf8')).toBe(repoCrd);
    const shown = await helm(['show', 'crds', CHART]);
    expect(shown.code).toBe(0);
    expect(parse(shown.stdout.replace(/^---\n/, ''))).toEqual(parse(repoCrd));
  });
});

// The one part that needs the control plane the e2e global setup started; without it this suite
// fails rather than skipping.
const stateDir = process.env.CDO_E2E_STATE;
describe('chart: helm install into the control plane', () => {
  let c: Cluster;
  beforeAll(async () => {
    if (!stateDir || !existsSync(join(stateDir, 'env')))
      throw new Error('no e2e control plane (CDO_E2E_STATE): run through the e2e project');
    c = new Cluster(stateDir);
    await c.kubectl(['create', 'namespace', NS]);
  });
  afterAll(async () => {
    await c?.helm(['uninstall', RELEASE, '--namespace', NS]);
    await c?.kubectl(['delete', 'namespace', NS, '--wait=false']);
  });

  test('install (no Deployment): the ServiceAccount gets the chart RBAC and no more; uninstall removes it', async () => {
    const as = `system:serviceaccount:${NS}:${FULLNAME}`;
    const can = async (...args: string[]) =>
      (await c.kubectl(['auth', 'can-i', ...args, '--as', as])).stdout.trim();

    const installed = await c.helm([
      'install',
      RELEASE,
      CHART,
      '--namespace',
      NS,
      '--set',
      'deployment.enabled=false',
      '--set',
      'webhook.enabled=false',
      '--wait',
      '--timeout',
      '60s',
    ]);
    expect({ code: installed.code, stderr: installed.stderr }).toEqual({
      code: 0,
      stderr: expect.not.stringMatching(/error/i),
    });
    expect(installed.stdout).toMatch(/STATUS: deployed/);
    expect(installed.stdout).toMatch(/no Deployment \(deployment.enabled=false\)/);
    expect(installed.stdout).toMatch(/kubectl get capturedrains -A -w/);

    await c.kubectlOk(['get', 'serviceaccount', FULLNAME, '-n', NS]);
    expect((await c.kubectl(['get', 'deployment', FULLNAME, '-n', NS])).code).not.toBe(0);
    expect(await can('list', 'capturedrains.drain.ticdc.io', '--all-namespaces')).toBe('yes');
    expect(await can('patch', 'capturedrains.drain.ticdc.io', '--subresource=status', '-n', 'other')).toBe(
      'yes',
    );
    expect(await can('delete', 'pods', '-n', 'other')).toBe('yes');
    expect(await can('update', 'leases.coordination.k8s.io', '-n', NS)).toBe('yes');
    // Least privilege: the Lease only in its own namespace, Secrets only by name, nothing destructive beyond pods.
    expect(await can('update', 'leases.coordination.k8s.io', '-n', 'default')).toBe('no');
    expect(await can('list', 'secrets', '-n', 'other')).toBe('no');
    expect(await can('delete', 'statefulsets', '-n', 'other')).toBe('no');
    expect(await can('delete', 'nodes')).toBe('no');

    const removed = await c.helm(['uninstall', RELEASE, '--namespace', NS, '--wait']);
    expect(removed.code).toBe(0);
    expect((await c.kubectl(['get', 'serviceaccount', FULLNAME, '-n', NS])).code).not.toBe(0);
    expect((await c.kubectl(['get', 'clusterrole', FULLNAME])).code).not.toBe(0);
    expect(await can('list', 'capturedrains.drain.ticdc.io', '--all-namespaces')).toBe('no');
    // helm keeps CRDs on uninstall: drains survive an operator reinstall.
    await c.kubectlOk(['get', 'crd', 'capturedrains.drain.ticdc.io']);
  });
});

// Case 12: with watchNamespaces the chart's ServiceAccount holds nothing namespaced outside the
// watched namespaces, and the operator, running as that ServiceAccount, still drains in them.
describe('chart: watchNamespaces on the control plane (namespaced RBAC)', () => {
  const RELEASE_NS = 'e2e-chart-tenancy';
  const TENANT = 'e2e-chart-tenant-a';
  const TENANCY_RELEASE = 'cdo-tenancy';
  const SA = `${TENANCY_RELEASE}-capture-drain-operator`;
  let c: Cluster;
  let ticdc: TicdcWorkload | undefined;
  let operator: OperatorProcess | undefined;
  beforeAll(async () => {
    if (!stateDir || !existsSync(join(stateDir, 'env')))
      throw new Error('no e2e control plane (CDO_E2E_STATE): run through the e2e project');
    c = new Cluster(stateDir);
    for (const ns of [RELEASE_NS, TENANT]) await c.kubectl(['create', 'namespace', ns]);
  });
  afterAll(async () => {
    await operator?.stop();
    await ticdc?.sim.stop();
    await c?.helm(['uninstall', TENANCY_RELEASE, '--namespace', RELEASE_NS]);
    for (const ns of [TENANT, RELEASE_NS]) await c?.kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  test('the API server accepts the rendered NetworkPolicy (ingress peers, probes, egress rules)', async () => {
    const rendered = await c.helm([
      'template',
      TENANCY_RELEASE,
      CHART,
      '--namespace',
      RELEASE_NS,
      '--show-only',
      'templates/networkpolicy.yaml',
      '--set',
      'networkPolicy.enabled=true',
      '--set',
      'networkPolicy.webhook.from[0].ipBlock.cidr=10.0.0.0/24',
      '--set',
      'networkPolicy.metrics.from[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring',
      '--set',
      'networkPolicy.metrics.from[0].podSelector.matchLabels.app=prometheus',
      '--set',
      'networkPolicy.probes.from[0].ipBlock.cidr=192.168.0.0/16',
      '--set',
      'networkPolicy.egress[0].ports[0].port=53',
      '--set',
      'networkPolicy.egress[0].ports[0].protocol=UDP',
    ]);
    expect(rendered.code).toBe(0);
    const applied = await c.kubectl(['apply', '--dry-run=server', '-o', 'name', '-f', '-'], {
      input: rendered.stdout,
    });
    expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
    expect(applied.stdout.trim()).toBe(`networkpolicy.networking.k8s.io/${SA}`);
  });

  test('the ServiceAccount cannot touch kube-system, still can in the watched namespace, and drains there', async () => {
    const installed = await c.helm([
      'install',
      TENANCY_RELEASE,
      CHART,
      '--namespace',
      RELEASE_NS,
      '--set',
      'deployment.enabled=false',
      '--set',
      'webhook.enabled=false',
      '--set',
      `watchNamespaces={${TENANT}}`,
      '--wait',
      '--timeout',
      '60s',
    ]);
    expect({ code: installed.code, stderr: installed.stderr }).toEqual({
      code: 0,
      stderr: expect.not.stringMatching(/error/i),
    });

    const as = `system:serviceaccount:${RELEASE_NS}:${SA}`;
    const can = async (...args: string[]) =>
      (await c.kubectl(['auth', 'can-i', ...args, '--as', as])).stdout.trim();
    const checks: [string[], string][] = [
      // Outside the watched namespace: nothing namespaced.
      [['get', 'secrets', '-n', 'kube-system'], 'no'],
      [['delete', 'pods', '-n', 'kube-system'], 'no'],
      [['patch', 'statefulsets.apps', '-n', 'kube-system'], 'no'],
      [['list', 'pods', '-n', 'kube-system'], 'no'],
      [['create', 'capturedrains.drain.ticdc.io', '-n', 'kube-system'], 'no'],
      [['patch', 'capturedrains.drain.ticdc.io', '--subresource=status', '-n', 'kube-system'], 'no'],
      [['list', 'capturedrains.drain.ticdc.io', '--all-namespaces'], 'no'],
      [['get', 'secrets', '-n', RELEASE_NS], 'no'],
      [['get', 'namespaces/kube-system'], 'no'],
      // In it: what the controllers use.
      [['get', 'secrets', '-n', TENANT], 'yes'],
      [['delete', 'pods', '-n', TENANT], 'yes'],
      [['patch', 'statefulsets.apps', '-n', TENANT], 'yes'],
      [['watch', 'capturedrains.drain.ticdc.io', '-n', TENANT], 'yes'],
      [['patch', 'capturedrains.drain.ticdc.io', '--subresource=status', '-n', TENANT], 'yes'],
      [['get', `namespaces/${TENANT}`], 'yes'],
      // Cluster-scoped and release-namespace needs.
      [['watch', 'nodes'], 'yes'],
      [['update', 'leases.coordination.k8s.io', '-n', RELEASE_NS], 'yes'],
      [['create', 'events.events.k8s.io', '-n', 'default'], 'yes'],
      [['list', 'secrets', '-n', TENANT], 'no'],
    ];
    const got = await Promise.all(checks.map(async ([args]) => [args.join(' '), await can(...args)]));
    expect(Object.fromEntries(got)).toEqual(
      Object.fromEntries(checks.map(([a, want]) => [a.join(' '), want])),
    );

    // NOTES say where the permissions went.
    expect(installed.stdout).toContain(`Role/RoleBinding ${SA} in ${TENANT} (the watched namespaces`);
    expect(installed.stdout).toContain(`ClusterRole/ClusterRoleBinding ${SA} (cluster-scoped reads only)`);

    // The operator as that ServiceAccount, watching the tenant namespace: a drain there completes.
    ticdc = await deployTicdc(c, { namespace: TENANT, replicas: 3, sim: { moveRatePerSec: 6, seed: 12 } });
    const kubeconfig = await serviceAccountKubeconfig(c, RELEASE_NS, SA, join(c.stateDir, 'operators'));
    operator = startOperator({
      kubeconfig,
      namespace: RELEASE_NS,
      logDir: LOG_DIR,
      name: 'tenancy',
      // Captures' own status (liveness) is read through the local router to the simulator.
      extraArgs: ['--namespaces', TENANT, ...(await captureUrlArgs())],
    });
    const pod = ticdc.sim.captures().find((x) => !x.isOwner)!.podName!;
    const uid = await podUid(c, TENANT, pod);
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(TENANT, 'tenant-drain', { podName: pod, podAction: 'Delete' }),
    });
    const status = await waitForDrain(
      c,
      TENANT,
      'tenant-drain',
      (s) => s.phase === 'Completed' || s.phase === 'Failed',
    );
    expect(status).toMatchObject({ phase: 'Completed', reason: 'Drained', podUID: uid });
    await eventually('pod recreated', async () => {
      const u = await podUid(c, TENANT, pod);
      return u && u !== uid;
    });
    expect(ticdc.sim.violations()).toEqual([]);
    // No request of the operator was refused: every informer and call stayed inside its grants.
    expect(operator.logs()).not.toMatch(/forbidden/i);
  });
});
