// The flags kubectl users expect of a plugin (--kubeconfig, --context, -n/--namespace), parsed the
// same way by every command that talks to Kubernetes. Pure: no file or network access here
// (kube-connect.ts loads the kubeconfig).
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

/** parseArgs option specs of the kubectl-style flags. */
export const KUBE_OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
} as const;

export const KUBE_FLAGS_HELP = `Kubernetes flags (as kubectl's):
  --kubeconfig F         kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then in-cluster)
  --context NAME         kubeconfig context to use (default: the current context)
  -n, --namespace NS     namespace (default: the context's namespace, else "default")`;

export interface KubeFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

export function kubeFlags(values: { kubeconfig?: string; context?: string; namespace?: string }): KubeFlags {
  return {
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    ...(values.context ? { context: values.context } : {}),
    ...(values.namespace ? { namespace: values.namespace } : {}),
  };
}

/**
 * kubectl (pflag) also accepts `-n=NS` and `--namespace NS` after positional arguments; node's
 * parseArgs reads `-n=NS` as the namespace "=NS". Rewrites the short form with `=` so both agree.
 */
export function normalizeArgv(argv: string[]): string[] {
  const out: string[] = [];
  for (const a of argv) {
    if (a === '--') {
      out.push(...argv.slice(argv.indexOf(a)));
      break;
    }
    const m = /^-([a-zA-Z])=(.*)$/.exec(a);
    if (m) out.push(`-${m[1]}`, m[2]!);
    else out.push(a);
  }
  return out;
}

/** The namespace a command works in: the flag, else the context's, else "default" (kubectl's rule). */
export function effectiveNamespace(flag: string | undefined, contextNamespace: string | undefined): string {
  return flag || contextNamespace || 'default';
}

/**
 * parseArgs as every kubectl-style command uses it (strict, positionals allowed, `-n=NS` read as
 * kubectl does); a parse failure becomes the command's own usage error.
 */
export function parseCommandArgs<const O extends ParseArgsOptionsConfig>(
  argv: string[],
  options: O,
  usageError: (message: string) => Error,
) {
  try {
    return parseArgs({ args: normalizeArgv(argv), strict: true, allowPositionals: true, options });
  } catch (err) {
    throw usageError((err as Error).message);
  }
}
