import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import {
  API_FLAVORS,
  CaptureDrainStatusSchema,
  DNS_SUBDOMAIN_PATTERN,
  DURATION_PATTERN,
  PHASES,
  POD_ACTIONS,
  TIMEOUT_POLICIES,
  TRIGGERS,
  parseDuration,
  formatDuration,
} from '../../src/api/capturedrain.js';

interface Schema {
  'x-kubernetes-validations'?: { rule: string; message: string }[];
  type?: string;
  description?: string;
  enum?: string[];
  pattern?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
}

const crd = parse(readFileSync(new URL('../../../../crds/capturedrain.yaml', import.meta.url), 'utf8'));
const version = crd.spec.versions[0];
const root: Schema = version.schema.openAPIV3Schema;
const spec = root.properties!.spec!;
const status = root.properties!.status!;

describe('CRD and zod schemas agree', () => {
  test('enums', () => {
    expect(spec.properties!.podAction!.enum).toEqual([...POD_ACTIONS]);
    expect(spec.properties!.onTimeout!.enum).toEqual([...TIMEOUT_POLICIES]);
    expect(spec.properties!.trigger!.enum).toEqual([...TRIGGERS]);
    expect(spec.properties!.cluster!.properties!.apiFlavor!.enum).toEqual([...API_FLAVORS]);
    expect(status.properties!.phase!.enum).toEqual([...PHASES]);
  });

  test('duration pattern', () => {
    expect(spec.properties!.timeout!.pattern).toBe(DURATION_PATTERN);
    expect(spec.properties!.stallTimeout!.pattern).toBe(DURATION_PATTERN);
  });

  test('every field has a description (kubectl explain)', () => {
    const missing: string[] = [];
    const walk = (s: Schema, path: string) => {
      if (!s.description && !['.apiVersion', '.kind', '.metadata'].includes(path)) missing.push(path || '.');
      for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${path}.${k}`);
      if (s.items?.properties)
        for (const [k, v] of Object.entries(s.items.properties)) walk(v, `${path}[].${k}`);
    };
    walk(root, '');
    expect(missing).toEqual([]);
  });

  test('schema nodes use only OpenAPI keywords (a stray comma in flow YAML would add keys)', () => {
    const allowed = new Set([
      'type',
      'description',
      'properties',
      'items',
      'enum',
      'pattern',
      'minLength',
      'maxLength',
      'minimum',
      'maxItems',
      'format',
      'required',
      'x-kubernetes-validations',
      'x-kubernetes-list-type',
      'x-kubernetes-list-map-keys',
    ]);
    const bad: string[] = [];
    const walk = (s: Schema, path: string) => {
      for (const k of Object.keys(s)) if (!allowed.has(k)) bad.push(`${path}: ${k}`);
      for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${path}.${k}`);
      if (s.items) walk(s.items, `${path}[]`);
    };
    walk(root, '');
    expect(bad).toEqual([]);
  });

  test('the chart ships the same CRD', () => {
    const chart = readFileSync(
      new URL('../../../../charts/capture-drain-operator/crds/capturedrain.yaml', import.meta.url),
      'utf8',
    );
    expect(chart).toBe(readFileSync(new URL('../../../../crds/capturedrain.yaml', import.meta.url), 'utf8'));
  });

  test('printer columns, short names, status subresource', () => {
    const cols = version.additionalPrinterColumns.map((c: { name: string }) => c.name);
    expect(cols).toEqual(
      expect.arrayContaining(['Pod', 'Phase', 'Maintainers', 'Dispatchers', 'Tables', 'Reason', 'Age']),
    );
    expect(crd.spec.names.shortNames).toEqual(['cdrain', 'cdr']);
    expect(version.subresources).toEqual({ status: {} });
  });
});

describe('what the CRD rejects up front (verdicts case 7)', () => {
  const cluster = spec.properties!.cluster!.properties!;
  const rules = (s: Schema) => (s['x-kubernetes-validations'] ?? []).map((v) => v.message);

  test('Secret names must be DNS subdomain names', () => {
    for (const ref of ['tlsSecretRef', 'credentialsSecretRef']) {
      const name = cluster[ref]!.properties!.name!;
      expect(name.pattern).toBe(DNS_SUBDOMAIN_PATTERN);
      const re = new RegExp(name.pattern!);
      expect(re.test('ticdc-tls')).toBe(true);
      expect(re.test('a.b-c')).toBe(true);
      for (const bad of ['ns/creds', 'TLS', '-x', 'x-', 'a..b']) expect(re.test(bad)).toBe(false);
    }
  });

  test('ports 1-65535, durations > 0 and bounded, a parseable endpoint URL: each with a readable message', () => {
    expect(rules(spec.properties!.captureAddress!)).toEqual([
      'the port of spec.captureAddress must be between 1 and 65535',
    ]);
    expect(rules(spec.properties!.timeout!)).toEqual(['spec.timeout must be longer than 0s and at most 24h']);
    expect(rules(spec.properties!.stallTimeout!)).toEqual([
      'spec.stallTimeout must be longer than 0s and at most 24h',
    ]);
    expect(rules(cluster.endpoint!)).toEqual([
      'spec.cluster.endpoint must be a URL such as http://ticdc.tidb.svc:8300',
      'spec.cluster.endpoint port must be between 1 and 65535',
    ]);
  });

  test('every status field the operator writes exists in the CRD (the API server prunes unknown ones)', () => {
    const written = Object.keys(CaptureDrainStatusSchema.shape);
    const declared = Object.keys(status.properties!);
    expect(written.filter((k) => !declared.includes(k))).toEqual([]);
  });
});

describe('durations', () => {
  test('parse Go-style durations', () => {
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('250ms')).toBe(250);
    expect(() => parseDuration('10')).toThrow(/invalid duration/);
    expect(() => parseDuration('-1s')).toThrow(/invalid duration/);
  });
  test('format', () => {
    expect(formatDuration(65_000)).toBe('1m5s');
    expect(formatDuration(3_600_000)).toBe('1h');
  });
});
