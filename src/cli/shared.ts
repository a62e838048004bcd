import { pino } from 'pino';
import { type BootConfig, parseBootConfig, readEnvironment } from '../core/config/index.js';
import { migrateToLatest, openStore, type Store } from '../core/db/index.js';
import { AppError, isAppError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/observability/index.js';
import { EXIT } from './exit-codes.js';

/** Helpers shared by the `facteur` commands. */

export { EXIT };

/** Reads the boot configuration or prints every problem and exits 2. */
export function configOrExit(): BootConfig {
  let result: ReturnType<typeof parseBootConfig>;
  try {
    result = parseBootConfig(readEnvironment(), { isTty: Boolean(process.stdout.isTTY) });
  } catch (error) {
    failAndExit(error, EXIT.usage); // an unreadable .env
  }
  // Warnings first, even when there are problems too: a misspelt name often explains a missing value.
  for (const w of result.warnings) process.stderr.write(`warning: ${w.variable}: ${w.message}\n`);
  if (!result.ok) {
    const lines = result.problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n');
    failAndExit(
      new AppError('CONFIG_INVALID', `invalid configuration:\n${lines}`, { details: result.problems }),
      EXIT.usage,
    );
  }
  return result.config;
}

/** A logger for one-shot commands: warnings and errors on stderr, so stdout stays for results. */
export function commandLogger(config: BootConfig): Logger {
  const level = ['debug', 'trace'].includes(config.log.level) ? config.log.level : 'warn';
  return createLogger({ level, destination: pino.destination({ dest: 2, sync: true }) });
}

/** Opens the database and applies pending migrations (idempotent). */
export async function openMigratedStore(config: BootConfig, logger: Logger): Promise<Store> {
  const store = openStore(config.database, { logger, poolSize: 2 });
  try {
    await migrateToLatest(store);
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** Prints an error the way a person at a terminal can act on, then exits. */
export function failAndExit(error: unknown, code: number = EXIT.failed): never {
  if (
    isAppError(error) &&
    error.code === 'VALIDATION_FAILED' &&
    Array.isArray(error.details) &&
    error.details.length > 0
  ) {
    // One line per bad field rather than the one-line summary.
    process.stderr.write(`error [${error.code}]:\n`);
    for (const d of error.details as Array<{ field?: string; message?: string }>) {
      process.stderr.write(`  ${d.field || '(input)'}: ${d.message ?? ''}\n`);
    }
  } else if (isAppError(error)) {
    process.stderr.write(`error [${error.code}]: ${error.message}\n`);
  } else {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exit(code);
}

/** Runs a command body, printing failures and choosing the exit code. */
export async function runCommand(body: () => Promise<number | undefined>): Promise<void> {
  try {
    const code = await body();
    process.exitCode = code ?? EXIT.ok;
  } catch (error) {
    const usage =
      isAppError(error) && (error.code === 'CONFIG_INVALID' || error.code === 'VALIDATION_FAILED');
    failAndExit(error, usage ? EXIT.usage : EXIT.failed);
  }
}

/** Writes a line to stdout. */
export function print(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Throws VALIDATION_FAILED naming a command-line option. */
export function badOption(option: string, message: string): never {
  throw new AppError('VALIDATION_FAILED', `${option}: ${message}`, {
    details: [{ in: 'argument', field: option, message }],
  });
}

/**
 * Opens what a command works on from the boot configuration (`open` closes what it opened if it
 * fails half way), runs `body` with it, and closes it whatever happens.
 */
export async function withOpened<O extends { close(): Promise<void> }, T>(
  open: (config: BootConfig) => Promise<O>,
  body: (opened: O) => Promise<T>,
): Promise<T> {
  const opened = await open(configOrExit());
  try {
    return await body(opened);
  } finally {
    await opened.close();
  }
}
