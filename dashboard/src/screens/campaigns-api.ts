import { ApiError } from '../api.js';

/** The shapes of the campaign and list routes (src/campaigns/campaign-routes.ts, routes.ts). */

export const CAMPAIGN_STATUSES = [
  'draft',
  'scheduled',
  'running',
  'paused',
  'cancelled',
  'finished',
] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

export const RECIPIENT_STATES = [
  'queued',
  'sending',
  'deferred',
  'sent',
  'failed',
  'bounced',
  'skipped',
] as const;
export type RecipientState = (typeof RECIPIENT_STATES)[number];

export interface Progress {
  total: number;
  counts: Record<RecipientState, number>;
  done: number;
  ratePerSecond: number;
  etaSeconds: number | null;
}

export interface Campaign {
  id: string;
  name: string;
  status: CampaignStatus;
  listId: string | null;
  from: string | null;
  subject: string;
  ownerEmail: string | null;
  startAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  progress: Progress;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface CampaignList {
  campaigns: Campaign[];
  nextBefore: string | null;
}

export interface Recipient {
  seq: number;
  address: string;
  name: string | null;
  state: RecipientState;
  reason: string | null;
  detail: string | null;
  smtpCode: number | null;
  messageId: string | null;
  messageIdHeader: string | null;
  transport: string | null;
  attempts: number;
  settledAt: string | null;
  updatedAt: string;
}

export interface RecipientPage {
  recipients: Recipient[];
  nextAfter: number | null;
}

export interface ContactList {
  id: string;
  name: string;
  description?: string;
  contactCount: number;
}

export interface ImportReport {
  encoding: 'utf-8' | 'latin1' | null;
  delimiter: string | null;
  rows: number;
  imported: number;
  updated: number;
  unchanged: number;
  duplicatesInFile: number;
  invalid: number;
  errors: Array<{ line?: number; index?: number; field: string; message: string }>;
  errorsTruncated: boolean;
}

export interface Preview {
  to: string;
  from: string;
  subject: string;
  html?: string;
  text?: string;
}

/** A campaign no longer changes by itself: finished or cancelled. */
export function isOver(status: CampaignStatus): boolean {
  return status === 'finished' || status === 'cancelled';
}

/**
 * Sends a CSV file to `POST /api/lists/:id/import` (the API client sends JSON only): same
 * origin, the session's CSRF token, and the API's error as an `ApiError`.
 */
export async function importCsv(
  listId: string,
  body: Blob | string,
  csrfToken: string,
): Promise<ImportReport> {
  let response: Response;
  try {
    response = await fetch(`/api/lists/${encodeURIComponent(listId)}/import`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { accept: 'application/json', 'content-type': 'text/csv', 'x-csrf-token': csrfToken },
      body,
    });
  } catch (error) {
    throw new ApiError(0, 'NETWORK', `Facteur cannot be reached (${(error as Error).message})`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (response.ok) return parsed as ImportReport;
  const error = (parsed as { error?: { code?: string; message?: string; details?: unknown } } | undefined)
    ?.error;
  throw new ApiError(
    response.status,
    error?.code ?? `HTTP_${response.status}`,
    error?.message ?? (response.statusText || `HTTP ${response.status}`),
    error?.details,
  );
}

/** A file sent with every message of a campaign (its content base64). */
export interface Attachment {
  filename: string;
  contentType: string;
  content: string;
}

/** `GET /api/campaigns/:id/content`: what `PATCH /api/campaigns/:id` takes, as it now is. */
export interface CampaignContent {
  name: string;
  from?: string;
  replyTo?: string;
  subject: string;
  html?: string;
  text?: string;
  headers?: Record<string, string>;
  attachments?: Attachment[];
  ownerEmail: string | null;
  startAt: string | null;
}

/** The total decoded size of a campaign's attachments the API takes (campaign-model.ts). */
export const MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024;

/** The decoded size of base64 text, as the API counts it. */
export function base64Bytes(content: string): number {
  return Math.floor((content.length * 3) / 4);
}

/** A campaign that has not started can still be edited. */
export function isEditable(status: CampaignStatus): boolean {
  return status === 'draft' || status === 'scheduled';
}

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * A `datetime-local` value (`2026-03-14T09:30`, the browser's local time) as an ISO time with
 * the browser's offset at that date (`2026-03-14T09:30:00+01:00`); undefined when not a time.
 */
export function localToIso(local: string): string | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(local);
  if (!match) return undefined;
  const [, y, mo, d, h, mi] = match.map(Number) as number[];
  const date = new Date(y as number, (mo as number) - 1, d, h, mi);
  if (Number.isNaN(date.getTime())) return undefined;
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return `${local}:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** An ISO time as a `datetime-local` value in the browser's time zone. */
export function isoToLocal(iso: string): string {
  const date = new Date(iso);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** Seconds as "1 h 02 min", "3 min 05 s" or "12 s". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600)
    return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${s} s`;
}
