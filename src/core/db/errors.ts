import { AppError } from '../errors.js';

/** Translation of driver errors (better-sqlite3, pg) into facts the rest of the code can act on. */

interface DriverError {
  code?: unknown;
  message?: unknown;
}

/** True when `error` is a unique-constraint violation on either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as DriverError | undefined)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

// Connection-level failures: the database is unreachable, restarting, full or locked, as opposed
// to a query that is wrong. These are worth retrying and answer 503, not 500.
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '57014', // query_canceled (statement_timeout)
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_FULL',
  'SQLITE_IOERR',
  'SQLITE_CANTOPEN',
  'SQLITE_READONLY',
]);

/** Returns a DATABASE_UNAVAILABLE AppError when `error` is a connection-level failure, else undefined. */
export function classifyDatabaseError(error: unknown): AppError | undefined {
  if (error instanceof AppError) return undefined;
  const code = (error as DriverError | undefined)?.code;
  const message = String((error as DriverError | undefined)?.message ?? error);
  const unavailable =
    (typeof code === 'string' &&
      (UNAVAILABLE_CODES.has(code) || code.startsWith('08') || code.startsWith('SQLITE_IOERR'))) ||
    /Connection terminated|timeout exceeded when trying to connect|driver has already been destroyed/i.test(
      message,
    );
  if (!unavailable) return undefined;
  return new AppError('DATABASE_UNAVAILABLE', `database unavailable: ${message}`, { cause: error });
}
