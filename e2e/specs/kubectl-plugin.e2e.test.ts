// The CLI as a kubectl plugin on the real control plane, run through the real kubectl: kubectl
// finds kubectl-capture_drain on PATH, `kubectl capture-drain status` follows a drain to its end,
// the kubeconfig, context and namespace flags are honoured as kubectl users expect, and completion
// works through kubectl's plugin completion helper and through the bash script.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { REPO, run, type RunResult } from '../harness/cluster.js';
import type { OperatorProcess } from '../harness/operator.js';
import { deployTicdc, type TicdcWorkload } from '../harness/workload.js';
import { captureDrain, cluster, operatorFor, waitForDrain } from './support/suite.js';

const NS = 'e2e-kubectl-plugin';
const c = cluster();
let ticdc: TicdcWorkload;
let operator: OperatorProcess;
/** A user's kubeconfig: current context "e2e" defaults to NS, context "elsewhere" to "default". */
let kubeconfig: string;
const PATH = `${join(REPO, 'bin')}:${dirname(c.env.KUBECTL!)}:${process.env.PATH}`;

/** The real kubectl with the checkout's bin/ on PATH and the user's kubeconfig in KUBECONFIG. */
function kubectl(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<RunResult> {
  return run(c.env.KUBECTL!, args, { PATH, KUBECONFIG: kubeconfig, ...env }, { timeoutMs });
}

beforeAll(async () => {
  ticdc = await deployTicdc(c, { namespace: NS, replicas: 3, sim: { moveRatePerSec: 2, seed: 5 } });
  operator = (await operatorFor(c, NS)).start();
  const dir = mkdtempSync(join(tmpdir(), 'cdo-plugin-'));
  kubeconfig = join(dir, 'config');
  writeFileSync(kubeconfig, await c.kubectlOk(['config', 'view', '--raw', '--minify', '--flatten']));
  const cfg = (jsonpath: string) =>
    c.kubectlOk(['config', 'view', '-o', `jsonpath=${jsonpath}`], { kubeconfig }).then((s) => s.trim());
  const [clusterName, user, current] = await Promise.all([
    cfg('{.clusters[0].name}'),
    cfg('{.users[0].name}'),
    cfg('{.current-context}'),
  ]);
  await c.kubectlOk(['config', 'rename-context', current, 'e2e'], { kubeconfig });
  await c.kubectlOk(['config', 'set-context', 'e2e', `--namespace=${NS}`], { kubeconfig });
  await c.kubectlOk(
    [
      'config',
      'set-context',
      'elsewhere',
      `--cluster=${clusterName}`,
      `--user=${user}`,
      '--namespace=default',
    ],
    { kubeconfig },
  );
  await c.kubectlOk(['config', 'use-context', 'e2e'], { kubeconfig });
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  await ticdc?.sim.stop();
  await c.kubectl(['delete', 'namespace', NS, '--wait=false']);
});

const nonOwnerPod = (except?: string) =>
  ticdc.sim.captures().find((x) => !x.isOwner && x.podName !== except)!.podName!;
let followedPod: string;

describe('kubectl capture-drain', () => {
  test('kubectl finds the plugin on PATH and runs it; --help for every command', async () => {
    const list = await kubectl(['plugin', 'list']);
    expect(list.stdout).toContain(join(REPO, 'bin/kubectl-capture_drain'));
    const help = await kubectl(['capture-drain', '--help']);
    expect(help).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^Usage: kubectl capture-drain <command>/),
    });
    for (const cmd of ['status', 'plan', 'drain', 'completion', 'operator']) {
      const r = await kubectl(['capture-drain', cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: /);
    }
    expect((await kubectl(['capture-drain', 'status', '--help'])).stdout).toMatch(
      /^Usage: kubectl capture-drain status/,
    );
  });

  test('status follows a drain to completion, in the namespace of the kubeconfig context', async () => {
    const pod = (followedPod = nonOwnerPod());
    // podAction Delete: the drained capture restarts, so TiCDC's drain session does not hold later drains.
    await c.kubectlOk(['apply', '-f', '-'], {
      input: captureDrain(NS, 'followed', { podName: pod, podAction: 'Delete' }),
    });
    // No -n: the current context's namespace. Output is a pipe: plain lines, one per change.
    const r = await kubectl(['capture-drain', 'status', 'followed', '--interval', '0.2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.at(-1)).toBe('Done: 1 drain: 1 Drained');
    const progress = lines
      .filter((l) => l.includes(`${NS}/followed`))
      .map((l) => /\] +(\d+)%/.exec(l)?.[1])
      .filter((p): p is string => p !== undefined)
      .map(Number);
    // It saw the drain move: several distinct readings, rising to 100%.
    expect(new Set(progress).size).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)).toBe(100);
    expect(lines.some((l) => / Draining /.test(l))).toBe(true);
    expect(lines.find((l) => l.includes('Completed'))).toMatch(/tables 0\/\d+ .* Drained/);
    const s = await waitForDrain(c, NS, 'followed', (x) => x.phase === 'Completed');
    expect(s.reason).toBe('Drained');

    // On a terminal (a pseudo-terminal from script(1)): one screen, redrawn in place, with the table.
    const tty = await run('script', ['-qec', `kubectl capture-drain status followed --once`, '/dev/null'], {
      PATH,
      KUBECONFIG: kubeconfig,
    });
    expect(tty.code).toBe(0);
    expect(tty.stdout).toContain('\x1b[H\x1b[J');
    expect(tty.stdout).toMatch(/NAME +POD +PHASE +PROGRESS +MAINT +DISP +TABLES +ETA +REASON/);
    expect(tty.stdout).toMatch(/followed +\S+ +Completed +\[#{20}\] 100%/);
  });

  test('--context, -n/--namespace, --kubeconfig and KUBECONFIG are honoured', async () => {
    // Context "elsewhere" defaults to namespace "default", where the drain is not.
    const other = await kubectl(['capture-drain', 'status', 'followed', '--context', 'elsewhere']);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/CaptureDrain followed not found in default/);
    for (const ns of [['-n', NS], [`--namespace=${NS}`], [`-n=${NS}`]]) {
      const r = await kubectl([
        'capture-drain',
        'status',
        'followed',
        '--context',
        'elsewhere',
        ...ns,
        '--once',
      ]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`${NS}/followed .*Completed .*Drained`));
    }
    // --kubeconfig instead of KUBECONFIG (which points nowhere here).
    const viaFlag = await kubectl(
      ['capture-drain', 'status', '--kubeconfig', kubeconfig, '--once', '--statefulset', 'ticdc'],
      { KUBECONFIG: join(tmpdir(), 'no-such-kubeconfig') },
    );
    expect(viaFlag.code).toBe(0);
    expect(viaFlag.stdout).toMatch(/StatefulSet ticdc: rollout/);
    const broken = await kubectl(['capture-drain', 'status', '--once'], {
      KUBECONFIG: join(tmpdir(), 'no-such-kubeconfig'),
    });
    expect(broken.code).not.toBe(0);
    // plan takes the same flags.
    const plan = await kubectl(['capture-drain', 'plan', 'ticdc', '--context', 'elsewhere', '-n', NS]);
    expect(plan).toMatchObject({ code: 0, stdout: expect.stringMatching(/^StatefulSet ticdc: /) });
  });

  test('drain POD creates a CaptureDrain through the operator and follows it to the end', async () => {
    const pod = nonOwnerPod(followedPod);
    const r = await kubectl(['capture-drain', 'drain', pod, '--pod-action', 'Delete', '--interval', '0.2']);
    expect(r.code).toBe(0);
    const name = new RegExp(
      `^capturedrain.drain.ticdc.io/(${pod}-\\w+) created for pod ${NS}/${pod}$`,
      'm',
    ).exec(r.stderr)?.[1];
    expect(name).toBeDefined();
    expect(r.stdout.trim().split('\n').at(-1)).toBe('Done: 1 drain: 1 Drained');
    const s = await waitForDrain(c, NS, name!, (x) => x.phase === 'Completed');
    expect(s.reason).toBe('Drained');
    const spec = await c.getJson<{ spec: Record<string, unknown> }>(['get', 'capturedrain', name!, '-n', NS]);
    expect(spec.spec).toMatchObject({ podName: pod, podAction: 'Delete', trigger: 'Manual' });
  });

  test("completion through kubectl's plugin completion helper and through the bash script", async () => {
    const words = async (...args: string[]) =>
      (await kubectl(['__complete', 'capture-drain', ...args])).stdout;
    expect(await words('st')).toMatch(/^status\n/m);
    // Drain names come from the cluster, in the context's namespace or the one typed.
    expect(await words('status', '')).toMatch(/^followed$/m);
    expect(await words('status', '--context', 'elsewhere', '')).not.toMatch(/^followed$/m);
    expect(await words('status', '--context', 'elsewhere', '-n', NS, 'fol')).toMatch(/^followed$/m);
    expect(await words('plan', '--statefulset', 't')).toMatch(/^ticdc$/m);
    expect(await words('status', '-n', 'e2e-kubectl')).toMatch(new RegExp(`^${NS}$`, 'm'));

    const script = (await kubectl(['capture-drain', 'completion', 'bash'])).stdout;
    const file = join(dirname(kubeconfig), 'completion.bash');
    writeFileSync(file, script);
    const bash = await run(
      'bash',
      [
        '-c',
        `source ${file}; COMP_WORDS=(kubectl-capture_drain status -n ${NS} fo); COMP_CWORD=4; _capture_drain_complete; echo "\${COMPREPLY[*]}"`,
      ],
      { PATH, KUBECONFIG: kubeconfig },
    );
    expect(bash.stdout.trim()).toBe('followed');
    expect(readFileSync(file, 'utf8')).toContain('complete -F _capture_drain_complete');
  });
});
