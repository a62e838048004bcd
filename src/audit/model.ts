import type { AuditActor, AuditEntryInput } from '../core/audit-entry.js';

export type { ActorKind, AuditActor, AuditEntryInput, AuditRecorder } from '../core/audit-entry.js';

/**
 * The audit log's pure logic: the entry as stored and shown, secret redaction, the size bound
 * of a before/after document, and the listing cursor. No I/O.
 */

/** One recorded entry, as the API shows it. */
export interface AuditEntry {
  id: string;
  /** Epoch ms. */
  at: number;
  actor: Required<AuditActor>;
  action: string;
  target: { type: string; id: string | null };
  address: string | null;
  requestId: string | null;
  before: unknown;
  after: unknown;
  outcome: 'ok' | 'refused';
}

/** The filters of a listing; every one optional, `since` inclusive and `until` exclusive (epoch ms). */
export interface AuditFilters {
  action?: string;
  actorId?: string;
  targetType?: string;
  targetId?: string;
  since?: number;
  until?: number;
  /** Entries strictly after this position in the (at desc, id desc) order. */
  after?: AuditCursor;
  limit: number;
}

/** A position in the (at desc, id desc) order. */
export interface AuditCursor {
  at: number;
  id: string;
}

/** What a redacted secret becomes. */
export const REDACTED = '[redacted]';

/** The largest before or after document kept, in bytes of JSON. */
export const DOCUMENT_LIMIT_BYTES = 16 * 1024;

/** Property names whose values are secrets (case-insensitive). */
const SECRET_NAME = /password|secret|token|apikey|key$|credential|authorization|refresh/i;
/** ...unless they name something about a secret that is not the secret: `keyId`, `keyPrefix`, `tokenExpiresAt`. */
const NOT_SECRET_SUFFIX = /(Id|Ids|Prefix|At|_id|_ids|_prefix|_at)$/;
/** `scheme://user:password@host`: the password of a URL written in a string. */
const URL_PASSWORD = /(\/\/[^:/@\s]*:)[^@/\s]*@/g;

/** True when a property of this name holds a secret. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name) && !NOT_SECRET_SUFFIX.test(name);
}

/**
 * A deep copy of `value` (as JSON would see it) where every property whose name is a secret's
 * (`isSecretName`) is `"[redacted]"`, whatever it held, and a password inside a URL string is
 * `***`. Cycles become `"[circular]"`; past 32 levels, `"[too deep]"`.
 */
export function redactSecrets(value: unknown): unknown {
  return redact(value, new WeakSet(), 0);
}

function redact(value: unknown, seen: WeakSet<object>, depth: number): unknown {
  if (typeof value === 'string') return value.includes('@') ? value.replace(URL_PASSWORD, '$1***@') : value;
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') {
    return typeof value === 'function' || typeof value === 'symbol' ? undefined : value;
  }
  if (depth >= 32) return '[too deep]';
  const toJSON = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof toJSON === 'function') return redact(toJSON.call(value), seen, depth + 1);
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => redact(item, seen, depth + 1) ?? null);
    if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const copied = isSecretName(key) ? REDACTED : redact(item, seen, depth + 1);
      if (copied !== undefined) out[key] = copied;
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/**
 * The JSON text stored for a before or after document: redacted, and replaced by a note when
 * over `DOCUMENT_LIMIT_BYTES` (an audit row must stay small: a campaign's whole recipient list
 * has no place in it). null or undefined is stored as null.
 */
export function documentJson(value: unknown, limit = DOCUMENT_LIMIT_BYTES): string | null {
  if (value === undefined || value === null) return null;
  const text = JSON.stringify(redactSecrets(value)) ?? null;
  if (text === null) return null;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= limit) return text;
  return JSON.stringify({
    cut: true,
    bytes,
    note: `the document was ${bytes} bytes of JSON, over the audit log's bound of ${limit}; it was not kept`,
  });
}

/** The actor with every field present (null when unknown). */
export function fullActor(actor: AuditActor): Required<AuditActor> {
  return { kind: actor.kind, id: actor.id ?? null, name: actor.name ?? null, role: actor.role ?? null };
}

/** A cursor as the API gives it: `<at>.<id>`. */
export function encodeCursor(cursor: AuditCursor): string {
  return `${cursor.at}.${cursor.id}`;
}

/** The form of a cursor, for the query schema. */
export const CURSOR_PATTERN = /^\d{1,15}\.[0-9A-Za-z-]{1,64}$/;

/** A cursor from the API (already checked against CURSOR_PATTERN). */
export function decodeCursor(text: string): AuditCursor {
  const dot = text.indexOf('.');
  return { at: Number(text.slice(0, dot)), id: text.slice(dot + 1) };
}

/** Normalises an input before it is stored: the actor's unknown fields null, `outcome` ok by default. */
export function normalisedEntry(
  entry: AuditEntryInput,
  id: string,
  now: number,
): Omit<AuditEntry, 'before' | 'after'> & { beforeJson: string | null; afterJson: string | null } {
  return {
    id,
    at: entry.at ?? now,
    actor: fullActor(entry.actor),
    action: entry.action,
    target: { type: entry.target.type, id: entry.target.id ?? null },
    address: entry.address ?? null,
    requestId: entry.requestId ?? null,
    beforeJson: documentJson(entry.before),
    afterJson: documentJson(entry.after),
    outcome: entry.outcome ?? 'ok',
  };
}
