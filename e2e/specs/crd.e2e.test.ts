// The CRD as users meet it: kubectl explain, printer columns, and bad input rejected by the API
// server (schema + CEL) with a readable message, before any operator could see it.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { captureDrain, cluster } from './support/suite.js';

const NS = 'e2e-crd';
const c = cluster();

beforeAll(async () => {
  await c.kubectl(['create', 'namespace', NS]);
});
afterAll(async () => {
  await c.kubectl(['delete', 'namespace', NS, '--wait=false']);
});

describe('CaptureDrain CRD', () => {
  test('kubectl explain shows the field descriptions', async () => {
    const out = await c.kubectlOk(['explain', 'capturedrain.spec']);
    expect(out).toMatch(/podName\s+<string>/);
    expect(out).toMatch(/Name of the TiCDC capture pod to drain/);
    expect(out).toMatch(/onTimeout\s+<string>/);
    const cluster = await c.kubectlOk(['explain', 'cdrain.spec.cluster.apiFlavor']);
    expect(cluster).toMatch(/Auto detects it/);
    const status = await c.kubectlOk(['explain', 'capturedrain.status.phase']);
    expect(status).toMatch(/Queued/);
  });

  test('kubectl get shows the printer columns, with short names', async () => {
    await c.kubectlOk(['apply', '-f', '-'], { input: captureDrain(NS, 'columns', { podName: 'ticdc-0' }) });
    const out = await c.kubectlOk(['get', 'cdrain', '-n', NS]);
    expect(out.split('\n')[0]).toMatch(
      /^NAME\s+POD\s+PHASE\s+MAINTAINERS\s+DISPATCHERS\s+TABLES\s+REASON\s+AGE$/,
    );
    expect(out).toMatch(/columns\s+ticdc-0/);
    const wide = await c.kubectlOk(['get', 'cdr', '-n', NS, '-o', 'wide']);
    expect(wide.split('\n')[0]).toMatch(/ETA\s+CAPTURE/);
  });

  const base = { podName: 'ticdc-1' };
  const bad: [string, unknown, RegExp][] = [
    ['no spec', undefined, /spec: Required value/],
    ['empty spec', {}, /set spec\.podName \(the capture pod to drain\)/],
    ['empty podName', { podName: '' }, /spec\.podName.*should be at least 1 chars long/],
    ['podName not a DNS name', { podName: 'Bad_Name' }, /spec\.podName.*should match/],
    ['podName not a string', { podName: 42 }, /spec\.podName.*must be of type string/],
    [
      'unknown podAction',
      { ...base, podAction: 'Evict' },
      /spec\.podAction: Unsupported value: "Evict".*"None", "Delete"/,
    ],
    ['unknown onTimeout', { ...base, onTimeout: 'Ignore' }, /spec\.onTimeout: Unsupported value: "Ignore"/],
    ['unknown trigger', { ...base, trigger: 'Cron' }, /spec\.trigger: Unsupported value: "Cron"/],
    ['timeout without unit', { ...base, timeout: '10' }, /spec\.timeout.*should match/],
    ['timeout in words', { ...base, timeout: 'ten minutes' }, /spec\.timeout.*should match/],
    ['negative stallTimeout', { ...base, stallTimeout: '-5s' }, /spec\.stallTimeout.*should match/],
    [
      'timeout too long a string',
      { ...base, timeout: '1'.repeat(40) + 's' },
      /spec\.timeout.*(Too long|at most 32)/,
    ],
    [
      'stallTimeout above timeout',
      { ...base, timeout: '5m', stallTimeout: '20m' },
      /spec\.stallTimeout must not be longer than spec\.timeout/,
    ],
    [
      'endpoint without scheme',
      { ...base, cluster: { endpoint: 'ticdc:8300' } },
      /spec\.cluster\.endpoint.*should match/,
    ],
    [
      'endpoint with another scheme',
      { ...base, cluster: { endpoint: 'ftp://ticdc:8300' } },
      /spec\.cluster\.endpoint.*should match/,
    ],
    [
      'unknown apiFlavor',
      { ...base, cluster: { apiFlavor: 'V3' } },
      /spec\.cluster\.apiFlavor: Unsupported value: "V3"/,
    ],
    [
      'tlsSecretRef without name',
      { ...base, cluster: { tlsSecretRef: {} } },
      /spec\.cluster\.tlsSecretRef\.name: Required value/,
    ],
    [
      'empty credentials secret name',
      { ...base, cluster: { credentialsSecretRef: { name: '' } } },
      /credentialsSecretRef\.name.*at least 1 chars/,
    ],
    [
      'insecureSkipVerify not a boolean',
      { ...base, cluster: { insecureSkipVerify: 'yes' } },
      /insecureSkipVerify.*must be of type boolean/,
    ],
    [
      'captureAddress without port',
      { ...base, captureAddress: 'ticdc-1.peer' },
      /spec\.captureAddress.*should match/,
    ],
    [
      'Delete without a pod',
      { captureAddress: '10.0.0.1:8300', podAction: 'Delete' },
      /spec\.podAction Delete needs spec\.podName/,
    ],
    ['unknown field', { ...base, podname: 'typo' }, /unknown field "spec\.podname"/],
    // Settings the operator could never resolve are refused up front (verdicts case 7).
    [
      'Secret name with a slash',
      { ...base, cluster: { credentialsSecretRef: { name: 'ns/creds' } } },
      /credentialsSecretRef\.name.*should match/,
    ],
    [
      'TLS Secret name in upper case',
      { ...base, cluster: { tlsSecretRef: { name: 'TLS' } } },
      /tlsSecretRef\.name.*should match/,
    ],
    [
      'captureAddress port 0',
      { captureAddress: '10.0.0.1:0' },
      /the port of spec\.captureAddress must be between 1 and 65535/,
    ],
    [
      'captureAddress port above 65535',
      { captureAddress: '10.0.0.1:70000' },
      /the port of spec\.captureAddress must be between 1 and 65535/,
    ],
    ['zero timeout', { ...base, timeout: '0s' }, /spec\.timeout must be longer than 0s and at most 24h/],
    [
      'stallTimeout above 24h',
      { ...base, timeout: '48h', stallTimeout: '25h' },
      /spec\.stallTimeout must be longer than 0s and at most 24h/,
    ],
    [
      'endpoint port out of range',
      { ...base, cluster: { endpoint: 'http://ticdc:99999' } },
      /spec\.cluster\.endpoint (must be a URL|port must be between 1 and 65535)/,
    ],
  ];

  test(`${bad.length} malformed manifests are rejected with a readable message`, async () => {
    expect(bad.length).toBeGreaterThanOrEqual(20);
    const failures: string[] = [];
    for (const [i, [name, spec, message]] of bad.entries()) {
      const obj = {
        apiVersion: 'drain.ticdc.io/v1alpha1',
        kind: 'CaptureDrain',
        metadata: { name: `bad-${i}`, namespace: NS },
        ...(spec === undefined ? {} : { spec }),
      };
      const r = await c.kubectl(['apply', '-f', '-'], { input: JSON.stringify(obj) });
      if (r.code === 0) failures.push(`${name}: accepted`);
      else if (!message.test(r.stderr)) failures.push(`${name}: ${r.stderr.trim()}`);
    }
    expect(failures).toEqual([]);
    // Nothing was stored, so nothing can reach an operator.
    const names = (await c.kubectlOk(['get', 'cdrain', '-n', NS, '-o', 'name'])).split('\n').filter(Boolean);
    expect(names).toEqual(['capturedrain.drain.ticdc.io/columns']);
  });

  test('spec cannot change once the drain started', async () => {
    await c.kubectlOk(['apply', '-f', '-'], { input: captureDrain(NS, 'started', { podName: 'ticdc-2' }) });
    // Before the start, edits are fine.
    await c.kubectlOk([
      'patch',
      'cdrain',
      'started',
      '-n',
      NS,
      '--type=merge',
      '-p',
      '{"spec":{"timeout":"5m"}}',
    ]);
    await c.kubectlOk([
      'patch',
      'cdrain',
      'started',
      '-n',
      NS,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { phase: 'Draining', startTime: new Date().toISOString() } }),
    ]);
    const r = await c.kubectl([
      'patch',
      'cdrain',
      'started',
      '-n',
      NS,
      '--type=merge',
      '-p',
      '{"spec":{"podName":"ticdc-3"}}',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /spec cannot change after the drain started; delete the CaptureDrain and create a new one/,
    );
  });
});
