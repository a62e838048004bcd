import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../observability/logger.js';

/**
 * WAL checkpoints off the event loop. better-sqlite3 is synchronous, and SQLite's automatic
 * checkpoint runs inside whichever commit crosses the threshold: that commit then copies the WAL
 * into the database file and fsyncs it while every request waits. A worker thread with its own
 * connection runs PASSIVE checkpoints instead (they never block writers), so the request path only
 * appends to the WAL. The main connection keeps a high automatic threshold as a safety net.
 */

/** Pages of WAL after which the main connection checkpoints itself (only if the worker falls behind or dies). */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 20_000;

// Plain CommonJS, evaluated in the worker: no module resolution to depend on (tsx or dist/).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

/** A running checkpoint thread. */
export interface Checkpointer {
  /** Runs a last checkpoint and ends the thread. */
  stop(): Promise<void>;
}

/** Starts a thread that checkpoints the WAL of the SQLite file at `path` every `intervalMs`. */
export function startCheckpointer(
  path: string,
  options: { intervalMs?: number; logger?: Logger } = {},
): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { path, driver, intervalMs: options.intervalMs ?? 250 },
  });
  worker.unref();
  worker.on('message', (message: { error?: string }) => {
    if (message.error)
      options.logger?.warn({ event: 'db.checkpoint_failed', reason: message.error }, 'WAL checkpoint failed');
  });
  worker.on('error', (error) =>
    options.logger?.warn(
      { event: 'db.checkpointer_failed', err: error },
      'the WAL checkpoint thread stopped',
    ),
  );
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        worker.once('exit', () => resolve());
        // Held while stopping: otherwise a process with nothing else left to do exits mid-shutdown.
        worker.ref();
        worker.postMessage('stop');
        // A thread that does not finish in time is ended: the next start checkpoints anyway.
        setTimeout(() => void worker.terminate(), 5000).unref();
      }),
  };
}
