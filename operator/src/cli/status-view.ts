// `capture-drain status`, the pure part: which drains to follow, how they render (a refreshing
// screen or plain lines), when they are finished and with what exit code. status.ts reads the
// objects and writes the output.
import { formatDuration, type CaptureDrainObject, type WorkCounts } from '../api/capturedrain.js';
import { DRAIN_LABELS, ROLLOUT_ANNOTATIONS } from '../api/names.js';
import { isTerminal } from '../drain/contract.js';
import { KUBE_FLAGS_HELP, KUBE_OPTIONS, kubeFlags, parseCommandArgs, type KubeFlags } from './kube-flags.js';
import { EXIT, exitCodeFor, resultFor } from './outcome.js';

export const STATUS_USAGE = `Usage: capture-drain status [DRAIN...] [--statefulset NAME] [options]

Shows CaptureDrains live: phase, a progress bar from the counts at the drain's start to now,
remaining/initial maintainers, dispatchers and tables, the drain rate's ETA, and the reason.
Follows the named drains, or the drains of a StatefulSet (with its rollout), or every drain of
the namespace, until they finish, then exits with their outcome. On a terminal the screen
refreshes in place; otherwise one line is printed per change.

Options:
  DRAIN...               CaptureDrain names to follow (default: the drains in progress)
  --statefulset NAME     the drains of this StatefulSet's pods, and its rollout or scale-in
  -A, --all-namespaces   every namespace
  --once                 print the current state once and exit
  -w, --watch            keep following after the drains finish (until interrupted)
  --interval DUR         refresh interval in seconds (default 1)
  -h, --help
${KUBE_FLAGS_HELP}

Exit codes (as capture-drain drain): 0 every drain drained (TiCDC confirmed it); 2 a drain timed
out or stalled; 3 a drain failed or was deleted before it finished, or the rollout is Blocked;
4 LegacyFallback (a pre-v8.5.7 capture in the cluster: nothing was drained); 1 error; 64 usage
error; 130 interrupted. With --once, 0 while drains are still in progress.`;

export const STATUS_OPTIONS = {
  ...KUBE_OPTIONS,
  statefulset: { type: 'string' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  once: { type: 'boolean' },
  watch: { type: 'boolean', short: 'w' },
  interval: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export class StatusUsageError extends Error {}

export interface StatusArgs extends KubeFlags {
  names: string[];
  statefulSet?: string;
  allNamespaces: boolean;
  mode: 'follow' | 'once' | 'watch';
  intervalMs: number;
}

export function parseStatusArgs(argv: string[]): StatusArgs | 'help' {
  const parsed = parseCommandArgs(argv, STATUS_OPTIONS, (m) => new StatusUsageError(m));
  const v = parsed.values;
  if (v.help) return 'help';
  if (v.once && v.watch) throw new StatusUsageError('--once and --watch exclude each other');
  if (v['all-namespaces'] && (v.namespace || v.statefulset || parsed.positionals.length))
    throw new StatusUsageError('--all-namespaces takes no namespace, StatefulSet or drain names');
  if (v.statefulset && parsed.positionals.length)
    throw new StatusUsageError('give drain names or --statefulset, not both');
  const interval = v.interval === undefined ? 1 : Number(v.interval);
  if (!Number.isFinite(interval) || interval < 0.1 || interval > 300)
    throw new StatusUsageError(
      `--interval must be a number of seconds between 0.1 and 300, got "${v.interval}"`,
    );
  return {
    ...kubeFlags(v),
    names: parsed.positionals,
    ...(v.statefulset ? { statefulSet: v.statefulset } : {}),
    allNamespaces: !!v['all-namespaces'],
    mode: v.once ? 'once' : v.watch ? 'watch' : 'follow',
    intervalMs: Math.round(interval * 1000),
  };
}

/** A drain belongs to a StatefulSet by the operator's label, or (hand-made) by its pod's name. */
export function ofStatefulSet(d: CaptureDrainObject, statefulSet: string): boolean {
  const label = d.metadata.labels?.[DRAIN_LABELS.statefulSet];
  if (label) return label === statefulSet;
  const pod = d.spec.podName ?? '';
  return pod.startsWith(`${statefulSet}-`) && /^\d+$/.test(pod.slice(statefulSet.length + 1));
}

const key = (d: CaptureDrainObject) => `${d.metadata.namespace}/${d.metadata.name}`;
const terminal = (d: CaptureDrainObject) => isTerminal(d.status?.phase);

/**
 * The drains shown: named ones always; otherwise those in progress when the command started, and
 * any that started later (a rollout's next drain). `tracked` carries the selection between reads.
 */
export function selectDrains(
  all: CaptureDrainObject[],
  scope: { names: string[]; statefulSet?: string; startedAt: number },
  tracked: ReadonlySet<string>,
): { shown: CaptureDrainObject[]; tracked: Set<string> } {
  const next = new Set(tracked);
  const inScope = all.filter((d) =>
    scope.names.length
      ? scope.names.includes(d.metadata.name)
      : !scope.statefulSet || ofStatefulSet(d, scope.statefulSet),
  );
  for (const d of inScope) {
    const created = Date.parse(d.metadata.creationTimestamp ?? '');
    // creationTimestamp has whole seconds: a drain created in the second the command started counts.
    if (scope.names.length || !terminal(d) || created >= Math.floor(scope.startedAt / 1000) * 1000)
      next.add(key(d));
  }
  const shown = inScope
    .filter((d) => next.has(key(d)))
    .sort(
      (a, b) =>
        (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
        key(a).localeCompare(key(b)),
    );
  return { shown, tracked: next };
}

/** Drains shown before, not finished then, and gone now: deleted mid-drain (DrainAbandoned). */
export function vanished(before: CaptureDrainObject[], now: CaptureDrainObject[]): string[] {
  const present = new Set(now.map(key));
  return before.filter((d) => !terminal(d) && !present.has(key(d))).map(key);
}

const total = (c: WorkCounts | undefined) =>
  c ? (c.maintainers ?? 0) + (c.dispatchers ?? 0) + (c.tables ?? 0) : undefined;

/** Fraction of the drain's work moved, from its counts at the start vs now; undefined when unknown. */
export function progressOf(d: CaptureDrainObject): number | undefined {
  const s = d.status ?? {};
  if (s.drainedTime) return 1;
  const initial = total(s.initial);
  const remaining = total(s.remaining);
  if (initial === undefined || remaining === undefined) return undefined;
  if (initial === 0) return remaining === 0 ? 1 : 0;
  return Math.min(1, Math.max(0, (initial - remaining) / initial));
}

export function progressBar(fraction: number | undefined, width = 20): string {
  if (fraction === undefined) return `[${'·'.repeat(width)}]    -`;
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${`${Math.floor(fraction * 100)}%`.padStart(4)}`;
}

function countCell(d: CaptureDrainObject, k: keyof WorkCounts): string {
  const r = d.status?.remaining?.[k];
  const i = d.status?.initial?.[k];
  if (r === undefined && i === undefined) return '-';
  return `${r ?? '?'}/${i ?? '?'}`;
}

export function etaOf(d: CaptureDrainObject, now: number): string {
  const eta = d.status?.estimatedCompletionTime;
  if (terminal(d) || !eta) return '-';
  return formatDuration(Math.max(0, Date.parse(eta) - now));
}

export interface RolloutView {
  statefulSet: string;
  phase?: string;
  message?: string;
  remaining?: string;
  eta?: string;
}

export function rolloutOf(sts: {
  metadata: { name?: string; annotations?: Record<string, string> };
}): RolloutView {
  const a = sts.metadata.annotations ?? {};
  const opt = (k: keyof RolloutView, v: string | undefined) => (v ? { [k]: v } : {});
  return {
    statefulSet: sts.metadata.name ?? '',
    ...opt('phase', a[ROLLOUT_ANNOTATIONS.phase]),
    ...opt('message', a[ROLLOUT_ANNOTATIONS.message]),
    ...opt('remaining', a[ROLLOUT_ANNOTATIONS.remaining]),
    ...opt('eta', a[ROLLOUT_ANNOTATIONS.eta]),
  };
}

const rolloutActive = (r: RolloutView | undefined) =>
  r?.phase === 'RollingUpdate' || r?.phase === 'ScalingIn';

function rolloutLine(r: RolloutView, now: number): string {
  const parts = [`StatefulSet ${r.statefulSet}: rollout ${r.phase ?? 'Idle'}`];
  if (r.remaining) parts.push(`to go: ${r.remaining}`);
  if (r.eta && rolloutActive(r)) parts.push(`ETA ${formatDuration(Math.max(0, Date.parse(r.eta) - now))}`);
  if (r.message) parts.push(r.message);
  return parts.join('; ');
}

const COLUMNS = ['NAME', 'POD', 'PHASE', 'PROGRESS', 'MAINT', 'DISP', 'TABLES', 'ETA', 'REASON'] as const;

/** The full screen: a header, one row per drain, the rollout line and a summary. */
export function renderScreen(
  drains: CaptureDrainObject[],
  opts: { now: number; where: string; rollout?: RolloutView; showNamespace?: boolean; deleted?: string[] },
): string[] {
  const rows = drains.map((d) => [
    opts.showNamespace ? key(d) : d.metadata.name,
    d.spec.podName ?? d.spec.captureAddress ?? '-',
    d.status?.phase ?? 'Pending',
    progressBar(progressOf(d)),
    countCell(d, 'maintainers'),
    countCell(d, 'dispatchers'),
    countCell(d, 'tables'),
    etaOf(d, opts.now),
    d.status?.reason ?? '-',
  ]);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [`CaptureDrains ${opts.where}   ${new Date(opts.now).toISOString().slice(11, 19)}`];
  if (opts.rollout) out.push(rolloutLine(opts.rollout, opts.now));
  out.push('');
  if (rows.length) {
    out.push(line(COLUMNS));
    for (const r of rows) out.push(line(r));
  } else out.push('No drain in progress.');
  const message = drains.filter((d) => !terminal(d) && d.status?.message).at(-1);
  if (message) out.push('', `${message.metadata.name}: ${message.status!.message}`);
  for (const k of opts.deleted ?? []) out.push(`${k} was deleted before it finished`);
  out.push('', summary(drains, opts.rollout, opts.deleted?.length));
  return out;
}

/** One line for a drain, for output that is not a terminal. */
export function drainLine(d: CaptureDrainObject, now: number): string {
  const s = d.status ?? {};
  const parts = [
    `[${new Date(now).toISOString().slice(11, 19)}]`,
    key(d),
    d.spec.podName ?? '-',
    s.phase ?? 'Pending',
    progressBar(progressOf(d)),
    `maintainers ${countCell(d, 'maintainers')} dispatchers ${countCell(d, 'dispatchers')} tables ${countCell(d, 'tables')}`,
    `ETA ${etaOf(d, now)}`,
    s.reason ?? '-',
  ];
  if (terminal(d) && s.message) parts.push(`- ${s.message}`);
  return parts.join('  ');
}

/** What a plain-line printer compares to decide whether a drain changed. */
export function changeKey(d: CaptureDrainObject): string {
  const s = d.status ?? {};
  return [s.phase, s.reason, total(s.remaining), total(s.initial)].join('|');
}

/** Lines for the drains that changed since `seen` (drain key -> change key), and the new `seen`. */
export function plainUpdate(
  drains: CaptureDrainObject[],
  seen: ReadonlyMap<string, string>,
  now: number,
): { lines: string[]; seen: Map<string, string> } {
  const next = new Map(seen);
  const lines: string[] = [];
  for (const d of drains) {
    const k = changeKey(d);
    if (seen.get(key(d)) === k) continue;
    next.set(key(d), k);
    lines.push(drainLine(d, now));
  }
  return { lines, seen: next };
}

/** Finished: every drain shown is terminal and the StatefulSet's rollout (if any) is not moving. */
export function finished(drains: CaptureDrainObject[], rollout?: RolloutView): boolean {
  return drains.every(terminal) && !rolloutActive(rollout);
}

/** The worst outcome of the finished drains (the drain command's exit codes); Blocked counts as failed. */
export function exitCodeOf(drains: CaptureDrainObject[], rollout?: RolloutView, deleted = 0): number {
  let code: number = deleted ? EXIT.failed : EXIT.drained;
  for (const d of drains) if (terminal(d)) code = Math.max(code, exitCodeFor(d.status ?? {}));
  if (rollout?.phase === 'Blocked') code = Math.max(code, EXIT.failed);
  return code;
}

export function summary(drains: CaptureDrainObject[], rollout?: RolloutView, deleted = 0): string {
  const running = drains.filter((d) => !terminal(d)).length;
  const counts = new Map<string, number>();
  for (const d of drains.filter(terminal)) {
    const r = resultFor(d.status ?? {});
    counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  const parts = [...counts].map(([r, n]) => `${n} ${r}`);
  if (running) parts.unshift(`${running} in progress`);
  if (deleted) parts.push(`${deleted} deleted before it finished`);
  if (rollout?.phase === 'Blocked') parts.push('rollout Blocked');
  const n = drains.length + deleted;
  const head = `${n} drain${n === 1 ? '' : 's'}`;
  return parts.length ? `${head}: ${parts.join(', ')}` : head;
}
