// docs/troubleshooting.md covers every phase, reason, event reason, condition and alert the operator
// can emit, and names none the code no longer has. The names come from where the code defines them
// (api/names.ts, the typed lists of the gate, rollout and cordon deciders); the state machine and the
// event writers are scanned for literals that bypass those lists.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { PHASES, type CaptureDrainStatus } from '../../src/api/capturedrain.js';
import { CONDITION_REASONS, CONDITION_TYPES, DRAIN_REASONS, EVENT_REASONS } from '../../src/api/names.js';
import { IGNORE_REASONS, WAIT_REASONS as CORDON_WAIT_REASONS } from '../../src/cordon/decide.js';
import { computeConditions } from '../../src/drain/conditions.js';
import { ALLOW_REASONS, DENY_REASONS, GATE_ERROR_REASON } from '../../src/gate/decide.js';
import { BLOCKED_REASONS, WAIT_REASONS as ROLLOUT_WAIT_REASONS } from '../../src/rollout/planner.js';
import { ROLLOUT_PHASES } from '../../src/rollout/view.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const read = (p: string) => readFileSync(join(REPO, p), 'utf8');
const DOC = read('docs/troubleshooting.md');

/** The alerts the chart's PrometheusRule pages on; their runbook links point at `#<name lowercased>`. */
const ALERTS = (
  parse(read('charts/capture-drain-operator/monitoring/alerts.yaml')) as {
    groups: { rules: { alert: string }[] }[];
  }
).groups.flatMap((g) => g.rules.map((r) => r.alert));

/** `## Title` -> the section's text up to the next `## ` heading. */
function sections(md: string): Map<string, string> {
  const out = new Map<string, string>();
  let title: string | undefined;
  let body: string[] = [];
  let fenced = false;
  for (const line of md.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (!fenced && /^## /.test(line)) {
      if (title !== undefined) out.set(title, body.join('\n'));
      title = line.slice(3).trim();
      body = [];
    } else body.push(line);
  }
  if (title !== undefined) out.set(title, body.join('\n'));
  return out;
}

/** Names in backticks in the first cell of each table row (header and separator rows have none). */
function rowNames(section: string): string[] {
  const names: string[] = [];
  for (const line of section.split('\n')) {
    const m = /^\|([^|]*)\|/.exec(line.trim());
    if (!m) continue;
    for (const n of m[1]!.matchAll(/`([A-Za-z]+)`/g)) names.push(n[1]!);
  }
  return names;
}

function section(title: string): string {
  const s = sections(DOC).get(title);
  if (s === undefined) throw new Error(`docs/troubleshooting.md has no "## ${title}" section`);
  return s;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(REPO, dir)).flatMap((f) => {
    const p = `${dir}/${f}`;
    return statSync(join(REPO, p)).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();

describe('docs/troubleshooting.md', () => {
  test('the section parser reads table rows and ignores fenced code', () => {
    const md =
      '# T\n## A\n| x | y |\n|---|---|\n| `One`, `Two` | z |\n```\n## Not\n```\n## B\n| `Three` | |\n';
    const s = sections(md);
    expect([...s.keys()]).toEqual(['A', 'B']);
    expect(rowNames(s.get('A')!)).toEqual(['One', 'Two']);
    expect(rowNames(s.get('B')!)).toEqual(['Three']);
  });

  test('every drain phase has a row', () => {
    expect(sorted(rowNames(section('Drain phases')))).toEqual(sorted(PHASES));
  });

  test('every drain reason has a row, and the state machine writes no reason outside DRAIN_REASONS', () => {
    expect(sorted(rowNames(section('Drain reasons')))).toEqual(sorted(DRAIN_REASONS));
    // Every PascalCase literal of the state machine is a phase, a listed reason, or one of these.
    const notReasons = new Set([
      'Normal',
      'Warning',
      'Alive',
      'Stopping',
      'Hold',
      'Release',
      'None',
      // TiCDC error kinds the machine reacts to without making them the reason
      'Kubernetes',
      'DrainBusy',
      'OnlyOneCapture',
      'OwnerNotDrainable',
    ]);
    const literals = sorted(
      [...read('operator/src/drain/machine.ts').matchAll(/'([A-Z][A-Za-z]+)'/g)].map((m) => m[1]!),
    );
    const known = new Set<string>([...PHASES, ...DRAIN_REASONS, ...notReasons]);
    expect(literals.filter((l) => !known.has(l))).toEqual([]);
    // And DRAIN_REASONS keeps no reason the machine no longer writes.
    expect(DRAIN_REASONS.filter((r) => !literals.includes(r))).toEqual([]);
  });

  test('every condition type and condition reason has a row', () => {
    const types = new Set<string>();
    const reasons = new Set<string>();
    for (const phase of PHASES)
      for (const reason of [undefined, ...DRAIN_REASONS])
        for (const drainedTime of [undefined, '2026-01-01T00:00:00Z']) {
          const s: CaptureDrainStatus = {
            phase,
            ...(reason ? { reason } : {}),
            ...(drainedTime ? { drainedTime } : {}),
          };
          for (const c of computeConditions(s, 0)) {
            types.add(c.type);
            reasons.add(c.reason);
          }
        }
    expect(sorted(types)).toEqual(sorted(CONDITION_TYPES));
    // Besides the phases and drain reasons (documented above), only CONDITION_REASONS appear, all of them.
    const listed = new Set<string>([...PHASES, ...DRAIN_REASONS, ...Object.values(CONDITION_REASONS)]);
    expect([...reasons].filter((r) => !listed.has(r))).toEqual([]);
    expect(Object.values(CONDITION_REASONS).filter((r) => !reasons.has(r))).toEqual([]);
    expect(sorted(rowNames(section('Conditions')))).toEqual(
      sorted([...CONDITION_TYPES, ...Object.values(CONDITION_REASONS)]),
    );
  });

  test('every event reason has a row, and no event is written with a reason outside the lists', () => {
    expect(sorted(rowNames(section('Events')))).toEqual(sorted(Object.values(EVENT_REASONS)));
    const allowed = new Set<string>([...Object.values(EVENT_REASONS), ...DRAIN_REASONS]);
    const stray: string[] = [];
    for (const f of sourceFiles('operator/src'))
      for (const m of read(f).matchAll(/'(?:Normal|Warning)',\s*'([A-Z][A-Za-z]+)'/g))
        if (!allowed.has(m[1]!)) stray.push(`${f}: ${m[1]}`);
    expect(stray).toEqual([]);
  });

  test('every gate reason has a row', () => {
    expect(sorted(rowNames(section('Gate reasons')))).toEqual(
      sorted([...ALLOW_REASONS, ...DENY_REASONS, GATE_ERROR_REASON]),
    );
  });

  test('every rollout phase, blocked reason and wait reason has a row', () => {
    expect(sorted(rowNames(section('Rollout phases and reasons')))).toEqual(
      sorted([...ROLLOUT_PHASES, ...BLOCKED_REASONS, ...ROLLOUT_WAIT_REASONS]),
    );
  });

  test('every node cordon reason has a row', () => {
    expect(sorted(rowNames(section('Node cordon reasons')))).toEqual(
      sorted([...IGNORE_REASONS, ...CORDON_WAIT_REASONS]),
    );
  });

  test('every alert has a ### section, and the chart pages on no alert without one', () => {
    const headings = [...section('Alerts').matchAll(/^### (\S+)\s*$/gm)].map((m) => m[1]!);
    const chart = sourceFilesOf('charts').flatMap((f) =>
      [...read(f).matchAll(/^\s*-?\s*alert:\s*["']?([A-Za-z]+)/gm)].map((m) => m[1]!),
    );
    expect(sorted(headings)).toEqual(sorted([...ALERTS, ...chart]));
  });

  test("every in-page link resolves to a heading (GitHub's anchors), the alerts' at #<name lowercased>", () => {
    const slug = (h: string) =>
      h
        .trim()
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-');
    const anchors = new Set(
      [...DOC.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)),
    );
    const links = [...DOC.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(10);
    expect(links.filter((l) => !anchors.has(l))).toEqual([]);
    for (const a of ALERTS) expect(anchors).toContain(a.toLowerCase());
    expect(slug('An upgrade from a pre-v8.5.7 cluster')).toBe('an-upgrade-from-a-pre-v857-cluster');
  });

  test('README links the document', () => {
    expect(read('README.md')).toContain('](docs/troubleshooting.md)');
  });
});

function sourceFilesOf(dir: string): string[] {
  return readdirSync(join(REPO, dir)).flatMap((f) => {
    const p = `${dir}/${f}`;
    return statSync(join(REPO, p)).isDirectory() ? sourceFilesOf(p) : /\.(ya?ml|tpl)$/.test(p) ? [p] : [];
  });
}
