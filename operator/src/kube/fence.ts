// Fencing: every request the controllers send is bound to the leadership term it was started in
// (see Fence in port.ts). The signal cancels requests in flight when the term ends; check() refuses
// new ones synchronously. check() matters because the signal is aborted by timers: after the process
// was paused (SIGSTOP, a long GC, a frozen VM) I/O callbacks can run before those timers, and an
// awaiting reconcile would otherwise send its next request although another replica may lead by then.
import type { Fence, KubeClient } from './port.js';

export type { Fence } from './port.js';

/** Why a fenced request was refused, when the signal's reason is not an Error itself. */
export class FencedError extends Error {
  override readonly name = 'FencedError';
}

/** A fence that only ends when `signal` aborts (no leader election: the process owns the work). */
export function signalFence(signal: AbortSignal): Fence {
  return { signal, check: () => throwIfAborted(signal) };
}

/** Throws the signal's reason (an Error) when it is aborted. */
export function throwIfAborted(signal: AbortSignal): void {
  if (!signal.aborted) return;
  const reason: unknown = signal.reason;
  throw reason instanceof Error ? reason : new FencedError(String(reason ?? 'aborted'));
}

/** Both fences: ends when either ends. */
export function joinFences(a: Fence, b: Fence): Fence {
  return {
    signal: AbortSignal.any([a.signal, b.signal]),
    check: () => {
      a.check();
      b.check();
    },
  };
}

/**
 * A view of `client` whose every request (not watches: informers stop with the term) runs
 * fence.check() first and is cancelled when fence.signal aborts. Clients that bind a fence to their
 * HTTP requests (fenced) abort the request itself; for others the pending promise is rejected.
 */
export function fenceKubeClient(client: KubeClient, fence: Fence): KubeClient {
  if (client.fenced) return client.fenced(fence);
  const guard = <T>(call: () => Promise<T>): Promise<T> => {
    try {
      fence.check();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new FencedError(String(err)));
    }
    return rejectOnAbort(call(), fence.signal);
  };
  return {
    get: (type, namespace, name) => guard(() => client.get(type, namespace, name)),
    list: (type, opts) => guard(() => client.list(type, opts)),
    watch: (type, opts, onEvent) => client.watch(type, opts, onEvent),
    create: (type, obj, opts) => guard(() => client.create(type, obj, opts)),
    replace: (type, obj, opts) => guard(() => client.replace(type, obj, opts)),
    patch: (type, namespace, name, patch, patchType, opts) =>
      guard(() => client.patch(type, namespace, name, patch, patchType, opts)),
    delete: (type, namespace, name, opts) => guard(() => client.delete(type, namespace, name, opts)),
    evict: (namespace, name, opts) => guard(() => client.evict(namespace, name, opts)),
    fenced: (inner) => fenceKubeClient(client, joinFences(fence, inner)),
  };
}

function rejectOnAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      try {
        throwIfAborted(signal);
      } catch (err) {
        reject(err as Error);
      }
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

/** `client` bound to one signal (e.g. a reconcile's ctx.signal): refused and cancelled once it aborts. */
export function bindSignal(client: KubeClient, signal: AbortSignal): KubeClient {
  return fenceKubeClient(client, signalFence(signal));
}

const CLOSED: Fence = (() => {
  const ac = new AbortController();
  ac.abort(new FencedError('not leading'));
  return signalFence(ac.signal);
})();

/**
 * Delegates to the fence of the current term (set when a term starts). Before the first term it
 * refuses everything, so no client built over it can write without leading.
 */
export class TermFence implements Fence {
  private current: Fence = CLOSED;
  get signal(): AbortSignal {
    return this.current.signal;
  }
  check(): void {
    this.current.check();
  }
  begin(term: Fence): void {
    this.current = term;
  }
}
