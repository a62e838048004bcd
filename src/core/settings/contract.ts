import type { z } from 'zod';
import type { Tx } from '../db/index.js';
import type { FieldError } from '../validation.js';

/**
 * The settings contract: what a feature declares to make one kind of runtime setting
 * (webhook endpoints, mailboxes, rules; reports, campaigns and users next). The collection
 * (`collection.ts`) does the rest the same way for every kind: validated writes naming every
 * bad field, sealed secrets, a version per record, change notification to every process after
 * commit, cached reads, export and import as plain data; `routes.ts` serves the HTTP resource.
 */

/** The tables that hold settings records: id, name, status, config, secrets, position, version, times. */
export type SettingsTableName = 'webhook_endpoints' | 'mailboxes' | 'rules' | 'reports' | 'lists';

/** A settings row as the generic store reads and writes it (absent columns are left out). */
export interface SettingsRow {
  id: string;
  name: string;
  status?: string;
  config: string;
  secrets?: string;
  position?: number;
  version: number;
  created_at: number;
  updated_at: number;
  /** The kind's own columns (an endpoint's failure state), read as they are. */
  [column: string]: unknown;
}

/** One stored record: its settings and secrets in clear (never returned by the API in full). */
export interface SettingsRecord<S, X> {
  id: string;
  name: string;
  status: string;
  settings: S;
  secrets: X;
  /** Why the sealed secrets could not be read (restored under another key); secrets are then empty. */
  secretsProblem?: string;
  /** Place in the order for ordered kinds (0 first), else null. */
  position: number | null;
  /** 1 when created, raised by every write. */
  version: number;
  createdAt: number;
  updatedAt: number;
}

/** What a validated input turns into: stored settings, secrets, and problems spanning fields. */
export interface Prepared<S, X> {
  settings: S;
  secrets: X;
  problems: Array<{ field: string; message: string }>;
}

/** A write, as the kind's hooks see it. */
export type SettingsChange<R, P> =
  | { op: 'create'; after: R }
  | { op: 'update'; before: R; after: R; patch: P }
  | { op: 'status'; before: R; after: R }
  | { op: 'secrets'; before: R; after: R }
  | { op: 'delete'; before: R }
  | { op: 'order'; ids: readonly string[] };

/**
 * One kind of runtime setting. `C` is the parsed create input (secrets included), `P` the
 * parsed patch, `S` the stored settings, `X` the secrets, `R` the record the feature works with.
 */
export interface SettingsKind<S, X, C, P, R extends SettingsRecord<S, X> = SettingsRecord<S, X>> {
  /** Singular noun for messages, events and log fields: `endpoint` gives `endpoint.created`, `endpointId`. */
  noun: string;
  table: SettingsTableName;
  /** The HTTP resource, e.g. `/api/mailboxes` (named in messages that tell what to do). */
  path: string;
  /** The notification channel every process listens on. */
  channel: string;
  /** Columns the table has besides id, name, config, version and times. */
  columns: { status: boolean; secrets: boolean; position: boolean };
  /** The written create form (with its defaults), for the API and import. */
  createSchema: z.ZodType<C>;
  /** The written patch form: any subset of the settings. */
  patchSchema: z.ZodType<P>;
  /** Secrets when none are stored (a kind without secrets, or secrets that cannot be read). */
  emptySecrets: X;
  /** Splits a validated input into settings and secrets; `current` is the record being changed. */
  prepare(input: C, current?: R): Prepared<S, X>;
  /** The record in the parsed create form, secrets in clear: what a patch is merged into. */
  toInput(record: R): C;
  /** Merges a patch into the current input; validate the whole again where checks span fields. */
  merge?(current: C, patch: P): C;
  /**
   * Checks that need I/O (the SSRF guard); throw an AppError naming the field. `secrets` are the
   * ones about to be written (a URL kept sealed is checked too).
   */
  check?(settings: S, before?: R, secrets?: X): Promise<void>;
  /** The plain-data form for export: the written input without secret fields. */
  exportForm(record: R): Record<string, unknown>;
  /** On import over an existing record, puts back the secret fields an export leaves out. */
  withStoredSecrets?(written: Record<string, unknown>, current: R): Record<string, unknown>;
  /** Adds the kind's own fields to a record read from its row. */
  decorate?(record: SettingsRecord<S, X>, row: SettingsRow): R;
  /** Columns written with a status change (resuming an endpoint clears its failure state). */
  statusColumns?(status: string, now: number): Record<string, unknown>;
  /** Runs inside the write's transaction, after the row is written (or before it is deleted). */
  afterWrite?(tx: Tx, change: SettingsChange<R, P>, now: number): Promise<void>;
  /** Runs after the write committed (work outside the transaction, e.g. waking deferred jobs). */
  afterCommit?(change: SettingsChange<R, P>): Promise<void> | void;
}

/** The plain-data form of a whole collection, for export and import. */
export interface SettingsExport {
  kind: string;
  version: 1;
  records: Array<{ id: string; status?: string; position?: number } & Record<string, unknown>>;
}

/** A field problem with its location, as VALIDATION_FAILED details carry it. */
export type SettingsFieldError = FieldError;
