// Fault injection for the TiCDC API (never for /sim/ control routes). Probabilities are drawn from
// the simulator's seeded Rng, so a run with a fixed seed is reproducible.

import { z } from 'zod';
import type { Rng } from './random.js';

export type MalformedKind = 'truncated' | 'wrong-types' | 'any';

/**
 * Kinds of the mixed transient fault (`mixedRate`): `error` a 500/502/503/504 body, `reset` the
 * connection closes without an answer (before or after the request was handled), `truncated` the
 * real answer (any status) cut short, `wrong-types` the real answer with numbers turned into
 * strings, `garbled-400` a 400 whose body is not JSON, `timeout` the answer comes only after
 * `hangMs` (beyond a client's request timeout).
 */
export type MixedKind = 'error' | 'reset' | 'truncated' | 'wrong-types' | 'garbled-400' | 'timeout';
export const MIXED_KINDS: readonly MixedKind[] = [
  'error',
  'reset',
  'truncated',
  'wrong-types',
  'garbled-400',
  'timeout',
];

/** What a mixed fault does to one request; `reset` is split by whether the request was handled. */
export type MixedDraw = Exclude<MixedKind, 'reset'> | 'reset-before' | 'reset-after';

export interface FaultConfig {
  /** Probability of answering an injected 5xx instead of handling the request. */
  errorRate: number;
  /** Status of injected errors (500–599). */
  errorStatus: number;
  /** Added latency (real milliseconds) before each request is handled. */
  latencyMs: number;
  /** Probability of resetting the connection without an answer. */
  resetRate: number;
  /** Probability of a malformed body (the request is still handled: state changes happen). */
  malformedRate: number;
  malformedKind: MalformedKind;
  /** Work stops moving (the scheduler is stuck). */
  stall: boolean;
  /** Forwarding bounces between captures until the hop limit (§1 Forwarding) → 500. */
  forwardLoop: boolean;
  /**
   * Probability per request of one mixed transient fault drawn uniformly from `mixedKinds`
   * (benchmarks: "40% mixed transient faults" is mixedRate 0.4).
   */
  mixedRate: number;
  mixedKinds: MixedKind[];
  /** Real ms a `timeout` mixed fault holds the answer (default 15000: beyond a 10 s client timeout). */
  hangMs: number;
  /** Every owner change leaves the cluster without owner at least this long (simulated ms). */
  leaderlessMs: number;
  /** tiflow: the drain job cannot list TiKV stores, so every drain answers 503 ErrGetAllStoresFailed (§9). */
  storesUnavailable: boolean;
  /** Regex; the request faults above apply only to matching paths. null: every TiCDC API path. */
  pathPattern: string | null;
}

export const NO_FAULTS: Readonly<FaultConfig> = Object.freeze({
  errorRate: 0,
  errorStatus: 500,
  latencyMs: 0,
  resetRate: 0,
  malformedRate: 0,
  malformedKind: 'any',
  stall: false,
  forwardLoop: false,
  mixedRate: 0,
  mixedKinds: [...MIXED_KINDS],
  hangMs: 15_000,
  leaderlessMs: 0,
  storesUnavailable: false,
  pathPattern: null,
});

const probability = z.number().min(0).max(1);
export const faultPatchSchema = z
  .object({
    errorRate: probability,
    errorStatus: z.number().int().min(500).max(599),
    latencyMs: z.number().min(0).max(600_000),
    resetRate: probability,
    malformedRate: probability,
    malformedKind: z.enum(['truncated', 'wrong-types', 'any']),
    stall: z.boolean(),
    forwardLoop: z.boolean(),
    mixedRate: probability,
    mixedKinds: z.array(z.enum(MIXED_KINDS as [MixedKind, ...MixedKind[]])).min(1),
    hangMs: z.number().min(0).max(600_000),
    leaderlessMs: z.number().min(0).max(3_600_000),
    storesUnavailable: z.boolean(),
    pathPattern: z
      .string()
      .refine((s) => {
        try {
          new RegExp(s);
          return true;
        } catch {
          return false;
        }
      }, 'invalid regular expression')
      .nullable(),
  })
  .partial()
  .strict();

export type FaultPatch = z.infer<typeof faultPatchSchema>;

export class FaultInjector {
  private cfg: FaultConfig = { ...NO_FAULTS };
  private pattern: RegExp | null = null;

  constructor(private readonly rng: Rng) {}

  get config(): FaultConfig {
    return { ...this.cfg, mixedKinds: [...this.cfg.mixedKinds] };
  }

  /** Merges a (validated) patch into the current faults. */
  set(patch: FaultPatch): FaultConfig {
    const parsed = faultPatchSchema.parse(patch);
    this.cfg = { ...this.cfg, ...parsed };
    this.pattern = this.cfg.pathPattern === null ? null : new RegExp(this.cfg.pathPattern);
    return this.config;
  }

  clear(): FaultConfig {
    this.cfg = { ...NO_FAULTS };
    this.pattern = null;
    return this.config;
  }

  applies(path: string): boolean {
    return this.pattern === null || this.pattern.test(path);
  }

  drawReset(): boolean {
    return this.rng.chance(this.cfg.resetRate);
  }

  drawError(): boolean {
    return this.rng.chance(this.cfg.errorRate);
  }

  drawMalformed(): boolean {
    return this.rng.chance(this.cfg.malformedRate);
  }

  /** The mixed fault for one request, if any. */
  drawMixed(): MixedDraw | undefined {
    if (!this.rng.chance(this.cfg.mixedRate)) return undefined;
    const kind = this.rng.pick(this.cfg.mixedKinds)!;
    if (kind === 'reset') return this.rng.chance(0.5) ? 'reset-before' : 'reset-after';
    return kind;
  }

  /** Status of a mixed `error`: what a server, a proxy or a gateway in front of it may answer. */
  mixedErrorStatus(): number {
    return this.rng.pick([500, 502, 503, 504])!;
  }

  /** A body the client must reject: cut in half, or with numbers and booleans turned into strings. */
  mangle(body: string, kind: MalformedKind = this.cfg.malformedKind): string {
    if (kind === 'any') kind = this.rng.chance(0.5) ? 'truncated' : 'wrong-types';
    if (kind === 'truncated') return this.truncate(body);
    return wrongTypes(body);
  }

  /** The body cut at a random point (never whole, never valid JSON of the original's shape). */
  truncate(body: string): string {
    if (body.length < 2) return '{';
    return body.slice(0, 1 + this.rng.int(body.length - 1));
  }

  /** Bytes that are not JSON at all, as a broken proxy or a torn connection may deliver. */
  garble(): string {
    const junk = [
      '<html><body>Bad Request',
      '{"error_msg":"[CDC:Err',
      '\u0000\u001f\u008b\u0008',
      'Bad Request\n{',
    ];
    return this.rng.pick(junk)!;
  }
}

export function wrongTypes(body: string): string {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return JSON.stringify(body); // not JSON (or empty): a JSON string where an object was expected
  }
  const flip = (v: unknown): unknown => {
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (Array.isArray(v)) return v.map(flip);
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, flip(x)]));
    return v;
  };
  const flipped = JSON.stringify(flip(value));
  return flipped === JSON.stringify(value) ? JSON.stringify(flipped) : flipped;
}
