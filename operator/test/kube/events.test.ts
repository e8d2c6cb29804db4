import { describe, expect, it } from '@jest/globals';
import { EventRecorder } from '../../src/kube/events.js';
import { Resources, type KubeObject } from '../../src/kube/port.js';
import { FakeKube, notFound } from '../support/fake-kube.js';
import { MICROTIME, memoryLogger } from './helpers.js';

const regarding = {
  apiVersion: 'drain.ticdc.io/v1alpha1',
  kind: 'CaptureDrain',
  namespace: 'ns',
  name: 'd',
  uid: 'u-1',
};

function setup() {
  const fake = new FakeKube();
  let now = Date.UTC(2026, 10, 21, 10, 0, 0, 250);
  const { log, lines } = memoryLogger();
  const rec = new EventRecorder({
    client: fake,
    reportingController: 'drain.ticdc.io/capture-drain-operator',
    reportingInstance: 'operator-0',
    logger: log,
    now: () => now,
  });
  return { fake, rec, lines, tick: (ms: number) => (now += ms) };
}

describe('EventRecorder', () => {
  it('creates an events.k8s.io/v1 Event with a MicroTime eventTime', async () => {
    const { fake, rec } = setup();
    rec.event(regarding, 'Normal', 'DrainStarted', 'Drain', 'Started draining capture cdc-0');
    await rec.flush();
    const [ev] = fake.objects<KubeObject & Record<string, unknown>>(Resources.events, 'ns');
    expect(ev).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      type: 'Normal',
      reason: 'DrainStarted',
      action: 'Drain',
      note: 'Started draining capture cdc-0',
      reportingController: 'drain.ticdc.io/capture-drain-operator',
      reportingInstance: 'operator-0',
      regarding,
    });
    expect(ev!.eventTime).toBe('2026-11-21T10:00:00.250000Z');
    expect(ev!.eventTime).toMatch(MICROTIME);
    expect(ev!.metadata.name).toMatch(/^d\.[0-9a-f]+$/);
  });

  it('aggregates identical events: counted within the window, series patched after it', async () => {
    const { fake, rec, tick } = setup();
    rec.event(regarding, 'Warning', 'ProbeFailed', 'Probe', 'capture unreachable');
    for (let i = 0; i < 5; i++) {
      tick(1000);
      rec.event(regarding, 'Warning', 'ProbeFailed', 'Probe', 'capture unreachable');
    }
    await rec.flush();
    expect(fake.callsOf('create')).toHaveLength(1);
    expect(fake.callsOf('patch')).toHaveLength(0);
    tick(60_000);
    rec.event(regarding, 'Warning', 'ProbeFailed', 'Probe', 'capture unreachable');
    await rec.flush();
    expect(fake.callsOf('create')).toHaveLength(1);
    const [ev] = fake.objects<KubeObject & { series?: { count: number; lastObservedTime: string } }>(
      Resources.events,
    );
    expect(ev!.series!.count).toBe(7);
    expect(ev!.series!.lastObservedTime).toMatch(MICROTIME);
    // A different reason is a different event.
    rec.event(regarding, 'Normal', 'DrainCompleted', 'Drain', 'done');
    await rec.flush();
    expect(fake.callsOf('create')).toHaveLength(2);
  });

  it('recreates the Event when the series target expired', async () => {
    const { fake, rec, tick } = setup();
    rec.event(regarding, 'Normal', 'R', 'A', 'n');
    await rec.flush();
    tick(61_000);
    fake.failNext('patch', notFound(Resources.events, 'x'));
    rec.event(regarding, 'Normal', 'R', 'A', 'n');
    await rec.flush();
    expect(fake.callsOf('create')).toHaveLength(2);
  });

  it('never throws into the caller; failures are logged', async () => {
    const { fake, rec, lines } = setup();
    fake.failNext('create', new Error('forbidden'));
    expect(() => rec.event(regarding, 'Normal', 'R', 'A', 'n')).not.toThrow();
    await rec.flush();
    expect(lines.some((l) => l.msg === 'Failed to write event')).toBe(true);
  });

  it('truncates long notes and puts cluster-scoped objects in default', async () => {
    const { fake, rec } = setup();
    rec.event({ apiVersion: 'v1', kind: 'Node', name: 'n1' }, 'Warning', 'R', 'A', 'x'.repeat(5000));
    await rec.flush();
    const [ev] = fake.objects<KubeObject & { note: string }>(Resources.events, 'default');
    expect(ev!.note.length).toBe(1024);
  });

  it('writes at most maxInFlight events at once; the rest wait their turn, none is lost', async () => {
    let running = 0;
    let most = 0;
    const written: string[] = [];
    const slow = {
      create: async (_r: unknown, obj: { reason: string }) => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        written.push(obj.reason);
        return obj;
      },
    };
    const rec = new EventRecorder({
      client: slow as never,
      reportingController: 'drain.ticdc.io/capture-drain-operator',
      reportingInstance: 'operator-0',
      maxInFlight: 2,
    });
    for (let i = 0; i < 7; i++) rec.event({ ...regarding, name: `d${i}` }, 'Normal', `R${i}`, 'A', 'n');
    await rec.flush();
    expect(most).toBe(2);
    expect(written.sort()).toEqual(['R0', 'R1', 'R2', 'R3', 'R4', 'R5', 'R6']);
  });
});
