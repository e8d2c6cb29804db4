#!/usr/bin/env node
// `capture-drain`: one binary for the operator, a one-shot drain, the rollout plan and the live
// status of drains; also installed as the kubectl plugin `kubectl-capture_drain`. The TiCDC
// simulator (`capture-drain sim`) is not part of it: bin/capture-drain runs it from a checkout
// (e2e/bin/sim.ts), so the operator image never loads it.
import { basename } from 'node:path';
import { drainCommand } from './cli/drain.js';

const USAGE = `Usage: capture-drain <command> [options]
(also the kubectl plugin kubectl-capture_drain: kubectl capture-drain <command> [options])

Commands:
  status      show CaptureDrains live (progress, counts, ETA) until they finish
  plan        show the order and time estimate of a pending rollout or scale-in
  drain       drain a capture pod through the operator and follow it (or, with --endpoint,
              one TiCDC capture now, without Kubernetes)
  operator    run the operator
  completion  print a bash or zsh completion script
  help        help for a command (also: <command> --help)
  sim         run the TiCDC simulator: from a checkout only, bin/capture-drain sim --help

status, plan and drain take kubectl's flags: --kubeconfig, --context, -n/--namespace (default: the
current context's namespace); KUBECONFIG is honoured as kubectl does.`;

/** Run as `kubectl capture-drain` (the plugin file name, or the wrapper script says so). */
function programName(): string {
  if (process.env.CAPTURE_DRAIN_PROG) return process.env.CAPTURE_DRAIN_PROG;
  return basename(process.argv[1] ?? '').startsWith('kubectl-') ? 'kubectl capture-drain' : 'capture-drain';
}

export async function main(argv: string[]): Promise<number> {
  let [command, ...rest] = argv;
  if (command === 'help' && rest.length) [command, rest] = [rest[0], ['--help']];
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const prog = programName();
  const named = (line: string) =>
    prog === 'capture-drain' ? line : line.replace(/(?<![\w/-]|kubectl )capture-drain(?= )/g, prog);
  const io = {
    out: (line: string) => process.stdout.write(`${named(line)}\n`),
    err: (line: string) => process.stderr.write(`${named(line)}\n`),
    signal: ac.signal,
    tty: !!process.stdout.isTTY,
  };
  switch (command) {
    case 'drain':
      return drainCommand(rest, io);
    case 'status': {
      const { statusCommand } = await import('./cli/status.js');
      return statusCommand(rest, io);
    }
    case 'completion': {
      const { completionCommand } = await import('./cli/complete.js');
      return completionCommand(rest, io);
    }
    case '__complete': {
      // Completion output is machine-read: never renamed.
      const { completeCommand } = await import('./cli/complete.js');
      return completeCommand(rest, { out: (line) => process.stdout.write(`${line}\n`) });
    }
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
    // The operator has stopped (shutdown, or a lost Lease after its work was cancelled): exit even
    // if a socket or timer would keep the event loop alive, as controller-runtime's manager does.
    if (process.argv[2] === 'operator') setTimeout(() => process.exit(code), 1000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`capture-drain: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
