// The simulator's own control API under /sim/ (never faulted, never authenticated).
//
//   GET    /sim/state                 full state (captures, owner, counts, drain session, faults)
//   GET    /sim/violations            removals of captures that still held work
//   GET    /sim/faults                current faults
//   POST   /sim/faults                merge a JSON patch of FaultConfig
//   DELETE /sim/faults                clear all faults
//   POST   /sim/failover              {"kind":"resign"|"crash"}: forced coordinator failover
//   POST   /sim/resign                the owner resigns as through the API (it may win again)
//   GET    /sim/captures              capture views
//   POST   /sim/captures              {"name"?, "address"?, "legacy"?}: a new capture joins (static mode)
//   DELETE /sim/captures/{id}         the process exits (SIGTERM, no drain; ?signal=SIGKILL to kill
//                                     it); it stays listed for the signal's departure delay
//   POST   /sim/captures/{id}/crash   crash injection: killed (SIGKILL), recorded as injected
//   POST   /sim/captures/{id}/legacy  {"legacy"?: true|false}: newarch pre-v8.5.7 peer (default true)
//   POST   /sim/drain-session         {"capture": id or address}: another tool drains that capture
//                                     (its session blocks drains of others); answers its result
//   POST   /sim/advance               {"ms": N}: move a ManualClock forward

import { z } from 'zod';
import { faultPatchSchema } from './faults.js';
import type { SimRequest, SimResponse } from './http-types.js';
import { json } from './http-types.js';
import type { FaultConfig, FaultPatch } from './faults.js';
import type { ExitSignal, Violation } from './model.js';
import { SimError } from './sim-error.js';
import type { CaptureView, SimState, StaticCaptureSpec } from './views.js';

/** What the control routes need from a simulator (TicdcSimulator implements it). */
export interface SimControl {
  state(): SimState;
  violations(): Violation[];
  faults(): FaultConfig;
  setFaults(patch: FaultPatch): FaultConfig;
  clearFaults(): FaultConfig;
  failover(kind: 'resign' | 'crash'): string | null;
  resignOwner(): string | null;
  captures(): CaptureView[];
  addCapture(spec: StaticCaptureSpec): Promise<CaptureView>;
  removeCapture(idOrAddress: string, signal?: ExitSignal): Promise<Violation | undefined>;
  crash(idOrAddress: string): Violation | undefined;
  setLegacy(idOrAddress: string, legacy?: boolean): CaptureView;
  holdDrainSession(idOrAddress: string): { status: number; body: unknown };
  advance(ms: number): void;
}

const captureSpecSchema = z
  .object({
    name: z.string().min(1).optional(),
    address: z.string().min(1).optional(),
    legacy: z.boolean().optional(),
  })
  .strict();
const failoverSchema = z.object({ kind: z.enum(['resign', 'crash']).optional() }).strict();
const legacySchema = z.object({ legacy: z.boolean().optional() }).strict();
const sessionSchema = z.object({ capture: z.string().min(1) }).strict();
const advanceSchema = z.object({ ms: z.number().min(0).max(86_400_000) }).strict();

function parseBody<T>(schema: z.ZodType<T>, body: string): T {
  let value: unknown = {};
  if (body.trim() !== '') {
    try {
      value = JSON.parse(body);
    } catch {
      throw new SimError(400, 'body is not valid JSON');
    }
  }
  const r = schema.safeParse(value);
  if (!r.success) throw new SimError(400, z.prettifyError(r.error));
  return r.data;
}

export async function handleControl(sim: SimControl, req: SimRequest): Promise<SimResponse> {
  try {
    return await route(sim, req);
  } catch (err) {
    if (err instanceof SimError) return json(err.status, { error: err.message });
    return json(500, { error: (err as Error).message });
  }
}

async function route(sim: SimControl, req: SimRequest): Promise<SimResponse> {
  const { method, path } = req;
  const key = `${method} ${path.replace(/\/+$/, '')}`;
  switch (key) {
    case 'GET /sim/state':
      return json(200, sim.state());
    case 'GET /sim/violations':
      return json(200, sim.violations());
    case 'GET /sim/faults':
      return json(200, sim.faults());
    case 'POST /sim/faults':
      return json(200, sim.setFaults(parseBody(faultPatchSchema, req.body)));
    case 'DELETE /sim/faults':
      return json(200, sim.clearFaults());
    case 'POST /sim/failover': {
      const { kind } = parseBody(failoverSchema, req.body);
      const previous = sim.failover(kind ?? 'resign');
      return json(200, { previousOwner: previous });
    }
    case 'POST /sim/resign':
      return json(200, { previousOwner: sim.resignOwner() });
    case 'GET /sim/captures':
      return json(200, sim.captures());
    case 'POST /sim/captures':
      return json(201, await sim.addCapture(parseBody(captureSpecSchema, req.body)));
    case 'POST /sim/drain-session': {
      const { capture } = parseBody(sessionSchema, req.body);
      return json(200, sim.holdDrainSession(capture));
    }
    case 'POST /sim/advance': {
      const { ms } = parseBody(advanceSchema, req.body);
      sim.advance(ms);
      return json(200, { time: sim.state().time });
    }
  }
  const m = /^\/sim\/captures\/([^/]+)(\/crash|\/legacy)?$/.exec(path);
  if (m) {
    const id = decodeURIComponent(m[1]!);
    if (method === 'DELETE' && !m[2]) {
      const signal = req.query.get('signal') ?? 'SIGTERM';
      if (signal !== 'SIGTERM' && signal !== 'SIGKILL')
        throw new SimError(400, 'signal must be SIGTERM or SIGKILL');
      return json(200, { violation: (await sim.removeCapture(id, signal)) ?? null });
    }
    if (method === 'POST' && m[2] === '/crash') return json(200, { violation: sim.crash(id) ?? null });
    if (method === 'POST' && m[2] === '/legacy') {
      const { legacy } = parseBody(legacySchema, req.body);
      return json(200, sim.setLegacy(id, legacy ?? true));
    }
  }
  return json(404, { error: `no control route ${method} ${path}` });
}
