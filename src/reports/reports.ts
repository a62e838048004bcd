import { randomToken, safeEqual } from '../core/crypto/index.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import {
  SettingsCollection,
  type SettingsDeps,
  type SettingsKind,
  type SettingsRecord,
} from '../core/settings/index.js';
import type {
  DataSource,
  DataSourceInput,
  ReportInput,
  ReportPatch,
  ReportSecrets,
  ReportSettings,
  ReportStatus,
} from './model.js';
import { reportCreateSchema, reportPatchSchema } from './model.js';
import { checkDataSource, describeSqlUrl } from './sources.js';

/**
 * Reports: one kind of runtime setting (core/settings). The data source's credentials, the
 * ping URL and the trigger token are sealed; every process's scheduler follows the
 * collection's notification, so a changed schedule applies without a restart.
 */

/** The notification channel for report changes. */
export const REPORTS_CHANNEL = 'reports';

/** A report with its secrets in clear (never returned by the API in full). */
export interface Report extends SettingsRecord<ReportSettings, ReportSecrets & { triggerToken?: string }> {
  status: ReportStatus;
  /** When it was last resumed (null: never paused): slots while it was paused are not caught up. */
  resumedAt: number | null;
}

/** Dependencies of the report registry. */
export interface ReportDeps extends SettingsDeps {
  secretKey: Buffer;
  guard: TargetGuard;
  /** Directory SQLite data sources must be under (FACTEUR_REPORT_SQLITE_DIR); unset: none allowed. */
  sqliteDir: string | undefined;
}

type Secrets = Report['secrets'];

function splitSource(input: DataSourceInput): { data: DataSource; secrets: ReportSecrets } {
  if (input.type === 'http') {
    return {
      data: {
        type: 'http',
        url: input.url,
        headerNames: Object.keys(input.headers ?? {}),
        bearerToken: input.bearerToken !== undefined,
        timeoutMs: input.timeout,
        retries: input.retries,
      },
      secrets: {
        ...(input.bearerToken !== undefined ? { bearerToken: input.bearerToken } : {}),
        ...(input.headers ? { headers: input.headers } : {}),
      },
    };
  }
  if (input.type === 'sql') {
    const described = describeSqlUrl(input.url);
    return {
      data: {
        type: 'sql',
        dialect: described?.dialect ?? 'postgres',
        target: described?.target ?? '',
        query: input.query,
        timeoutMs: input.timeout,
        maxRows: input.maxRows,
        retries: input.retries,
      },
      secrets: { sqlUrl: input.url },
    };
  }
  return { data: input, secrets: {} };
}

function sourceInput(data: DataSource, secrets: Secrets): DataSourceInput {
  if (data.type === 'http') {
    return {
      type: 'http',
      url: data.url,
      ...(secrets.headers ? { headers: secrets.headers } : {}),
      ...(secrets.bearerToken !== undefined ? { bearerToken: secrets.bearerToken } : {}),
      timeout: data.timeoutMs,
      retries: data.retries,
    };
  }
  if (data.type === 'sql') {
    return {
      type: 'sql',
      url: secrets.sqlUrl ?? '',
      query: data.query,
      timeout: data.timeoutMs,
      maxRows: data.maxRows,
      retries: data.retries,
    };
  }
  return data;
}

/** What is particular to reports as settings. */
function reportKind(
  deps: ReportDeps,
): SettingsKind<ReportSettings, Secrets, ReportInput, ReportPatch, Report> {
  return {
    noun: 'report',
    table: 'reports',
    path: '/api/reports',
    channel: REPORTS_CHANNEL,
    columns: { status: true, secrets: true, position: false },
    createSchema: reportCreateSchema,
    patchSchema: reportPatchSchema,
    emptySecrets: {},
    prepare(input, current) {
      const { data, secrets } = splitSource(input.data);
      const { name, description, schedule, to, cc, bcc, from, replyTo, subject, html, text } = input;
      const before = current?.settings.schedule;
      const sameSchedule =
        before !== undefined &&
        before !== null &&
        schedule !== null &&
        before.cron === schedule.cron &&
        before.timezone === schedule.timezone;
      const settings: ReportSettings = {
        name,
        ...(description !== undefined ? { description } : {}),
        schedule: schedule
          ? {
              cron: schedule.cron.trim(),
              timezone: schedule.timezone,
              misfireGraceMs: schedule.misfireGrace,
              deadlineMs: schedule.deadline ?? null,
            }
          : null,
        // Slots before the schedule was set were never due: no misfire for them.
        scheduleSince:
          schedule === null
            ? null
            : sameSchedule
              ? (current?.settings.scheduleSince ?? null)
              : deps.clock.now(),
        to,
        cc,
        bcc,
        ...(from !== undefined ? { from } : {}),
        ...(replyTo !== undefined ? { replyTo } : {}),
        subject,
        ...(html !== undefined ? { html } : {}),
        ...(text !== undefined ? { text } : {}),
        inlineCss: input.inlineCss,
        data,
        attachCsv: input.attachCsv,
        ping: input.pingUrl !== null,
      };
      const problems: Array<{ field: string; message: string }> = [];
      if (html === undefined && text === undefined)
        problems.push({ field: 'html', message: 'html or text is required' });
      if (schedule !== null && input.data.type === 'push') {
        problems.push({
          field: 'data.type',
          message: 'a scheduled run has no pushed data: use an http or sql source, or remove the schedule',
        });
      }
      if (input.data.type === 'sql' && !describeSqlUrl(input.data.url)) {
        problems.push({
          field: 'data.url',
          message: 'must be postgres://user:password@host:port/database or sqlite:/absolute/path/file.db',
        });
      }
      return {
        settings,
        secrets: {
          ...secrets,
          ...(input.pingUrl !== null ? { pingUrl: input.pingUrl } : {}),
          // The trigger token survives every edit; it changes only when rotated.
          triggerToken: current?.secrets.triggerToken ?? randomToken(24),
        },
        problems,
      };
    },
    toInput: (report) => {
      const { settings: s, secrets } = report;
      return {
        name: s.name,
        ...(s.description !== undefined ? { description: s.description } : {}),
        schedule: s.schedule
          ? {
              cron: s.schedule.cron,
              timezone: s.schedule.timezone,
              misfireGrace: s.schedule.misfireGraceMs,
              ...(s.schedule.deadlineMs !== null ? { deadline: s.schedule.deadlineMs } : {}),
            }
          : null,
        to: s.to,
        cc: s.cc,
        bcc: s.bcc,
        ...(s.from !== undefined ? { from: s.from } : {}),
        ...(s.replyTo !== undefined ? { replyTo: s.replyTo } : {}),
        subject: s.subject,
        ...(s.html !== undefined ? { html: s.html } : {}),
        ...(s.text !== undefined ? { text: s.text } : {}),
        inlineCss: s.inlineCss,
        data: sourceInput(s.data, secrets),
        attachCsv: s.attachCsv,
        pingUrl: secrets.pingUrl ?? null,
      };
    },
    // A data source of the same type written without its secrets keeps the stored ones.
    merge: (current, patch) => {
      const merged = { ...current, ...patch } as ReportInput;
      if (patch.data && patch.data.type === current.data.type) {
        if (patch.data.type === 'http' && current.data.type === 'http') {
          merged.data = {
            ...patch.data,
            ...(patch.data.bearerToken === undefined && current.data.bearerToken !== undefined
              ? { bearerToken: current.data.bearerToken }
              : {}),
            ...(patch.data.headers === undefined && current.data.headers
              ? { headers: current.data.headers }
              : {}),
          };
        }
      }
      return merged;
    },
    // Every URL a run connects to must be one the SSRF guard lets Facteur reach.
    check: (settings, _before, secrets) => checkDataSource(deps, settings, secrets ?? {}),
    exportForm: (report) => {
      const { data, pingUrl: _ping, ...rest } = reportKind(deps).toInput(report);
      const source =
        data.type === 'http'
          ? { type: 'http', url: data.url, timeout: data.timeout, retries: data.retries }
          : data.type === 'sql'
            ? {
                type: 'sql',
                query: data.query,
                timeout: data.timeout,
                maxRows: data.maxRows,
                retries: data.retries,
              }
            : data;
      return { ...rest, data: source };
    },
    decorate: (record, row) => ({
      ...record,
      status: record.status as ReportStatus,
      resumedAt: row.resumed_at === null || row.resumed_at === undefined ? null : Number(row.resumed_at),
    }),
    statusColumns: (status, now) => (status === 'active' ? { resumed_at: now } : {}),
  };
}

/** Every report: create, change, pause, resume, delete (its runs go with it). */
export class ReportRegistry extends SettingsCollection<
  ReportSettings,
  Secrets,
  ReportInput,
  ReportPatch,
  Report
> {
  constructor(deps: ReportDeps) {
    super(reportKind(deps), deps);
  }

  /** The report named `nameOrId` (names are unique), or undefined. */
  async find(nameOrId: string): Promise<Report | undefined> {
    const all = await this.all();
    return all.get(nameOrId) ?? [...all.values()].find((r) => r.name === nameOrId);
  }

  /** Whether `token` is the report's trigger token (constant-time). */
  static tokenMatches(report: Report, token: string): boolean {
    const stored = report.secrets.triggerToken;
    return stored !== undefined && safeEqual(stored, token);
  }

  /** Gives the report a new trigger token; the old one stops working at once. */
  async rotateToken(id: string): Promise<Report> {
    return this.setSecrets(id, (current) => ({ ...current.secrets, triggerToken: randomToken(24) }));
  }
}
