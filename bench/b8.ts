import { spawnSync } from 'node:child_process';
import { request } from 'undici';
import { FacteurClient } from './lib/api.js';
import { ask, ROOT } from './lib/child.js';
import { launchFacteur, stopFacteur } from './lib/facteur-process.js';
import { type BenchOptions, type BenchReport, progress, syncLabel } from './lib/report.js';
import { fmt, median } from './lib/stats.js';
import type { UsageSnapshot } from './lib/usage.js';

/**
 * B8, a 100,000-recipient campaign queued, twice per round on a fresh instance: from a CSV file
 * (the streamed import into a list, then the campaign from the list) and inline (one
 * `POST /api/campaigns` carrying every recipient). "Queued" means the campaign and its whole
 * recipient ledger are durable, answered 201: the time is the client's, from the first byte sent
 * to the answer. The target is under 10 s for each, with Facteur's peak RSS under 300 MB.
 * Campaigns are drafts, so the dispatcher does not compete with the measurement. Facteur runs
 * its compiled build in plain Node, as `npm start` does (tsx alone adds about 40 MB of RSS).
 */

const TARGET_S = 10;
const TARGET_RSS_MB = 300;

function csvOf(count: number): Buffer {
  const lines = ['email;Prénom;Nom;ville;numéro'];
  for (let i = 0; i < count; i++)
    lines.push(`membre.${i}@club-${i % 500}.example.org;Prénom${i};Nom ${i};Lyon;${i}`);
  return Buffer.from(`${lines.join('\n')}\n`, 'utf8');
}

function inlineOf(count: number): unknown[] {
  return Array.from({ length: count }, (_, i) => ({
    address: `inline.${i}@club-${i % 500}.example.org`,
    name: `Member ${i}`,
    fields: { city: 'Lyon', n: i },
  }));
}

interface Round {
  csvImportS: number;
  csvCampaignS: number;
  csvTotalS: number;
  inlineS: number;
  /** Sampled peaks during each phase, and the process's lifetime maximum. */
  csvPeakRssMb: number;
  inlinePeakRssMb: number;
  peakRssMb: number;
}

/** The compiled build the process under test runs, made fresh from the sources. */
function build(): void {
  progress('B8: building dist/ (npm run build)');
  const result = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  if (result.status !== 0) throw new Error('npm run build failed');
}

export async function runB8(options: BenchOptions): Promise<BenchReport> {
  build();
  const count = Number(options.flags.recipients ?? (options.quick ? 20_000 : 100_000));
  const rows: string[] = [];
  const data: Record<string, unknown> = {};
  const csv = csvOf(count);
  const inline = JSON.stringify({
    name: 'B8 inline',
    subject: 'Bonjour {{ name }}',
    text: 'Bonjour {{ name }} de {{ city }}',
    recipients: inlineOf(count),
  });
  for (const sync of options.syncs) {
    const rounds: Round[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      const facteur = await launchFacteur({ script: 'bench/b8-facteur.mjs', args: [sync], loader: 'none' });
      const client = new FacteurClient(facteur.url, facteur.key, 2);
      try {
        await ask(facteur.child, { cmd: 'reset' });
        const list = await client.call<{ id: string }>('POST', '/lists', { name: `b8-${round}` }, 201);
        const t0 = performance.now();
        const imported = await request(`${facteur.url}/api/lists/${list.id}/import`, {
          method: 'POST',
          headers: { authorization: `Bearer ${facteur.key}`, 'content-type': 'text/csv' },
          body: csv,
        });
        const importReport = (await imported.body.json()) as { imported: number };
        if (imported.statusCode !== 200 || importReport.imported !== count)
          throw new Error(
            `import answered ${imported.statusCode}: ${JSON.stringify(importReport).slice(0, 300)}`,
          );
        const t1 = performance.now();
        const fromList = await client.call<{ recipients: { written: number } }>(
          'POST',
          '/campaigns',
          { name: 'B8 from CSV', subject: 'Bonjour {{ name }}', text: 'Bonjour {{ name }}', listId: list.id },
          201,
        );
        const t2 = performance.now();
        if (fromList.recipients.written !== count)
          throw new Error(`the list campaign has ${fromList.recipients.written} rows`);
        const csvUsage = await ask<UsageSnapshot>(facteur.child, { cmd: 'usage' });
        await ask(facteur.child, { cmd: 'reset' });
        const t3 = performance.now();
        const created = await request(`${facteur.url}/api/campaigns`, {
          method: 'POST',
          headers: { authorization: `Bearer ${facteur.key}`, 'content-type': 'application/json' },
          body: inline,
        });
        const answer = (await created.body.json()) as { recipients?: { written: number } };
        const t4 = performance.now();
        if (created.statusCode !== 201 || answer.recipients?.written !== count)
          throw new Error(
            `inline create answered ${created.statusCode}: ${JSON.stringify(answer).slice(0, 300)}`,
          );
        const usage = await ask<UsageSnapshot>(facteur.child, { cmd: 'usage' });
        const mb = (bytes: number) => bytes / 1024 / 1024;
        const r: Round = {
          csvImportS: (t1 - t0) / 1000,
          csvCampaignS: (t2 - t1) / 1000,
          csvTotalS: (t2 - t0) / 1000,
          inlineS: (t4 - t3) / 1000,
          csvPeakRssMb: mb(csvUsage.peakRssBytes),
          inlinePeakRssMb: mb(usage.peakRssBytes),
          peakRssMb: mb(Math.max(usage.maxRssBytes, csvUsage.peakRssBytes, usage.peakRssBytes)),
        };
        rounds.push(r);
        progress(
          `B8 ${sync} round ${round}: CSV ${fmt(r.csvTotalS, 2)} s (import ${fmt(r.csvImportS, 2)} + campaign ${fmt(r.csvCampaignS, 2)}), inline ${fmt(r.inlineS, 2)} s, peak RSS ${fmt(r.csvPeakRssMb, 0)} MB (CSV) ${fmt(r.inlinePeakRssMb, 0)} MB (inline) ${fmt(r.peakRssMb, 0)} MB (lifetime)`,
        );
      } finally {
        await client.close();
        await stopFacteur(facteur);
      }
    }
    const csvS = median(rounds.map((r) => r.csvTotalS));
    const inlineS = median(rounds.map((r) => r.inlineS));
    const rss = Math.max(...rounds.map((r) => r.peakRssMb));
    const ok = csvS < TARGET_S && inlineS < TARGET_S && rss < TARGET_RSS_MB;
    rows.push(
      `B8 ${count.toLocaleString('en')} recipients queued, ${syncLabel(sync)}: CSV import + campaign ${fmt(csvS, 2)} s, inline ${fmt(inlineS, 2)} s (target < ${TARGET_S} s), peak RSS ${fmt(rss, 0)} MB (target < ${TARGET_RSS_MB} MB) ${ok ? 'PASS' : 'FAIL'}`,
    );
    data[sync] = {
      recipients: count,
      rounds,
      csvMedianS: csvS,
      inlineMedianS: inlineS,
      peakRssMb: rss,
      pass: ok,
    };
  }
  return { id: 'b8', rows, data };
}
