// Shell completion, the pure part: what to offer for the words typed so far (in the protocol of
// cobra's hidden `__complete` command, which kubectl 1.26+ speaks to `kubectl_complete-<plugin>`
// helpers), and the bash and zsh scripts that call `__complete`. Values that live in the cluster
// (namespaces, StatefulSets, drains) and the kubeconfig's contexts come from a lookup.
import { DRAIN_OPTIONS } from './drain.js';
import { KUBE_DRAIN_OPTIONS } from './drain-kube.js';
import { PLAN_OPTIONS } from './plan.js';
import { STATUS_OPTIONS } from './status-view.js';
import type { KubeFlags } from './kube-flags.js';

/** cobra's ShellCompDirective bits. */
export const DIRECTIVE = { default: 0, error: 1, noSpace: 2, noFileComp: 4 } as const;

export type ValueKind =
  'namespace' | 'context' | 'statefulset' | 'drain' | 'pod' | 'file' | readonly string[];
export type Lookup = (
  kind: 'namespace' | 'context' | 'statefulset' | 'drain' | 'pod',
  flags: KubeFlags,
) => Promise<string[]>;

interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
}
interface CommandSpec {
  options: Record<string, OptionSpec>;
  /** What a positional argument is. */
  positional?: ValueKind;
  /** Values of string options that are not free text. */
  values?: Record<string, ValueKind>;
  about: string;
}

const KUBE_VALUES: Record<string, ValueKind> = {
  namespace: 'namespace',
  context: 'context',
  kubeconfig: 'file',
};

export const COMMANDS: Record<string, CommandSpec> = {
  status: {
    about: 'show drains live (progress, counts, ETA) until they finish',
    options: STATUS_OPTIONS,
    positional: 'drain',
    values: { ...KUBE_VALUES, statefulset: 'statefulset' },
  },
  plan: {
    about: 'the order and ETA of a pending rollout or scale-in',
    options: PLAN_OPTIONS,
    positional: 'statefulset',
    values: { ...KUBE_VALUES, statefulset: 'statefulset', output: ['text', 'json'] },
  },
  drain: {
    about: 'drain a capture pod through the operator (or one TiCDC capture without Kubernetes)',
    options: { ...KUBE_DRAIN_OPTIONS, ...DRAIN_OPTIONS },
    positional: 'pod',
    values: {
      ...KUBE_VALUES,
      'pod-action': ['None', 'Delete'],
      'on-timeout': ['Hold', 'Release'],
      api: ['auto', 'v1', 'v2', 'v2classic'],
      output: ['text', 'json'],
      ca: 'file',
      cert: 'file',
      key: 'file',
      'password-file': 'file',
    },
  },
  operator: { about: 'run the operator', options: { help: { type: 'boolean', short: 'h' } } },
  completion: {
    about: 'print a shell completion script (bash or zsh)',
    options: { help: { type: 'boolean', short: 'h' } },
    positional: ['bash', 'zsh'],
  },
  help: { about: 'help for a command', options: {}, positional: [] },
};
COMMANDS.help!.positional = Object.keys(COMMANDS);

export interface Completion {
  candidates: string[];
  directive: number;
}

/** The option named by `--name` or `-x` in a command's spec. */
function optionOf(spec: CommandSpec, word: string): [string, OptionSpec] | undefined {
  if (word.startsWith('--')) {
    const name = word.slice(2);
    const o = spec.options[name];
    return o ? [name, o] : undefined;
  }
  return Object.entries(spec.options).find(([, o]) => o.short && word === `-${o.short}`);
}

/**
 * `words`: the arguments after the program name, the last being the word under the cursor (empty
 * when a new word starts). Returns the candidates starting with that word.
 */
export async function complete(words: string[], lookup: Lookup): Promise<Completion> {
  const cur = words.at(-1) ?? '';
  const done = words.slice(0, -1);
  let command: string | undefined;
  const flags: KubeFlags = {};
  let pendingValue: string | undefined;
  for (const w of done) {
    if (pendingValue) {
      if (pendingValue in KUBE_VALUES) flags[pendingValue as keyof KubeFlags] = w;
      pendingValue = undefined;
      continue;
    }
    if (!command) {
      if (!w.startsWith('-')) command = w;
      continue;
    }
    const spec = COMMANDS[command];
    if (!spec || !w.startsWith('-')) continue;
    const eq = w.indexOf('=');
    const opt = optionOf(spec, eq > 0 ? w.slice(0, eq) : w);
    if (!opt || opt[1].type !== 'string') continue;
    if (eq > 0) {
      if (opt[0] in KUBE_VALUES) flags[opt[0] as keyof KubeFlags] = w.slice(eq + 1);
    } else pendingValue = opt[0];
  }
  const filter = (xs: readonly string[], directive: number = DIRECTIVE.noFileComp): Completion => ({
    candidates: xs.filter((x) => x.startsWith(cur)),
    directive,
  });
  if (!command) {
    if (cur.startsWith('-')) return filter(['--help']);
    return filter(Object.keys(COMMANDS));
  }
  const spec = COMMANDS[command];
  if (!spec) return { candidates: [], directive: DIRECTIVE.default };
  const valuesOf = async (kind: ValueKind | undefined): Promise<string[] | 'file'> => {
    if (!kind) return [];
    if (kind === 'file') return 'file';
    if (typeof kind !== 'string') return [...kind];
    return lookup(kind, flags).catch(() => []);
  };
  if (pendingValue) {
    const v = await valuesOf(spec.values?.[pendingValue]);
    return v === 'file' ? { candidates: [], directive: DIRECTIVE.default } : filter(v);
  }
  if (cur.startsWith('-')) {
    const eq = cur.indexOf('=');
    if (eq > 0) {
      const opt = optionOf(spec, cur.slice(0, eq));
      const v = opt ? await valuesOf(spec.values?.[opt[0]]) : [];
      if (v === 'file') return { candidates: [], directive: DIRECTIVE.default };
      return filter(v.map((x) => `${cur.slice(0, eq + 1)}${x}`));
    }
    return filter(Object.keys(spec.options).map((o) => `--${o}`));
  }
  const v = await valuesOf(spec.positional);
  return v === 'file' ? { candidates: [], directive: DIRECTIVE.default } : filter(v);
}

/** `__complete` output: one candidate a line, then `:<directive>` (cobra's format). */
export function completionOutput(c: Completion): string {
  return [...c.candidates, `:${c.directive}`].join('\n');
}

/**
 * A bash completion script for `prog` (and its kubectl plugin file name): asks the program itself
 * through `__complete`, falls back to file names when it says so.
 */
export function bashScript(): string {
  return `# bash completion for capture-drain and kubectl-capture_drain.
# Load it with: source <(capture-drain completion bash)   (or kubectl capture-drain completion bash)
# kubectl 1.26+ completes "kubectl capture-drain ..." itself through kubectl_complete-capture_drain.
_capture_drain_complete() {
  local cur out directive
  cur="\${COMP_WORDS[COMP_CWORD]}"
  out=$("\${COMP_WORDS[0]}" __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
  directive="\${out##*:}"
  out="\${out%:*}"
  COMPREPLY=()
  local line
  while IFS= read -r line; do
    [[ -n "$line" ]] && COMPREPLY+=("$line")
  done <<< "$out"
  if [[ \${#COMPREPLY[@]} -eq 0 && $(( directive & 4 )) -eq 0 ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _capture_drain_complete capture-drain kubectl-capture_drain
`;
}

export function zshScript(): string {
  return `#compdef capture-drain kubectl-capture_drain
# zsh completion for capture-drain and kubectl-capture_drain.
# Load it with: source <(capture-drain completion zsh)   (or kubectl capture-drain completion zsh)
_capture_drain_complete() {
  local out directive
  local -a lines candidates
  out=$("\${words[1]}" __complete "\${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
  lines=("\${(@f)out}")
  directive="\${lines[-1]#:}"
  candidates=("\${(@)lines[1,-2]}")
  if (( \${#candidates} )); then
    compadd -- "\${(@)candidates}"
  elif (( (directive & 4) == 0 )); then
    _files
  fi
}
compdef _capture_drain_complete capture-drain kubectl-capture_drain
`;
}
