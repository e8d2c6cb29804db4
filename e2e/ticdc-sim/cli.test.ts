// `capture-drain sim` command line.

import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { EXIT_USAGE, parseSimArgs, runSimCli } from './cli.js';
import type { TicdcSimulator } from './simulator.js';
import { caCert, clientCert, clientKey, serverCert, serverKey } from './testdata/certs.js';
import { call } from './testutil.js';

const silent = pino({ level: 'silent' });

async function run(argv: string[], whileRunning?: (sim: TicdcSimulator, out: string[]) => Promise<void>) {
  const out: string[] = [];
  const err: string[] = [];
  const ac = new AbortController();
  const code = await runSimCli(argv, {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    logger: silent,
    signal: ac.signal,
    onStarted: (sim) => {
      void (whileRunning ? whileRunning(sim, out) : Promise.resolve()).finally(() => ac.abort());
    },
  });
  return { code, out, err };
}

describe('sim CLI', () => {
  it('prints help', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out.join('\n')).toContain('Usage: capture-drain sim');
  });

  it.each([
    [['--bogus']],
    [['--mode', 'v3']],
    [['--captures', 'x']],
    [['--reelect-probability', '2']],
    [['--mtls']],
    [['--username', 'u']],
    [['--username', 'u', '--password', 'p', '--mode', 'tiflow']],
    [['--selector', 'app=ticdc']],
    [['--namespace', 'ns', '--captures', '3']],
    [['--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem']],
    [['--faults', '{"errorRate":5}']],
    [['positional']],
  ])('exits 64 on usage error %j', async (argv) => {
    const r = await run(argv);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.err[0]).toMatch(/^capture-drain sim: /);
  });

  it('maps flags to options', () => {
    const p = parseSimArgs([
      '--mode=tiflow',
      '--captures',
      '4',
      '--changefeeds',
      '2',
      '--tables-per-changefeed',
      '5',
      '--move-rate',
      '2.5',
      '--port',
      '0',
      '--faults',
      '{"latencyMs":10}',
    ]);
    expect(p).toMatchObject({
      help: false,
      options: {
        mode: 'tiflow',
        captures: 4,
        changefeeds: 2,
        tablesPerChangefeed: 5,
        moveRatePerSec: 2.5,
        port: 0,
        faults: { latencyMs: 10 },
      },
    });
    const k = parseSimArgs([
      '--namespace',
      'tidb',
      '--selector',
      'app=ticdc',
      '--address-template',
      '{ip}:8300',
    ]);
    expect(k).toMatchObject({
      options: { kube: { namespace: 'tidb', selector: 'app=ticdc', addressTemplate: '{ip}:8300' } },
    });
    const t = parseSimArgs([
      '--sigterm-departure-ms',
      '100',
      '--sigkill-departure-ms',
      '0',
      '--legacy-captures',
      '1',
      '--faults',
      '{"mixedRate":0.4,"mixedKinds":["error","reset"],"leaderlessMs":500}',
    ]);
    expect(t).toMatchObject({
      options: {
        sigtermDepartureMs: 100,
        sigkillDepartureMs: 0,
        legacyCaptures: 1,
        faults: { mixedRate: 0.4, mixedKinds: ['error', 'reset'], leaderlessMs: 500 },
      },
    });
    expect(() => parseSimArgs(['--sigkill-departure-ms=-1'])).toThrow(/>= 0/);
    expect(() => parseSimArgs(['--faults', '{"mixedKinds":["nope"]}'])).toThrow(/--faults/);
  });

  it('starts, prints the URL and a JSON line, serves, and stops on signal', async () => {
    const r = await run(
      ['--port', '0', '--captures', '2', '--per-capture-listeners', '--seed', '3'],
      async (sim, out) => {
        expect(out[0]).toBe(sim.url);
        const res = await call(sim.url, 'GET', '/api/v2/captures');
        expect(res.json().total).toBe(2);
      },
    );
    expect(r.code).toBe(0);
    const line = JSON.parse(r.out[1]!);
    expect(line).toMatchObject({
      url: r.out[0],
      mode: 'newarch',
      listening: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    });
    expect(Object.keys(line.captures)).toHaveLength(2);
  });

  it('serves mTLS and basic auth from files and flags', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ticdc-sim-cli-'));
    const f = (name: string, pem: string) => {
      writeFileSync(join(dir, name), pem);
      return join(dir, name);
    };
    const argv = [
      '--port=0',
      ...[
        '--tls-cert',
        f('s.crt', serverCert),
        '--tls-key',
        f('s.key', serverKey),
        '--tls-ca',
        f('ca.crt', caCert),
      ],
      '--mtls',
      ...['--username', 'root', '--password', 'pw'],
    ];
    const r = await run(argv, async (sim) => {
      expect(sim.url).toMatch(/^https:/);
      const tls = { ca: caCert, cert: clientCert, key: clientKey };
      const target = sim.captures().find((c) => !c.isOwner)!;
      const denied = await call(sim.url, 'PUT', '/api/v1/captures/drain', {
        ...tls,
        body: { capture_id: target.id },
      });
      expect(denied.status).toBe(401);
    });
    expect(r.code).toBe(0);
  });

  it('exits 1 when it cannot listen', async () => {
    const first = await run(['--port', '0'], async (sim) => {
      const port = new URL(sim.url).port;
      const second = await run(['--port', port]);
      expect(second.code).toBe(1);
      expect(second.err[0]).toMatch(/cannot start/);
    });
    expect(first.code).toBe(0);
  });
});
