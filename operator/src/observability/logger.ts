// pino JSON logger with secret redaction: tokens and auth headers must never reach the logs.
import { pino, type Logger, type LoggerOptions } from 'pino';

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

export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino({
    level: process.env.LOG_LEVEL ?? 'info',
    base: { name: 'capture-drain-operator' },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    ...opts,
  });
}

/** A logger that discards everything (default for library code when none is injected). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
