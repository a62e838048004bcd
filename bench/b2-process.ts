import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import type { BenchChild } from './lib/child.js';
import { spawnPinned } from './lib/child.js';
import { launchFacteur } from './lib/facteur-process.js';
import type { UsageSnapshot } from './lib/usage.js';

/**
 * B2's processes under test as the parent drives them: started, killed with SIGKILL and started
 * again on the same directory, while their usage reports (one a second) are kept per process
 * lifetime, so that the CPU and peak RSS of a run cover its killed processes too (to within
 * the last second of each).
 */

/** One process of a system under test, with the messages it sends that are not usage reports. */
export class Supervised {
  /** The first usage report (start-up done, the process compiled and listening) and the last one. */
  first: UsageSnapshot | undefined;
  latest: UsageSnapshot | undefined;
  private readonly buffered: unknown[] = [];
  private readonly waiting: Array<(message: unknown) => void> = [];

  constructor(readonly child: BenchChild) {
    void this.pump();
  }

  /** CPU seconds between the first and the last usage report: the work, without start-up. */
  get workCpuSeconds(): number {
    return this.first && this.latest ? this.latest.cpuSeconds - this.first.cpuSeconds : 0;
  }

  /** The next message that is not a usage report. */
  next<T>(timeoutMs = 60_000): Promise<T> {
    const buffered = this.buffered.shift();
    if (buffered !== undefined) return Promise.resolve(buffered as T);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.push((message) => {
        clearTimeout(timer);
        resolve(message as T);
      });
    });
  }

  /** Sends a command and waits for its answer. */
  ask<T>(message: unknown, timeoutMs?: number): Promise<T> {
    this.child.send(message);
    return this.next<T>(timeoutMs);
  }

  private async pump(): Promise<void> {
    for (;;) {
      let message: unknown;
      try {
        message = await this.child.next<unknown>(24 * 3_600_000);
      } catch {
        return; // exited
      }
      const usage = (message as { usage?: UsageSnapshot }).usage;
      if (usage) {
        this.first ??= usage;
        this.latest = usage;
        continue;
      }
      const waiter = this.waiting.shift();
      if (waiter) waiter(message);
      else this.buffered.push(message);
    }
  }
}

/** How a system under test is started (again) on its directory. */
export interface SystemLauncher {
  name: 'facteur' | 'naive';
  start(): Promise<Supervised>;
  /** Stops the last process for good (Facteur drains; the baseline is killed). */
  stop(process: Supervised): Promise<void>;
  /** Messages waiting for a later hour window when the run ends (the rest not received are lost). */
  heldForNextHour(process: Supervised): Promise<number>;
  cleanup(): void;
}

/** Facteur on `dir` (pre-queued), sending to `smtpUrl`. */
export function facteurLauncher(
  dir: string,
  smtpUrl: string,
  spec: { connections: number; concurrency: number },
  sync: string,
): SystemLauncher {
  return {
    name: 'facteur',
    async start() {
      const facteur = await launchFacteur({
        script: 'bench/b2-facteur.ts',
        args: [dir, smtpUrl, String(spec.connections), String(spec.concurrency)],
        env: { B2_SYNC: sync },
      });
      return new Supervised(facteur.child);
    },
    async stop(process) {
      process.child.send({ cmd: 'stop' });
      await process.next(60_000).catch(() => undefined);
      process.child.kill();
      await process.child.exited;
    },
    async heldForNextHour() {
      const path = join(dir, 'facteur.db');
      if (!existsSync(path)) return 0;
      const db = new SqliteDatabase(path, { readonly: true });
      try {
        const nextHour = Math.floor(Date.now() / 3_600_000 + 1) * 3_600_000;
        const row = db
          .prepare(
            "select count(*) as n from messages m join jobs j on j.id = m.job_id where m.status <> 'sent' and j.status = 'queued' and j.run_at >= ?",
          )
          .get(nextHour) as { n: number };
        return row.n;
      } finally {
        db.close();
      }
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The naive poll-every-second scheduler on `dir` (its plan in `dir/plan.json`). */
export function naiveLauncher(
  dir: string,
  port: number,
  spec: { rate: number; hourly: number; connections: number },
  startAt: number,
  sync: string,
): SystemLauncher {
  return {
    name: 'naive',
    async start() {
      const child = spawnPinned({
        core: 0,
        script: 'bench/b2-baseline.ts',
        args: [dir, String(port), JSON.stringify(spec), String(startAt), sync],
      });
      const process = new Supervised(child);
      await process.next(60_000);
      return process;
    },
    async stop(process) {
      process.child.kill();
      await process.child.exited;
    },
    async heldForNextHour(process) {
      const status = await process.ask<{ queued: number; hourUsed: number }>({ cmd: 'status' });
      return status.hourUsed >= spec.hourly ? status.queued : 0;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
