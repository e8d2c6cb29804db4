// pino JSON logger with secret redaction: tokens and auth headers must never reach the logs.
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export const REDACT_PATHS = [
  'authorization',
  'Authorization',
  '*.authorization',
  '*.Authorization',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'token',
  '*.token',
  'password',
  '*.password',
  '*.bearerToken',
  '*.clientKey',
  '*.keyData',
];

/** JSON to stdout by default; `destination` lets tests capture the output. */
export function createLogger(opts: LoggerOptions = {}, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: process.env.LOG_LEVEL ?? 'info',
    base: { name: 'capture-drain-operator' },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    ...opts,
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A logger that discards everything (default for library code when none is injected). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
