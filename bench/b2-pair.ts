import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { databaseUrl, withAdmin } from '../test/support/database.js';
import { Supervised } from './b2-process.js';
import { prequeue } from './b2-queue.js';
import { maxInWindow, type PlannedMessage, type Receipt } from './b2-shared.js';
import { ask, type BenchChild } from './lib/child.js';
import { launchFacteur } from './lib/facteur-process.js';
import { progress } from './lib/report.js';
import { fmt, fmtInt, verdict } from './lib/stats.js';

/**
 * B2's second part, the issue's "two instances on PostgreSQL with a budget of 50/s send at 50/s
 * together, not 100/s": `messages` bulk messages queued in a fresh PostgreSQL database, all due
 * at once, drained by two Facteur processes sharing it (and its budget row), both on core 0.
 * Rate = (receipts - 1) / (last - first) at the sink.
 */

const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pgAdmin = <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => withAdmin(work, PG_ADMIN_URL);

/** What the pair did. */
export interface PairResult {
  row: string;
  messages: number;
  rate: number;
  target: number;
  maxPerSecond: number;
  unique: number;
  duplicates: number;
  /** Receipts sent by each instance cannot be told apart at the sink; each one's grants are in its metrics. */
  grantsPerInstance: number[];
}

async function grantsOf(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const match of text.matchAll(/^facteur_budget_grants_total\{[^}]*\} (\d+)/gm))
    total += Number(match[1]);
  return total;
}

/** Runs the pair, or answers undefined (with a note) when PostgreSQL is not reachable and not `required`. */
export async function runPair(
  sink: BenchChild,
  port: number,
  options: { messages: number; rate: number; required: boolean },
): Promise<PairResult | undefined> {
  try {
    await pgAdmin((c) => c.query('select 1'));
  } catch (error) {
    if (options.required) throw error;
    progress(`B2 pair: PostgreSQL at ${PG_ADMIN_URL} is not reachable; skipped`);
    return undefined;
  }
  const name = `facteur_b2_${process.pid}`;
  await pgAdmin((c) => c.query(`create database ${name}`));
  const url = databaseUrl(name, PG_ADMIN_URL);
  const secret = randomBytes(32).toString('base64');
  const other = mkdtempSync(join(tmpdir(), 'facteur-b2-pair-'));
  let first: string | undefined;
  const processes: Supervised[] = [];
  try {
    await ask(sink, { cmd: 'reset' });
    const startAt = Date.now() + 12_000;
    const planned: PlannedMessage[] = Array.from({ length: options.messages }, (_, i) => ({
      key: `b${i}`,
      bulk: true,
      offsetMs: 0,
    }));
    first = await prequeue(planned, startAt, { sync: 'normal', databaseUrl: url });
    const smtpUrl = `smtp://127.0.0.1:${port}?starttls=off&rate=${options.rate}/s`;
    const urls: string[] = [];
    for (const dir of [first, other]) {
      const facteur = await launchFacteur({
        script: 'bench/b2-facteur.ts',
        args: [dir, smtpUrl, '5', '10', url],
        env: { B2_SECRET_KEY: secret },
      });
      urls.push(facteur.url);
      processes.push(new Supervised(facteur.child));
    }
    const deadline = startAt + (options.messages / options.rate) * 1000 + 60_000;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const { unique } = await ask<{ unique: number }>(sink, { cmd: 'count' });
      if (unique >= options.messages || Date.now() > deadline) break;
    }
    const receipts = await ask<Receipt[]>(sink, { cmd: 'receipts' });
    const grantsPerInstance = await Promise.all(urls.map(grantsOf));
    const times = receipts.map(([, at]) => at).sort((a, b) => a - b);
    const unique = new Set(receipts.map(([key]) => key)).size;
    const rate = (times.length - 1) / (((times[times.length - 1] ?? 0) - (times[0] ?? 0)) / 1000);
    const maxPerSecond = maxInWindow(times, 1000);
    const within = Math.abs(rate / options.rate - 1) <= 0.02;
    const row = `B2 two instances on PostgreSQL sharing ${options.rate}/s (${fmtInt(options.messages)} messages): ${fmt(rate, 2)} msg/s together, ${fmt((rate / options.rate - 1) * 100, 2)} % off, target within 2 % ${verdict(within)} | most in 1 s ${maxPerSecond} ${verdict(maxPerSecond <= options.rate)} | ${fmtInt(unique)}/${fmtInt(options.messages)} received, ${receipts.length - unique} repeats | tokens granted per instance ${grantsPerInstance.join(' + ')}`;
    progress(row);
    return {
      row,
      messages: options.messages,
      rate,
      target: options.rate,
      maxPerSecond,
      unique,
      duplicates: receipts.length - unique,
      grantsPerInstance,
    };
  } finally {
    for (const process of processes) {
      process.child.send({ cmd: 'stop' });
      await process.next(60_000).catch(() => undefined);
      process.child.kill();
      await process.child.exited;
    }
    if (first) rmSync(first, { recursive: true, force: true });
    rmSync(other, { recursive: true, force: true });
    await pgAdmin((c) => c.query(`drop database if exists ${name} with (force)`));
  }
}
