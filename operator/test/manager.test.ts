// The manager's warm caches: startCaches() lists and watches before the leadership term, and nothing
// is written until run() begins the term.
import { describe, expect, test } from '@jest/globals';
import { Registry } from 'prom-client';
import { EventRecorder } from '../src/kube/events.js';
import { Resources } from '../src/kube/port.js';
import { createManager } from '../src/manager.js';
import { silentLogger } from '../src/observability/logger.js';
import { capturePod, podDrain, statefulSet } from './support/builders.js';
import { FakeKube } from './support/fake-kube.js';
import { testConfig } from './support/operator-harness.js';

const NS = 'tidb';
const WRITES = ['create', 'replace', 'patch', 'delete', 'evict'] as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('manager', () => {
  test('startCaches() syncs the informers before the term; writes start only with run()', async () => {
    const kube = new FakeKube();
    const pod = capturePod('ticdc-0', { namespace: NS });
    kube.seed(Resources.statefulsets, statefulSet('ticdc', { namespace: NS }));
    kube.seed(Resources.pods, pod);
    kube.seed(Resources.capturedrains, podDrain(pod)); // a drain the controller will act on
    const events = new EventRecorder({
      client: kube,
      reportingController: 'test',
      reportingInstance: 'test',
    });
    const manager = createManager({
      config: testConfig(NS),
      kube,
      events,
      registry: new Registry(),
      logger: silentLogger(),
    });
    const writes = () => WRITES.flatMap((m) => kube.callsOf(m));

    manager.startCaches();
    expect(await manager.informers.waitForSync()).toBe(true);
    expect(manager.informers.hasSynced()).toBe(true);
    expect(kube.callsOf('list').length).toBeGreaterThan(0);
    await sleep(100);
    expect(writes()).toEqual([]); // a standby reads, never writes

    const ac = new AbortController();
    const done = manager.run(ac.signal);
    for (let i = 0; i < 100 && writes().length === 0; i++) await sleep(20);
    expect(writes().length).toBeGreaterThan(0); // the term began: the drain is acted on
    ac.abort();
    await done;
    await events.flush();
  });
});
