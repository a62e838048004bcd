import type { I18n, MessageKey } from '../i18n/index.js';

/** A report as `GET /api/reports/{id}` shows it (secrets masked). */
export interface Report {
  id: string;
  name: string;
  status: 'active' | 'paused';
  description: string | null;
  schedule: { cron: string; timezone: string; misfireGrace: string; deadline: string | null } | null;
  nextRunAt: string | null;
  to: string[];
  cc: string[];
  bcc: string[];
  from: string | null;
  replyTo: string | null;
  subject: string;
  html: string | null;
  text: string | null;
  inlineCss: boolean;
  data:
    | {
        type: 'http';
        url: string;
        headers: Record<string, string>;
        bearerToken: string | null;
        timeout: string;
        retries: number;
      }
    | { type: 'sql'; url: string; query: string; timeout: string; maxRows: number; retries: number }
    | { type: 'push' | 'none' };
  attachCsv: { filename: string; rows: string } | null;
  pingUrl: string | null;
  triggerToken: string | null;
  secretsProblem?: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface Stage {
  stage: string;
  outcome: string;
  startedAt: string | null;
  ms: number | null;
  attempts: number;
  errorCode: string | null;
  message: string | null;
  hint: string | null;
  retryAt: string | null;
}

export interface Run {
  id: string;
  trigger: 'schedule' | 'manual';
  scheduledFor: string | null;
  status: string;
  stages: Stage[];
  messageId: string | null;
  smtpResponse: string | null;
  error: { code: string; message: string | null } | null;
  note: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface Preview {
  subject: string;
  html: string | null;
  text: string | null;
  attachment: { filename: string; bytes: number; content: string } | null;
}

/** The run states after which nothing changes. */
export const FINAL = new Set(['sent', 'failed', 'missed']);

/** The report's API path. */
export const reportPath = (id: string) => `/api/reports/${encodeURIComponent(id)}`;

const NUMBER = /^\d{1,2}$/;
const pad = (value: string) => value.padStart(2, '0');

/**
 * A cron expression in words for the common shapes (every hour, every day, weekdays, one day of
 * the week, one day of the month); null for anything else (the expression is then shown as is).
 */
export function scheduleWords(cron: string, t: I18n['t'], lang: I18n['lang']): string | null {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5) return null;
  const [minute, hour, day, month, weekday] = fields as [string, string, string, string, string];
  if (!NUMBER.test(minute) || month !== '*') return null;
  if (hour === '*' && day === '*' && weekday === '*')
    return t('reports.words.hourly', { minute: pad(minute) });
  if (!NUMBER.test(hour)) return null;
  const time = `${pad(hour)}:${pad(minute)}`;
  if (day === '*' && weekday === '*') return t('reports.words.daily', { time });
  if (day === '*' && weekday === '1-5') return t('reports.words.weekdays', { time });
  if (day === '*' && /^[0-7]$/.test(weekday)) {
    // 2023-01-01 was a Sunday: day 0 (and 7).
    const date = new Date(Date.UTC(2023, 0, 1 + (Number(weekday) % 7), 12));
    const name = new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', {
      weekday: 'long',
      timeZone: 'UTC',
    }).format(date);
    return t('reports.words.weekly', { day: name, time });
  }
  if (NUMBER.test(day) && weekday === '*') return t('reports.words.monthly', { day: Number(day), time });
  return null;
}

/** A status word of the reports' catalogue, else the value itself. */
export function statusLabel(t: I18n['t'], keys: Record<string, string>, prefix: string, value: string) {
  const key = `${prefix}.${value}` as MessageKey;
  return key in keys ? t(key) : value;
}
