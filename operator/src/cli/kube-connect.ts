// Connects a CLI command to Kubernetes the way kubectl does: --kubeconfig, else KUBECONFIG, else
// ~/.kube/config, else in-cluster; --context, else the current context; the namespace from -n,
// else the context's, else "default".
import { createKubeClient } from '../kube/client.js';
import { kubeconfigContexts, loadKubeAccess } from '../kube/kubeconfig.js';
import type { KubeClient } from '../kube/port.js';
import { effectiveNamespace, type KubeFlags } from './kube-flags.js';

export interface KubeConnection {
  kube: KubeClient;
  /** The namespace the command works in. */
  namespace: string;
  close(): Promise<void>;
}

export function connect(flags: KubeFlags, userAgent: string): KubeConnection {
  const access = loadKubeAccess(
    flags.kubeconfig,
    process.env,
    flags.context ? { context: flags.context } : {},
  );
  const kube = createKubeClient(access, { userAgent });
  return {
    kube,
    namespace: effectiveNamespace(flags.namespace, access.namespace),
    close: () => kube.close(),
  };
}

/** Context names of the kubeconfig, for completion; none when it cannot be read. */
export function contextNames(flags: Pick<KubeFlags, 'kubeconfig'>): string[] {
  return kubeconfigContexts(flags.kubeconfig);
}
