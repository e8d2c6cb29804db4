// Watches every CaptureDrain from the outside and keeps, per drain, when it appeared and each
// status write it saw (one watch event per resourceVersion).
import { KubeConfig, Watch } from '@kubernetes/client-node';

export interface DrainWrite {
  at: number;
  resourceVersion: string;
  status: Record<string, unknown>;
}

export interface DrainRecord {
  key: string;
  namespace: string;
  name: string;
  /** Date.now() when the watch delivered the ADDED event. */
  addedAt: number;
  writes: DrainWrite[];
  /** First time a terminal phase was seen. */
  finishedAt?: number;
  phase?: string;
}

const TERMINAL = new Set(['Completed', 'Failed', 'Cancelled']);

export class DrainRecorder {
  readonly drains = new Map<string, DrainRecord>();
  private abort: AbortController | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly kubeconfigPath: string) {}

  async start(): Promise<void> {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    const watch = new Watch(kc);
    let rv: string | undefined = undefined;
    let ready!: () => void;
    const connected = new Promise<void>((r) => (ready = r));
    this.loop = (async () => {
      while (!this.stopped) {
        await new Promise<void>((resolve) => {
          watch
            .watch(
              '/apis/drain.ticdc.io/v1alpha1/capturedrains',
              { allowWatchBookmarks: true, timeoutSeconds: 240, ...(rv ? { resourceVersion: rv } : {}) },
              (type: string, obj: { metadata: Record<string, string>; status?: Record<string, unknown> }) => {
                rv = obj.metadata?.resourceVersion ?? rv;
                if (type === 'ADDED' || type === 'MODIFIED') this.observe(type, obj);
                if (type === 'ERROR') {
                  rv = undefined;
                  this.abort?.abort();
                }
              },
              () => resolve(),
            )
            .then(
              (ac) => {
                this.abort = ac;
                ready();
                if (this.stopped) ac.abort();
              },
              () => setTimeout(resolve, 500),
            );
        });
      }
    })();
    await connected;
  }

  private observe(
    type: string,
    obj: { metadata: Record<string, string>; status?: Record<string, unknown> },
  ): void {
    const { namespace, name, resourceVersion } = obj.metadata;
    const key = `${namespace}/${name}`;
    const now = Date.now();
    let rec = this.drains.get(key);
    if (!rec) {
      rec = { key, namespace: namespace!, name: name!, addedAt: now, writes: [] };
      this.drains.set(key, rec);
    }
    if (type === 'MODIFIED' && rec.finishedAt === undefined) {
      rec.writes.push({ at: now, resourceVersion: resourceVersion!, status: obj.status ?? {} });
    }
    const phase = obj.status?.phase as string | undefined;
    rec.phase = phase;
    if (phase && TERMINAL.has(phase) && rec.finishedAt === undefined) rec.finishedAt = now;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await this.loop;
  }
}

/** What a user sees of a status: phase, reason, counts, conditions (not probe times). */
export function visible(status: Record<string, unknown>): string {
  const conds = ((status.conditions as { type: string; status: string; reason?: string }[]) ?? []).map(
    (c) => `${c.type}=${c.status}/${c.reason ?? ''}`,
  );
  return JSON.stringify([status.phase, status.reason, status.remaining ?? null, conds]);
}

/** Writes of one drain, and how many of them a user could see (and how many changed phase). */
export function writeStats(rec: DrainRecord): {
  writes: number;
  visibleChanges: number;
  phaseChanges: number;
  allowed: number;
} {
  let prevVisible = '';
  let prevPhase: unknown = undefined;
  let visibleChanges = 0;
  let phaseChanges = 0;
  for (const w of rec.writes) {
    const v = visible(w.status);
    if (v !== prevVisible) visibleChanges++;
    if (w.status.phase !== prevPhase) phaseChanges++;
    prevVisible = v;
    prevPhase = w.status.phase;
  }
  const durationS = ((rec.finishedAt ?? rec.writes.at(-1)?.at ?? rec.addedAt) - rec.addedAt) / 1000;
  // One write per visible change, plus probe times written at most every 15 s.
  const allowed = visibleChanges + Math.ceil(durationS / 15);
  return { writes: rec.writes.length, visibleChanges, phaseChanges, allowed };
}
