// `capture-drain status`: reads CaptureDrains (and the StatefulSet's rollout annotations) every
// interval and prints them with status-view.ts until they finish.
import type { CaptureDrainObject } from '../api/capturedrain.js';
import { Resources, type KubeClient } from '../kube/port.js';
import type { StatefulSet } from '../kube/objects.js';
import { connect } from './kube-connect.js';
import type { KubeFlags } from './kube-flags.js';
import { EXIT } from './outcome.js';
import {
  STATUS_USAGE,
  StatusUsageError,
  drainLine,
  exitCodeOf,
  finished,
  parseStatusArgs,
  plainUpdate,
  renderScreen,
  rolloutOf,
  selectDrains,
  summary,
  vanished,
  type RolloutView,
  type StatusArgs,
} from './status-view.js';

export interface StatusIo {
  out: (line: string) => void;
  err: (line: string) => void;
  signal?: AbortSignal;
  /** Output is a terminal: redraw one screen instead of printing lines. */
  tty?: boolean;
}

/** Cursor home and clear to the end of the screen. */
const REDRAW = '\x1b[H\x1b[J';

export async function statusCommand(
  argv: string[],
  io: StatusIo,
  deps: { kube?: KubeClient; namespace?: string; now?: () => number } = {},
): Promise<number> {
  let args: StatusArgs | 'help';
  try {
    args = parseStatusArgs(argv);
  } catch (err) {
    if (!(err instanceof StatusUsageError)) throw err;
    io.err(`capture-drain status: ${err.message}\n\n${STATUS_USAGE}`);
    return EXIT.usage;
  }
  if (args === 'help') {
    io.out(STATUS_USAGE);
    return 0;
  }
  let conn;
  try {
    conn = deps.kube
      ? { kube: deps.kube, namespace: args.namespace ?? deps.namespace ?? 'default', close: async () => {} }
      : connect(args, 'capture-drain-status');
  } catch (err) {
    io.err(`capture-drain status: ${(err as Error).message}`);
    return 1;
  }
  try {
    return await followStatus(
      conn.kube,
      args,
      args.allNamespaces ? undefined : conn.namespace,
      io,
      deps.now ?? Date.now,
    );
  } catch (err) {
    io.err(`capture-drain status: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await conn.close();
  }
}

/** Reads and prints until the selection is finished (or once, or until interrupted); the exit code. */
export async function followStatus(
  kube: KubeClient,
  args: Omit<StatusArgs, keyof KubeFlags>,
  namespace: string | undefined,
  io: StatusIo,
  now: () => number,
): Promise<number> {
  const startedAt = now();
  const where = namespace
    ? `in ${namespace}${args.statefulSet ? `, StatefulSet ${args.statefulSet}` : ''}`
    : 'in all namespaces';
  let tracked = new Set<string>();
  let seen = new Map<string, string>();
  let lastRollout = '';
  let previous: CaptureDrainObject[] = [];
  const deleted: string[] = [];
  for (let first = true; ; first = false) {
    const [drains, sts] = await Promise.all([
      kube.list<CaptureDrainObject>(Resources.capturedrains, namespace ? { namespace } : {}),
      args.statefulSet && namespace
        ? kube.get<StatefulSet>(Resources.statefulsets, namespace, args.statefulSet)
        : Promise.resolve(undefined),
    ]);
    if (first && args.statefulSet && !sts)
      throw new Error(`StatefulSet ${namespace}/${args.statefulSet} not found`);
    if (first) {
      const missing = args.names.filter((n) => !drains.items.some((d) => d.metadata.name === n));
      if (missing.length) throw new Error(`CaptureDrain ${missing.join(', ')} not found in ${namespace}`);
    }
    const rollout: RolloutView | undefined = sts ? rolloutOf(sts) : undefined;
    const sel = selectDrains(
      drains.items,
      { names: args.names, ...(args.statefulSet ? { statefulSet: args.statefulSet } : {}), startedAt },
      tracked,
    );
    tracked = sel.tracked;
    const t = now();
    const gone = vanished(previous, sel.shown);
    deleted.push(...gone);
    previous = sel.shown;
    const done = finished(sel.shown, rollout);
    if (io.tty) {
      const screen = renderScreen(sel.shown, {
        now: t,
        where,
        ...(rollout ? { rollout } : {}),
        showNamespace: !namespace,
        deleted,
      });
      io.out(REDRAW + screen.join('\n'));
    } else if (args.mode === 'once') {
      for (const d of sel.shown) io.out(drainLine(d, t));
      if (rollout) io.out(`StatefulSet ${rollout.statefulSet}: rollout ${rollout.phase ?? 'Idle'}`);
    } else {
      const u = plainUpdate(sel.shown, seen, t);
      seen = u.seen;
      for (const l of u.lines) io.out(l);
      for (const k of gone)
        io.out(`[${new Date(t).toISOString().slice(11, 19)}] ${k} was deleted before it finished`);
      const r = rollout ? `StatefulSet ${rollout.statefulSet}: rollout ${rollout.phase ?? 'Idle'}` : '';
      if (r && r !== lastRollout) io.out(`[${new Date(t).toISOString().slice(11, 19)}] ${r}`);
      lastRollout = r;
    }
    if (args.mode === 'once') {
      if (!io.tty) io.out(summary(sel.shown, rollout));
      return done ? exitCodeOf(sel.shown, rollout) : 0;
    }
    if (args.mode === 'follow' && done) {
      if (!io.tty)
        io.out(
          sel.shown.length || deleted.length
            ? `Done: ${summary(sel.shown, rollout, deleted.length)}`
            : `No drain in progress ${where}.`,
        );
      return exitCodeOf(sel.shown, rollout, deleted.length);
    }
    if (!(await sleep(args.intervalMs, io.signal))) return EXIT.interrupted;
  }
}

/** false when interrupted. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(true), ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve(false)), { once: true });
  });
}
