import { feedbackConfig } from './feedback-variables.js';
import { ParseProblem } from './parsers.js';
import type { BootConfig, ConfigProblem, ParseContext, ParseOptions, ParseResult } from './types.js';
import { BOOT_VARIABLES, type BootKey, type BootValues, type BootVariable } from './variables.js';

/** Variables read by the CLI or the tests rather than by the server. */
const IGNORED_NAMES = new Set(['FACTEUR_TEST_DB', 'FACTEUR_TEST_POSTGRES_URL']);

const KNOWN_NAMES = new Set(Object.values(BOOT_VARIABLES).map((v) => v.name));

/** Parses every `FACTEUR_*` variable of `env`, collecting all problems instead of stopping at the first. */
export function parseBootConfig(
  env: Record<string, string | undefined>,
  options: ParseOptions = {},
): ParseResult {
  const problems: ConfigProblem[] = [];
  const values = readVariables(env, options, problems);
  const warnings = unknownVariables(env);
  if (problems.length > 0) return { ok: false, problems, warnings };
  return { ok: true, config: deepFreeze(assemble(values)), warnings };
}

/** Reads every variable of the table, in its order; a bad value adds a problem and reads as unset. */
function readVariables(
  env: Record<string, string | undefined>,
  options: ParseOptions,
  problems: ConfigProblem[],
): BootValues {
  const read = new Map<BootKey, unknown>();
  const value = <K extends BootKey>(key: K): BootValues[K] => {
    if (!read.has(key))
      read.set(key, readVariable(BOOT_VARIABLES[key] as BootVariable<unknown>, env, context, problems));
    return read.get(key) as BootValues[K];
  };
  const context: ParseContext = {
    cwd: options.cwd ?? process.cwd(),
    isTty: options.isTty ?? false,
    dataDir: () => value('dataDir'),
    synchronous: () => value('synchronous'),
    smtpServer: () => value('smtpServer'),
  };
  const keys = Object.keys(BOOT_VARIABLES) as BootKey[];
  return Object.fromEntries(keys.map((key) => [key, value(key)])) as BootValues;
}

function readVariable<T>(
  variable: BootVariable<T>,
  env: Record<string, string | undefined>,
  context: ParseContext,
  problems: ConfigProblem[],
): T {
  const unset = (): T =>
    typeof variable.unset === 'string'
      ? variable.parse(variable.unset, context)
      : variable.unset.value(context);
  const raw = env[variable.name];
  if (raw === undefined || raw.trim() === '') return unset();
  try {
    return variable.parse(raw.trim(), context);
  } catch (error) {
    const message = error instanceof ParseProblem ? error.message : String(error);
    const shown = variable.redact ? variable.redact(raw) : raw;
    problems.push({ variable: variable.name, message: `${message} (got ${JSON.stringify(shown)})` });
    return unset();
  }
}

function assemble(v: BootValues): BootConfig {
  return {
    host: v.host,
    port: v.port,
    dataDir: v.dataDir,
    database: v.database,
    secretKey: v.secretKey,
    log: { level: v.logLevel, format: v.logFormat },
    http: { bodyLimitBytes: v.bodyLimitBytes, trustProxy: v.trustProxy },
    smtp: {
      server: v.smtpServer,
      poolSize: v.smtpPoolSize,
      connectTimeoutMs: v.smtpConnectTimeoutMs,
      greetingTimeoutMs: v.smtpGreetingTimeoutMs,
      socketTimeoutMs: v.smtpSocketTimeoutMs,
      sendTimeoutMs: v.smtpSendTimeoutMs,
    },
    transports: v.transports,
    catcher: { port: v.catcherPort, retain: v.catcherRetain },
    mail: {
      defaultFrom: v.mailFrom,
      sendConcurrency: v.sendConcurrency,
      retryScheduleMs: v.sendRetryScheduleMs,
    },
    jobs: {
      leaseMs: v.jobLeaseMs,
      pollIntervalMs: v.jobPollIntervalMs,
      retentionMs: v.jobRetentionMs,
      shutdownTimeoutMs: v.shutdownTimeoutMs,
    },
    webhooks: { concurrency: v.webhookConcurrency },
    network: { privateTargets: v.privateTargets },
    alerts: { emailTo: v.alertEmailTo },
    inbound: { parseWorkers: v.parseWorkers },
    reports: { sqliteDir: v.reportSqliteDir },
    campaigns: { publicUrl: v.publicUrl, window: v.campaignWindow, stallAfterMs: v.campaignStallAfterMs },
    access: {
      sessionIdleMs: v.sessionIdleMs,
      sessionMaxAgeMs: v.sessionMaxAgeMs,
      loginLockMs: v.loginLockMs,
      loginLinkTtlMs: v.loginLinkTtlMs,
    },
    audit: { retentionMs: v.auditRetentionMs },
    dependencies: {
      windowMs: v.dependencyWindowMs,
      failures: v.dependencyAlertFailures,
      latencyMs: v.dependencyAlertLatencyMs,
      errorRate: v.dependencyAlertErrorRate,
      minSamples: v.dependencyAlertMinSamples,
      probeIntervalMs: v.probeIntervalMs,
      probeTimeoutMs: v.probeTimeoutMs,
    },
    feedback: feedbackConfig(v),
  };
}

/** A warning for each `FACTEUR_*` name that no variable has, with the closest known name. */
function unknownVariables(env: Record<string, string | undefined>): ConfigProblem[] {
  const warnings: ConfigProblem[] = [];
  for (const name of Object.keys(env)) {
    if (name.startsWith('FACTEUR_') && !KNOWN_NAMES.has(name) && !IGNORED_NAMES.has(name)) {
      const hint = closestName(name);
      warnings.push({
        variable: name,
        message: `unknown variable; it has no effect${hint ? ` (did you mean ${hint}?)` : ''}`,
      });
    }
  }
  return warnings;
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
