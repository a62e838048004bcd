import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/**
 * Runs the `facteur` command in a child process, from the compiled build as in production
 * (`test/support/build-dist.ts` rebuilds `dist/` before the run when a source is newer), and
 * reads its output: for serve tests, kill -9 tests and CLI tests.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** A running `facteur` process. */
export interface FacteurProcess {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves with the first stdout/stderr line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal name) once the process ends. */
  exited: Promise<number | string>;
}

/** Environment without the parent's FACTEUR_* variables, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('FACTEUR_')),
  );
  // Receivers and Dovecot of the tests listen on loopback.
  return {
    ...base,
    FACTEUR_LOG_FORMAT: 'json',
    FACTEUR_ALLOW_PRIVATE_TARGETS: '127.0.0.0/8,::1/128',
    ...env,
  };
}

/** Starts `facteur <args>` with `env` in `cwd` (default: the repository root). */
export function spawnFacteur(
  args: string[],
  env: Record<string, string>,
  cwd: string = ROOT,
  input?: string,
): FacteurProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: childEnv(env),
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) child.stdin?.end(input);
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  const scan = (text: string): void => {
    for (const line of text.split('\n')) {
      for (const waiter of [...waiters]) {
        if (waiter.pattern.test(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    scan(chunk);
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    scan(chunk);
  });
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    waitForLine(pattern, timeoutMs = 20_000) {
      const already = `${stdout}\n${stderr}`.split('\n').find((line) => pattern.test(line));
      if (already !== undefined) return Promise.resolve(already);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no line matching ${pattern} within ${timeoutMs} ms; stderr:\n${stderr.slice(-2000)}\nstdout:\n${stdout.slice(-2000)}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(
            new Error(
              `facteur exited (${code}) before printing ${pattern}; stderr:\n${stderr.slice(-2000)}\nstdout:\n${stdout.slice(-2000)}`,
            ),
          );
        });
      });
    },
    exited,
  };
}

/** Runs `facteur <args>` to completion; returns its exit code and output. */
export async function runFacteur(
  args: string[],
  env: Record<string, string>,
  cwd?: string,
  /** Written to the command's standard input (else it has none). */
  input?: string,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const run = spawnFacteur(args, env, cwd, input);
  const code = await run.exited;
  return { code, stdout: run.stdout, stderr: run.stderr };
}

/** Starts `facteur serve` and resolves once it listens; returns its base URL. */
export async function startServe(
  env: Record<string, string>,
  cwd?: string,
): Promise<FacteurProcess & { url: string }> {
  const run = spawnFacteur(['serve'], { FACTEUR_PORT: '0', FACTEUR_CATCHER_PORT: '0', ...env }, cwd);
  const line = await run.waitForLine(/"event":"facteur\.started"/);
  const url = (JSON.parse(line) as { url: string }).url;
  return Object.assign(run, { url });
}
