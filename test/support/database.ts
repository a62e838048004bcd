import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { DatabaseConfig } from '../../src/core/config/index.js';
import { migrateToLatest, migrationsFingerprint, openStore, type Store } from '../../src/core/db/index.js';
import { type ServiceProbe, serviceSkipReason } from './services.js';

/**
 * A fresh database per test file. SQLite: a file in a temp dir. PostgreSQL: a new database
 * cloned from a migrated template (`CREATE DATABASE ... TEMPLATE`), which is much faster than
 * migrating each one. The dialect comes from `FACTEUR_TEST_DB` (set per vitest project), or
 * PostgreSQL when `FACTEUR_DATABASE_URL` is a postgres URL.
 */

/** The dialect this test run uses. */
export function testDialect(): 'sqlite' | 'postgres' {
  if (process.env.FACTEUR_TEST_DB === 'postgres' || process.env.FACTEUR_TEST_DB === 'sqlite')
    return process.env.FACTEUR_TEST_DB;
  return /^postgres(ql)?:/.test(process.env.FACTEUR_DATABASE_URL ?? '') ? 'postgres' : 'sqlite';
}

/** The PostgreSQL server used for test databases (any database on it; new ones are created beside it). */
export function postgresServerUrl(): string {
  const fromEnv = process.env.FACTEUR_TEST_POSTGRES_URL ?? process.env.FACTEUR_DATABASE_URL;
  return fromEnv && /^postgres(ql)?:/.test(fromEnv) ? fromEnv : 'postgres://postgres@127.0.0.1:5432/test';
}

/** A database made for one test file. */
export interface TestDatabase {
  config: DatabaseConfig;
  /** The `FACTEUR_DATABASE_URL` value that points at it (for child processes). */
  url: string;
  /** Deletes it. */
  drop(): Promise<void>;
}

/** Checks that PostgreSQL answers (for skip-or-fail decisions). */
export async function probePostgres(): Promise<ServiceProbe> {
  const client = new pg.Client({ connectionString: postgresServerUrl(), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: `cannot connect to ${postgresServerUrl()}: ${(error as Error).message}` };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Skip reason for the current dialect's database, or false (throws in CI when unavailable). */
export async function databaseSkipReason(): Promise<string | false> {
  if (testDialect() === 'sqlite') return false;
  return serviceSkipReason('PostgreSQL', await probePostgres());
}

/** Creates an empty, migrated database of the test dialect. */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (testDialect() === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-test-db-'));
    const path = join(dir, 'facteur.db');
    const config: DatabaseConfig = { kind: 'sqlite', path, synchronous: 'normal' };
    const store = openStore(config);
    await migrateToLatest(store);
    await store.close();
    return { config, url: `sqlite:${path}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const template = await ensureTemplate();
  const name = `facteur_t_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withAdmin((client) => client.query(`create database ${name} template ${template}`));
  const url = databaseUrl(name);
  return {
    config: { kind: 'postgres', url },
    url,
    drop: () =>
      withAdmin((client) => client.query(`drop database if exists ${name} with (force)`)).then(
        () => undefined,
      ),
  };
}

/** Rows of `table` whose status matches (`=` by default, or `!=`); all rows without a status. */
export async function countRows(
  store: Store,
  table: 'jobs' | 'messages' | 'webhook_deliveries',
  status?: string,
  comparison: '=' | '!=' = '=',
): Promise<number> {
  let query = store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
  if (status !== undefined) query = query.where('status', comparison, status);
  return Number((await query.executeTakeFirstOrThrow()).n);
}

/** The URL of database `name` on the server at `serverUrl` (default: the test server). */
export function databaseUrl(name: string, serverUrl: string = postgresServerUrl()): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs `fn` with an administrative connection to the server at `serverUrl` (default: the test server). */
export async function withAdmin<T>(
  fn: (client: pg.Client) => Promise<T>,
  serverUrl: string = postgresServerUrl(),
): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * The migrated template, named after a fingerprint of the migrations (names and code) so that a
 * schema change makes a new one. Creation is serialised with an advisory lock: test files start in parallel.
 */
async function ensureTemplate(): Promise<string> {
  const template = `facteur_tpl_${migrationsFingerprint()}`;
  return withAdmin(async (client) => {
    await client.query('select pg_advisory_lock(7318200)');
    try {
      const exists = await client.query('select 1 from pg_database where datname = $1', [template]);
      if (exists.rowCount === 0) {
        const building = `${template}_build`;
        await client.query(`drop database if exists ${building} with (force)`);
        await client.query(`create database ${building}`);
        const store = openStore({ kind: 'postgres', url: databaseUrl(building) });
        try {
          await migrateToLatest(store);
        } finally {
          await store.close();
        }
        await client.query(`alter database ${building} rename to ${template}`);
      }
      return template;
    } finally {
      await client.query('select pg_advisory_unlock(7318200)');
    }
  });
}
