#!/usr/bin/env node
// `capture-drain`: one binary for the operator, a one-shot drain and the rollout plan. The TiCDC
// simulator (`capture-drain sim`) is not part of it: bin/capture-drain runs it from a checkout
// (e2e/bin/sim.ts), so the operator image never loads it.
import { drainCommand } from './cli/drain.js';

const USAGE = `Usage: capture-drain <command> [options]

Commands:
  drain      drain one TiCDC capture now, without Kubernetes (capture-drain drain --help)
  operator   run the operator (capture-drain operator --help)
  plan       show the order and time estimate of a pending rollout or scale-in (capture-drain plan --help)
  sim        run the TiCDC simulator: from a checkout only, bin/capture-drain sim --help`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const io = {
    out: (line: string) => process.stdout.write(`${line}\n`),
    err: (line: string) => process.stderr.write(`${line}\n`),
    signal: ac.signal,
  };
  switch (command) {
    case 'drain':
      return drainCommand(rest, io);
    case 'plan': {
      const { planCommand } = await import('./cli/plan.js');
      return planCommand(rest, io);
    }
    case 'sim':
      io.err(
        'capture-drain: the TiCDC simulator is not part of the operator; run it from a checkout: bin/capture-drain sim',
      );
      return 64;
    case 'operator': {
      const { operatorCommand } = await import('./main.js');
      return operatorCommand(rest, io);
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      io.out(USAGE);
      return command === undefined ? 64 : 0;
    default:
      io.err(`capture-drain: unknown command "${command}"\n\n${USAGE}`);
      return 64;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`capture-drain: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
