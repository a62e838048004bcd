// B8's Facteur under test: the compiled build (`dist/`, as `npm start` runs it) in plain Node,
// without tsx, whose loader would add its own memory to the RSS measured. A whole instance with
// the catcher as its transport, on a fresh data directory; it speaks the benchmarks' line
// protocol (bench/lib/child.ts): `FacteurReady` once listening, then `reset` (peak RSS reset),
// `usage` (CPU and peak RSS since) and `stop`.
//
// usage: node bench/b8-facteur.mjs <full|normal>
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const dist = new URL('../dist/', import.meta.url);
const { parseBootConfig } = await import(new URL('core/config/index.js', dist).href);
const { startFacteur } = await import(new URL('main.js', dist).href);
const { createLogger } = await import(new URL('core/observability/index.js', dist).href);
const { createApiKey } = await import(new URL('access/index.js', dist).href);
const { systemClock } = await import(new URL('core/clock.js', dist).href);

const report = (message) => process.stdout.write(`@@bench ${JSON.stringify(message)}\n`);
const sync = process.argv[2];
if (sync !== 'full' && sync !== 'normal') throw new Error('usage: b8-facteur.mjs <full|normal>');
const dir = mkdtempSync(join(tmpdir(), 'facteur-b8-'));
const parsed = parseBootConfig(
  {
    FACTEUR_DATA_DIR: dir,
    FACTEUR_HOST: '127.0.0.1',
    FACTEUR_PORT: '0',
    FACTEUR_CATCHER_PORT: '0',
    FACTEUR_LOG_LEVEL: 'warn',
    FACTEUR_SQLITE_SYNCHRONOUS: sync,
  },
  { cwd: dir, isTty: false },
);
if (!parsed.ok) throw new Error(`invalid config: ${JSON.stringify(parsed.problems)}`);
const logger = createLogger({ level: 'warn', destination: process.stderr });
const facteur = await startFacteur(parsed.config, { logger, clock: systemClock });
const { key } = await createApiKey({ store: facteur.store, clock: systemClock, logger }, 'bench');

let peak = 0;
const sample = () => {
  peak = Math.max(peak, process.memoryUsage.rss());
};
setInterval(sample, 20).unref();
const usage = () => {
  sample();
  const cpu = process.cpuUsage();
  const resources = process.resourceUsage();
  return {
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssBytes: peak,
    maxRssBytes: resources.maxRSS * 1024,
    involuntarySwitches: resources.involuntaryContextSwitches,
  };
};
report({ url: facteur.url, key, dbPath: join(dir, 'facteur.db'), pid: process.pid });

createInterface({ input: process.stdin }).on('line', async (line) => {
  if (line.trim() === '') return;
  const { cmd } = JSON.parse(line);
  if (cmd === 'reset') {
    peak = 0;
    sample();
    report(usage());
  }
  if (cmd === 'usage') report(usage());
  if (cmd === 'stop') {
    const startedAt = performance.now();
    await facteur.stop();
    rmSync(dir, { recursive: true, force: true });
    report({ stopped: true, seconds: (performance.now() - startedAt) / 1000 });
    process.exit(0);
  }
});
