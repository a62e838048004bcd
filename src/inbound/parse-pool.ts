import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AppError } from '../core/errors.js';
import type { InboundEmail } from '../core/inbound-email.js';
import { type ParseLimits, parseEmail, parseTimeoutMs } from './parse.js';
import type { ParseRequest, ParseResponse, ParseWorkerData } from './parse-worker.js';

/**
 * Parsing on worker threads. A 1 MB HTML body or a legacy charset costs tens of milliseconds of
 * CPU; on the main thread that is an event-loop stall for every HTTP request and job running
 * beside it (the IMAP backlog benchmark allows none over 50 ms). Each worker parses with
 * `parseEmail`; messages go to the least busy one; a worker that dies takes only its in-flight
 * messages with it and is replaced.
 */

/** Options of a ParsePool. */
export interface ParsePoolOptions {
  /** Worker threads to run; 0 parses on the main thread. */
  workers: number;
  /** Size caps for every parse (default DEFAULT_PARSE_LIMITS). */
  limits?: Partial<ParseLimits>;
}

/** Time a worker gets beyond the parse's own timeout before it is presumed stuck and ended. */
const WORKER_GRACE_MS = 5_000;
/** A worker that dies before it starts is replaced after this delay, so a broken setup does not spin. */
const RESPAWN_DELAY_MS = 1_000;

interface Task {
  resolve: (email: InboundEmail) => void;
  reject: (error: AppError) => void;
  timer: NodeJS.Timeout;
}

interface Slot {
  worker: Worker | null;
  tasks: Map<number, Task>;
  online: boolean;
  lastError: Error | null;
}

/** How to start a worker: a file (the compiled one), or bootstrap code to evaluate. */
type WorkerEntry = { script: URL; eval: false } | { script: string; eval: true };

/**
 * The compiled worker next to this file (dist/), else the TypeScript source through tsx.
 * Not `execArgv: ['--import', 'tsx']`: Node 20 does not apply module hooks registered in a
 * worker thread, so the source is loaded with tsx's CommonJS hook instead, which works on
 * Node 20, 22 and 24. Paths are resolved here, not left to the worker's working directory.
 */
function workerEntry(): WorkerEntry {
  const compiled = new URL('./parse-worker.js', import.meta.url);
  if (existsSync(compiled)) return { script: compiled, eval: false };
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs/api');
  const source = fileURLToPath(new URL('./parse-worker.ts', import.meta.url));
  return {
    script: `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(source)});`,
    eval: true,
  };
}

/** True when `raw` is the whole of its ArrayBuffer, which can then be moved to the worker. */
function ownsItsMemory(raw: Buffer): boolean {
  // Small Buffers share Node's allocation pool; moving that would empty other Buffers too.
  return (
    raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength && raw.buffer instanceof ArrayBuffer
  );
}

function parseFailed(message: string, cause?: unknown): AppError {
  return new AppError('INBOUND_PARSE_FAILED', message, cause === undefined ? {} : { cause });
}

/** Parses raw messages on a fixed set of worker threads (or on the main thread with 0 workers). */
export class ParsePool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Set<Promise<unknown>>();
  private readonly respawnTimers = new Set<NodeJS.Timeout>();
  private readonly entry = workerEntry();
  private nextId = 1;
  private closed = false;
  private closing: Promise<void> | null = null;

  private started = false;

  constructor(private readonly options: ParsePoolOptions) {
    for (let index = 0; index < options.workers; index++)
      this.slots.push({ worker: null, tasks: new Map(), online: false, lastError: null });
  }

  /**
   * The workers start with the first parse, not with the pool: an instance that receives no
   * mail (bulk mail only) does not carry an idle V8 isolate per worker (about 25 MB each).
   */
  private ensureStarted(): void {
    if (this.started) return;
    this.started = true;
    for (const slot of this.slots) this.start(slot);
  }

  /**
   * Parses `raw` like `parseEmail`. When `raw` owns its whole ArrayBuffer, the memory is moved to
   * the worker rather than copied: `raw` is empty afterwards.
   */
  parse(raw: Buffer): Promise<InboundEmail> {
    if (this.closed) return Promise.reject(new AppError('SHUTTING_DOWN', 'the parse pool is closed'));
    if (this.slots.length > 0) this.ensureStarted();
    const result = this.slots.length === 0 ? parseEmail(raw, this.options.limits) : this.dispatch(raw);
    const tracked = result.catch(() => undefined);
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
    return result;
  }

  /** Waits for the parses in flight, then stops the workers. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    for (const timer of this.respawnTimers) clearTimeout(timer);
    await Promise.all([...this.pending]);
    await Promise.all(this.slots.map((slot) => slot.worker?.terminate()));
  }

  private dispatch(raw: Buffer): Promise<InboundEmail> {
    const live = this.slots.filter((slot) => slot.worker !== null);
    if (live.length === 0) {
      const reason = this.slots.find((slot) => slot.lastError)?.lastError?.message ?? 'they are restarting';
      return Promise.reject(parseFailed(`no parse worker is running: ${reason}`));
    }
    const slot = live.reduce((best, candidate) =>
      candidate.tasks.size < best.tasks.size ? candidate : best,
    );
    const worker = slot.worker as Worker;
    const id = this.nextId++;
    const size = raw.length;
    return new Promise<InboundEmail>((resolve, reject) => {
      // parseEmail times itself out, but not a worker stuck in synchronous code: that one is ended.
      const timer = setTimeout(() => {
        slot.tasks.delete(id);
        reject(
          parseFailed(`the parse worker did not answer within ${parseTimeoutMs(size) + WORKER_GRACE_MS} ms`),
        );
        void worker.terminate();
      }, parseTimeoutMs(size) + WORKER_GRACE_MS);
      slot.tasks.set(id, { resolve, reject, timer });
      worker.ref();
      const request: ParseRequest = { id, raw };
      try {
        worker.postMessage(request, ownsItsMemory(raw) ? [raw.buffer as ArrayBuffer] : []);
      } catch (error) {
        clearTimeout(timer);
        slot.tasks.delete(id);
        reject(parseFailed(`the message could not be sent to a parse worker: ${String(error)}`, error));
      }
    });
  }

  /** Starts one worker thread (a seam for tests that need a worker to fail). */
  protected createWorker(workerData: ParseWorkerData): Worker {
    return new Worker(this.entry.script, { eval: this.entry.eval, workerData });
  }

  private start(slot: Slot): void {
    const worker = this.createWorker({ limits: this.options.limits ?? {} });
    slot.worker = worker;
    slot.online = false;
    slot.lastError = null;
    worker.once('online', () => {
      slot.online = true;
    });
    worker.on('message', (response: ParseResponse) => this.settle(slot, response));
    worker.on('error', (error) => {
      slot.lastError = error;
    });
    worker.once('exit', (code) => this.replace(slot, worker, code));
    // After the listeners: adding a 'message' listener refs the worker again. An idle pool must
    // not keep the process alive; dispatch holds a worker while it has work.
    worker.unref();
  }

  private settle(slot: Slot, response: ParseResponse): void {
    const task = slot.tasks.get(response.id);
    if (!task) return;
    slot.tasks.delete(response.id);
    clearTimeout(task.timer);
    if (slot.tasks.size === 0) slot.worker?.unref();
    if (response.ok) task.resolve(response.email);
    else task.reject(parseFailed(response.message));
  }

  /** Fails the dead worker's in-flight parses and starts another in its place. */
  private replace(slot: Slot, worker: Worker, code: number): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    const reason = slot.lastError?.message ?? `exit code ${code}`;
    for (const task of slot.tasks.values()) {
      clearTimeout(task.timer);
      task.reject(
        parseFailed(`the parse worker stopped while parsing this message (${reason})`, slot.lastError),
      );
    }
    slot.tasks.clear();
    if (this.closed) return;
    if (slot.online) {
      this.start(slot);
      return;
    }
    const timer = setTimeout(() => {
      this.respawnTimers.delete(timer);
      if (!this.closed) this.start(slot);
    }, RESPAWN_DELAY_MS);
    timer.unref();
    this.respawnTimers.add(timer);
  }
}
