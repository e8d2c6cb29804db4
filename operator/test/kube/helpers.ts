// Small helpers shared by the kube runtime tests.
import { pino, type Logger } from 'pino';

/** A pino logger that keeps parsed lines in memory. */
export function memoryLogger(level = 'debug'): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level },
    { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { log, lines };
}

/** Polls cond (real timers) until true or the deadline passes. */
export async function waitFor(cond: () => boolean, timeoutMs = 2000, stepMs = 2): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Lets queued microtasks and promise chains run (works under fake timers too). */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

export const MICROTIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
