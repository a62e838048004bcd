import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * Child processes for benchmarks: each system under test and each load generator runs in its
 * own process pinned to one core with `taskset`, so that their CPU time and memory are their own.
 * Children talk to the parent with JSON lines on stdout prefixed by `MARK`; the parent sends
 * JSON lines on stdin. Anything else a child prints on stdout is passed through to stderr.
 */

const MARK = '@@bench ';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A child process speaking the benchmark line protocol. */
export interface BenchChild {
  /** Waits for the child's next message. */
  next<T>(timeoutMs?: number): Promise<T>;
  /** Sends one message to the child's stdin. */
  send(message: unknown): void;
  /** Resolves with the exit code once the child has exited. */
  exited: Promise<number | null>;
  /** Kills the child (SIGKILL) if it is still running. */
  kill(): void;
}

/** Options for `spawnPinned`. */
export interface SpawnOptions {
  /** CPU core to pin the child to (via `taskset -c`); undefined: no pinning. */
  core: number | undefined;
  /** Script path relative to the repository root, run with tsx. */
  script: string;
  /** Arguments after the script. */
  args?: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Extra node flags (e.g. `--cpu-prof`). */
  nodeFlags?: string[];
  /** `none`: a plain JavaScript script, without tsx's loader (whose memory would count as the child's). */
  loader?: 'tsx' | 'none';
}

/** Starts a TypeScript script under `node --import tsx` (or a JavaScript one alone), pinned to a core. */
export function spawnPinned(options: SpawnOptions): BenchChild {
  const loader = options.loader === 'none' ? [] : ['--import', 'tsx'];
  const nodeArgs = [...(options.nodeFlags ?? []), ...loader, options.script, ...(options.args ?? [])];
  const [command, args] =
    options.core === undefined
      ? [process.execPath, nodeArgs]
      : ['taskset', ['-c', String(options.core), process.execPath, ...nodeArgs]];
  const child: ChildProcessWithoutNullStreams = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const queue: string[] = [];
  const waiters: Array<{ resolve: (line: string) => void; reject: (error: Error) => void }> = [];
  let ended: Error | undefined;
  const stderrTail: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith(MARK)) {
      process.stderr.write(`[${options.script}] ${line}\n`);
      return;
    }
    const payload = line.slice(MARK.length);
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(payload);
    else queue.push(payload);
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 40) stderrTail.shift();
    if (process.env.BENCH_VERBOSE) process.stderr.write(`[${options.script}] ${line}\n`);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code, signal) => {
      ended = new Error(
        `${options.script} exited (code ${code}, signal ${signal})\n${stderrTail.join('\n')}`.trimEnd(),
      );
      for (const waiter of waiters.splice(0)) waiter.reject(ended);
      resolve(code);
    });
  });
  child.stdin.on('error', () => undefined);
  return {
    next<T>(timeoutMs = 600_000): Promise<T> {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(JSON.parse(queued) as T);
      if (ended) return Promise.reject(ended);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          const index = waiters.indexOf(waiter);
          if (index >= 0) waiters.splice(index, 1);
          reject(new Error(`${options.script}: no message within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = {
          resolve: (line: string) => {
            clearTimeout(timer);
            resolve(JSON.parse(line) as T);
          },
          reject: (error: Error) => {
            clearTimeout(timer);
            reject(error);
          },
        };
        waiters.push(waiter);
      });
    },
    send(message: unknown): void {
      if (!ended) child.stdin.write(`${JSON.stringify(message)}\n`);
    },
    exited,
    kill(): void {
      if (!ended) child.kill('SIGKILL');
    },
  };
}

/** Sends `message` to `child` and waits for its answer. */
export async function ask<T>(child: BenchChild, message: unknown, timeoutMs = 600_000): Promise<T> {
  child.send(message);
  return child.next<T>(timeoutMs);
}

/** In a child: sends one message to the parent. */
export function report(message: unknown): void {
  process.stdout.write(`${MARK}${JSON.stringify(message)}\n`);
}

/** In a child: calls `handler` for each message from the parent; the child exits when stdin closes. */
export function onParentMessage(handler: (message: unknown) => void | Promise<void>): void {
  const lines = createInterface({ input: process.stdin });
  lines.on('close', () => process.exit(0));
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    void Promise.resolve(handler(JSON.parse(line) as unknown)).catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    });
  });
}

/**
 * Stops a Facteur child: a stop that never returns would hang the benchmark, so after
 * `limitMs` it reports what is still open and exits 2. `keepDataEnv` set to 1 keeps `dir`
 * (and its SQLite file) for inspection. Exits the process.
 */
export async function stopWithWatchdog(
  facteur: { stop(): Promise<void> },
  options: { dir: string; limitMs: number; keepDataEnv: string; name: string; cleanup?: () => void },
): Promise<never> {
  const startedAt = performance.now();
  const watchdog = setTimeout(() => {
    const resources = process.getActiveResourcesInfo();
    rmSync(options.dir, { recursive: true, force: true });
    report({ stopped: false, after: options.limitMs, resources });
    process.exit(2);
  }, options.limitMs);
  await facteur.stop();
  clearTimeout(watchdog);
  options.cleanup?.();
  if (!process.env[options.keepDataEnv]) rmSync(options.dir, { recursive: true, force: true });
  else process.stderr.write(`${options.name}: kept ${options.dir}\n`);
  report({ stopped: true, seconds: (performance.now() - startedAt) / 1000 });
  process.exit(0);
}
