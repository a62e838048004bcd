import { type FileHandle, open } from 'node:fs/promises';

/**
 * Durable commits without blocking the event loop. With `synchronous=FULL`, SQLite fsyncs the WAL
 * inside every commit, and better-sqlite3 runs on the main thread, so every request waits while
 * any commit syncs. Instead the connection commits with `synchronous=NORMAL` (an append to the
 * WAL, durable against a process crash), and the transactions that must survive a power loss
 * then await this: an `fdatasync` of the WAL file on libuv's thread pool. Once it returns, every
 * frame written before it is on disk, which is what FULL guarantees. Commits that finish while a
 * sync is running share the next one.
 */
export class WalSync {
  private running: Promise<void> | undefined;
  private next: { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void } | undefined;
  private handle: FileHandle | undefined;
  /** Syncs performed, for tests and metrics. */
  syncs = 0;

  constructor(private readonly walPath: string) {}

  /** Resolves once an fsync that started after this call has completed. */
  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.runOnce().finally(() => this.afterRun());
      return this.running;
    }
    // A sync in progress may have started before our commit: wait for the one after it.
    if (!this.next) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.next = { promise, resolve, reject };
    }
    return this.next.promise;
  }

  private afterRun(): void {
    this.running = undefined;
    const waiting = this.next;
    if (!waiting) return;
    this.next = undefined;
    this.running = this.runOnce().finally(() => this.afterRun());
    this.running.then(waiting.resolve, waiting.reject);
  }

  private async runOnce(): Promise<void> {
    const handle = await this.openHandle();
    if (!handle) return; // no WAL file: nothing written since the last full checkpoint
    try {
      await handle.datasync();
    } catch (error) {
      // A WAL file recreated under us: sync the new one.
      await this.close();
      const fresh = await this.openHandle();
      if (fresh) await fresh.datasync();
      else if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    this.syncs++;
  }

  private async openHandle(): Promise<FileHandle | undefined> {
    if (this.handle) return this.handle;
    try {
      this.handle = await open(this.walPath, 'r');
      return this.handle;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Closes the WAL file handle (the store is closing). */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => undefined);
  }
}
