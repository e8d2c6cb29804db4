// Connects a CLI command to Kubernetes the way kubectl does: --kubeconfig, else KUBECONFIG, else
// ~/.kube/config, else in-cluster; --context, else the current context; the namespace from -n,
// else the context's, else "default".
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeClient } from '../kube/client.js';
import type { KubeClient } from '../kube/port.js';
import { effectiveNamespace, type KubeFlags } from './kube-flags.js';

export interface KubeConnection {
  kube: KubeClient;
  /** The namespace the command works in. */
  namespace: string;
  close(): Promise<void>;
}

export function loadKubeConfig(flags: Pick<KubeFlags, 'kubeconfig' | 'context'>): KubeConfig {
  const kc = new KubeConfig();
  if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
  else kc.loadFromDefault();
  if (flags.context) {
    if (!kc.getContextObject(flags.context))
      throw new Error(`context "${flags.context}" not found in the kubeconfig`);
    kc.setCurrentContext(flags.context);
  }
  return kc;
}

export function connect(flags: KubeFlags, userAgent: string): KubeConnection {
  const kc = loadKubeConfig(flags);
  const kube = createKubeClient(kc, { userAgent });
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return {
    kube,
    namespace: effectiveNamespace(flags.namespace, ctx?.namespace),
    close: () => kube.close(),
  };
}

/** Context names of the kubeconfig, for completion; none when it cannot be read. */
export function contextNames(flags: Pick<KubeFlags, 'kubeconfig'>): string[] {
  try {
    return loadKubeConfig(flags)
      .getContexts()
      .map((c) => c.name);
  } catch {
    return [];
  }
}
