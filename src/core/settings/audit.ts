import type { AuditRecorder } from '../audit-entry.js';
import { actorOf } from '../audit-entry.js';
import type { Tx } from '../db/index.js';
import type { Principal } from '../http/auth.js';
import type { SettingsRecord } from './contract.js';

/**
 * The audit entries of settings writes: each create, update, status change, delete and reorder
 * made with an `actor` is recorded in the write's own transaction, with the record before and
 * after (redacted by the recorder: a kind's `secrets` are never written there), so a change is
 * never committed without its entry nor an entry without its change.
 */

/** Who makes a settings write, and where it is recorded (`settings/routes.ts` fills it from the request). */
export interface WriteActor {
  /** The caller (absent: Facteur itself, `system`). */
  principal?: Principal;
  /** The request's IP address. */
  address?: string;
  requestId?: string;
  /** Where the entry goes; without one nothing is recorded. */
  recorder?: AuditRecorder;
}

/** What a settings change is called in the audit log: `settings.<noun>.<what>`. */
export type SettingsAuditWhat =
  | 'created'
  | 'updated'
  | 'deleted'
  | 'paused'
  | 'resumed'
  | 'reordered'
  | string;

/** The document an entry shows for a record (its secrets are redacted as a whole by the recorder), or `value` as it is. */
export function auditDocument(value: SettingsRecord<unknown, unknown> | object | undefined): unknown {
  if (!value) return null;
  if (!('settings' in value && 'version' in value)) return value;
  const { id, name, status, settings, secrets, position, version } = value as SettingsRecord<
    unknown,
    unknown
  >;
  return { id, name, status, settings, secrets, position, version };
}

/** One settings change: `settings.<noun>.<what>` of record `id` (null: the whole collection). */
export interface SettingsAuditChange {
  noun: string;
  what: SettingsAuditWhat;
  id: string | null;
  before?: object;
  after?: object;
}

/** Records one settings change in `tx` when the write has an actor with a recorder. */
export async function recordSettingsChange(
  tx: Tx,
  actor: WriteActor | undefined,
  change: SettingsAuditChange,
  now: number,
): Promise<void> {
  if (!actor?.recorder) return;
  await actor.recorder.record(tx.db, {
    actor: actor.principal ? actorOf(actor.principal) : { kind: 'system', id: null, name: 'facteur' },
    action: `settings.${change.noun}.${change.what}`,
    target: { type: change.noun, id: change.id },
    address: actor.address ?? null,
    requestId: actor.requestId ?? null,
    before: auditDocument(change.before),
    after: auditDocument(change.after),
    at: now,
  });
}
