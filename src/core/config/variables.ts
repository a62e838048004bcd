import { isAbsolute, resolve } from 'node:path';
import { addressProblem, parseMailbox } from '../email-address.js';
import { PUBLIC_TARGETS_ONLY, parseTargetPolicy, type TargetPolicy } from '../net/ssrf.js';
import {
  ParseProblem,
  parseChoice,
  parseDuration,
  parseDurationList,
  parseInteger,
  parsePort,
  parseSize,
} from './parsers.js';
import { parseSmtpUrl, type SmtpServerConfig } from './smtp-url.js';

/**
 * The table of every `FACTEUR_*` boot variable: its default, the form it expects and how it is
 * parsed. `docs/configuration.md` documents exactly these (a test checks it).
 */

/** The log levels pino accepts. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Where data lives. */
export type DatabaseConfig =
  | { kind: 'sqlite'; path: string; synchronous: 'full' | 'normal' }
  | { kind: 'postgres'; url: string };

/** The parsed, frozen boot configuration. */
export interface BootConfig {
  host: string;
  port: number;
  dataDir: string;
  database: DatabaseConfig;
  /** The at-rest encryption key (32 bytes) if given; otherwise one is kept in the data dir. */
  secretKey: Buffer | undefined;
  log: { level: (typeof LOG_LEVELS)[number]; format: 'json' | 'pretty' };
  http: { bodyLimitBytes: number };
  smtp: {
    /** The relay to send through; undefined means the built-in catcher. */
    server: SmtpServerConfig | undefined;
    poolSize: number;
    connectTimeoutMs: number;
    greetingTimeoutMs: number;
    socketTimeoutMs: number;
    sendTimeoutMs: number;
  };
  catcher: { port: number; retain: number };
  mail: { defaultFrom: string; sendConcurrency: number; retryScheduleMs: number[] };
  jobs: { leaseMs: number; pollIntervalMs: number; retentionMs: number; shutdownTimeoutMs: number };
  webhooks: { concurrency: number };
  /** The SSRF guard's policy: which non-public addresses outbound connections may reach. */
  network: { privateTargets: TargetPolicy };
  /** Where alerts (retries exhausted, endpoint disabled) are emailed, besides alert endpoints. */
  alerts: { emailTo: string[] };
  /** Inbound mail: parser worker threads (0: the main thread). */
  inbound: { parseWorkers: number };
}

/** One documented variable. */
export interface VariableSpec {
  name: string;
  /** The default as written in the docs, or undefined when there is none. */
  default: string | undefined;
  /** The expected form, for docs and error messages. */
  form: string;
  description: string;
}

/** Every boot variable, in documentation order. */
export const VARIABLES: readonly VariableSpec[] = [
  {
    name: 'FACTEUR_HOST',
    default: '127.0.0.1',
    form: 'host name or IP',
    description: 'Address the HTTP API listens on.',
  },
  {
    name: 'FACTEUR_PORT',
    default: '8080',
    form: 'port 0-65535',
    description: 'HTTP API port (0 picks a free one).',
  },
  {
    name: 'FACTEUR_DATA_DIR',
    default: './data',
    form: 'directory path',
    description: 'Where the SQLite database and the generated secret key live.',
  },
  {
    name: 'FACTEUR_DATABASE_URL',
    default: 'sqlite:<data dir>/facteur.db',
    form: 'sqlite:<path> or postgres://user:pass@host:port/db',
    description: 'The database.',
  },
  {
    name: 'FACTEUR_SQLITE_SYNCHRONOUS',
    default: 'full',
    form: 'full or normal',
    description:
      'SQLite durability: with `full`, a transaction is on disk (power-loss safe) before it is acknowledged; `normal` survives a process crash only.',
  },
  {
    name: 'FACTEUR_SECRET_KEY',
    default: undefined,
    form: '32 bytes as base64 or 64 hex digits',
    description:
      'Key that encrypts secrets at rest. Unset: generated into `<data dir>/secret.key` (mode 0600) on first start.',
  },
  { name: 'FACTEUR_LOG_LEVEL', default: 'info', form: LOG_LEVELS.join(', '), description: 'Log verbosity.' },
  {
    name: 'FACTEUR_LOG_FORMAT',
    default: 'pretty on a terminal, json otherwise',
    form: 'json or pretty',
    description: 'Log format.',
  },
  {
    name: 'FACTEUR_HTTP_BODY_LIMIT',
    default: '5mb',
    form: 'size like 512kb, 5mb',
    description: 'Largest accepted request body; larger ones get 413.',
  },
  {
    name: 'FACTEUR_ALLOW_PRIVATE_TARGETS',
    default: 'false',
    form: 'false, true, or CIDR ranges like 127.0.0.0/8,10.0.0.0/8,fd00::/8',
    description:
      "Which non-public addresses Facteur may connect to on a user's behalf (webhook endpoints, mailbox IMAP hosts, OAuth token URLs): none, all, or those ranges. Cloud metadata addresses (169.254.169.254, fd00:ec2::254, ...) are refused whatever this says.",
  },
  {
    name: 'FACTEUR_SMTP_URL',
    default: undefined,
    form: 'smtp://[user:pass@]host[:port][?starttls=required|opportunistic|off][&tls_verify=false] or smtps://...',
    description: 'SMTP relay to send through. Unset: the built-in mail catcher.',
  },
  {
    name: 'FACTEUR_SMTP_POOL_SIZE',
    default: '5',
    form: 'whole number 1-100',
    description: 'Pooled SMTP connections.',
  },
  {
    name: 'FACTEUR_SMTP_CONNECT_TIMEOUT',
    default: '10s',
    form: 'duration',
    description: 'Time allowed to open the TCP (and TLS) connection.',
  },
  {
    name: 'FACTEUR_SMTP_GREETING_TIMEOUT',
    default: '10s',
    form: 'duration',
    description: 'Time allowed for the server greeting after connecting.',
  },
  {
    name: 'FACTEUR_SMTP_SOCKET_TIMEOUT',
    default: '30s',
    form: 'duration',
    description: 'Longest silence from the server during a conversation.',
  },
  {
    name: 'FACTEUR_SMTP_SEND_TIMEOUT',
    default: '60s',
    form: 'duration',
    description: 'Longest time one send attempt may take in total.',
  },
  {
    name: 'FACTEUR_CATCHER_PORT',
    default: '1025',
    form: 'port 0-65535',
    description: 'Port of the built-in mail catcher (used when FACTEUR_SMTP_URL is unset).',
  },
  {
    name: 'FACTEUR_CATCHER_RETAIN',
    default: '1000',
    form: 'whole number 1-1000000',
    description: 'Messages the catcher keeps; older ones are deleted.',
  },
  {
    name: 'FACTEUR_MAIL_FROM',
    default: 'Facteur <facteur@localhost>',
    form: 'email address, optionally "Name <addr>"',
    description: 'Sender used when a message has no `from`.',
  },
  {
    name: 'FACTEUR_SEND_CONCURRENCY',
    default: '10',
    form: 'whole number 1-1000',
    description: 'Messages sent at the same time by one process.',
  },
  {
    name: 'FACTEUR_SEND_RETRY_SCHEDULE',
    default: '10s,1m,5m,15m,30m,1h,2h,4h',
    form: 'comma-separated durations',
    description:
      'Delay before each retry of a failed send (jittered by ±10%); the list length is the number of retries.',
  },
  {
    name: 'FACTEUR_WEBHOOK_CONCURRENCY',
    default: '100',
    form: 'whole number 1-1000',
    description:
      'Webhook deliveries in flight at once in one process, all endpoints together; each endpoint also has its own `concurrency`.',
  },
  {
    name: 'FACTEUR_ALERT_EMAIL',
    default: undefined,
    form: 'comma-separated email addresses',
    description:
      'Who is emailed (through the outbox) when a webhook delivery exhausts its retries or an endpoint is disabled or about to be. Unset: alerts go only to endpoints subscribed to `facteur.alert.*`.',
  },
  {
    name: 'FACTEUR_INBOUND_PARSE_WORKERS',
    default: '1',
    form: 'whole number 0-16',
    description:
      'Worker threads that parse inbound mail, so a large message never stalls the server; 0 parses on the main thread.',
  },
  {
    name: 'FACTEUR_JOB_LEASE',
    default: '15s',
    form: 'duration, at least 1s',
    description:
      "How long a claimed job stays reserved without renewal; a crashed process's jobs return to the queue after this.",
  },
  {
    name: 'FACTEUR_JOB_POLL_INTERVAL',
    default: '1s',
    form: 'duration',
    description:
      'Safety-net poll for due jobs (enqueues wake workers at once; this catches jobs written by other processes on SQLite).',
  },
  {
    name: 'FACTEUR_JOB_RETENTION',
    default: '7d',
    form: 'duration',
    description:
      'How long succeeded and cancelled jobs are kept; failed and dead jobs are kept until replayed.',
  },
  {
    name: 'FACTEUR_SHUTDOWN_TIMEOUT',
    default: '20s',
    form: 'duration',
    description: 'On SIGTERM, how long running jobs may finish before they are put back in the queue.',
  },
];

const KNOWN_NAMES = new Set(VARIABLES.map((v) => v.name));

/** One problem with the configuration: the variable and what is wrong. */
export interface ConfigProblem {
  variable: string;
  message: string;
}

/** The result of parsing: a config, or every problem found. */
export type ParseResult =
  | { ok: true; config: BootConfig; warnings: ConfigProblem[] }
  | { ok: false; problems: ConfigProblem[]; warnings: ConfigProblem[] };

/** Options for `parseBootConfig`. */
export interface ParseOptions {
  /** Directory relative paths resolve against (default: process.cwd()). */
  cwd?: string;
  /** Whether stdout is a terminal (decides the default log format). */
  isTty?: boolean;
}

/** Parses every `FACTEUR_*` variable of `env`, collecting all problems instead of stopping at the first. */
export function parseBootConfig(
  env: Record<string, string | undefined>,
  options: ParseOptions = {},
): ParseResult {
  const cwd = options.cwd ?? process.cwd();
  const problems: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];

  const read = <T>(name: string, fallback: T, parse: (raw: string) => T): T => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    try {
      return parse(raw.trim());
    } catch (error) {
      const message = error instanceof ParseProblem ? error.message : String(error);
      problems.push({
        variable: name,
        message: `${message} (got ${JSON.stringify(redactForMessage(name, raw))})`,
      });
      return fallback;
    }
  };

  const host = read('FACTEUR_HOST', '127.0.0.1', (raw) => {
    if (/\s/.test(raw)) throw new ParseProblem('expected a host name or IP address without spaces');
    return raw;
  });
  const port = read('FACTEUR_PORT', 8080, parsePort);
  const dataDir = resolve(
    cwd,
    read('FACTEUR_DATA_DIR', './data', (raw) => raw),
  );
  const synchronous = read('FACTEUR_SQLITE_SYNCHRONOUS', 'full' as const, (raw) =>
    parseChoice(raw, ['full', 'normal'] as const),
  );
  const database = read<DatabaseConfig>(
    'FACTEUR_DATABASE_URL',
    { kind: 'sqlite', path: resolve(dataDir, 'facteur.db'), synchronous },
    (raw) => parseDatabaseUrl(raw, cwd, synchronous),
  );
  const secretKey = read<Buffer | undefined>('FACTEUR_SECRET_KEY', undefined, parseSecretKey);
  const level = read('FACTEUR_LOG_LEVEL', 'info' as BootConfig['log']['level'], (raw) =>
    parseChoice(raw, LOG_LEVELS),
  );
  const format = read('FACTEUR_LOG_FORMAT', options.isTty ? ('pretty' as const) : ('json' as const), (raw) =>
    parseChoice(raw, ['json', 'pretty'] as const),
  );
  const bodyLimitBytes = read('FACTEUR_HTTP_BODY_LIMIT', 5 * 1024 ** 2, (raw) => {
    const bytes = parseSize(raw);
    if (bytes < 1024) throw new ParseProblem('expected at least 1kb');
    return bytes;
  });
  const server = read<SmtpServerConfig | undefined>('FACTEUR_SMTP_URL', undefined, parseSmtpUrl);
  const poolSize = read('FACTEUR_SMTP_POOL_SIZE', 5, (raw) => parseInteger(raw, 1, 100));
  const positiveDuration = (raw: string): number => {
    const ms = parseDuration(raw);
    if (ms <= 0) throw new ParseProblem('expected a duration greater than zero');
    return ms;
  };
  const connectTimeoutMs = read('FACTEUR_SMTP_CONNECT_TIMEOUT', 10_000, positiveDuration);
  const greetingTimeoutMs = read('FACTEUR_SMTP_GREETING_TIMEOUT', 10_000, positiveDuration);
  const socketTimeoutMs = read('FACTEUR_SMTP_SOCKET_TIMEOUT', 30_000, positiveDuration);
  const sendTimeoutMs = read('FACTEUR_SMTP_SEND_TIMEOUT', 60_000, positiveDuration);
  const catcherPort = read('FACTEUR_CATCHER_PORT', 1025, parsePort);
  const catcherRetain = read('FACTEUR_CATCHER_RETAIN', 1000, (raw) => parseInteger(raw, 1, 1_000_000));
  const defaultFrom = read('FACTEUR_MAIL_FROM', 'Facteur <facteur@localhost>', (raw) => {
    const parsed = parseMailbox(raw);
    if ('problem' in parsed) {
      throw new ParseProblem(
        `expected an email address, like reports@example.com or "Reports <reports@example.com>"; this one ${parsed.problem}`,
      );
    }
    return raw;
  });
  const sendConcurrency = read('FACTEUR_SEND_CONCURRENCY', 10, (raw) => parseInteger(raw, 1, 1000));
  const retryScheduleMs = read(
    'FACTEUR_SEND_RETRY_SCHEDULE',
    [10_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000],
    parseDurationList,
  );
  const privateTargets = read('FACTEUR_ALLOW_PRIVATE_TARGETS', PUBLIC_TARGETS_ONLY, (raw) => {
    try {
      return parseTargetPolicy(raw);
    } catch (error) {
      throw new ParseProblem((error as Error).message);
    }
  });
  const webhookConcurrency = read('FACTEUR_WEBHOOK_CONCURRENCY', 100, (raw) => parseInteger(raw, 1, 1000));
  const alertEmailTo = read<string[]>('FACTEUR_ALERT_EMAIL', [], (raw) => {
    const addresses = raw
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== '');
    if (addresses.length === 0) throw new ParseProblem('expected at least one email address');
    for (const address of addresses) {
      const problem = addressProblem(address);
      if (problem)
        throw new ParseProblem(`expected email addresses separated by commas; ${address} ${problem}`);
    }
    return addresses;
  });
  const parseWorkers = read('FACTEUR_INBOUND_PARSE_WORKERS', 1, (raw) => parseInteger(raw, 0, 16));
  const leaseMs = read('FACTEUR_JOB_LEASE', 15_000, (raw) => {
    const ms = parseDuration(raw);
    if (ms < 1000) throw new ParseProblem('expected a duration of at least 1s');
    return ms;
  });
  const pollIntervalMs = read('FACTEUR_JOB_POLL_INTERVAL', 1000, positiveDuration);
  const retentionMs = read('FACTEUR_JOB_RETENTION', 7 * 86_400_000, positiveDuration);
  const shutdownTimeoutMs = read('FACTEUR_SHUTDOWN_TIMEOUT', 20_000, parseDuration);

  for (const name of Object.keys(env)) {
    if (name.startsWith('FACTEUR_') && !KNOWN_NAMES.has(name) && !IGNORED_NAMES.has(name)) {
      const hint = closestName(name);
      warnings.push({
        variable: name,
        message: `unknown variable; it has no effect${hint ? ` (did you mean ${hint}?)` : ''}`,
      });
    }
  }

  if (problems.length > 0) return { ok: false, problems, warnings };
  const config: BootConfig = {
    host,
    port,
    dataDir,
    database,
    secretKey,
    log: { level, format },
    http: { bodyLimitBytes },
    smtp: { server, poolSize, connectTimeoutMs, greetingTimeoutMs, socketTimeoutMs, sendTimeoutMs },
    catcher: { port: catcherPort, retain: catcherRetain },
    mail: { defaultFrom, sendConcurrency, retryScheduleMs },
    jobs: { leaseMs, pollIntervalMs, retentionMs, shutdownTimeoutMs },
    webhooks: { concurrency: webhookConcurrency },
    network: { privateTargets },
    alerts: { emailTo: alertEmailTo },
    inbound: { parseWorkers },
  };
  return { ok: true, config: deepFreeze(config), warnings };
}

/** Variables read by the CLI or the tests rather than by the server. */
const IGNORED_NAMES = new Set(['FACTEUR_TEST_DB', 'FACTEUR_TEST_POSTGRES_URL']);

function parseDatabaseUrl(raw: string, cwd: string, synchronous: 'full' | 'normal'): DatabaseConfig {
  if (/^postgres(ql)?:\/\//.test(raw)) {
    try {
      const url = new URL(raw);
      if (!url.hostname) throw new Error('no host');
    } catch {
      throw new ParseProblem('expected postgres://user:password@host:port/database');
    }
    return { kind: 'postgres', url: raw };
  }
  if (raw.startsWith('sqlite:')) {
    const path = raw.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '' || path === ':memory:') {
      throw new ParseProblem('expected sqlite:<file path> (an in-memory database would lose accepted work)');
    }
    return { kind: 'sqlite', path: isAbsolute(path) ? path : resolve(cwd, path), synchronous };
  }
  throw new ParseProblem('expected sqlite:<path> or postgres://user:password@host:port/database');
}

function parseSecretKey(raw: string): Buffer {
  const fromHex = /^[0-9a-fA-F]{64}$/.test(raw) ? Buffer.from(raw, 'hex') : undefined;
  const fromBase64 = /^[A-Za-z0-9+/_-]+={0,2}$/.test(raw) ? Buffer.from(raw, 'base64') : undefined;
  const key = fromHex ?? fromBase64;
  if (key?.length !== 32) {
    throw new ParseProblem(
      'expected 32 random bytes as base64 (44 characters) or hex (64 digits); generate one with `openssl rand -base64 32`',
    );
  }
  return key;
}

function redactForMessage(name: string, raw: string): string {
  if (name === 'FACTEUR_SECRET_KEY') return `${raw.length} characters`;
  if (name === 'FACTEUR_SMTP_URL' || name === 'FACTEUR_DATABASE_URL') {
    return raw.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
  }
  return raw;
}

function closestName(name: string): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const known of KNOWN_NAMES) {
    const distance = editDistance(name, known);
    if (distance <= 3 && (!best || distance < best.distance)) best = { name: known, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        previous + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      previous = current;
    }
  }
  return row[b.length] as number;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
