import type { TargetPolicy } from '../net/ssrf.js';
import type { FeedbackConfig } from './feedback-variables.js';
import type { TrustProxy } from './parsers.js';
import type { SmtpServerConfig } from './smtp-url.js';
import type { TransportConfig } from './transport-url.js';

/** The log levels pino accepts. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** SQLite's `synchronous` pragma as Facteur offers it. */
export type SqliteSynchronous = 'full' | 'normal';

/** Where data lives. */
export type DatabaseConfig =
  | { kind: 'sqlite'; path: string; synchronous: SqliteSynchronous }
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
  /** `trustProxy`: FACTEUR_TRUST_PROXY, Fastify's own option. */
  http: { bodyLimitBytes: number; trustProxy: TrustProxy };
  smtp: {
    /** The relay to send through; undefined means the built-in catcher. */
    server: SmtpServerConfig | undefined;
    poolSize: number;
    connectTimeoutMs: number;
    greetingTimeoutMs: number;
    socketTimeoutMs: number;
    sendTimeoutMs: number;
  };
  /** Transports in failover order (FACTEUR_TRANSPORTS, or FACTEUR_SMTP_URL alone); empty: the catcher. */
  transports: TransportConfig[];
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
  /** Reports: the directory SQLite data sources may read (undefined: none). */
  reports: { sqliteDir: string | undefined };
  /** Campaigns: the public base URL of unsubscribe links (undefined: the listen URL), the in-flight window, the stall alert. */
  campaigns: { publicUrl: string | undefined; window: number; stallAfterMs: number };
  /** Dashboard sign-in: session lifetimes, the login lock, sign-in links' lifetime. */
  access: { sessionIdleMs: number; sessionMaxAgeMs: number; loginLockMs: number; loginLinkTtlMs: number };
  /** The audit log: how long entries are kept. */
  audit: { retentionMs: number };
  /** Watching dependencies: alert thresholds over a rolling window, and active probes (interval 0: off). */
  dependencies: {
    windowMs: number;
    failures: number;
    latencyMs: number | null;
    errorRate: number | null;
    minSamples: number;
    probeIntervalMs: number;
    probeTimeoutMs: number;
  };
  /** The providers' bounce webhooks: each provider's credential or key (undefined: its route answers 404). */
  feedback: FeedbackConfig;
}

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

/**
 * What a variable's parser and computed default may use besides the raw value. The values of
 * other variables are functions: each is parsed on first use, so the table's order does not
 * have to follow the dependencies.
 */
export interface ParseContext {
  cwd: string;
  isTty: boolean;
  /** FACTEUR_DATA_DIR, resolved. */
  dataDir: () => string;
  /** FACTEUR_SQLITE_SYNCHRONOUS. */
  synchronous: () => SqliteSynchronous;
  /** FACTEUR_SMTP_URL (undefined when unset or invalid). */
  smtpServer: () => SmtpServerConfig | undefined;
}
