// `capture-drain completion bash|zsh` and the hidden `__complete` command (what the completion
// scripts and kubectl's plugin completion helper call): the cluster lookups behind completion.ts.
import { MANAGED_SELECTOR } from '../api/names.js';
import { Resources, type KubeClient, type ResourceType } from '../kube/port.js';
import { bashScript, complete, completionOutput, zshScript, type Lookup } from './completion.js';
import { connect, contextNames } from './kube-connect.js';

const USAGE = `Usage: capture-drain completion bash|zsh

Prints a shell completion script for capture-drain and kubectl-capture_drain.
  bash:  source <(capture-drain completion bash)      # or add it to ~/.bashrc
  zsh:   source <(capture-drain completion zsh)       # after compinit
kubectl 1.26+ completes "kubectl capture-drain ..." by itself when the helper
kubectl_complete-capture_drain (installed next to kubectl-capture_drain) is on PATH.`;

/** Cluster lookups give up after this long: a slow API server must not hang the shell. */
const LOOKUP_TIMEOUT_MS = 3000;

const clusterLookup: Lookup = async (kind, flags) => {
  if (kind === 'context') return contextNames(flags);
  const conn = connect(flags, 'capture-drain-completion');
  const names = async (type: ResourceType, opts: { namespace?: string; labelSelector?: string }) =>
    (await (conn.kube as KubeClient).list(type, opts)).items.map((o) => o.metadata.name ?? '');
  let timer: NodeJS.Timeout | undefined;
  try {
    const work =
      kind === 'namespace'
        ? names(Resources.namespaces, {})
        : kind === 'statefulset'
          ? names(Resources.statefulsets, { namespace: conn.namespace, labelSelector: MANAGED_SELECTOR })
          : kind === 'pod'
            ? names(Resources.pods, { namespace: conn.namespace, labelSelector: MANAGED_SELECTOR })
            : names(Resources.capturedrains, { namespace: conn.namespace });
    return await Promise.race([
      work,
      new Promise<string[]>((resolve) => (timer = setTimeout(() => resolve([]), LOOKUP_TIMEOUT_MS))),
    ]);
  } finally {
    clearTimeout(timer);
    await conn.close().catch(() => undefined);
  }
};

export async function completeCommand(
  argv: string[],
  io: { out: (line: string) => void },
  lookup: Lookup = clusterLookup,
): Promise<number> {
  io.out(completionOutput(await complete(argv.length ? argv : [''], lookup)));
  return 0;
}

export function completionCommand(
  argv: string[],
  io: { out: (line: string) => void; err: (line: string) => void },
): number {
  const [shell, ...rest] = argv;
  if (shell === '-h' || shell === '--help') {
    io.out(USAGE);
    return 0;
  }
  if (rest.length || (shell !== 'bash' && shell !== 'zsh')) {
    io.err(`capture-drain completion: give bash or zsh\n\n${USAGE}`);
    return 64;
  }
  io.out(shell === 'bash' ? bashScript() : zshScript());
  return 0;
}
