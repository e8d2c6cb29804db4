#!/usr/bin/env node
// `kubectl_complete-capture_drain`: the helper kubectl 1.26+ runs to complete `kubectl
// capture-drain ...`; it answers as the CLI's hidden `__complete` command does.
import { completeCommand } from './cli/complete.js';

completeCommand(process.argv.slice(2), { out: (line) => process.stdout.write(`${line}\n`) }).then(
  (code) => (process.exitCode = code),
  () => (process.exitCode = 1),
);
