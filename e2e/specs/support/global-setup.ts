// Starts the local control plane once for every e2e suite and installs the CRD. Suites find
// it through CDO_E2E_STATE (jest runs them in this process: --runInBand).
import { join } from 'node:path';
import { REPO, eventually, startCluster, stopCluster } from '../../harness/cluster.js';

export const STATE_DIR = process.env.CDO_E2E_STATE ?? join(REPO, 'e2e/controlplane/.state-e2e');

export default async function globalSetup(): Promise<void> {
  const t0 = Date.now();
  await stopCluster(STATE_DIR); // a leftover from an interrupted run
  const cluster = await startCluster(STATE_DIR);
  await cluster.installCrd();
  // The OpenAPI document (kubectl explain, field validation) is published a moment after Established.
  await eventually(
    'CaptureDrain OpenAPI published',
    async () => (await cluster.kubectl(['explain', 'capturedrain'])).code === 0,
    {
      timeoutMs: 60_000,
    },
  );
  process.env.CDO_E2E_STATE = STATE_DIR;
  console.log(
    `\ne2e control plane ready in ${((Date.now() - t0) / 1000).toFixed(1)}s at ${cluster.apiServerUrl}`,
  );
}
