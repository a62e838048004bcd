import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import Fastify from 'fastify';
import { FacteurClient } from './lib/api.js';
import { onParentMessage, report } from './lib/child.js';
import { startBenchFacteur } from './lib/facteur-instance.js';
import { UsageMonitor } from './lib/usage.js';

/**
 * B3's server under test, one per process (pinned to core 0 by the parent):
 * `facteur <full|normal>` starts a whole Facteur instance and stops its job engine, so that the
 * accepted messages stay queued and nothing is sent while the accept path is measured;
 * `baseline <full|normal>` is bare Fastify 5 with one better-sqlite3 insert per request and
 * the same pragmas. Prints `{url, key}` (the base URL) once listening, then answers `usage` / `reset` / `stop`.
 */

type Mode = 'facteur' | 'baseline';
type Sync = 'full' | 'normal';

interface Running {
  url: string;
  key: string;
  close(): Promise<void>;
}

async function startFacteurUnderTest(sync: Sync): Promise<Running> {
  const { facteur, dir, ready } = await startBenchFacteur('b3-facteur', { FACTEUR_SQLITE_SYNCHRONOUS: sync });
  // The accept path only: messages stay queued instead of being sent on the same core.
  await facteur.engine.stop(0);
  return {
    url: ready.url,
    key: ready.key,
    close: async () => {
      await facteur.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startBaseline(sync: Sync): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'facteur-b3-baseline-'));
  const database = new SqliteDatabase(join(dir, 'baseline.db'));
  database.pragma('journal_mode = WAL');
  database.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  database.exec(
    'create table messages (id text primary key, payload text not null, status text not null, created_at integer not null)',
  );
  const insert = database.prepare(
    'insert into messages (id, payload, status, created_at) values (?, ?, ?, ?)',
  );
  const app = Fastify({ logger: false });
  app.post('/api/messages', async (request, reply) => {
    const id = randomUUID();
    insert.run(id, JSON.stringify(request.body), 'queued', Date.now());
    return reply.status(202).send({ id, status: 'queued' });
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    key: 'unused',
    close: async () => {
      await app.close();
      database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One request must be accepted before any load, so that a broken build fails loudly instead of measuring errors. */
async function preflight(running: Running): Promise<void> {
  const client = new FacteurClient(running.url, running.key, 1);
  try {
    await client.call('POST', '/messages', { to: ['a@example.com'], subject: 's', text: 't' }, 202);
  } finally {
    await client.close();
  }
}

async function main(): Promise<void> {
  const mode = process.argv[2] as Mode;
  const sync = process.argv[3] as Sync;
  if ((mode !== 'facteur' && mode !== 'baseline') || (sync !== 'full' && sync !== 'normal')) {
    throw new Error('usage: b3-server.ts <facteur|baseline> <full|normal>');
  }
  const monitor = new UsageMonitor();
  const running = mode === 'facteur' ? await startFacteurUnderTest(sync) : await startBaseline(sync);
  try {
    await preflight(running);
  } catch (error) {
    await running.close();
    throw error;
  }
  report({ url: running.url, key: running.key, pid: process.pid });
  onParentMessage(async (message) => {
    const { cmd } = message as { cmd: string };
    if (cmd === 'reset') monitor.resetPeak();
    if (cmd === 'usage' || cmd === 'reset') report(monitor.snapshot());
    if (cmd === 'stop') {
      await running.close();
      monitor.stop();
      report({ stopped: true });
      process.exit(0);
    }
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
