// `capture-drain sim` runs from a checkout (bin/capture-drain dispatches to e2e/bin/sim.ts); the
// operator's own CLI, the one the image runs, does not load the simulator.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

describe('capture-drain sim', () => {
  test('bin/capture-drain sim reaches the simulator CLI', () => {
    const r = spawnSync('bash', [`${REPO}bin/capture-drain`, 'sim', '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: capture-drain sim');
  });

  test("the operator CLI answers sim with a usage error pointing at the checkout's entry", () => {
    const r = spawnSync(process.execPath, [`${REPO}dist/operator/src/cli.js`, 'sim', '--help'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(64);
    expect(r.stderr).toContain('bin/capture-drain sim');
  });
});
