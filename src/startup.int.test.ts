import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseSkipReason, type TestDatabase } from '../test/support/database.js';
import { parseBootConfig } from './core/config/index.js';
import { openStore } from './core/db/index.js';
import { getJob } from './core/jobs/index.js';
import { silentLogger } from './core/observability/index.js';
import { startFacteur } from './main.js';

const skip = await databaseSkipReason();

/** Start-up refuses clearly, and before doing any work, when something is wrong. */
describe.skipIf(skip)('start-up checks', () => {
  let database: TestDatabase;
  let blocker: Server;
  let takenPort: number;

  beforeAll(async () => {
    database = await createTestDatabase();
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    takenPort = (blocker.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => blocker?.close(resolve));
    await database?.drop();
  });

  const KEY = Buffer.alloc(32, 7).toString('base64');
  const config = (env: Record<string, string>, url = database.url) => {
    const parsed = parseBootConfig({
      FACTEUR_SECRET_KEY: KEY,
      FACTEUR_DATABASE_URL: url,
      FACTEUR_DATA_DIR: mkdtempSync(join(tmpdir(), 'facteur-startup-')),
      FACTEUR_PORT: '0',
      FACTEUR_CATCHER_PORT: '0',
      ...env,
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    return parsed.config;
  };

  it('refuses a taken HTTP port before claiming any job', async () => {
    const store = openStore(database.config);
    try {
      const { enqueueJob } = await import('./core/jobs/index.js');
      const { job } = await store.transaction((tx) =>
        enqueueJob(tx, { queue: 'mail.send', payload: { messageId: 'none' }, maxAttempts: 3 }, Date.now()),
      );
      await expect(
        startFacteur(config({ FACTEUR_PORT: String(takenPort) }), { logger: silentLogger() }),
      ).rejects.toMatchObject({
        code: 'HTTP_PORT_IN_USE',
        message: expect.stringContaining(`127.0.0.1:${takenPort} is taken`),
      });
      expect(await getJob(store.db, job.id)).toMatchObject({ status: 'queued', attempts: 0 });
      await store.db.deleteFrom('jobs').execute();
    } finally {
      await store.close();
    }
  });

  it('refuses a taken catcher port, naming the variable to change', async () => {
    await expect(
      startFacteur(config({ FACTEUR_CATCHER_PORT: String(takenPort) }), { logger: silentLogger() }),
    ).rejects.toMatchObject({
      code: 'CATCHER_PORT_IN_USE',
      message: expect.stringContaining('FACTEUR_CATCHER_PORT'),
    });
  });

  it('refuses a secret key other than the one the database was set up with', async () => {
    const own = await createTestDatabase();
    try {
      const first = await startFacteur(
        config({ FACTEUR_SECRET_KEY: Buffer.alloc(32, 1).toString('base64') }, own.url),
        { logger: silentLogger() },
      );
      await first.stop();
      // The same key written in hex is the same key.
      const same = await startFacteur(
        config({ FACTEUR_SECRET_KEY: Buffer.alloc(32, 1).toString('hex') }, own.url),
        { logger: silentLogger() },
      );
      await same.stop();
      // An instance whose data dir generated its own key (no FACTEUR_SECRET_KEY) is refused too.
      for (const env of [
        { FACTEUR_SECRET_KEY: Buffer.alloc(32, 2).toString('base64') },
        { FACTEUR_SECRET_KEY: '' },
      ]) {
        await expect(startFacteur(config(env, own.url), { logger: silentLogger() })).rejects.toMatchObject({
          code: 'CONFIG_INVALID',
          message: expect.stringContaining('not the secret key the database was set up with'),
        });
      }
    } finally {
      await own.drop();
    }
  });
});
