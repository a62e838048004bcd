import { type BenchChild, spawnPinned } from './child.js';
import type { FacteurReady } from './facteur-instance.js';
import { progress } from './report.js';

/**
 * The parent's side of a benchmark's Facteur process: starts the script (which runs
 * `startBenchFacteur` and reports `FacteurReady`) pinned to a core, waits until its `/healthz`
 * answers, and stops it with a deadline.
 */

/** A running Facteur process. */
export interface FacteurProcess extends FacteurReady {
  child: BenchChild;
}

/** What stopping Facteur took; `stopped: false` when its stop() had not returned in time (45 s in the process). */
export interface StopOutcome {
  stopped: boolean;
  seconds?: number;
  after?: number;
  resources?: string[];
}

/** Options for `launchFacteur`. */
export interface LaunchOptions {
  /** Script path relative to the repository root (e.g. `bench/b5-facteur.ts`). */
  script: string;
  args?: string[];
  /** Extra environment of the process (e.g. a profile directory). */
  env?: Record<string, string>;
  nodeFlags?: string[];
  /** Default core 0, the system under test's. */
  core?: number;
  /** `none` for a plain JavaScript script running the compiled build (`dist/`). */
  loader?: 'tsx' | 'none';
}

/** Starts a Facteur process and resolves once it listens and `/healthz` answers 200. */
export async function launchFacteur(options: LaunchOptions): Promise<FacteurProcess> {
  const child = spawnPinned({
    core: options.core ?? 0,
    script: options.script,
    args: options.args ?? [],
    ...(options.env ? { env: options.env } : {}),
    ...(options.nodeFlags ? { nodeFlags: options.nodeFlags } : {}),
    ...(options.loader ? { loader: options.loader } : {}),
  });
  try {
    const ready = await child.next<FacteurReady>(60_000);
    const health = await fetch(`${ready.url}/healthz`);
    await health.body?.cancel();
    if (health.status !== 200) throw new Error(`${options.script}: /healthz answered ${health.status}`);
    return { child, ...ready };
  } catch (error) {
    child.kill();
    await child.exited;
    throw error;
  }
}

/**
 * Asks the process to stop (it answers a `StopOutcome` once Facteur's `stop()` returned, or
 * after its own watchdog), then makes sure it has exited; says so when stop() was stuck.
 */
export async function stopFacteur(facteur: { child: BenchChild }, timeoutMs = 60_000): Promise<StopOutcome> {
  facteur.child.send({ cmd: 'stop' });
  const outcome = await facteur.child
    .next<StopOutcome>(timeoutMs)
    .catch((error: unknown): StopOutcome => ({ stopped: false, resources: [String(error)] }));
  facteur.child.kill();
  await facteur.child.exited;
  if (!outcome.stopped)
    progress(`Facteur's stop() did not return; still open: ${JSON.stringify(outcome.resources)}`);
  return outcome;
}
