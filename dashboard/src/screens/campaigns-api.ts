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
