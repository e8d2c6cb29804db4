// Entry of `bin/capture-drain sim ...` (a checkout only): runs the TiCDC simulator's CLI. It lives
// outside operator/src so that nothing the operator image runs loads the simulator.
import { runSimCli } from '../ticdc-sim/cli.js';

runSimCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`capture-drain sim: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
