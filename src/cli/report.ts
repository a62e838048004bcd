import { readFileSync } from 'node:fs';
import { systemClock } from '../core/clock.js';
import type { BootConfig } from '../core/config/index.js';
import { parseDuration } from '../core/config/index.js';
import { ensureSecretKeyMatches, loadOrCreateSecretKey } from '../core/crypto/index.js';
import type { Store } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { TargetGuard } from '../core/net/ssrf.js';
import { Reports } from '../reports/index.js';
import { badOption, commandLogger, openMigratedStore, print, withOpened } from './shared.js';

/**
 * `facteur report list|run|runs|preview`: reports read and triggered from the database, like
 * `facteur send`; the running `facteur serve` does the work of a run. `run --follow` prints each
 * stage as it completes and exits 1 when the run fails.
 */

interface Opened {
  reports: Reports;
  store: Store;
  close(): Promise<void>;
}

async function open(config: BootConfig): Promise<Opened> {
  const logger = commandLogger(config);
  const store = await openMigratedStore(config, logger);
  try {
    const key = loadOrCreateSecretKey(config.dataDir, config.secretKey);
    await ensureSecretKeyMatches(store, key.key, systemClock.now());
    const reports = new Reports({
      store,
      clock: systemClock,
      logger,
      secretKey: key.key,
      guard: new TargetGuard(config.network.privateTargets),
      sqliteDir: config.reports.sqliteDir,
      mail: { defaultFrom: config.mail.defaultFrom, retryScheduleMs: config.mail.retryScheduleMs },
      // Triggers and previews raise no alerts; the server does, when a run fails.
      raiseAlert: async () => {
        throw new AppError('INTERNAL', 'the CLI raises no alerts');
      },
    });
    return {
      reports,
      store,
      close: async () => {
        await reports.stop();
        await store.close();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

function withReports<T>(body: (opened: Opened) => Promise<T>): Promise<T> {
  return withOpened(open, body);
}

const iso = (ms: number | null): string =>
  ms === null ? '-' : new Date(ms).toISOString().replace('.000Z', 'Z');

/** `facteur report list`. */
export function reportListCommand(options: { json?: boolean }): Promise<number> {
  return withReports(async ({ reports }) => {
    const all = await reports.registry.list();
    if (options.json) {
      print(
        JSON.stringify(
          all.map((r) => ({
            id: r.id,
            name: r.name,
            status: r.status,
            schedule: r.settings.schedule,
            nextRunAt: iso(reports.nextRunAt(r)),
          })),
        ),
      );
      return 0;
    }
    if (all.length === 0) print('no reports; create one with POST /api/reports (see docs/reports.md)');
    for (const r of all) {
      const s = r.settings.schedule;
      print(
        `${r.name}  ${r.status}  ${s ? `"${s.cron}" ${s.timezone}` : 'trigger only'}  next: ${iso(reports.nextRunAt(r))}  id: ${r.id}`,
      );
    }
    return 0;
  });
}

function readData(options: { data?: string; dataFile?: string }): Record<string, unknown> | undefined {
  const raw =
    options.dataFile !== undefined
      ? readFileSync(options.dataFile, 'utf8')
      : options.data !== undefined
        ? options.data
        : undefined;
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    badOption(
      options.dataFile !== undefined ? '--data-file' : '--data',
      `is not JSON: ${(error as Error).message}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    badOption(options.dataFile !== undefined ? '--data-file' : '--data', 'must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** Options of `facteur report run`. */
export interface RunOptions {
  data?: string;
  dataFile?: string;
  slot?: string;
  idempotencyKey?: string;
  follow?: boolean;
  timeout: string;
  json?: boolean;
}

/** `facteur report run NAME [--follow]`: exit 0 when queued (or sent, with --follow), 1 when it failed. */
export function reportRunCommand(name: string, options: RunOptions): Promise<number> {
  let timeoutMs: number;
  try {
    timeoutMs = parseDuration(options.timeout);
  } catch (error) {
    badOption('--timeout', (error as Error).message);
  }
  const data = readData(options);
  return withReports(async ({ reports, store }) => {
    const report = await reports.require(name);
    const { run, created } = await reports.trigger(report, {
      ...(data !== undefined ? { data } : {}),
      ...(options.slot !== undefined ? { slot: options.slot } : {}),
      ...(options.idempotencyKey !== undefined ? { idempotencyKey: options.idempotencyKey } : {}),
    });
    if (!options.json)
      print(`${created ? 'Started' : 'Already ran (same slot or key)'}: run ${run.id} of ${report.name}`);
    if (!options.follow) {
      if (options.json) print(JSON.stringify({ id: run.id, status: run.status, created }));
      return 0;
    }
    const printed = new Set<string>();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = await reports.getRun(run.id);
      for (const stage of current.stages) {
        const key = `${stage.stage}:${stage.outcome}:${stage.attempts}`;
        if (['pending', 'running'].includes(stage.outcome) || printed.has(key)) continue;
        printed.add(key);
        if (options.json) continue;
        const mark = stage.outcome === 'ok' ? '✓' : stage.outcome === 'skipped' ? '-' : '✗';
        const facts = Object.entries(stage.detail)
          .filter(([, v]) => v !== null && typeof v !== 'object')
          .map(([k, v]) => `${k}=${v}`)
          .join(' ');
        print(
          `${mark} ${stage.stage.padEnd(6)} ${stage.outcome}${stage.ms !== null ? ` ${stage.ms} ms` : ''}${facts ? `  ${facts}` : ''}`,
        );
        if (stage.errorCode) print(`    ${stage.errorCode}: ${stage.message ?? ''}`);
        if (stage.retryAt) print(`    retrying at ${iso(stage.retryAt)}`);
        if (stage.hint) print(`    hint: ${stage.hint}`);
      }
      if (['sent', 'failed', 'missed'].includes(current.status)) {
        if (options.json) print(JSON.stringify(current));
        else
          print(
            current.status === 'sent'
              ? `sent: ${current.smtpResponse ?? ''}`
              : `${current.status}: ${current.errorCode ?? ''}`,
          );
        return current.status === 'sent' ? 0 : 1;
      }
      if (Date.now() > deadline) {
        process.stderr.write(
          `run ${run.id} is still ${current.status} after ${options.timeout}; is \`facteur serve\` running against ${store.location}?\n`,
        );
        return 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  });
}

/** `facteur report runs NAME`. */
export function reportRunsCommand(name: string, options: { limit: string; json?: boolean }): Promise<number> {
  const limit = Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200)
    badOption('--limit', 'must be a whole number from 1 to 200');
  return withReports(async ({ reports }) => {
    const runs = await reports.listRuns(await reports.require(name), { limit });
    if (options.json) {
      print(JSON.stringify(runs));
      return 0;
    }
    if (runs.length === 0) print('no runs yet');
    for (const run of runs) {
      const failed = run.stages.find((s) => s.outcome === 'failed' || s.outcome === 'retrying');
      print(
        `${run.id}  ${run.status.padEnd(7)}  ${run.trigger.padEnd(8)}  slot: ${iso(run.slotAt)}  created: ${iso(run.createdAt)}${
          failed ? `  ${failed.stage}: ${failed.errorCode}` : ''
        }`,
      );
    }
    return 0;
  });
}

/** `facteur report preview NAME`: renders with --data or the source's data, sends nothing. */
export function reportPreviewCommand(
  name: string,
  options: { data?: string; dataFile?: string; json?: boolean },
): Promise<number> {
  const data = readData(options);
  return withReports(async ({ reports }) => {
    const preview = await reports.preview(await reports.require(name), data);
    if (options.json) {
      print(
        JSON.stringify({ subject: preview.subject, html: preview.html ?? null, text: preview.text ?? null }),
      );
      return 0;
    }
    print(`Subject: ${preview.subject}`);
    if (preview.text !== undefined) print(`\n--- text ---\n${preview.text}`);
    if (preview.html !== undefined) print(`\n--- html ---\n${preview.html}`);
    if (preview.attachment)
      print(`\n--- attachment ${preview.attachment.filename} ---\n${preview.attachment.content}`);
    return 0;
  });
}
