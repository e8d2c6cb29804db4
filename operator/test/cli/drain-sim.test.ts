// `capture-drain drain` end to end: the built CLI against the TiCDC simulator, in every API
// flavour, with owner resign, failover, queueing, stub, crash, timeout, TLS and auth.
import { afterEach, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TicdcSimulator, type SimulatorOptions } from '../../../e2e/ticdc-sim/index.js';
import { makeTestPki } from '../support/pki.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

interface Run {
  code: number;
  lines: string[];
  stderr: string;
  result: Record<string, unknown>;
}

function runCli(args: string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    // Each capture's own status is read at its address: map advertise addresses to the simulator's listeners.
    const urls = sims.flatMap((s) =>
      Object.entries(s.addressMap()).flatMap(([a, u]) => ['--capture-url', `${a}=${u}`]),
    );
    const child = spawn(process.execPath, [CLI, 'drain', ...args, ...urls], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const lines = out.trim().split('\n').filter(Boolean);
      let result: Record<string, unknown> = {};
      try {
        result = JSON.parse(lines.at(-1) ?? '{}');
      } catch {
        /* text output */
      }
      resolve({ code: code ?? -1, lines, stderr: err, result });
    });
  });
}

const sims: TicdcSimulator[] = [];
async function sim(opts: SimulatorOptions): Promise<TicdcSimulator> {
  const s = await TicdcSimulator.start({
    captures: 3,
    changefeeds: 3,
    tablesPerChangefeed: 6,
    moveRatePerSec: 20,
    host: '127.0.0.1',
    seed: 7,
    reelectProbability: 0,
    perCaptureListeners: true,
    ...opts,
  });
  await s.settled();
  sims.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.stop()));
});

const nonOwner = (s: TicdcSimulator) => s.captures().find((c) => !c.isOwner)!;
const owner = (s: TicdcSimulator) => s.captures().find((c) => c.isOwner)!;

describe('capture-drain drain against the simulator', () => {
  test.each([
    ['newarch', 'V1', 'tables'],
    // V2: the PUT's dispatcher count is always 0 (§9); maintainers carry the progress.
    ['v2', 'V2', 'maintainers'],
    ['tiflow', 'V1', 'tables'],
  ] as const)('%s: auto-detects %s and drains to zero (json)', async (mode, flavor, field) => {
    const s = await sim({ mode });
    const target = nonOwner(s);
    const r = await runCli(['--endpoint', s.url, '--address', target.address, '--output', 'json']);
    expect(r.code).toBe(0);
    expect(r.result).toMatchObject({
      result: 'Drained',
      ok: true,
      phase: 'Completed',
      captureId: target.id,
      apiFlavor: flavor,
    });
    expect((r.result.remaining as Record<string, number>)[field]).toBe(0);
    // Progress lines came before the result, with counts falling.
    const counts = r.lines
      .slice(0, -1)
      .map((l) => JSON.parse(l) as { remaining: Record<string, number | null> })
      .map((l) => l.remaining[field])
      .filter((n): n is number => typeof n === 'number');
    expect(counts.length).toBeGreaterThan(1);
    expect(counts[0]).toBeGreaterThan(0);
    expect(counts.at(-1)).toBe(0);
    expect(s.capture(target.id)!.dispatchers).toBe(0);
    expect(s.capture(target.id)!.maintainers).toBe(0);
  });

  test('tiflow with --api v2classic uses POST /api/v2/captures/{id}/drain', async () => {
    const s = await sim({ mode: 'tiflow' });
    const target = nonOwner(s);
    const r = await runCli([
      '--endpoint',
      s.url,
      '--capture-id',
      target.id,
      '--api',
      'v2classic',
      '--output',
      'json',
    ]);
    expect(r.code).toBe(0);
    expect(r.result).toMatchObject({ phase: 'Completed', apiFlavor: 'V2Classic' });
  });

  test('text output shows counts and an ETA', async () => {
    // Slow enough for several probes with work left, even on a loaded machine.
    // newarch: a table count that falls probe by probe (the V2 PUT's dispatcher count is always 0, §9).
    const s = await sim({ mode: 'newarch', moveRatePerSec: 1, tablesPerChangefeed: 10 });
    const r = await runCli(['--endpoint', s.url, '--capture-id', nonOwner(s).id]);
    expect(r.code).toBe(0);
    const text = r.lines.join('\n');
    expect(text).toMatch(/Draining\s+\d+ tables/);
    expect(text).toMatch(/ETA \d+s/);
    expect(r.lines.at(-1)).toMatch(/^Drained: Completed\/Drained/);
  });

  test('the coordinator is resigned before it is drained', async () => {
    const s = await sim({ mode: 'newarch' });
    const target = owner(s);
    const r = await runCli(['--endpoint', s.url, '--capture-id', target.id, '--output', 'json']);
    expect(r.code).toBe(0);
    const phases = r.lines.map((l) => JSON.parse(l).phase);
    expect(phases).toContain('ResigningOwner');
    expect(phases.indexOf('ResigningOwner')).toBeLessThan(phases.indexOf('Draining'));
    expect(s.capture(target.id)!.isOwner).toBe(false);
    expect(s.capture(target.id)!.dispatchers).toBe(0);
  });

  test('a coordinator failover mid-drain freezes progress until the drain is re-issued', async () => {
    const s = await sim({ mode: 'newarch', captures: 4, moveRatePerSec: 3 });
    const target = nonOwner(s);
    const run = runCli(['--endpoint', s.url, '--capture-id', target.id, '--output', 'json']);
    await s.waitFor((st) => st.captures.some((c) => c.id === target.id && c.liveness !== 'alive'), 10_000);
    s.failover('resign');
    const r = await run;
    expect(r.code).toBe(0);
    expect(s.capture(target.id)!.dispatchers).toBe(0);
  });

  test('queueing: a second drain waits until the first drained capture left the cluster', async () => {
    const s = await sim({ mode: 'newarch', captures: 4 });
    const [a, b] = s.captures().filter((c) => !c.isOwner);
    const first = await runCli(['--endpoint', s.url, '--capture-id', a!.id, '--output', 'json']);
    expect(first.code).toBe(0);
    const second = runCli(['--endpoint', s.url, '--capture-id', b!.id, '--output', 'json']);
    await new Promise((r) => setTimeout(r, 2500));
    // Still blocked behind a's session: TiCDC reports 1 for another target.
    expect(s.capture(b!.id)!.liveness).toBe('alive');
    await s.removeCapture(a!.id);
    const r = await second;
    expect(r.code).toBe(0);
    expect(s.unintendedViolations()).toEqual([]);
  });

  test('stub drain route (new arch before v8.5.7) is reported as unsupported: exit 3', async () => {
    const s = await sim({ mode: 'stub' });
    const r = await runCli(['--endpoint', s.url, '--capture-id', nonOwner(s).id, '--output', 'json']);
    expect(r.code).toBe(3);
    expect(r.result).toMatchObject({ phase: 'Failed', reason: 'Unsupported' });
  });

  test('capture crash mid-drain: exit 3, CaptureGone', async () => {
    const s = await sim({ mode: 'newarch', moveRatePerSec: 2 });
    const target = nonOwner(s);
    const run = runCli(['--endpoint', s.url, '--capture-id', target.id, '--output', 'json']);
    await s.waitFor((st) => st.captures.some((c) => c.id === target.id && c.liveness !== 'alive'), 10_000);
    s.crash(target.id);
    const r = await run;
    expect(r.code).toBe(3);
    expect(r.result).toMatchObject({ phase: 'Failed', reason: 'CaptureGone' });
  });

  test('stalled drain: exit 2', async () => {
    const s = await sim({ mode: 'v2', faults: { stall: true } });
    const r = await runCli([
      '--endpoint',
      s.url,
      '--capture-id',
      nonOwner(s).id,
      '--stall-timeout',
      '2s',
      '--output',
      'json',
    ]);
    expect(r.code).toBe(2);
    expect(r.result).toMatchObject({ phase: 'Failed', reason: 'Stalled' });
    expect((r.result.remaining as { maintainers: number }).maintainers).toBeGreaterThan(0);
  });

  test('overall timeout: exit 2', async () => {
    const s = await sim({ mode: 'v2', moveRatePerSec: 0.5 });
    const r = await runCli([
      '--endpoint',
      s.url,
      '--capture-id',
      nonOwner(s).id,
      '--timeout',
      '2s',
      '--output',
      'json',
    ]);
    expect(r.code).toBe(2);
    expect(r.result).toMatchObject({ phase: 'Failed', reason: 'TimedOut' });
  });

  test('5xx and malformed answers are retried, never read as zero work', async () => {
    const s = await sim({ mode: 'v2', moveRatePerSec: 10, faults: { errorRate: 0.3, malformedRate: 0.2 } });
    const target = nonOwner(s);
    const r = await runCli(['--endpoint', s.url, '--capture-id', target.id, '--output', 'json']);
    expect(r.code).toBe(0);
    // When it said drained, the capture really held nothing.
    expect(s.capture(target.id)!.dispatchers).toBe(0);
    expect(s.capture(target.id)!.maintainers).toBe(0);
  });

  test('basic auth: 401 without credentials (exit 3), drained with them', async () => {
    const s = await sim({ mode: 'newarch', credentials: { username: 'cdc', password: 's3cret' } });
    const target = nonOwner(s);
    const denied = await runCli(['--endpoint', s.url, '--capture-id', target.id, '--output', 'json']);
    expect(denied.code).toBe(3);
    expect(denied.result).toMatchObject({ reason: 'Unauthorized' });
    const pki = makeTestPki();
    writeFileSync(pki.path('password'), 's3cret\n');
    const ok = await runCli([
      '--endpoint',
      s.url,
      '--capture-id',
      target.id,
      '--output',
      'json',
      '--username',
      'cdc',
      '--password-file',
      pki.path('password'),
    ]);
    expect(ok.code).toBe(0);
    expect(denied.stderr + denied.lines.join('')).not.toContain('s3cret');
  });

  test('mutual TLS with a CA and a client certificate; a wrong CA fails with exit 3', async () => {
    const pki = makeTestPki();
    const s = await sim({
      mode: 'v2',
      tls: { cert: pki.pem('server.crt'), key: pki.pem('server.key'), ca: pki.pem('ca.crt'), mtls: true },
    });
    const target = nonOwner(s);
    const ok = await runCli([
      '--endpoint',
      s.url,
      '--capture-id',
      target.id,
      '--output',
      'json',
      '--ca',
      pki.path('ca.crt'),
      '--cert',
      pki.path('client.crt'),
      '--key',
      pki.path('client.key'),
    ]);
    expect(ok.code).toBe(0);
    const other = makeTestPki();
    const bad = await runCli([
      '--endpoint',
      s.url,
      '--capture-id',
      target.id,
      '--output',
      'json',
      '--ca',
      other.path('ca.crt'),
      '--cert',
      other.path('client.crt'),
      '--key',
      other.path('client.key'),
    ]);
    expect(bad.code).toBe(3);
    expect(bad.result).toMatchObject({ reason: 'Tls' });
  });

  test.each([
    [[], /give the pod to drain \(or --endpoint/],
    [['--capture-id', 'a'], /--endpoint is required/],
    [['--endpoint', 'http://x:1'], /exactly one of --capture-id and --address/],
    [['--endpoint', 'http://x:1', '--capture-id', 'a', '--address', 'b:1'], /exactly one/],
    [['--endpoint', 'ftp://x', '--capture-id', 'a'], /http\(s\) URL/],
    [['--endpoint', 'http://x:1', '--capture-id', 'a', '--timeout', '10'], /--timeout: invalid duration/],
    [['--endpoint', 'http://x:1', '--capture-id', 'a', '--api', 'v3'], /--api must be one of/],
    [['--endpoint', 'http://x:1', '--capture-id', 'a', '--bogus'], /Unknown option '--bogus'/],
    [['--endpoint', 'http://x:1', '--capture-id', 'a', '--cert', '/nonexistent'], /--cert needs --key/],
  ])('usage error %j: exit 64', async (args, message) => {
    const r = await runCli(args as string[]);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(message);
  });
});

describe('capture-drain drain: the final line names the outcome (verdicts)', () => {
  test('legacy peer: TiCDC answers 0 with the target still Alive -> LegacyFallback, exit 4, not Drained', async () => {
    // A pre-v8.5.7 peer (drain protocol 0) makes the v8.5.7 coordinator answer 0 at once.
    const s = await sim({ mode: 'newarch', captures: 4, legacyCaptures: 1 });
    const target = s.captures().find((c) => !c.isOwner && !c.legacy)!;
    const r = await runCli(['--endpoint', s.url, '--capture-id', target.id, '--output', 'json']);
    expect(r.result).toMatchObject({ result: 'LegacyFallback', ok: false, exitCode: 4 });
    expect(r.code).toBe(4);
    expect(s.capture(target.id)!.liveness).toBe('alive');
  });
});
