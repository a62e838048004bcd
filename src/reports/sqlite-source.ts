import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { AppError } from '../core/errors.js';
import type { ReportSettings } from './model.js';
import type { Fetched } from './sources.js';

/**
 * SQLite data sources: better-sqlite3 is synchronous, so the query runs in a worker thread that
 * is stopped at the source's timeout; the file is opened read-only with `query_only`, and the
 * statement must be a reader that does not write (`statement.readonly`).
 */

type SqlSource = Extract<ReportSettings['data'], { type: 'sql' }>;

/** Refuses more rows than the source allows (the query fetched one more to tell). */
export function tooMany(rows: unknown[], maxRows: number): void {
  if (rows.length > maxRows) {
    throw new AppError('REPORT_DATA_INVALID', `the query returned more than data.maxRows (${maxRows}) rows`, {
      retryable: false,
    });
  }
}

/** The SQLite query in a worker thread: better-sqlite3 is synchronous, and the timeout stops it. */
const SQLITE_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
try {
  const db = new Database(workerData.path, { readonly: true, fileMustExist: true });
  db.pragma('query_only = ON');
  const statement = db.prepare(workerData.query);
  if (!statement.reader || !statement.readonly) throw Object.assign(new Error('the statement is not a read-only query'), { code: 'NOT_READ_ONLY' });
  const rows = [];
  for (const row of statement.iterate()) { rows.push(row); if (rows.length > workerData.maxRows) break; }
  const columns = statement.columns().map((c) => c.name);
  db.close();
  parentPort.postMessage({ ok: true, rows, columns });
} catch (error) {
  parentPort.postMessage({ ok: false, code: error.code || null, message: String(error.message) });
}
`;

export function querySqlite(path: string, source: SqlSource): Promise<Fetched> {
  const module = createRequire(import.meta.url).resolve('better-sqlite3');
  return new Promise((resolvePromise, reject) => {
    const worker = new Worker(SQLITE_WORKER, {
      eval: true,
      workerData: { module, path, query: source.query, maxRows: source.maxRows },
    });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new AppError('REPORT_DATA_TIMEOUT', `the query did not finish within ${source.timeoutMs} ms`));
    }, source.timeoutMs);
    worker.once(
      'message',
      (answer: { ok: boolean; rows?: unknown[]; columns?: string[]; code?: string; message?: string }) => {
        clearTimeout(timer);
        void worker.terminate();
        if (!answer.ok) {
          return reject(
            new AppError('REPORT_DATA_SQL', `the query failed: ${answer.message}`, {
              retryable: answer.code === 'SQLITE_BUSY',
              details: { sqliteCode: answer.code ?? null },
            }),
          );
        }
        const rows = answer.rows ?? [];
        try {
          tooMany(rows, source.maxRows);
        } catch (error) {
          return reject(error);
        }
        resolvePromise({
          data: { rows, rowCount: rows.length, columns: answer.columns ?? [] },
          detail: { source: 'sql', dialect: 'sqlite', rows: rows.length },
        });
      },
    );
    worker.once('error', (error) => {
      clearTimeout(timer);
      reject(
        new AppError('REPORT_DATA_SQL', `the query failed: ${error.message}`, {
          retryable: false,
          cause: error,
        }),
      );
    });
  });
}
