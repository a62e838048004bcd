import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { campaignCreateSchema } from '../campaigns/campaign-model.js';
import { type CampaignRow, listCampaignRows } from '../campaigns/campaign-store.js';
import { Audiences, Campaigns, importCsv } from '../campaigns/index.js';
import { systemClock } from '../core/clock.js';
import type { BootConfig } from '../core/config/index.js';
import { ensureSecretKeyMatches, loadOrCreateSecretKey } from '../core/crypto/index.js';
import type { Store } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { validationError } from '../core/validation.js';
import { badOption, commandLogger, openMigratedStore, print, withOpened } from './shared.js';

/**
 * `facteur campaign send FILE.csv --subject ... --template FILE` imports the members into a new
 * list (the same streamed CSV import as the API, each bad row reported with its line) and
 * creates the campaign; `facteur campaign watch ID` shows its progress until it ends. Both work
 * on the database, like `facteur send`: the running `facteur serve` does the sending.
 */

interface Opened {
  store: Store;
  audiences: Audiences;
  campaigns: Campaigns;
  close(): Promise<void>;
}

async function open(config: BootConfig): Promise<Opened> {
  const logger = commandLogger(config);
  const store = await openMigratedStore(config, logger);
  try {
    const key = loadOrCreateSecretKey(config.dataDir, config.secretKey);
    await ensureSecretKeyMatches(store, key.key, systemClock.now());
    const audiences = new Audiences({ store, clock: systemClock, logger });
    const campaigns = new Campaigns({
      store,
      clock: systemClock,
      logger,
      mail: {
        store,
        clock: systemClock,
        logger,
        defaultFrom: config.mail.defaultFrom,
        retryScheduleMs: config.mail.retryScheduleMs,
      },
      lists: audiences.lists,
      secretKey: key.key,
      publicUrl: () => config.campaigns.publicUrl ?? `http://${config.host}:${config.port}`,
      window: config.campaigns.window,
      stallAfterMs: config.campaigns.stallAfterMs,
      // The CLI creates and watches; campaigns end (and publish their events) in the server.
      publish: async () => {
        throw new AppError('INTERNAL', 'the CLI publishes no events');
      },
    });
    return {
      store,
      audiences,
      campaigns,
      close: async () => {
        audiences.stop();
        await store.close();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

function withCampaigns<T>(body: (opened: Opened) => Promise<T>): Promise<T> {
  return withOpened(open, body);
}

/** Options of `facteur campaign send`. */
export interface SendOptions {
  subject: string;
  template: string;
  text?: string;
  name?: string;
  from?: string;
  replyTo?: string;
  email?: string;
  nameColumn?: string;
  at?: string;
  draft?: boolean;
  watch?: boolean;
  json?: boolean;
}

function readTemplate(option: string, path: string): string {
  if (!existsSync(path)) badOption(option, `names no file: ${path}`);
  return readFileSync(path, 'utf8');
}

/** `facteur campaign send FILE.csv`: exit 0 when created (and, with --watch, finished with no failure). */
export function campaignSendCommand(file: string, options: SendOptions): Promise<number> {
  if (!existsSync(file)) badOption('FILE', `names no file: ${file}`);
  const body = readTemplate('--template', options.template);
  const html = /\.html?$/i.test(options.template);
  const parsed = campaignCreateSchema.safeParse({
    name: options.name ?? basename(file).replace(/\.csv$/i, ''),
    subject: options.subject,
    ...(html ? { html: body } : { text: body }),
    ...(options.text ? { text: readTemplate('--text', options.text) } : {}),
    ...(options.from ? { from: options.from } : {}),
    ...(options.replyTo ? { replyTo: options.replyTo } : {}),
    listId: 'pending',
    ...(options.draft ? {} : { start: options.at ?? 'now' }),
  });
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    badOption(
      first?.path[0] === 'start' ? '--at' : `--${String(first?.path[0] ?? 'template')}`,
      first?.message ?? 'is not valid',
    );
  }
  return withCampaigns(async ({ audiences, campaigns }) => {
    const stamp = new Date().toISOString().slice(0, 19).replace('T', ' ');
    const list = await audiences.lists.create({ name: `${parsed.data.name} (${basename(file)}, ${stamp})` });
    const report = await importCsv(audiences, list.id, createReadStream(file), {
      encoding: 'auto',
      delimiter: 'auto',
      onDuplicate: 'update',
      ...(options.email ? { email: options.email } : {}),
      ...(options.nameColumn ? { name: options.nameColumn } : {}),
    });
    if (!options.json) {
      print(
        `${file}: ${report.rows} rows, ${report.imported} imported, ${report.duplicatesInFile} duplicates, ${report.invalid} refused (${report.encoding}, delimiter ${JSON.stringify(report.delimiter)})`,
      );
      for (const error of report.errors.slice(0, 20))
        print(`  line ${error.line}: ${error.field} ${error.message}`);
      if (report.errors.length > 20) print(`  ... and ${report.invalid - 20} more`);
    }
    if (report.imported + report.updated + report.unchanged === 0)
      throw validationError('body', [{ in: 'body', field: 'FILE', message: 'has no valid row' }]);
    const created = await campaigns.create({ ...parsed.data, listId: list.id }, { source: 'cli' });
    const row = created.campaign;
    if (options.json && !options.watch) {
      print(
        JSON.stringify({ id: row.id, status: row.status, recipients: created.recipients, import: report }),
      );
      return 0;
    }
    if (!options.json)
      print(`Campaign ${row.id} (${row.name}): ${created.recipients.written} recipients, ${row.status}`);
    if (!options.watch) return 0;
    return watch(campaigns, row.id, Boolean(options.json));
  });
}

/** `facteur campaign watch ID`: exit 0 when it finished with nothing failed or bounced, 1 otherwise. */
export function campaignWatchCommand(id: string, options: { json?: boolean }): Promise<number> {
  return withCampaigns(({ campaigns }) => watch(campaigns, id, Boolean(options.json)));
}

/** `facteur campaign list`. */
export function campaignListCommand(options: { json?: boolean }): Promise<number> {
  return withCampaigns(async ({ campaigns, store }) => {
    const rows = await listCampaignRows(store.db, { limit: 50 });
    const views = await Promise.all(
      rows.map(async (r) => ({ row: r, progress: await campaigns.progress(r) })),
    );
    if (options.json) {
      print(
        JSON.stringify(
          views.map((v) => ({ id: v.row.id, name: v.row.name, status: v.row.status, ...v.progress })),
        ),
      );
      return 0;
    }
    if (views.length === 0)
      print('no campaigns; create one with `facteur campaign send FILE.csv` or POST /api/campaigns');
    for (const { row, progress } of views)
      print(
        `${row.name}  ${row.status}  ${progress.done}/${progress.total} done (${progress.counts.sent} sent, ${progress.counts.failed} failed)  id: ${row.id}`,
      );
    return 0;
  });
}

/** One line of progress: a bar when the output is a terminal. */
export function progressLine(
  row: CampaignRow,
  progress: Awaited<ReturnType<Campaigns['progress']>>,
  width = 30,
): string {
  const share = progress.total === 0 ? 1 : progress.done / progress.total;
  const filled = Math.round(share * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const c = progress.counts;
  const eta = progress.etaSeconds === null ? '' : ` · ETA ${formatSeconds(progress.etaSeconds)}`;
  return `${bar} ${Math.floor(share * 100)}% ${progress.done}/${progress.total} · sent ${c.sent} failed ${c.failed} bounced ${c.bounced} skipped ${c.skipped} in flight ${c.sending + c.deferred} · ${progress.ratePerSecond}/s${eta} · ${row.status}`;
}

function formatSeconds(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

async function watch(campaigns: Campaigns, id: string, json: boolean): Promise<number> {
  const tty = Boolean(process.stdout.isTTY) && !json;
  let lastPrinted = 0;
  for (;;) {
    const row = await campaigns.load(id);
    const progress = await campaigns.progress(row);
    const over = Campaigns.isOver(row);
    if (json) {
      if (over) print(JSON.stringify({ id: row.id, status: row.status, ...progress }));
    } else if (tty) {
      process.stdout.write(`\r\x1b[2K${progressLine(row, progress)}`);
      if (over) process.stdout.write('\n');
    } else if (over || Date.now() - lastPrinted >= 5000) {
      print(progressLine(row, progress));
      lastPrinted = Date.now();
    }
    if (over) {
      const bad = progress.counts.failed + progress.counts.bounced;
      if (!json && bad > 0)
        print(
          `${bad} not delivered: GET /api/campaigns/${id}/recipients?state=failed, then POST /api/campaigns/${id}/retry-failed`,
        );
      return row.status === 'finished' && bad === 0 ? 0 : 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
