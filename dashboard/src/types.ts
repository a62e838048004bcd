/** The API's answers the dashboard reads (the fields it uses; see GET /openapi.json). */

export interface ReadinessCheck {
  status: 'ok' | 'degraded' | 'down';
  critical: boolean;
  message?: string;
  lastError?: { message: string; at: string } | null;
  lastSuccessAt?: string | null;
  detail?: Record<string, unknown>;
}

export interface Readiness {
  status: 'ok' | 'degraded' | 'down';
  checks: Record<string, ReadinessCheck>;
}

export type MessageStatus = 'queued' | 'sending' | 'sent' | 'failed';

export interface MessageSummary {
  id: string;
  status: MessageStatus;
  messageId: string;
  from: string;
  to: string[];
  subject: string;
  attemptCount: number;
  nextAttemptAt: string | null;
  lastError: { code: string; message: string } | null;
  createdAt: string;
  updatedAt: string;
  sentAt: string | null;
  source: string;
}

export interface Attempt {
  number: number;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  outcome: string;
  smtpCode: number | null;
  smtpResponse: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  transport: string | null;
}

export interface MessageList {
  messages: MessageSummary[];
  nextBefore: string | null;
}

export interface DeliverySummary {
  id: string;
  status: string;
  eventType: string;
  endpointId: string;
  lastStatusCode: number | null;
  lastError: { code: string; message: string } | null;
  createdAt: string;
  updatedAt: string;
}

export interface DeliveryList {
  deliveries: DeliverySummary[];
  nextBefore: string | null;
}

export interface CaughtSummary {
  id: string;
  messageId: string | null;
  from: string | null;
  to: string[];
  subject: string | null;
  size: number;
  receivedAt: string;
}

export interface CaughtList {
  messages: CaughtSummary[];
  nextBefore: string | null;
}

/** GET /api/stats/activity: one bucket's (or the window's) figures. */
export interface ActivityFigures {
  mail: { sent: number; failed: number; p50Ms: number | null; p95Ms: number | null };
  webhooks: { succeeded: number; failed: number; p50Ms: number | null; p95Ms: number | null };
  inbound: { received: number };
}

/** GET /api/stats/activity: the series of the overview's charts. */
export interface Activity {
  window: '1h' | '24h';
  bucketMs: number;
  from: string;
  to: string;
  buckets: Array<ActivityFigures & { at: string }>;
  totals: ActivityFigures;
}
