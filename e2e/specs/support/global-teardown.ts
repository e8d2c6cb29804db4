import { stopCluster } from '../../harness/cluster.js';
import { STATE_DIR } from './global-setup.js';

export default async function globalTeardown(): Promise<void> {
  if (process.env.CDO_E2E_KEEP === '1') return;
  await stopCluster(STATE_DIR);
}
