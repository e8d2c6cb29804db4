// Drives the planner through thousands of random worlds: a StatefulSet controller, pods that
// become Ready, captures that register and leave, drains that finish (or are held), a coordinator
// that moves, and users who push new revisions and change the desired replica count mid-rollout.
// On every step it checks the safety properties:
//  - no pod advances while another is out: a Drain step comes only when no other pod is being
//    drained, released-and-waiting or replaced, and every other pod is Ready;
//  - partition and replicas are lowered only past pods whose current incarnation's drain released
//    them (or that are up to date), and a pod is only ever deleted once released;
// and liveness: once users stop changing things, the world converges (all pods at the update
// revision, replicas = desired, planner idle).
import { describe, expect, test } from '@jest/globals';
import type { PodAction, Trigger } from '../../src/api/capturedrain.js';
import { plan, type DrainView, type PlanInput, type PodView, type Step } from '../../src/rollout/planner.js';
import { Rng } from '../../../e2e/ticdc-sim/random.js';
import { T0, address } from './fixtures.js';

/** The simulator's seeded PRNG (mulberry32), so a failing seed can be replayed. */
function rng(seed: number) {
  const r = new Rng(seed);
  return () => r.next();
}

interface Pod {
  ordinal: number;
  uid: string;
  revision: string;
  ready: boolean;
  since: number;
  terminating: boolean;
}
interface Capture {
  id: string;
  uid: string;
  ordinal: number;
}
interface Drain extends DrainView {
  podAction: PodAction;
  trigger: Trigger;
}

class World {
  now = T0;
  gen = 1;
  observed = 1;
  replicas: number;
  desired: number;
  partition: number;
  revision = 0;
  pods = new Map<number, Pod>();
  captures: Capture[] = [];
  owner: string | undefined;
  drains: Drain[] = [];
  uidSeq = 0;
  violations: string[] = [];

  constructor(
    readonly r: () => number,
    readonly strategy: 'RollingUpdate' | 'OnDelete',
    n: number,
  ) {
    this.replicas = n;
    this.desired = n;
    this.partition = n;
    for (let o = 0; o < n; o++) this.create(o, 'r0', true);
    for (const p of this.pods.values()) this.register(p);
    this.owner = this.captures[0]!.id;
  }

  get rev() {
    return `r${this.revision}`;
  }
  create(o: number, revision: string, ready = false) {
    this.pods.set(o, {
      ordinal: o,
      uid: `u${++this.uidSeq}`,
      revision,
      ready,
      since: this.now,
      terminating: false,
    });
  }
  register(p: Pod) {
    this.captures.push({ id: `c-${p.uid}`, uid: p.uid, ordinal: p.ordinal });
  }
  drainOf(p: Pod) {
    return this.drains.find((d) => d.podUid === p.uid);
  }
  released(p: Pod) {
    return this.drainOf(p)?.state === 'Released';
  }
  /** Every deletion of a pod goes through here: it must have been released. */
  terminate(p: Pod, who: string) {
    if (p.terminating) return;
    if (!this.released(p)) this.violations.push(`${who} deleted undrained pod ${p.ordinal} (${p.uid})`);
    p.terminating = true;
  }

  input(): PlanInput {
    const pods: PodView[] = [...this.pods.values()].map((p) => ({
      name: `ticdc-${p.ordinal}`,
      ordinal: p.ordinal,
      uid: p.uid,
      revision: p.revision,
      ready: p.ready,
      since: p.since,
      terminating: p.terminating,
      skip: false,
      addresses: [address(`ticdc-${p.ordinal}`)],
    }));
    return {
      now: this.now,
      statefulSet: {
        name: 'ticdc',
        generation: this.gen,
        observedGeneration: this.observed,
        replicas: this.replicas,
        desiredReplicas: this.desired,
        strategy: this.strategy,
        // The simulated rollout is ours from the start (the partition begins held at replicas).
        partitionHeld: true,
        partition: this.partition,
        updateRevision: this.rev,
        templateManaged: true,
        podReadyTimeoutMs: 600_000,
      },
      pods,
      drains: this.drains.map((d) => ({ ...d })),
      captures: this.captures.map((c) => ({
        id: c.id,
        address: address(`ticdc-${c.ordinal}`),
        isOwner: c.id === this.owner,
      })),
    };
  }

  /** Checks the step's preconditions against the world, then performs it. */
  apply(step: Step) {
    const bad = (m: string) => this.violations.push(`${JSON.stringify(step)}: ${m}`);
    const pods = [...this.pods.values()];
    switch (step.type) {
      case 'Drain': {
        const target = pods.find((p) => p.uid === step.uid);
        if (!target || target.terminating) return bad('target missing or terminating');
        for (const p of pods) {
          if (p === target) continue;
          // Released pods beyond replicas are on their way out (scale-in); their capture departs first.
          if (p.ordinal >= this.replicas && this.released(p)) continue;
          const d = this.drainOf(p);
          if (p.terminating) bad(`pod ${p.ordinal} is being replaced`);
          if (!p.ready) bad(`pod ${p.ordinal} is not Ready`);
          if (d && (d.state === 'InProgress' || d.state === 'Released')) bad(`pod ${p.ordinal} is out`);
        }
        if (this.drainOf(target)) return bad('drain already exists');
        const cap = this.captures.find((c) => c.uid === target.uid);
        this.drains.push({
          name: `d-${target.uid}`,
          podName: `ticdc-${target.ordinal}`,
          podUid: target.uid,
          state: 'InProgress',
          podAction: step.podAction,
          trigger: step.trigger,
          startTime: this.now,
          ...(cap ? { captureId: cap.id } : {}),
        });
        return;
      }
      case 'SetPartition':
        if (step.from !== this.partition) return; // a stale read: the test-and-set patch fails
        if (step.to < step.from)
          for (const p of pods)
            if (p.ordinal >= step.to && p.ordinal < step.from && p.revision !== this.rev && !this.released(p))
              bad(`pod ${p.ordinal} neither updated nor released`);
        this.partition = step.to;
        this.gen++;
        return;
      case 'SetReplicas':
        if (step.from !== this.replicas) return;
        if (step.to < step.from)
          for (const p of pods)
            if (p.ordinal >= step.to && !p.terminating && !this.released(p))
              bad(`pod ${p.ordinal} not released`);
        this.replicas = step.to;
        this.gen++;
        return;
      case 'DeletePod': {
        const p = pods.find((x) => x.uid === step.uid);
        if (p) this.terminate(p, 'planner');
        return;
      }
      default:
        return;
    }
  }

  /** One random thing the rest of the world does. */
  env(calm: boolean) {
    const r = this.r;
    this.now += Math.floor(r() * 3000);
    const pods = [...this.pods.values()];
    const x = r();
    if (x < 0.25) {
      // StatefulSet controller sync.
      this.observed = this.gen;
      for (const p of pods)
        if (p.terminating && r() < 0.7) {
          this.pods.delete(p.ordinal);
        }
      const live = [...this.pods.values()];
      // Scale-in: the highest ordinal beyond replicas goes (it is the controller's own delete).
      const extra = live
        .filter((p) => p.ordinal >= this.replicas && !p.terminating)
        .sort((a, b) => b.ordinal - a.ordinal)[0];
      if (extra) this.terminate(extra, 'statefulset controller (scale-in)');
      for (let o = 0; o < this.replicas; o++)
        if (!this.pods.has(o)) {
          const rev = this.strategy === 'OnDelete' || o >= this.partition ? this.rev : this.current(o);
          this.create(o, rev);
          break; // OrderedReady-ish: one at a time
        }
      if (this.strategy === 'RollingUpdate') {
        const next = live
          .filter(
            (p) =>
              p.ordinal >= this.partition &&
              p.ordinal < this.replicas &&
              p.revision !== this.rev &&
              !p.terminating,
          )
          .sort((a, b) => b.ordinal - a.ordinal)[0];
        if (next) this.terminate(next, 'statefulset controller (partition)');
      }
    } else if (x < 0.4) {
      const p = pods.find((q) => !q.ready && !q.terminating);
      if (p) {
        p.ready = true;
        p.since = this.now;
      }
    } else if (x < 0.55) {
      // Captures follow pods: ready pods register, gone or terminating ones leave.
      for (const p of pods)
        if (p.ready && !p.terminating && !this.captures.some((c) => c.uid === p.uid) && r() < 0.6)
          this.register(p);
      this.captures = this.captures.filter((c) => {
        const p = this.pods.get(c.ordinal);
        return (p && p.uid === c.uid && !p.terminating) || r() < 0.3;
      });
      if (!this.captures.some((c) => c.id === this.owner)) this.owner = this.captures[0]?.id;
    } else if (x < 0.75) {
      // Drains progress; held ones are eventually deleted by a human.
      for (const d of this.drains) {
        if (d.state === 'InProgress' && r() < 0.5) {
          d.state = !calm && r() < 0.05 ? 'Held' : 'Released';
          d.releaseTime = this.now;
          const p = pods.find((q) => q.uid === d.podUid);
          if (d.state === 'Released' && d.podAction === 'Delete' && p) this.terminate(p, 'drain');
        }
      }
      if (r() < 0.2) this.drains = this.drains.filter((d) => d.state !== 'Held');
    } else if (x < 0.82) {
      if (this.captures.length && r() < 0.5)
        this.owner = this.captures[Math.floor(r() * this.captures.length)]!.id;
    } else if (!calm && x < 0.86) {
      // helm upgrade with a new image: the chart holds the partition at replicas.
      this.revision++;
      this.partition = Math.max(this.partition, this.replicas);
      this.gen++;
    } else if (!calm && x < 0.9) {
      // helm upgrade --set replicas=N: desired changes; the live count only ever grows here.
      this.desired = 2 + Math.floor(r() * 4);
      if (this.desired > this.replicas) {
        this.replicas = this.desired;
        this.partition = Math.max(this.partition, this.replicas);
      }
      this.gen++;
    } else if (x < 0.92 && !calm) {
      // A pod restarts on its own (crash): not Ready for a while, keeps its capture gone.
      const p = pods[Math.floor(r() * pods.length)];
      if (p && !p.terminating) {
        p.ready = false;
        p.since = this.now;
        this.captures = this.captures.filter((c) => c.uid !== p.uid);
      }
    }
  }

  /** Revision a pod below the partition is recreated at: whatever its predecessor ran. */
  current(o: number): string {
    return this.lastRev.get(o) ?? 'r0';
  }
  lastRev = new Map<number, string>();

  done(): boolean {
    const pods = [...this.pods.values()];
    return (
      this.replicas === this.desired &&
      pods.length === this.desired &&
      pods.every((p) => p.revision === this.rev && p.ready && !p.terminating)
    );
  }
}

function run(seed: number) {
  const r = rng(seed);
  const w = new World(r, r() < 0.6 ? 'RollingUpdate' : 'OnDelete', 3 + Math.floor(r() * 3));
  const steps: string[] = [];
  for (let i = 0; i < 400; i++) {
    for (const p of w.pods.values()) w.lastRev.set(p.ordinal, p.revision);
    const p = plan(w.input());
    steps.push(`${p.step.type}${'pod' in p.step ? `:${p.step.pod}` : ''}`);
    if (r() < 0.7) w.apply(p.step);
    w.env(false);
  }
  let converged = false;
  let idle = false;
  for (let i = 0; i < 4000 && !idle; i++) {
    for (const p of w.pods.values()) w.lastRev.set(p.ordinal, p.revision);
    const p = plan(w.input());
    w.apply(p.step);
    w.env(true);
    converged = w.done();
    idle = converged && p.mode === 'Idle' && p.step.type === 'None';
  }
  return { w, steps, converged, idle };
}

describe('planner under random worlds', () => {
  test('never advances two pods at once, never releases an undrained pod, and converges', () => {
    const failures: string[] = [];
    const seen = new Map<string, number>();
    for (let seed = 1; seed <= 400; seed++) {
      const { w, converged, idle, steps } = run(seed);
      for (const s of steps) seen.set(s.split(':')[0]!, (seen.get(s.split(':')[0]!) ?? 0) + 1);
      if (w.violations.length) failures.push(`seed ${seed}: ${w.violations.slice(0, 3).join('; ')}`);
      else if (!converged || !idle)
        failures.push(
          `seed ${seed}: did not converge (${w.strategy}, replicas ${w.replicas}/${w.desired}, partition ${w.partition}, ${JSON.stringify(plan(w.input()).step)} ${plan(w.input()).message})`,
        );
    }
    expect(failures.slice(0, 5)).toEqual([]);
    // The worlds exercised every kind of step.
    for (const kind of ['Drain', 'SetPartition', 'SetReplicas', 'DeletePod', 'Wait'])
      expect(seen.get(kind) ?? 0).toBeGreaterThan(20);
  });

  test('the checks can fail: a planner that lowers the partition without draining is caught', () => {
    const r = rng(7);
    const w = new World(r, 'RollingUpdate', 3);
    w.revision = 1;
    w.apply({ type: 'SetPartition', from: 3, to: 0 });
    expect(w.violations.length).toBeGreaterThan(0);
  });
});
