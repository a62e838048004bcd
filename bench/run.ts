import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runB1 } from './b1.js';
import { runB2 } from './b2.js';
import { runB3 } from './b3.js';
import { runB3r } from './b3r.js';
import { runB4 } from './b4.js';
import { runB5 } from './b5.js';
import { runB6 } from './b6.js';
import { runB7 } from './b7.js';
import { runB8 } from './b8.js';
import { ROOT } from './lib/child.js';
import type { BenchOptions, BenchReport, Sync } from './lib/report.js';

/**
 * `npm run bench [-- b3 b4] [--quick] [--sync=full|normal|both] [--rounds=N] [--profile]`:
 * runs the named benchmarks (all by default), prints a short table on stdout and merges the
 * numbers into `bench/results/latest.json`. Progress goes to stderr.
 */

const BENCHMARKS: Record<string, (options: BenchOptions) => Promise<BenchReport>> = {
  b1: runB1,
  b2: runB2,
  b3: runB3,
  b3r: runB3r,
  b4: runB4,
  b5: runB5,
  b6: runB6,
  b7: runB7,
  b8: runB8,
};

const USAGE = `usage: npm run bench -- [${Object.keys(BENCHMARKS).join('|')} ...] [--quick] [--sync=full|normal|both] [--rounds=N] [--profile]
  b1 flags: --messages=50000  --warmup-messages=5000  --connections=5  --window=50  --variant=text|html|both
  b2 flags: --seconds=300  --stream-rate=20  --burst=1000  --rate=100  --hourly=(total)  --kills=2  --concurrency=10  --connections=5  --seed=2  --pair=auto|on|off  --pair-messages=3000  --pair-rate=50
  b3 flags: --pacer=open-loop|autocannon  --rates=500,2000,5000  --phase-seconds=4
  b3r flags: --phase-seconds=5
  b4 flags: --pg=auto|on|off  --jobs=20000  --single=3000  --latency-jobs=1000  --latency-rate=250
  b5 flags: --events=50000  --concurrency=100  --latency-rate=1000  --latency-seconds=10  --receiver-ports=per-endpoint|single  --fault=on|off  --tail-seconds=15  --warmup-events=2000
  b6 flags: --latency-messages=60  --latency-rate=1  --warmup-messages=3  --sustain-rate=50  --sustain-seconds=600  --restart=on|off  --workers=1  --mark-seen=on|off
  b7 flags: --messages=20000  --workers=1,2  --deliveries=on|off  --append-connections=4  --timeout-seconds=900
  b8 flags: --recipients=100000`;

function parseArgs(argv: string[]): { names: string[]; options: BenchOptions } {
  const names: string[] = [];
  const flags: Record<string, string> = {};
  for (const arg of argv) {
    if (arg.startsWith('--')) {
      const [key, value] = arg.slice(2).split('=', 2) as [string, string | undefined];
      flags[key] = value ?? 'true';
    } else names.push(arg.toLowerCase());
  }
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  for (const name of names) {
    if (!BENCHMARKS[name]) throw new Error(`unknown benchmark ${name}\n${USAGE}`);
  }
  const quick = flags.quick === 'true';
  const sync = flags.sync ?? 'full';
  const syncs: Sync[] = sync === 'both' ? ['full', 'normal'] : sync === 'normal' ? ['normal'] : ['full'];
  if (!['full', 'normal', 'both'].includes(sync))
    throw new Error(`--sync must be full, normal or both\n${USAGE}`);
  const rounds = Number(flags.rounds ?? (quick ? 2 : 5));
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a whole number >= 1');
  const profileDir = flags.profile ? join(tmpdir(), 'facteur-bench-profiles') : undefined;
  return {
    names: names.length > 0 ? names : Object.keys(BENCHMARKS),
    options: { quick, syncs, rounds, profileDir, flags },
  };
}

function readPrevious(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {};
  try {
    const previous = JSON.parse(readFileSync(path, 'utf8')) as { benchmarks?: Record<string, unknown> };
    return previous.benchmarks ?? {};
  } catch {
    return {};
  }
}

async function main(): Promise<void> {
  const { names, options } = parseArgs(process.argv.slice(2));
  const resultsDir = join(ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  if (options.profileDir) mkdirSync(options.profileDir, { recursive: true });
  const latestPath = join(resultsDir, 'latest.json');
  const benchmarks = readPrevious(latestPath);
  const rows: string[] = [];
  for (const name of names) {
    const startedAt = new Date().toISOString();
    const loadBefore = loadavg();
    process.stderr.write(`${name.toUpperCase()}: running${options.quick ? ' (quick)' : ''}\n`);
    const report = await (BENCHMARKS[name] as (o: BenchOptions) => Promise<BenchReport>)(options);
    rows.push(...report.rows);
    benchmarks[report.id] = {
      startedAt,
      finishedAt: new Date().toISOString(),
      quick: options.quick,
      rounds: options.rounds,
      sqliteSynchronous: options.syncs,
      // 1/5/15-minute load averages: above ~2 on this 2-core machine, other work shared the cores.
      loadAverage: { before: loadBefore, after: loadavg() },
      table: report.rows,
      ...(report.data as Record<string, unknown>),
    };
  }
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version };
  writeFileSync(
    latestPath,
    `${JSON.stringify({ writtenAt: new Date().toISOString(), machine, benchmarks }, null, 2)}\n`,
  );
  // Formatted as the repository's formatter wants it, so that `npm run lint` stays clean.
  spawnSync(join(ROOT, 'node_modules/.bin/biome'), ['format', '--write', latestPath], { stdio: 'ignore' });
  const profiles = options.profileDir ? `\nCPU profiles: ${options.profileDir}` : '';
  process.stdout.write(`\n${rows.join('\n')}\n\nresults: ${latestPath}${profiles}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
