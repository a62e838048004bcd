import { createRequire } from 'node:module';
import { type DestinationStream, type Logger as PinoLogger, pino } from 'pino';

/**
 * Structured logs. Every line carries a stable `event` name (`job.failed`, `smtp.connect`, ...)
 * so that operators can alert on events rather than on message wording. Secrets are redacted
 * by path; message bodies and full URLs are never logged by Facteur's own code.
 */
export type Logger = PinoLogger;

/** Options for `createLogger`. */
export interface LoggerOptions {
  level: string;
  /** `pretty` for people at a terminal, `json` for machines (default json). */
  format?: 'json' | 'pretty';
  /** Where lines go (default: stdout). Tests pass a stream to read them back. */
  destination?: DestinationStream;
}

/** Fields that must never reach a log line, whatever object they are in. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'pass',
  '*.pass',
  'key',
  '*.key',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'auth.pass',
  'smtp.password',
];

/** Creates the process logger. */
export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    base: { service: 'facteur' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (options.destination) return pino(base, options.destination);
  if (options.format === 'pretty') {
    // Loaded only for a terminal: a server logging JSON never needs it.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return pino(
      base,
      pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' }),
    );
  }
  return pino(base, pino.destination({ dest: 1, sync: false }));
}

/** A logger that drops everything, for tools and tests that do not read logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
