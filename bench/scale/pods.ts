// One pod watch for every simulator of a bench run: a list+watch of the managed pods of all
// namespaces, routed to one in-memory pod source per namespace (a simulator per namespace would
// otherwise hold its own watch: 200 watches for 200 clusters).
import { KubeConfig, Watch, CoreV1Api } from '@kubernetes/client-node';
import { InMemoryPodSource, type PodLike } from '../../e2e/ticdc-sim/index.js';

export class PodRouter {
  private readonly sources = new Map<string, InMemoryPodSource>();
  /** uid -> namespace of every pod we delivered (to route deletions of a relist). */
  private readonly known = new Map<string, string>();
  private abort: AbortController | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly kubeconfigPath: string,
    private readonly selector: string,
  ) {}

  sourceFor(namespace: string): InMemoryPodSource {
    let s = this.sources.get(namespace);
    if (!s) this.sources.set(namespace, (s = new InMemoryPodSource()));
    return s;
  }

  async start(): Promise<void> {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    const api = kc.makeApiClient(CoreV1Api);
    const watch = new Watch(kc);
    const list = async () => {
      const res = await api.listPodForAllNamespaces({ labelSelector: this.selector });
      const seen = new Set<string>();
      for (const p of res.items as PodLike[]) {
        seen.add(p.metadata!.uid!);
        this.deliver('MODIFIED', p);
      }
      for (const [uid, ns] of this.known)
        if (!seen.has(uid)) {
          this.sourceFor(ns).delete(uid);
          this.known.delete(uid);
        }
      return res.metadata?.resourceVersion;
    };
    let rv = await list();
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          if (rv === undefined) rv = await list();
          await new Promise<void>((resolve) => {
            watch
              .watch(
                '/api/v1/pods',
                {
                  labelSelector: this.selector,
                  resourceVersion: rv,
                  allowWatchBookmarks: true,
                  timeoutSeconds: 240,
                },
                (type: string, obj: PodLike & { metadata?: { resourceVersion?: string } }) => {
                  if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.deliver(type, obj);
                  if (type === 'BOOKMARK' || type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED')
                    rv = obj.metadata?.resourceVersion ?? rv;
                  if (type === 'ERROR') {
                    rv = undefined;
                    this.abort?.abort();
                    resolve();
                  }
                },
                () => resolve(),
              )
              .then(
                (ac) => {
                  this.abort = ac;
                  if (this.stopped) ac.abort();
                },
                () => resolve(),
              );
          });
        } catch {
          rv = undefined;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    })();
  }

  private deliver(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: PodLike): void {
    const ns = pod.metadata?.namespace;
    const uid = pod.metadata?.uid;
    if (!ns || !uid) return;
    if (type === 'DELETED') {
      this.known.delete(uid);
      this.sourceFor(ns).delete(uid);
    } else {
      this.known.set(uid, ns);
      this.sourceFor(ns).apply(pod);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await this.loop;
  }
}
