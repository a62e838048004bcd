import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBootConfig } from '../src/core/config/index.js';
import { migrateToLatest, openStore } from '../src/core/db/index.js';
import { uuidv7 } from '../src/core/ids.js';
import { silentLogger } from '../src/core/observability/logger.js';
import { type MessageInput, recordMessage } from '../src/mail/index.js';
import { requestHash } from '../src/mail/model.js';
import { FROM, type PlannedMessage } from './b2-shared.js';

/**
 * B2's pre-queue, in the parent before Facteur starts: a fresh data directory (or a PostgreSQL
 * database) migrated and holding every message of the run, each recorded with its send job by
 * `recordMessage` as the API and the campaign dispatcher do (bulk ones with the campaigns'
 * priority, -1), then scheduled: its job's `run_at` is its time in the plan. The schedule is the
 * benchmark's own doing (the API has no send-at), hence the one UPDATE here.
 */

const BATCH = 1000;

/** Fills a fresh data directory (SQLite) or `databaseUrl`; answers the directory. */
export async function prequeue(
  planned: PlannedMessage[],
  startAt: number,
  options: { sync: string; databaseUrl?: string },
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'facteur-b2-'));
  const parsed = parseBootConfig(
    {
      FACTEUR_DATA_DIR: dir,
      FACTEUR_SQLITE_SYNCHRONOUS: options.sync,
      ...(options.databaseUrl ? { FACTEUR_DATABASE_URL: options.databaseUrl } : {}),
    },
    { cwd: dir, isTty: false },
  );
  if (!parsed.ok) throw new Error(`invalid config: ${JSON.stringify(parsed.problems)}`);
  const { config } = parsed;
  const store = openStore(config.database, { logger: silentLogger() });
  try {
    await migrateToLatest(store);
    const deps = { retryScheduleMs: config.mail.retryScheduleMs };
    for (let offset = 0; offset < planned.length; offset += BATCH) {
      await store.transaction(async (tx) => {
        for (const m of planned.slice(offset, offset + BATCH)) {
          const input: MessageInput = {
            from: FROM,
            to: [`${m.key}@bench.test`],
            subject: m.key,
            text: `B2 ${m.key}`,
          };
          const recorded = await recordMessage(tx, deps, {
            id: uuidv7(),
            input,
            from: FROM,
            hash: requestHash(input),
            origin: { source: m.bulk ? 'campaign' : 'api' },
            now: Date.now(),
            ...(m.bulk ? { job: { priority: -1 } } : {}),
          });
          await tx.db
            .updateTable('jobs')
            .set({ run_at: startAt + m.offsetMs })
            .where('id', '=', recorded.row.job_id)
            .execute();
        }
      });
    }
  } finally {
    await store.close();
  }
  return dir;
}
