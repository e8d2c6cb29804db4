// The admission side of the gate: turns a parsed AdmissionRequest (pods DELETE, pods/eviction
// CREATE) into facts, asks decide(), starts the drain when one is needed (never on dry-run), and
// records metrics, events and logs. Answers within `budgetMs`: every API call races one deadline.
import type { Logger } from 'pino';
import { ensurePodDrain } from '../drain/pod-drains.js';
import type { KubeClient, KubeObject } from '../kube/port.js';
import { silentLogger } from '../observability/logger.js';
import {
  DeleteOptionsSchema,
  EvictionSchema,
  type AdmissionRequest,
  type AdmissionVerdict,
} from '../webhook/admission.js';
import {
  decide,
  GATE_ERROR_REASON,
  notWatched,
  quickDecision,
  verifyReview,
  type GateDecision,
  type GateRequest,
} from './decide.js';
import { bounded, drainFacts, gatherFacts, readPod } from './facts.js';
import type { GateMetrics } from './metrics.js';
import type { EventSink } from '../kube/events.js';
import { ownerStatefulSet, type Pod } from '../kube/objects.js';
import { EVENT_REASONS } from '../api/names.js';
import { objectRef } from '../kube/objects.js';

export interface GateHandlerOptions {
  kube: KubeClient;
  events: EventSink;
  metrics: GateMetrics;
  logger?: Logger;
  /** Time for all API calls of one request; keep it below the webhook's timeoutSeconds. Default 3 s. */
  budgetMs?: number;
  /**
   * The operator's own user name (from a SelfSubjectReview at start): its deletes of pods whose
   * drain released them are admitted. Unknown: those deletes pass only as any user's would.
   */
  operatorUsername?: string;
  /** Watched namespaces (--namespaces); empty or unset: all. Reviews for others start nothing. */
  namespaces?: readonly string[];
}

type Operation = 'delete' | 'evict';

export class GateHandler {
  private readonly log: Logger;
  private readonly budgetMs: number;
  private readonly namespaces: readonly string[];

  constructor(private readonly opts: GateHandlerOptions) {
    this.log = (opts.logger ?? silentLogger()).child({ component: 'gate' });
    this.budgetMs = opts.budgetMs ?? 3_000;
    this.namespaces = opts.namespaces ?? [];
  }

  async review(req: AdmissionRequest): Promise<AdmissionVerdict> {
    const started = performance.now();
    const op = operationOf(req);
    if (!op) {
      // Only reachable through a misconfigured webhook: never block what we do not understand.
      this.log.warn(
        { resource: req.resource, subResource: req.subResource, operation: req.operation },
        'Unexpected admission request; admitting',
      );
      return { allowed: true };
    }
    // A cleared timer, not AbortSignal.timeout: that one holds the request's memory for the whole
    // budget even after the answer went out (seen in `make bench` at high request rates).
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error(`gate budget of ${this.budgetMs} ms exceeded`)),
      this.budgetMs,
    );
    const signal = deadline.signal;
    let verdict: AdmissionVerdict;
    let dryRun = !!req.dryRun;
    try {
      const { decision, request } = await this.decideRequest(req, op, signal);
      dryRun = request.dryRun;
      verdict = await this.act(decision, request, req, op, signal);
      this.opts.metrics.decisions.inc({ operation: op, reason: decision.reason });
    } catch (err) {
      // decideRequest never throws for API errors; this is a bug or an unexpected payload.
      this.log.error({ err, uid: req.uid }, 'Gate failed to decide');
      verdict = {
        allowed: false,
        code: op === 'evict' ? 429 : 500,
        message: `capture-drain gate error: ${(err as Error).message}`,
      };
      this.opts.metrics.decisions.inc({ operation: op, reason: GATE_ERROR_REASON });
    } finally {
      clearTimeout(timer);
    }
    this.opts.metrics.requests.inc({ operation: op, decision: verdict.allowed ? 'allowed' : 'denied' });
    if (req.namespace && req.name && !dryRun)
      this.opts.metrics.held[verdict.allowed ? 'admitted' : 'denied'](req.namespace, req.name);
    this.opts.metrics.duration.observe({ operation: op }, (performance.now() - started) / 1000);
    return verdict;
  }

  private async decideRequest(
    req: AdmissionRequest,
    op: Operation,
    signal: AbortSignal,
  ): Promise<{ decision: GateDecision; request: GateRequest }> {
    const username = req.userInfo.username ?? '';
    const me = this.opts.operatorUsername ? { operatorUsername: this.opts.operatorUsername } : {};
    const { name, namespace } = req;
    let base: GateRequest;
    let claimed: Pod | undefined;
    if (op === 'delete') {
      const options = DeleteOptionsSchema.safeParse(req.options ?? {});
      const o = options.success ? options.data : {};
      claimed = (req.oldObject ?? undefined) as Pod | undefined;
      base = {
        operation: 'Delete',
        dryRun: !!req.dryRun || !!o.dryRun?.includes('All'),
        username,
        ...me,
        ...(o.preconditions?.uid ? { preconditionUid: o.preconditions.uid } : {}),
        pod: claimed,
      };
    } else {
      const eviction = EvictionSchema.parse(req.object ?? {});
      const o = eviction.deleteOptions ?? {};
      base = {
        operation: 'Evict',
        dryRun: !!req.dryRun || !!o.dryRun?.includes('All'),
        username,
        ...me,
        ...(o.preconditions?.uid ? { preconditionUid: o.preconditions.uid } : {}),
        pod: undefined,
      };
    }
    // Answers that need no API read and start nothing: a namespace we do not watch, a pod that by
    // the review's own account is not ours.
    const unwatched = namespace ? notWatched(namespace, this.namespaces) : undefined;
    if (unwatched) return { decision: unwatched, request: base };
    if (claimed) {
      const quick = quickDecision(base);
      if (quick) return { decision: quick, request: base };
    }
    // Anything else may start a drain: decide on the live pod, and only for a verified review.
    let live: Pod | undefined;
    try {
      live = name && namespace ? await readPod(this.opts.kube, namespace, name, signal) : undefined;
    } catch (err) {
      return {
        request: base,
        decision: {
          allowed: false,
          reason: 'LookupFailed',
          code: op === 'evict' ? 429 : 500,
          message: `capture-drain gate could not read pod ${namespace}/${name} (${(err as Error).message}); retry shortly`,
        },
      };
    }
    const request: GateRequest = { ...base, pod: live };
    const verdict = verifyReview({
      namespace,
      name,
      username,
      claimed,
      live,
      watched: this.namespaces,
    });
    if (verdict) return { decision: verdict, request };
    const quick = quickDecision(request);
    if (quick) return { decision: quick, request };
    const facts = await gatherFacts(this.opts.kube, request, signal);
    return { decision: decide(facts), request };
  }

  /** Starts the drain a denial asks for, then answers; logs and events. */
  private async act(
    decision: GateDecision,
    request: GateRequest,
    req: AdmissionRequest,
    op: Operation,
    signal: AbortSignal,
  ): Promise<AdmissionVerdict> {
    const pod = request.pod;
    const who = req.userInfo.username ?? '';
    const ctx = {
      uid: req.uid,
      operation: op,
      pod: pod && `${pod.metadata.namespace}/${pod.metadata.name}`,
      user: who,
      dryRun: request.dryRun,
    };
    if (decision.allowed) {
      const quiet =
        decision.reason === 'Unmanaged' ||
        decision.reason === 'PodNotFound' ||
        decision.reason === 'NotWatched';
      this.log[quiet ? 'debug' : 'info']({ ...ctx, reason: decision.reason }, 'Admitted');
      if (decision.reason === 'Skip')
        return { allowed: true, warnings: [`${decision.message}; the capture's work is moved reactively`] };
      // Said explicitly: a review the operator will not act on whatever it claims.
      if (decision.reason === 'NotWatched' || decision.reason === 'PodNotFound')
        return { allowed: true, message: `capture-drain gate: ${decision.message}; nothing to do` };
      return decision.warning ? { allowed: true, warnings: [decision.warning] } : { allowed: true };
    }
    if (decision.startDrain && !request.dryRun && pod) {
      const owner = ownerStatefulSet(pod);
      const statefulSet: KubeObject | undefined = owner
        ? { metadata: { name: owner.name, uid: owner.uid } }
        : undefined;
      try {
        const { drain, created } = await bounded(
          ensurePodDrain(this.opts.kube, {
            pod,
            ...(statefulSet ? { statefulSet } : {}),
            trigger: decision.startDrain.trigger,
            podAction: decision.startDrain.podAction,
          }),
          signal,
        );
        if (created) {
          this.log.info(
            { ...ctx, drain: drain.metadata.name, trigger: decision.startDrain.trigger },
            'Termination held; drain started',
          );
          this.opts.events.event(
            podRef(pod),
            'Normal',
            EVENT_REASONS.drainRequested,
            'Drain',
            `${op === 'evict' ? 'Eviction' : 'Deletion'} by ${who || 'unknown'} held until drained: CaptureDrain ${drain.metadata.name} (trigger ${decision.startDrain.trigger})`,
          );
        }
        // A drain someone else created may already be done.
        const again = decide({
          ...request,
          namespaceTerminating: false,
          statefulSet: undefined,
          drain: drainFacts(drain, pod),
        });
        if (again.allowed) return { allowed: true };
        // Reused: the answer shows that drain's phase and podAction.
        if (!created) decision = again;
      } catch (err) {
        this.log.warn({ ...ctx, err: (err as Error).message }, 'Could not start the drain');
        return {
          allowed: false,
          code: op === 'evict' ? 429 : 500,
          message: `capture pod ${ctx.pod} must be drained first, but the drain could not be started (${(err as Error).message}); retry shortly`,
        };
      }
    } else if (decision.reason === 'DrainHeld' && pod && !request.dryRun) {
      this.opts.events.event(
        podRef(pod),
        'Warning',
        EVENT_REASONS.terminationBlocked,
        'Drain',
        decision.message,
      );
    }
    this.log.info({ ...ctx, reason: decision.reason, code: decision.code }, 'Termination denied');
    return { allowed: false, code: decision.code, message: decision.message };
  }
}

function operationOf(req: AdmissionRequest): Operation | undefined {
  if (req.resource.group !== '' || req.resource.resource !== 'pods') return undefined;
  if (req.operation === 'DELETE' && !req.subResource) return 'delete';
  if (req.operation === 'CREATE' && req.subResource === 'eviction') return 'evict';
  return undefined;
}

function podRef(pod: KubeObject) {
  return objectRef(pod, 'v1', 'Pod');
}
