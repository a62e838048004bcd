import { systemClock } from '../core/clock.js';
import type { BootConfig } from '../core/config/index.js';
import { ensureSecretKeyMatches, loadOrCreateSecretKey } from '../core/crypto/index.js';
import type { Store } from '../core/db/index.js';
import { TargetGuard } from '../core/net/ssrf.js';
import type { Logger } from '../core/observability/index.js';
import {
  type CheckReport,
  type DoctorDeps,
  doctorAll,
  doctorImap,
  doctorSmtp,
  doctorTransport,
  doctorWebhook,
  formatStage,
  type StageResult,
  smtpTarget,
  transportLabel,
} from '../doctor/index.js';
import { Inbound } from '../inbound/index.js';
import { RuleStore } from '../rules/index.js';
import { Webhooks } from '../webhooks/index.js';
import { commandLogger, configOrExit, openMigratedStore, print } from './shared.js';

/**
 * `facteur doctor`: connection diagnostics from the configuration and the database, without a
 * running server. Each stage is printed as it completes (✓/✗, stage, time, facts, then the hint);
 * `--json` prints the reports instead. Exits 1 when a check failed.
 */

/** Which check: every one of the configuration, or one. */
export type DoctorCommand =
  | { kind: 'all' }
  | { kind: 'smtp'; url?: string; sendTo?: string }
  | { kind: 'transport'; transport: string }
  | { kind: 'imap'; mailbox: string }
  | { kind: 'webhook'; endpoint: string };

interface Opened {
  deps: DoctorDeps;
  close(): Promise<void>;
}

/** The settings the checks read: mailboxes and endpoints, their secrets unsealed with the instance key. */
async function openDeps(config: BootConfig, logger: Logger): Promise<Opened> {
  const clock = systemClock;
  const store: Store = await openMigratedStore(config, logger);
  try {
    const key = loadOrCreateSecretKey(config.dataDir, config.secretKey);
    await ensureSecretKeyMatches(store, key.key, clock.now());
    const guard = new TargetGuard(config.network.privateTargets);
    const webhooks = new Webhooks({
      store,
      clock,
      logger,
      secretKey: key.key,
      concurrency: 1,
      alertEmailTo: [],
      mail: { defaultFrom: config.mail.defaultFrom, retryScheduleMs: config.mail.retryScheduleMs },
      guard,
    });
    const rules = new RuleStore({ store, clock, logger });
    // watch: false, so that no watcher connects: the doctor only reads the mailboxes.
    const inbound = new Inbound({
      store,
      clock,
      logger,
      secretKey: key.key,
      webhooks,
      rules,
      parseWorkers: 0,
      watch: false,
      guard,
    });
    return {
      deps: { clock, guard, smtp: smtpTarget(config), webhooks, inbound, live: false },
      close: async () => {
        await inbound.stop();
        await webhooks.stop();
        rules.close();
        await store.close();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** Prints stages as they complete, unless the output is JSON. */
function printer(json: boolean): {
  onStage?: (stage: StageResult) => void;
  onCheck?: (check: string, target: string) => void;
} {
  if (json) return {};
  let first = true;
  return {
    onCheck: (check, target) => {
      if (!first) print();
      first = false;
      print(`${check} ${target}`);
    },
    onStage: (stage) => {
      for (const line of formatStage(stage)) print(`  ${line}`);
    },
  };
}

function failedStage(report: CheckReport): string {
  return report.stages.find((s) => s.outcome === 'failed')?.stage ?? '?';
}

function summary(reports: readonly CheckReport[]): string {
  const failed = reports.filter((r) => !r.ok);
  if (failed.length === 0)
    return `\n${reports.length === 1 ? 'The check passed.' : `All ${reports.length} checks passed.`}`;
  return `\n${failed.length} of ${reports.length} check(s) failed: ${failed.map((r) => `${r.check} ${r.target} (${failedStage(r)})`).join(', ')}`;
}

/** Runs `facteur doctor [smtp|transport|imap|webhook]`; returns the exit code. */
export async function doctorCommand(command: DoctorCommand, options: { json?: boolean }): Promise<number> {
  const config = configOrExit();
  const logger = commandLogger(config);
  const json = Boolean(options.json);
  const out = printer(json);
  if (command.kind === 'smtp' || command.kind === 'transport') {
    // No database needed: the transports come from the environment or the command line.
    const deps = {
      clock: systemClock,
      guard: new TargetGuard(config.network.privateTargets),
      smtp: smtpTarget(config),
    };
    const { transports } = deps.smtp;
    const name = command.kind === 'transport' ? command.transport : undefined;
    const configured =
      name !== undefined
        ? (transports.find((t) => t.name === name) ??
          transports.find((t) => t.name.toLowerCase() === name.toLowerCase()))
        : transports.find((t) => t.kind === 'smtp');
    const [check, target] =
      command.kind === 'smtp' && command.url !== undefined
        ? ['smtp', shownTarget(command.url)]
        : configured
          ? transportLabel(configured)
          : ['transport', '?'];
    let announced = false;
    // Announced with the first stage: a URL that does not parse, or an unknown name, is an error, not a check.
    const onStage = (stage: StageResult): void => {
      if (!announced) out.onCheck?.(check, target);
      announced = true;
      out.onStage?.(stage);
    };
    const report =
      command.kind === 'transport'
        ? await doctorTransport(deps, command.transport, onStage)
        : await doctorSmtp(
            deps,
            {
              ...(command.url !== undefined ? { url: command.url } : {}),
              ...(command.sendTo !== undefined ? { sendTo: command.sendTo } : {}),
              places: {
                url: { in: 'argument', field: 'URL' },
                sendTo: { in: 'argument', field: '--send-to' },
              },
            },
            onStage,
          );
    return finish([report], json, false);
  }
  const opened = await openDeps(config, logger);
  try {
    if (command.kind === 'all') {
      const reports = await doctorAll(opened.deps, out);
      return finish(reports, json, true);
    }
    const name = command.kind === 'imap' ? command.mailbox : command.endpoint;
    out.onCheck?.(command.kind, name);
    const report =
      command.kind === 'imap'
        ? await doctorImap(opened.deps, name, out.onStage)
        : await doctorWebhook(opened.deps, name, out.onStage);
    return finish([report], json, false);
  } finally {
    await opened.close();
  }
}

/** A URL given on the command line as shown: scheme, host and port, never the credentials. */
function shownTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return '(URL)';
  }
}

function finish(reports: CheckReport[], json: boolean, all: boolean): number {
  const ok = reports.every((r) => r.ok);
  if (json) print(JSON.stringify(all ? { ok, checks: reports } : reports[0]));
  else print(summary(reports));
  return ok ? 0 : 1;
}
