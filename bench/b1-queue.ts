import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBootConfig } from '../src/core/config/index.js';
import { migrateToLatest, openStore } from '../src/core/db/index.js';
import { uuidv7 } from '../src/core/ids.js';
import { silentLogger } from '../src/core/observability/logger.js';
import { type MessageInput, recordMessage } from '../src/mail/index.js';
import { requestHash } from '../src/mail/model.js';
import { type B1RunSpec, bodyFor, FROM, RING, recipient, subjectFor } from './b1-shared.js';
import type { Sync } from './lib/report.js';

/**
 * B1's pre-queue, in the parent before Facteur starts: a fresh data directory whose database is
 * migrated and holds the warm-up then the measured messages, each recorded with its send job by
 * `recordMessage` (the outbox's own write, as `POST /api/messages` does), in transactions of
 * 1,000. The store is closed before Facteur opens the directory.
 */

const BATCH = 1000;

/** Fills a fresh data directory; answers it with the time the writes took. */
export async function prequeue(spec: B1RunSpec, sync: Sync): Promise<{ dir: string; seconds: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'facteur-b1-'));
  const parsed = parseBootConfig(
    { FACTEUR_DATA_DIR: dir, FACTEUR_SQLITE_SYNCHRONOUS: sync },
    { cwd: dir, isTty: false },
  );
  if (!parsed.ok) throw new Error(`invalid config: ${JSON.stringify(parsed.problems)}`);
  const { config } = parsed;
  const store = openStore(config.database, { logger: silentLogger() });
  const started = performance.now();
  try {
    await migrateToLatest(store);
    const deps = { retryScheduleMs: config.mail.retryScheduleMs };
    const bodies = Array.from({ length: Math.min(RING, spec.warmup + spec.measured) }, (_, slot) =>
      bodyFor(spec.variant, slot),
    );
    const total = spec.warmup + spec.measured;
    // Warm-up messages first, one millisecond earlier, so that the engine claims them first.
    const base = Date.now() - 1000;
    for (let offset = 0; offset < total; offset += BATCH) {
      await store.transaction(async (tx) => {
        for (let i = offset; i < Math.min(total, offset + BATCH); i++) {
          const kind = i < spec.warmup ? 'w' : 'm';
          const index = i < spec.warmup ? i : i - spec.warmup;
          const body = bodies[i % RING] as string;
          const input: MessageInput = {
            from: FROM,
            to: [recipient(kind, index)],
            subject: subjectFor(spec.variant, kind, index),
            ...(spec.variant === 'text' ? { text: body } : { html: body }),
          };
          await recordMessage(tx, deps, {
            id: uuidv7(),
            input,
            from: FROM,
            hash: requestHash(input),
            origin: { source: 'api' },
            now: kind === 'w' ? base : base + 1,
          });
        }
      });
    }
  } finally {
    await store.close();
  }
  return { dir, seconds: (performance.now() - started) / 1000 };
}
