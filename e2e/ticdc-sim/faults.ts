// Fault injection for the TiCDC API (never for /sim/ control routes). Probabilities are drawn from
// the simulator's seeded Rng, so a run with a fixed seed is reproducible.

import { z } from 'zod';
import type { Rng } from './random.js';

export type MalformedKind = 'truncated' | 'wrong-types' | 'any';

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
    return { ...this.cfg };
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

  /** A body the client must reject: cut in half, or with numbers and booleans turned into strings. */
  mangle(body: string): string {
    let kind = this.cfg.malformedKind;
    if (kind === 'any') kind = this.rng.chance(0.5) ? 'truncated' : 'wrong-types';
    if (kind === 'truncated') return body.length < 2 ? '{' : body.slice(0, Math.floor(body.length / 2));
    return wrongTypes(body);
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
