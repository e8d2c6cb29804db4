// Shell completion: what `__complete` offers for the words typed, with cluster lookups faked; and
// the bash script driven by a real bash with a fake program.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import {
  bashScript,
  complete,
  completionOutput,
  DIRECTIVE,
  zshScript,
  type Lookup,
} from '../../src/cli/completion.js';
import type { KubeFlags } from '../../src/cli/kube-flags.js';

const asked: { kind: string; flags: KubeFlags }[] = [];
const lookup: Lookup = async (kind, flags) => {
  asked.push({ kind, flags });
  const ns = flags.namespace ?? 'default';
  switch (kind) {
    case 'namespace':
      return ['default', 'tidb', 'tidb-2'];
    case 'context':
      return ['kind-a', 'prod'];
    case 'statefulset':
      return ns === 'tidb' ? ['ticdc', 'ticdc-b'] : [];
    case 'drain':
      return ns === 'tidb' ? ['ticdc-1-abc', 'ticdc-2-def'] : ['other'];
    case 'pod':
      return ns === 'tidb' ? ['ticdc-0', 'ticdc-1'] : [];
  }
};
const c = (...words: string[]) => complete(words, lookup);

describe('complete', () => {
  test('commands, filtered by the word typed', async () => {
    expect((await c('')).candidates).toEqual(['status', 'plan', 'drain', 'operator', 'completion', 'help']);
    expect(await c('st')).toEqual({ candidates: ['status'], directive: DIRECTIVE.noFileComp });
    expect((await c('help', 'p')).candidates).toEqual(['plan']);
    expect((await c('completion', '')).candidates).toEqual(['bash', 'zsh']);
  });

  test("flags of the command (from the command's own parser options)", async () => {
    const status = (await c('status', '--')).candidates;
    expect(status).toEqual(
      expect.arrayContaining([
        '--namespace',
        '--context',
        '--kubeconfig',
        '--statefulset',
        '--once',
        '--watch',
        '--help',
      ]),
    );
    expect((await c('plan', '--o')).candidates).toEqual(['--output']);
    expect((await c('drain', '--ap')).candidates).toEqual(['--api']);
  });

  test('values from the cluster honour -n, --namespace=, --context and --kubeconfig typed before', async () => {
    asked.length = 0;
    expect((await c('status', '-n', 'tidb', '--context', 'prod', '')).candidates).toEqual([
      'ticdc-1-abc',
      'ticdc-2-def',
    ]);
    expect(asked.at(-1)).toEqual({ kind: 'drain', flags: { namespace: 'tidb', context: 'prod' } });
    expect((await c('status', '--namespace=tidb', '--statefulset', 'ticdc-')).candidates).toEqual([
      'ticdc-b',
    ]);
    expect((await c('status', '')).candidates).toEqual(['other']);
    expect((await c('plan', '--kubeconfig', '/k', '-n', 'tidb', 't')).candidates).toEqual([
      'ticdc',
      'ticdc-b',
    ]);
    expect(asked.at(-1)!.flags).toEqual({ kubeconfig: '/k', namespace: 'tidb' });
    expect((await c('status', '-n', 'ti')).candidates).toEqual(['tidb', 'tidb-2']);
    expect((await c('status', '--namespace=ti')).candidates).toEqual([
      '--namespace=tidb',
      '--namespace=tidb-2',
    ]);
    expect((await c('status', '--context', '')).candidates).toEqual(['kind-a', 'prod']);
    expect((await c('plan', '-o', '')).candidates).toEqual(['text', 'json']);
    expect((await c('drain', '-n', 'tidb', 'ticdc-')).candidates).toEqual(['ticdc-0', 'ticdc-1']);
    expect((await c('drain', 'ticdc-0', '--pod-action', '')).candidates).toEqual(['None', 'Delete']);
  });

  test('file values leave completion to the shell; a failing lookup offers nothing', async () => {
    expect(await c('status', '--kubeconfig', '')).toEqual({ candidates: [], directive: DIRECTIVE.default });
    expect(await c('drain', '--ca', 'x')).toEqual({ candidates: [], directive: DIRECTIVE.default });
    const failing: Lookup = async () => {
      throw new Error('no cluster');
    };
    expect(await complete(['status', ''], failing)).toEqual({
      candidates: [],
      directive: DIRECTIVE.noFileComp,
    });
  });

  test("cobra's output format", () => {
    expect(completionOutput({ candidates: ['a', 'b'], directive: 4 })).toBe('a\nb\n:4');
    expect(completionOutput({ candidates: [], directive: 0 })).toBe(':0');
  });
});

describe('completion scripts', () => {
  test('bash: the function completes through __complete (a fake program records the words it got)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cd-completion-'));
    const prog = join(dir, 'capture-drain');
    // The fake answers like the CLI would and records its arguments.
    writeFileSync(
      prog,
      `#!/usr/bin/env bash\nprintf '%s\\n' "$@" > "${dir}/args"\nif [[ "\${@: -1}" == st* ]]; then printf 'status\\n:4\\n'; else printf ':0\\n'; fi\n`,
    );
    chmodSync(prog, 0o755);
    const script = `${bashScript()}
COMP_WORDS=("${prog}" st); COMP_CWORD=1; _capture_drain_complete; echo "reply=\${COMPREPLY[*]}"
mkdir -p "${dir}/files" && touch "${dir}/files/kc.yaml"
COMP_WORDS=("${prog}" status --kubeconfig "${dir}/files/k"); COMP_CWORD=3; _capture_drain_complete; echo "files=\${COMPREPLY[*]}"`;
    const out = execFileSync('bash', ['-c', script], { encoding: 'utf8' });
    expect(out).toContain('reply=status');
    expect(out).toContain(`files=${dir}/files/kc.yaml`);
    expect(readFileSync(join(dir, 'args'), 'utf8')).toBe(
      `__complete\nstatus\n--kubeconfig\n${dir}/files/k\n`,
    );
    expect(bashScript()).toMatch(/complete -F _capture_drain_complete capture-drain kubectl-capture_drain/);
  });

  test('zsh: registers the same function', () => {
    expect(zshScript()).toMatch(/^#compdef capture-drain kubectl-capture_drain/);
    expect(zshScript()).toMatch(/__complete "\$\{\(@\)words\[2,CURRENT\]\}"/);
  });
});
