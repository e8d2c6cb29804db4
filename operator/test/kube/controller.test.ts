import { describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import {
  Controller,
  TerminalError,
  generationChanged,
  isTerminalError,
  keyFromString,
  keyToString,
  mapToOwner,
  mapToSelf,
  watchInto,
  type ObjectKey,
  type ReconcileContext,
  type ReconcileResult,
} from '../../src/kube/controller.js';
import type { KubeObject } from '../../src/kube/port.js';
import { memoryLogger, waitFor } from './helpers.js';

async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

function harness(
  reconcile: (key: ObjectKey, ctx: ReconcileContext) => Promise<ReconcileResult | void>,
  extra: Partial<ConstructorParameters<typeof Controller>[0]> = {},
) {
  const registry = new Registry();
  const { log, lines } = memoryLogger();
  const ctrl = new Controller({
    name: 'test',
    reconcile,
    registry,
    logger: log,
    rateLimiter: { baseDelayMs: 1, maxDelayMs: 20 },
    ...extra,
  });
  const ac = new AbortController();
  const running = ctrl.start(ac.signal);
  return { ctrl, registry, lines, ac, running };
}

describe('Controller', () => {
  it('reconciles a key with a reconcileID and a child logger; success forgets', async () => {
    const seen: Array<{ key: ObjectKey; id: string }> = [];
    const h = harness(async (key, ctx) => {
      seen.push({ key, id: ctx.reconcileID });
      ctx.log.info('Reconciled');
    });
    h.ctrl.enqueue({ namespace: 'ns', name: 'a' });
    await waitFor(() => seen.length === 1);
    expect(seen[0]!.key).toEqual({ namespace: 'ns', name: 'a' });
    expect(seen[0]!.id).toMatch(/^[0-9a-f-]{36}$/);
    const line = h.lines.find((l) => l.msg === 'Reconciled')!;
    expect(line).toMatchObject({ controller: 'test', namespace: 'ns', name: 'a', reconcileID: seen[0]!.id });
    await waitFor(() => h.ctrl.queue.len() === 0);
    expect(await value(h.registry, 'controller_runtime_reconcile_total', { result: 'success' })).toBe(1);
    expect(
      await value(h.registry, 'controller_runtime_max_concurrent_reconciles', { controller: 'test' }),
    ).toBe(1);
    h.ac.abort();
    await h.running;
  });

  it('requeues errors with backoff and counts them; success afterwards resets the backoff', async () => {
    let calls = 0;
    const h = harness(async () => {
      calls++;
      if (calls <= 2) throw new Error('boom');
    });
    h.ctrl.enqueue('ns/a');
    await waitFor(() => calls === 3);
    await waitFor(() => h.ctrl.queue.numRequeues('ns/a') === 0);
    expect(await value(h.registry, 'controller_runtime_reconcile_total', { result: 'error' })).toBe(2);
    expect(await value(h.registry, 'controller_runtime_reconcile_total', { result: 'success' })).toBe(1);
    expect(await value(h.registry, 'controller_runtime_reconcile_errors_total', { controller: 'test' })).toBe(
      2,
    );
    expect(h.lines.filter((l) => l.msg === 'Reconciler error')).toHaveLength(2);
    await h.ctrl.stop();
    await h.running;
  });

  it('does not requeue a TerminalError (also when wrapped as a cause)', async () => {
    let calls = 0;
    const h = harness(async () => {
      calls++;
      throw new Error('wrapped', { cause: new TerminalError('invalid spec') });
    });
    h.ctrl.enqueue('ns/a');
    await waitFor(() => calls === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(1);
    expect(
      await value(h.registry, 'controller_runtime_terminal_reconcile_errors_total', { controller: 'test' }),
    ).toBe(1);
    expect(await value(h.registry, 'controller_runtime_reconcile_total', { result: 'error' })).toBe(1);
    expect(h.ctrl.queue.numRequeues('ns/a')).toBe(0);
    await h.ctrl.stop();
  });

  it('honours requeueAfterMs (forget + addAfter) with result requeue_after', async () => {
    const times: number[] = [];
    const h = harness(async () => {
      times.push(Date.now());
      return times.length === 1 ? { requeueAfterMs: 40 } : undefined;
    });
    h.ctrl.enqueue('a');
    await waitFor(() => times.length === 2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(35);
    expect(await value(h.registry, 'controller_runtime_reconcile_total', { result: 'requeue_after' })).toBe(
      1,
    );
    await h.ctrl.stop();
  });

  it('honours requeueAfterMs 0: the key is reconciled again at once, with result requeue', async () => {
    let calls = 0;
    const h = harness(async () => {
      calls++;
      return calls < 3 ? { requeueAfterMs: 0 } : undefined;
    });
    h.ctrl.enqueue('a');
    // Nothing else enqueues the key: only the requeue of 0 can bring it back.
    await waitFor(() => calls === 3);
    expect(await value(h.registry, 'controller_runtime_reconcile_total', { result: 'requeue' })).toBe(2);
    expect(await value(h.registry, 'controller_runtime_reconcile_total', { result: 'success' })).toBe(1);
    await h.ctrl.stop();
  });

  it('recovers "panics" (throws of non-Error values) and retries', async () => {
    let calls = 0;
    const h = harness(async () => {
      calls++;
      if (calls === 1) throw 'not an error';
    });
    h.ctrl.enqueue('a');
    await waitFor(() => calls === 2);
    expect(await value(h.registry, 'controller_runtime_reconcile_panics_total', { controller: 'test' })).toBe(
      1,
    );
    await h.ctrl.stop();
  });

  it('never runs one key concurrently, but runs different keys in parallel', async () => {
    let active = 0;
    let maxActive = 0;
    const perKey = new Map<string, number>();
    let maxPerKey = 0;
    let calls = 0;
    const h = harness(
      async (key) => {
        calls++;
        const k = keyToString(key);
        perKey.set(k, (perKey.get(k) ?? 0) + 1);
        maxPerKey = Math.max(maxPerKey, perKey.get(k)!);
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 20));
        active--;
        perKey.set(k, perKey.get(k)! - 1);
      },
      { workers: 3 },
    );
    h.ctrl.enqueue('a');
    h.ctrl.enqueue('b');
    await waitFor(() => active === 2);
    h.ctrl.enqueue('a'); // while a is in flight: collapses into one more run after it
    h.ctrl.enqueue('a');
    await waitFor(() => calls === 3 && active === 0, 3000);
    expect(maxPerKey).toBe(1);
    expect(maxActive).toBe(2);
    expect(calls).toBe(3);
    await h.ctrl.stop();
  });

  it('aborts ctx.signal on timeout and on stop', async () => {
    const h = harness(
      (_key, ctx) =>
        new Promise((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)),
        ),
      { reconcileTimeoutMs: 20 },
    );
    h.ctrl.enqueue('a');
    await waitFor(() => h.lines.some((l) => l.msg === 'Reconciler error'));
    expect(
      await value(h.registry, 'controller_runtime_reconcile_timeouts_total', { controller: 'test' }),
    ).toBeGreaterThanOrEqual(1);
    h.ac.abort();
    await h.running; // resolves: the stop signal aborted the in-flight reconcile too
    expect(await value(h.registry, 'controller_runtime_active_workers', { controller: 'test' })).toBe(0);
  });
  it('the term signal given to start() reaches an in-flight reconcile at once; cancellation is not an error', async () => {
    let seen: unknown;
    let started = false;
    const h = harness(
      (_key, ctx) =>
        new Promise((_resolve, reject) => {
          started = true;
          ctx.signal.addEventListener('abort', () => {
            seen = ctx.signal.reason;
            reject(ctx.signal.reason as Error);
          });
        }),
    );
    h.ctrl.enqueue('a');
    await waitFor(() => started);
    const reason = new Error('leader election lost');
    h.ac.abort(reason);
    expect(seen).toBe(reason); // synchronously, inside abort()
    await h.running; // the worker finished: the cancelled reconcile did not hold it
    expect(h.lines.some((l) => l.msg === 'Reconcile cancelled')).toBe(true);
    expect(h.lines.some((l) => l.msg === 'Reconciler error')).toBe(false);
    expect(await value(h.registry, 'controller_runtime_reconcile_errors_total', { controller: 'test' })).toBe(
      0,
    );
  });
});

describe('keys and mapping', () => {
  const pod = (owners: KubeObject['metadata']['ownerReferences']): KubeObject => ({
    metadata: { namespace: 'ns', name: 'p', ownerReferences: owners },
  });

  it('round-trips keys', () => {
    expect(keyToString({ namespace: 'ns', name: 'a' })).toBe('ns/a');
    expect(keyToString({ name: 'node1' })).toBe('node1');
    expect(keyFromString('ns/a')).toEqual({ namespace: 'ns', name: 'a' });
    expect(keyFromString('node1')).toEqual({ name: 'node1' });
  });

  it('maps to self and to controller owners by group+kind', () => {
    expect(mapToSelf(pod([]))).toEqual([{ namespace: 'ns', name: 'p' }]);
    const owners = [
      { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'cdc', uid: '1', controller: true },
      { apiVersion: 'drain.ticdc.io/v1alpha1', kind: 'CaptureDrain', name: 'd', uid: '2' },
    ];
    expect(mapToOwner({ group: 'apps', kind: 'StatefulSet' })(pod(owners))).toEqual([
      { namespace: 'ns', name: 'cdc' },
    ]);
    expect(mapToOwner({ group: 'drain.ticdc.io', kind: 'CaptureDrain' })(pod(owners))).toEqual([]);
    expect(mapToOwner({ group: 'drain.ticdc.io', kind: 'CaptureDrain' }, false)(pod(owners))).toEqual([
      { namespace: 'ns', name: 'd' },
    ]);
  });

  it('watchInto wires add/update/delete, with an update predicate', () => {
    const handlers: {
      add?: (o: KubeObject) => void;
      update?: (a: KubeObject, b: KubeObject) => void;
      del?: (o: KubeObject) => void;
    } = {};
    const source = {
      onAdd: (fn: (o: KubeObject) => void) => (handlers.add = fn),
      onUpdate: (fn: (a: KubeObject, b: KubeObject) => void) => (handlers.update = fn),
      onDelete: (fn: (o: KubeObject) => void) => (handlers.del = fn),
    };
    const keys: string[] = [];
    watchInto(
      source,
      { enqueue: (k) => keys.push(typeof k === 'string' ? k : keyToString(k)) },
      { updatePredicate: generationChanged },
    );
    const a: KubeObject = { metadata: { namespace: 'ns', name: 'a', generation: 1 } };
    handlers.add!(a);
    handlers.update!(a, { metadata: { ...a.metadata, resourceVersion: '2' } }); // same generation: filtered
    handlers.update!(a, { metadata: { ...a.metadata, generation: 2 } });
    handlers.update!(a, a); // resync passes
    handlers.del!(a);
    expect(keys).toEqual(['ns/a', 'ns/a', 'ns/a', 'ns/a']);
  });

  it('isTerminalError walks the cause chain', () => {
    expect(isTerminalError(new TerminalError('x'))).toBe(true);
    expect(isTerminalError(new Error('y', { cause: new TerminalError('x') }))).toBe(true);
    expect(isTerminalError(new Error('y'))).toBe(false);
    expect(isTerminalError('x')).toBe(false);
  });
});
