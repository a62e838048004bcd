import { isAbsolute, relative, resolve } from 'node:path';
import pg from 'pg';
import type { Agent } from 'undici';
import { AppError } from '../core/errors.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import type { ReportSecrets, ReportSettings } from './model.js';
import { querySqlite, tooMany } from './sqlite-source.js';

/**
 * Data sources, fetched at run time: an HTTP URL answering JSON (through the SSRF guard), a
 * read-only SQL query against PostgreSQL (in a READ ONLY transaction with a statement timeout)
 * or SQLite (opened read-only, in a worker thread that is stopped at the timeout), data pushed
 * in the trigger request, or none. Every failure is an AppError with a REPORT_DATA_* code
 * that says whether trying again may help.
 */

/** Largest JSON answer a data URL may give. */
export const MAX_DATA_BYTES = 5 * 1024 * 1024;

/** What a fetch produced: the template's `data`, and facts for the stage. */
export interface Fetched {
  data: Record<string, unknown>;
  detail: Record<string, unknown>;
}

/** What a fetch needs. */
export interface SourceDeps {
  guard: TargetGuard;
  /** An undici agent whose connections go through the guard. */
  agent: Agent;
  sqliteDir: string | undefined;
}

/** The parts of a SQL URL; null when it is not one. */
export function describeSqlUrl(
  url: string,
):
  | { dialect: 'postgres'; target: string; host: string }
  | { dialect: 'sqlite'; target: string; path: string }
  | null {
  if (/^sqlite:/i.test(url)) {
    const path = url.replace(/^sqlite:(\/\/(?=\/))?/i, '');
    return isAbsolute(path) ? { dialect: 'sqlite', target: path, path } : null;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') return null;
  if (!parsed.hostname) return null;
  const port = parsed.port || '5432';
  return {
    dialect: 'postgres',
    target: `${parsed.hostname}:${port}${parsed.pathname}`,
    host: parsed.hostname,
  };
}

function invalid(field: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', `${field}: ${message}`, {
    details: [{ in: 'body', field, message }],
  });
}

/** Save-time checks with I/O: every URL a run connects to must pass the SSRF guard. */
export async function checkDataSource(
  deps: { guard: TargetGuard; sqliteDir: string | undefined },
  settings: ReportSettings,
  secrets: ReportSecrets,
): Promise<void> {
  const { data } = settings;
  if (data.type === 'http') {
    const url = await deps.guard.checkUrl(data.url, 'data.url');
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw invalid('data.url', 'must be an http or https URL');
  }
  if (data.type === 'sql') {
    const described = describeSqlUrl(secrets.sqlUrl ?? '');
    if (described?.dialect === 'postgres') await deps.guard.checkHost(described.host, 'data.url');
    if (described?.dialect === 'sqlite') sqlitePathProblem(deps.sqliteDir, described.path);
  }
  if (secrets.pingUrl !== undefined) {
    const url = await deps.guard.checkUrl(secrets.pingUrl, 'pingUrl');
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw invalid('pingUrl', 'must be an http or https URL');
  }
}

/** Throws unless `path` is inside the directory SQLite sources may read. */
function sqlitePathProblem(dir: string | undefined, path: string): void {
  if (dir === undefined) {
    throw invalid(
      'data.url',
      'SQLite data sources are off; set FACTEUR_REPORT_SQLITE_DIR on the server to the directory their files are in',
    );
  }
  const inside = relative(resolve(dir), resolve(path));
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
    throw invalid('data.url', `must be a file under FACTEUR_REPORT_SQLITE_DIR (${dir})`);
  }
}

/** Fetches the report's data once (the run's retries are the job engine's). */
export async function fetchData(
  deps: SourceDeps,
  settings: ReportSettings,
  secrets: ReportSecrets,
  pushed: Record<string, unknown> | null,
  signal: AbortSignal,
): Promise<Fetched> {
  const { data } = settings;
  switch (data.type) {
    case 'none':
      return { data: pushed ?? {}, detail: { source: 'none' } };
    case 'push':
      if (pushed === null)
        throw new AppError(
          'REPORT_DATA_MISSING',
          'this report takes its data in the trigger request and none was sent',
          {
            retryable: false,
          },
        );
      return { data: pushed, detail: { source: 'push', keys: Object.keys(pushed).length } };
    case 'http':
      return fetchHttp(deps, data, secrets, signal);
    case 'sql': {
      const described = describeSqlUrl(secrets.sqlUrl ?? '');
      if (!described)
        throw new AppError('REPORT_DATA_SQL', 'the stored SQL URL cannot be read', { retryable: false });
      if (described.dialect === 'postgres')
        return queryPostgres(deps.guard, secrets.sqlUrl as string, data, signal);
      sqlitePathProblem(deps.sqliteDir, described.path);
      return querySqlite(described.path, data);
    }
  }
}

type HttpSource = Extract<ReportSettings['data'], { type: 'http' }>;
type SqlSource = Extract<ReportSettings['data'], { type: 'sql' }>;

async function fetchHttp(
  deps: SourceDeps,
  source: HttpSource,
  secrets: ReportSecrets,
  signal: AbortSignal,
): Promise<Fetched> {
  const url = new URL(source.url);
  const timeout = AbortSignal.timeout(source.timeoutMs);
  const headers: Record<string, string> = { accept: 'application/json', ...(secrets.headers ?? {}) };
  if (secrets.bearerToken) headers.authorization = `Bearer ${secrets.bearerToken}`;
  let status: number;
  let text: string;
  try {
    const response = await deps.agent.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers,
      signal: AbortSignal.any([signal, timeout]),
      headersTimeout: source.timeoutMs,
      bodyTimeout: source.timeoutMs,
    });
    status = response.statusCode;
    text = await readCapped(response.body, MAX_DATA_BYTES);
  } catch (error) {
    if (signal.aborted) throw signal.reason ?? error;
    throw httpFailure(error, source.timeoutMs, timeout.aborted);
  }
  if (status >= 400) {
    throw new AppError('REPORT_DATA_HTTP', `the data URL answered HTTP ${status}`, {
      retryable: status === 429 || status >= 500,
      details: { status },
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AppError(
      'REPORT_DATA_INVALID',
      `the data URL answered ${text.length} characters that are not JSON`,
      {
        retryable: false,
      },
    );
  }
  const data = Array.isArray(parsed) ? { rows: parsed } : parsed;
  if (typeof data !== 'object' || data === null) {
    throw new AppError(
      'REPORT_DATA_INVALID',
      'the data URL answered JSON that is not an object or an array',
      {
        retryable: false,
      },
    );
  }
  return {
    data: data as Record<string, unknown>,
    detail: { source: 'http', status, bytes: Buffer.byteLength(text) },
  };
}

async function readCapped(body: AsyncIterable<Buffer>, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) {
      throw new AppError('REPORT_DATA_INVALID', `the data URL answered more than ${max} bytes`, {
        retryable: false,
      });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function httpFailure(error: unknown, timeoutMs: number, timedOut: boolean): AppError {
  if (error instanceof AppError) return error;
  const code = (error as { code?: string }).code ?? '';
  if (timedOut || /TIMEOUT/i.test(code) || (error as Error).name === 'TimeoutError') {
    return new AppError('REPORT_DATA_TIMEOUT', `the data URL did not answer within ${timeoutMs} ms`, {
      cause: error,
    });
  }
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof AppError) return cause;
  return new AppError(
    'REPORT_DATA_UNREACHABLE',
    `cannot reach the data URL: ${(error as Error).message} ${code}`.trim(),
    {
      cause: error,
    },
  );
}

/** The query, capped: one row more than allowed tells that there were too many. */
function capped(query: string, maxRows: number): string {
  return `select * from (${query.trim().replace(/;\s*$/, '')}) as facteur_report_rows limit ${maxRows + 1}`;
}

async function queryPostgres(
  guard: TargetGuard,
  url: string,
  source: SqlSource,
  signal: AbortSignal,
): Promise<Fetched> {
  const parsed = new URL(url);
  let address: string;
  try {
    address = await guard.resolveForConnect(parsed.hostname);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError(
      'REPORT_DATA_UNREACHABLE',
      `cannot resolve ${parsed.hostname}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const sslmode = parsed.searchParams.get('sslmode');
  const client = new pg.Client({
    host: address,
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    database: decodeURIComponent(parsed.pathname.slice(1)) || undefined,
    connectionTimeoutMillis: source.timeoutMs,
    ...(sslmode && sslmode !== 'disable'
      ? { ssl: { servername: parsed.hostname, rejectUnauthorized: sslmode === 'verify-full' } }
      : {}),
  });
  const abort = (): void => void client.end().catch(() => undefined);
  signal.addEventListener('abort', abort, { once: true });
  try {
    await client.connect();
    await client.query('begin read only');
    await client.query(`set local statement_timeout = ${Math.round(source.timeoutMs)}`);
    const result = await client.query(capped(source.query, source.maxRows));
    await client.query('rollback');
    tooMany(result.rows, source.maxRows);
    return {
      data: { rows: result.rows, rowCount: result.rows.length, columns: result.fields.map((f) => f.name) },
      detail: { source: 'sql', dialect: 'postgres', rows: result.rows.length },
    };
  } catch (error) {
    if (signal.aborted) throw signal.reason ?? error;
    throw postgresFailure(error, source.timeoutMs);
  } finally {
    signal.removeEventListener('abort', abort);
    await client.end().catch(() => undefined);
  }
}

function postgresFailure(error: unknown, timeoutMs: number): AppError {
  if (error instanceof AppError) return error;
  const { code, message } = error as { code?: string; message?: string };
  if (code === '57014' || /timeout/i.test(message ?? ''))
    return new AppError('REPORT_DATA_TIMEOUT', `the query did not finish within ${timeoutMs} ms`, {
      cause: error,
    });
  if (code === '25006')
    return new AppError(
      'REPORT_DATA_SQL',
      `the query tried to write in a read-only transaction: ${message}`,
      {
        retryable: false,
        cause: error,
      },
    );
  if (code && /^(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ECONNRESET|57P0[13]|08\w{3})$/.test(code))
    return new AppError('REPORT_DATA_UNREACHABLE', `cannot reach the database: ${message}`, { cause: error });
  if (code === '28P01' || code === '28000')
    return new AppError('REPORT_DATA_SQL', `the database refused the login: ${message}`, {
      retryable: false,
      cause: error,
    });
  return new AppError('REPORT_DATA_SQL', `the query failed: ${message}`, {
    retryable: false,
    cause: error,
    details: { sqlState: code ?? null },
  });
}
