import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiKey } from '../../src/access/index.js';
import { type Clock, systemClock } from '../../src/core/clock.js';
import { parseBootConfig } from '../../src/core/config/index.js';
import { createLogger, silentLogger } from '../../src/core/observability/index.js';
import { type Facteur, type StartOptions, startFacteur } from '../../src/main.js';
import { createTestDatabase, type TestDatabase } from './database.js';

/**
 * A whole Facteur instance in the test process, on a fresh database of the run's dialect, with
 * free ports and an API key, plus a small JSON client for its API.
 */

/** FACTEUR_ALLOW_PRIVATE_TARGETS for tests: loopback only (the guard still refuses the rest). */
export const LOOPBACK_TARGETS = '127.0.0.0/8,::1/128';

/** A running test instance. */
export interface TestFacteur {
  facteur: Facteur;
  url: string;
  /** A valid API key. */
  key: string;
  database: TestDatabase;
  /** Calls the API with the key (unless `auth: false`); parses JSON answers. */
  request<T = Record<string, unknown>>(
    method: string,
    path: string,
    options?: RequestOptions,
  ): Promise<ApiResponse<T>>;
  /** Stops the instance (drains), keeping its database for inspection. */
  stop(): Promise<void>;
  /** Stops the instance and drops its database. */
  close(): Promise<void>;
}

/** Options of one request. */
export interface RequestOptions {
  /** Sent as JSON unless it is a string (sent as is). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Send the API key (default true). */
  auth?: boolean;
}

/** An answer. */
export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

/**
 * Starts an instance. `env` adds or overrides FACTEUR_* variables (e.g. FACTEUR_SMTP_URL);
 * `logLines` collects every log line (debug and up) as JSON text.
 */
export async function startTestFacteur(
  env: Record<string, string> = {},
  options: { clock?: Clock; logLines?: string[]; lookup?: StartOptions['lookup'] } = {},
): Promise<TestFacteur> {
  const database = await createTestDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'facteur-data-'));
  const parsed = parseBootConfig({
    FACTEUR_DATA_DIR: dataDir,
    FACTEUR_DATABASE_URL: database.url,
    FACTEUR_SQLITE_SYNCHRONOUS: 'normal',
    FACTEUR_PORT: '0',
    FACTEUR_CATCHER_PORT: '0',
    FACTEUR_LOG_LEVEL: 'silent',
    FACTEUR_SHUTDOWN_TIMEOUT: '2s',
    // Receivers, Dovecot and token servers of the tests listen on loopback.
    FACTEUR_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
    ...env,
  });
  if (!parsed.ok) throw new Error(`test config invalid: ${JSON.stringify(parsed.problems)}`);
  const clock = options.clock ?? systemClock;
  const lines = options.logLines;
  const logger = lines
    ? createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } })
    : silentLogger();
  const facteur = await startFacteur(parsed.config, {
    logger,
    clock,
    ...(options.lookup ? { lookup: options.lookup } : {}),
  });
  // An admin key: the helpers and the fuzz test call every route.
  const { key } = await createApiKey({ store: facteur.store, clock, logger }, 'test', 'admin');
  const request = async <T>(
    method: string,
    path: string,
    requestOptions: RequestOptions = {},
  ): Promise<ApiResponse<T>> => {
    const headers: Record<string, string> = {
      ...(requestOptions.auth === false ? {} : { authorization: `Bearer ${key}` }),
      ...requestOptions.headers,
    };
    let body: string | undefined;
    if (requestOptions.body !== undefined) {
      body =
        typeof requestOptions.body === 'string' ? requestOptions.body : JSON.stringify(requestOptions.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${facteur.url}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    const text = await response.text();
    let parsedBody: unknown = text;
    try {
      parsedBody = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON (metrics): keep the text
    }
    return { status: response.status, headers: response.headers, body: parsedBody as T };
  };
  return {
    facteur,
    url: facteur.url,
    key,
    database,
    request,
    stop: () => facteur.stop(),
    close: async () => {
      await facteur.stop();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
