// events.k8s.io/v1 Event recorder. eventTime is a MicroTime (6 fractional digits; 3 is rejected).
// Identical events (same object, type, reason, action, note) are aggregated: the first one is
// created, repeats within `windowMs` are only counted, and the next repeat after the window
// updates the existing Event's series {count, lastObservedTime}. So one key costs at most one
// write per window. Recording never throws into the caller: failures are logged.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { silentLogger } from '../observability/logger.js';
import { KubeApiError, Resources, type KubeClient, type KubeObject } from './port.js';
import type { ObjectRef } from './objects.js';
import { microTime } from './time.js';

export interface ObjectReference {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
  resourceVersion?: string;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  client: KubeClient;
  /** e.g. `drain.ticdc.io/capture-drain-operator`. */
  reportingController: string;
  /** e.g. the pod name; max 128 characters. */
  reportingInstance: string;
  logger?: Logger;
  /** Aggregation window. Default 60 s. */
  windowMs?: number;
  /** Bound on remembered event keys. Default 1000. */
  maxKeys?: number;
  /**
   * Event writes in flight at once; the rest wait their turn. Default 2. Events are the least
   * urgent writes: when many drains release at once, their events queue here instead of at the API
   * server, ahead of the status writes and pod deletions the releases wait on (client-go's
   * recorder writes from one goroutine for the same reason).
   */
  maxInFlight?: number;
  now?: () => number;
}

interface Seen {
  namespace: string;
  name: string;
  count: number;
  lastWriteAt: number;
  /** Serialises writes per key so a series patch never races the create. */
  chain: Promise<void>;
}

const MAX_NOTE = 1024;
const MAX_FIELD = 128;

export class EventRecorder {
  private readonly seen = new Map<string, Seen>();
  private readonly pending = new Set<Promise<void>>();
  private readonly log: Logger;
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly maxInFlight: number;
  private inFlight = 0;
  /** Writes waiting for a turn, oldest first. */
  private readonly waiting: (() => void)[] = [];
  private readonly now: () => number;

  constructor(private readonly opts: EventRecorderOptions) {
    this.log = (opts.logger ?? silentLogger()).child({ component: 'event-recorder' });
    this.windowMs = opts.windowMs ?? 60_000;
    this.maxKeys = opts.maxKeys ?? 1000;
    this.maxInFlight = opts.maxInFlight ?? 2;
    this.now = opts.now ?? Date.now;
  }

  /** Records an event about `regarding`. Fire-and-forget; await flush() to wait for the write. */
  event(regarding: ObjectReference, type: EventType, reason: string, action: string, note: string): void {
    try {
      this.record(regarding, type, reason, action, note);
    } catch (err) {
      this.log.error({ err, reason }, 'Failed to record event');
    }
  }

  /** Convenience for a full object. */
  eventFor(obj: KubeObject, type: EventType, reason: string, action: string, note: string): void {
    this.event(
      {
        apiVersion: obj.apiVersion ?? '',
        kind: obj.kind ?? '',
        namespace: obj.metadata.namespace,
        name: obj.metadata.name ?? '',
        uid: obj.metadata.uid,
      },
      type,
      reason,
      action,
      note,
    );
  }

  /** Waits for every write started so far (tests, graceful shutdown). */
  async flush(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  private record(
    regarding: ObjectReference,
    type: EventType,
    reason: string,
    action: string,
    note: string,
  ): void {
    const now = this.now();
    const key = JSON.stringify([
      regarding.uid ?? '',
      regarding.namespace ?? '',
      regarding.kind,
      regarding.name,
      type,
      reason,
      action,
      note,
    ]);
    const prev = this.seen.get(key);
    if (prev) {
      prev.count++;
      this.touch(key, prev);
      if (now - prev.lastWriteAt < this.windowMs) return; // aggregated: counted, not written
      prev.lastWriteAt = now;
      this.track(key, prev, () =>
        this.patchSeries(prev, now, () => this.create(key, regarding, type, reason, action, note, now)),
      );
      return;
    }
    // Cluster-scoped objects (Nodes) get their events in "default", as client-go does.
    const seen: Seen = {
      namespace: regarding.namespace || 'default',
      name: '',
      count: 1,
      lastWriteAt: now,
      chain: Promise.resolve(),
    };
    this.seen.set(key, seen);
    this.evictOld();
    this.track(key, seen, () => this.create(key, regarding, type, reason, action, note, now));
  }

  private track(key: string, seen: Seen, write: () => Promise<void>): void {
    const p = seen.chain
      .then(() => this.inTurn(write))
      .catch((err: unknown) => {
        this.log.warn(
          { err: err instanceof Error ? err.message : String(err), key },
          'Failed to write event',
        );
      });
    seen.chain = p;
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Runs `write` once fewer than maxInFlight writes run; a finished write hands its turn on. */
  private async inTurn(write: () => Promise<void>): Promise<void> {
    if (this.inFlight < this.maxInFlight) this.inFlight++;
    else await new Promise<void>((turn) => this.waiting.push(turn));
    try {
      await write();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight--;
    }
  }

  private async create(
    key: string,
    regarding: ObjectReference,
    type: EventType,
    reason: string,
    action: string,
    note: string,
    now: number,
  ): Promise<void> {
    const seen = this.seen.get(key);
    const namespace = regarding.namespace || 'default';
    // client-go names events <object>.<hex timestamp>; a random tail avoids same-millisecond clashes.
    const name = `${regarding.name.slice(0, 200)}.${now.toString(16)}${randomBytes(4).toString('hex')}`;
    const ref: Record<string, unknown> = {
      apiVersion: regarding.apiVersion,
      kind: regarding.kind,
      name: regarding.name,
    };
    if (regarding.namespace) ref.namespace = regarding.namespace;
    if (regarding.uid) ref.uid = regarding.uid;
    if (regarding.resourceVersion) ref.resourceVersion = regarding.resourceVersion;
    await this.opts.client.create(Resources.events, {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace },
      eventTime: microTime(now),
      reportingController: this.opts.reportingController.slice(0, 253),
      reportingInstance: this.opts.reportingInstance.slice(0, MAX_FIELD),
      action: action.slice(0, MAX_FIELD),
      reason: reason.slice(0, MAX_FIELD),
      type,
      note: note.length > MAX_NOTE ? `${note.slice(0, MAX_NOTE - 3)}...` : note,
      regarding: ref,
    });
    if (seen) {
      seen.name = name;
      seen.namespace = namespace;
    }
  }

  private async patchSeries(seen: Seen, now: number, recreate: () => Promise<void>): Promise<void> {
    const fresh = () => {
      seen.count = 1; // a new Event starts a new series
      return recreate();
    };
    if (!seen.name) return fresh(); // the create failed earlier
    try {
      await this.opts.client.patch(
        Resources.events,
        seen.namespace,
        seen.name,
        { series: { count: seen.count, lastObservedTime: microTime(now) } },
        'merge',
      );
    } catch (err) {
      // The Event expired (default TTL 1 h) or was deleted: start a new one.
      if (err instanceof KubeApiError && err.isNotFound) return fresh();
      throw err;
    }
  }

  /** Keeps insertion order = recency, so the oldest key is evicted first. */
  private touch(key: string, seen: Seen): void {
    this.seen.delete(key);
    this.seen.set(key, seen);
  }

  private evictOld(): void {
    while (this.seen.size > this.maxKeys) {
      const oldest = this.seen.keys().next().value;
      if (oldest === undefined) break;
      this.seen.delete(oldest);
    }
  }
}

/** What the controllers need to write an event (EventRecorder implements it; tests record). */
export interface EventSink {
  event(regarding: ObjectRef, type: 'Normal' | 'Warning', reason: string, action: string, note: string): void;
}
