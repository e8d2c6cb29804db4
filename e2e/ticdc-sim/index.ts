// Public entry of the TiCDC simulator.
export { TicdcSimulator, SimError } from './simulator.js';
export type {
  SimulatorOptions,
  KubeOptions,
  SimState,
  CaptureView,
  StaticCaptureSpec,
  SimRequestRecord,
} from './simulator.js';
export { ManualClock, RealClock } from './clock.js';
export type { Clock } from './clock.js';
export type { FaultConfig, FaultPatch, MalformedKind } from './faults.js';
export { NO_FAULTS } from './faults.js';
export type { Credentials, DrainSnapshot } from './flavor.js';
export type { Liveness, RemovalCause, SimEvent, SimMode, Violation, WorkCounts } from './model.js';
export { SIM_MODES } from './model.js';
export type { TlsOptions } from './server.js';
export {
  DEFAULT_ADDRESS_TEMPLATE,
  LEGACY_ANNOTATION,
  InMemoryPodSource,
  KubePodSource,
  PodCaptureRegistry,
  renderAddress,
} from './kube-source.js';
export type { PodHandler, PodLike, PodSource } from './kube-source.js';
export { runSimCli } from './cli.js';
