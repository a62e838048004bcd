import { resolve } from 'node:path';
import { parseTargetPolicy } from '../net/ssrf.js';
import { ACCESS_VARIABLES } from './access-variables.js';
import { AUDIT_VARIABLES } from './audit-variables.js';
import { CAMPAIGN_VARIABLES } from './campaign-variables.js';
import { DEPENDENCY_VARIABLES } from './dependency-variables.js';
import { FEEDBACK_VARIABLES } from './feedback-variables.js';
import { MAIL_VARIABLES } from './mail-variables.js';
import {
  ParseProblem,
  parseAddressList,
  parseChoice,
  parseDatabaseUrl,
  parseDuration,
  parseHost,
  parsePort,
  parsePositiveDuration,
  parseSecretKey,
  parseSize,
  parseTrustProxy,
  type TrustProxy,
} from './parsers.js';
import { type DatabaseConfig, LOG_LEVELS, type ParseContext } from './types.js';
import { DURATION_FORM, hidePassword, variable, wholeNumber } from './variable-kit.js';

/**
 * The one table of every `FACTEUR_*` boot variable: its name, how it is parsed, its default and
 * its documentation. `parseBootConfig` (boot.ts) reads the environment through it, and the
 * variable tables of `docs/configuration.md` are generated from it (docs-tables.ts; a test
 * checks that the file is up to date).
 */

/** The heading of `docs/configuration.md` whose table documents a variable. */
export type DocSection =
  | 'Server'
  | 'Storage'
  | 'Logging'
  | 'Outbound connections (SSRF guard)'
  | 'SMTP'
  | 'Transports'
  | 'Catcher'
  | 'Sending'
  | 'Webhooks and alerts'
  | 'Inbound mail'
  | 'Reports'
  | 'Campaigns'
  | 'Bounces from providers'
  | 'Jobs'
  | 'Watching dependencies'
  | 'Dashboard sign-in'
  | 'Audit log';

/**
 * The value of an unset (or empty) variable: either a string written as in the environment,
 * parsed like a set value and shown as the documented default; or computed from the context,
 * documented by `shown` (Markdown; no `shown`: the docs say `(none)`).
 */
export type Unset<T> = string | { shown?: string; value: (context: ParseContext) => T };

/** One boot variable. */
export interface BootVariable<T> {
  name: string;
  section: DocSection;
  /** The expected form, for the docs' Form column. */
  form: string;
  /** The docs' Meaning column (Markdown). */
  description: string;
  unset: Unset<T>;
  /** The value of a set variable (trimmed); throws a `ParseProblem` saying what was expected. */
  parse: (raw: string, context: ParseContext) => T;
  /** What an error message may show of a bad value (secrets and passwords are not echoed). */
  redact?: (raw: string) => string;
}

/**
 * Every boot variable, keyed by the name `boot.ts` assembles `BootConfig` from. The order is
 * the order of parsing, hence of the problems reported; within a section, the order of the docs.
 */
export const BOOT_VARIABLES = {
  host: variable({
    name: 'FACTEUR_HOST',
    section: 'Server',
    unset: '127.0.0.1',
    form: 'host name or IP',
    parse: parseHost,
    description:
      'Address the HTTP API listens on. Use `0.0.0.0` (or `::`) to listen on every interface, e.g. in a container.',
  }),
  port: variable({
    name: 'FACTEUR_PORT',
    section: 'Server',
    unset: '8080',
    form: 'port 0-65535',
    parse: parsePort,
    description: 'HTTP API port (0 picks a free one).',
  }),
  dataDir: variable({
    name: 'FACTEUR_DATA_DIR',
    section: 'Storage',
    unset: './data',
    form: 'directory path',
    parse: (raw, context) => resolve(context.cwd, raw),
    description:
      'Where the SQLite database and the generated secret key live. Created if missing. With the host name, it also names the instance as the holder of job and mailbox leases (a restart with the same one takes them back at once): give each instance on one host its own (see [operations.md](operations.md#several-instances-on-one-postgresql)).',
  }),
  database: variable<DatabaseConfig>({
    name: 'FACTEUR_DATABASE_URL',
    section: 'Storage',
    unset: {
      shown: '`sqlite:<data dir>/facteur.db`',
      value: (context) => ({
        kind: 'sqlite',
        path: resolve(context.dataDir(), 'facteur.db'),
        synchronous: context.synchronous(),
      }),
    },
    form: 'sqlite:<path> or postgres://user:pass@host:port/db',
    parse: (raw, context) => parseDatabaseUrl(raw, context.cwd, context.synchronous()),
    redact: hidePassword,
    description:
      'The database. `postgresql://` is accepted too. A relative `sqlite:` path is resolved against the working directory; `sqlite::memory:` is refused.',
  }),
  synchronous: variable({
    name: 'FACTEUR_SQLITE_SYNCHRONOUS',
    section: 'Storage',
    unset: 'full',
    form: 'full or normal',
    parse: (raw) => parseChoice(raw, ['full', 'normal'] as const),
    description:
      'SQLite durability: with `full`, a transaction is on disk (power-loss safe) before it is acknowledged; `normal` survives a process crash only. Ignored on PostgreSQL. See [operations.md](operations.md#sqlite-durability-and-throughput).',
  }),
  secretKey: variable<Buffer | undefined>({
    name: 'FACTEUR_SECRET_KEY',
    section: 'Storage',
    unset: { value: () => undefined },
    form: '32 bytes as base64 or 64 hex digits',
    parse: parseSecretKey,
    redact: (raw) => `${raw.length} characters`,
    description:
      "Key that encrypts secrets at rest. Unset: generated into `<data dir>/secret.key` (mode 0600) on first start. Generate one with `openssl rand -base64 32`. The first `facteur serve` records the key's check value in the database; a later start with another key fails with `CONFIG_INVALID`, so every instance sharing a database needs the same key (see [operations.md](operations.md#the-secret-key)).",
  }),
  logLevel: variable({
    name: 'FACTEUR_LOG_LEVEL',
    section: 'Logging',
    unset: 'info',
    form: LOG_LEVELS.join(', '),
    parse: (raw) => parseChoice(raw, LOG_LEVELS),
    description: 'Log verbosity.',
  }),
  logFormat: variable({
    name: 'FACTEUR_LOG_FORMAT',
    section: 'Logging',
    unset: {
      shown: '`pretty` on a terminal, `json` otherwise',
      value: (context) => (context.isTty ? 'pretty' : 'json'),
    },
    form: 'json or pretty',
    parse: (raw) => parseChoice(raw, ['json', 'pretty'] as const),
    description: 'Log format. `json` writes one JSON object per line on stdout.',
  }),
  bodyLimitBytes: variable({
    name: 'FACTEUR_HTTP_BODY_LIMIT',
    section: 'Server',
    unset: '5mb',
    form: 'size like 512kb, 5mb',
    parse: (raw) => {
      const bytes = parseSize(raw);
      if (bytes < 1024) throw new ParseProblem('expected at least 1kb');
      return bytes;
    },
    description:
      "Largest accepted request body; larger ones get 413. At least `1kb`. Set your reverse proxy's limit at least as high. `POST /api/ingress/raw` and `POST /api/ingress/gmail` have their own limit, 26 MB, whatever this variable.",
  }),
  trustProxy: variable<TrustProxy>({
    name: 'FACTEUR_TRUST_PROXY',
    section: 'Server',
    unset: { shown: '`false`', value: () => false },
    form: 'false, hops 1-10, or addresses/CIDRs',
    parse: parseTrustProxy,
    description:
      "Behind a reverse proxy, which proxies to believe about the client: `X-Forwarded-For` then gives the client's address (the login lock per address, the audit log) and `X-Forwarded-Proto` whether the session cookie is `Secure`. A comma-separated list of the proxies' addresses or CIDR ranges (`127.0.0.1`, `10.0.0.0/8`, or `loopback`, `linklocal`, `uniquelocal`), or the number of proxies in front. Unset, every client seems to be the proxy: one person's wrong passwords would lock everyone out by address.",
  }),
  ...MAIL_VARIABLES,
  privateTargets: variable({
    name: 'FACTEUR_ALLOW_PRIVATE_TARGETS',
    section: 'Outbound connections (SSRF guard)',
    unset: 'false',
    form: 'false, true, or CIDR ranges like 127.0.0.0/8,10.0.0.0/8,fd00::/8',
    parse: (raw) => {
      try {
        return parseTargetPolicy(raw);
      } catch (error) {
        throw new ParseProblem((error as Error).message);
      }
    },
    description:
      "Which non-public addresses Facteur may connect to on a user's behalf (webhook endpoints, mailbox IMAP hosts, OAuth token URLs): none, all, or those ranges. Cloud metadata addresses (169.254.169.254, fd00:ec2::254, ...) are refused whatever this says.",
  }),
  webhookConcurrency: variable({
    name: 'FACTEUR_WEBHOOK_CONCURRENCY',
    section: 'Webhooks and alerts',
    unset: '100',
    form: 'whole number 1-1000',
    parse: wholeNumber(1, 1000),
    description:
      'Webhook deliveries in flight at once in one process, all endpoints together; each endpoint also has its own `concurrency`.',
  }),
  alertEmailTo: variable<string[]>({
    name: 'FACTEUR_ALERT_EMAIL',
    section: 'Webhooks and alerts',
    unset: { value: () => [] },
    form: 'comma-separated email addresses',
    parse: parseAddressList,
    description:
      'Who is emailed (through the outbox) when a webhook delivery exhausts its retries or an endpoint is disabled or about to be. Unset: alerts go only to endpoints subscribed to `facteur.alert.*`.',
  }),
  parseWorkers: variable({
    name: 'FACTEUR_INBOUND_PARSE_WORKERS',
    section: 'Inbound mail',
    unset: '1',
    form: 'whole number 0-16',
    parse: wholeNumber(0, 16),
    description:
      'Worker threads that parse inbound mail, so a large message never stalls the server; 0 parses on the main thread.',
  }),
  reportSqliteDir: variable<string | undefined>({
    name: 'FACTEUR_REPORT_SQLITE_DIR',
    section: 'Reports',
    unset: { value: () => undefined },
    form: 'directory path',
    parse: (raw, context) => resolve(context.cwd, raw),
    description:
      'The directory whose SQLite files report data sources may read (`sqlite:/path/file.db`, opened read-only). Unset: SQLite data sources are refused; PostgreSQL ones need no setting.',
  }),
  jobLeaseMs: variable({
    name: 'FACTEUR_JOB_LEASE',
    section: 'Jobs',
    unset: '15s',
    form: 'duration, at least 1s',
    parse: (raw) => {
      const ms = parseDuration(raw);
      if (ms < 1000) throw new ParseProblem('expected a duration of at least 1s');
      return ms;
    },
    description:
      "How long a claimed job stays reserved without renewal; a crashed process's jobs return to the queue after this. Leases are renewed every third of this.",
  }),
  jobPollIntervalMs: variable({
    name: 'FACTEUR_JOB_POLL_INTERVAL',
    section: 'Jobs',
    unset: '1s',
    form: DURATION_FORM,
    parse: parsePositiveDuration,
    description:
      'Safety-net poll for due jobs (enqueues wake workers at once; this catches jobs written by other processes on SQLite).',
  }),
  jobRetentionMs: variable({
    name: 'FACTEUR_JOB_RETENTION',
    section: 'Jobs',
    unset: '7d',
    form: DURATION_FORM,
    parse: parsePositiveDuration,
    description:
      "How long succeeded and cancelled jobs are kept; failed and dead jobs are kept until replayed. Pruning runs at start and then about once an hour. Messages and their attempts are not pruned: once a sent message's job is deleted, `GET /api/jobs/{id}` answers `404` while the message stays readable.",
  }),
  shutdownTimeoutMs: variable({
    name: 'FACTEUR_SHUTDOWN_TIMEOUT',
    section: 'Jobs',
    unset: '20s',
    form: DURATION_FORM,
    parse: parseDuration,
    description:
      'On SIGTERM, how long running jobs may finish before they are put back in the queue. A job put back does not use up an attempt; its message returns to `queued` (see [operations.md](operations.md#sigterm-or-sigint)). `0s` puts them back at once.',
  }),
  ...CAMPAIGN_VARIABLES,
  ...ACCESS_VARIABLES,
  ...AUDIT_VARIABLES,
  ...DEPENDENCY_VARIABLES,
  ...FEEDBACK_VARIABLES,
};

/** The key of a boot variable in `BOOT_VARIABLES`. */
export type BootKey = keyof typeof BOOT_VARIABLES;

/** The parsed value of every boot variable, by key. */
export type BootValues = {
  [K in BootKey]: (typeof BOOT_VARIABLES)[K] extends BootVariable<infer T> ? T : never;
};

/** One documented variable, as the CLI and the docs test see it. */
export interface VariableSpec {
  name: string;
  /** The default as written in the docs (without Markdown), or undefined when there is none. */
  default: string | undefined;
  /** The expected form, for docs and error messages. */
  form: string;
  description: string;
}

/** The docs' Default cell of a variable (Markdown). */
export function documentedDefault(variable: BootVariable<unknown>): string {
  if (typeof variable.unset === 'string') return `\`${variable.unset}\``;
  return variable.unset.shown ?? '(none)';
}

/** Every boot variable, in the order of `BOOT_VARIABLES`. */
export const VARIABLES: readonly VariableSpec[] = Object.values(BOOT_VARIABLES).map(
  (v: BootVariable<unknown>) => ({
    name: v.name,
    default: typeof v.unset === 'string' ? v.unset : v.unset.shown?.replace(/`/g, ''),
    form: v.form,
    description: v.description,
  }),
);
