import type { Clock } from '../core/clock.js';
import { seal, unseal } from '../core/crypto/index.js';
import { isUniqueViolation, type Store, type Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import { runDeferredNow } from '../core/jobs/index.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import type { Logger } from '../core/observability/index.js';
import { parseOrThrow, validationError } from '../core/validation.js';
import { ROUTE_QUEUE } from './ledger.js';
import {
  type MailboxCreateInput,
  type MailboxSecrets,
  type MailboxSettings,
  type MailboxUpdateInput,
  mailboxCreateSchema,
  mailboxProblems,
  splitCredentials,
} from './mailbox-model.js';

/**
 * Mailboxes: validated writes, sealed credentials, and a change notification that every
 * process (its watcher manager) listens to, so a changed mailbox reconnects with its new
 * settings without a restart.
 */

/** The notification channel for mailbox changes. */
export const MAILBOXES_CHANNEL = 'mailboxes';

/** A mailbox with its credentials in clear (for the watcher only; never returned by the API). */
export interface Mailbox {
  id: string;
  status: 'active' | 'paused';
  settings: MailboxSettings;
  secrets: MailboxSecrets;
  /** Why the credentials could not be read, when they could not. */
  secretsProblem?: string;
  createdAt: number;
  updatedAt: number;
}

/** Dependencies of the mailbox registry. */
export interface MailboxDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  secretKey: Buffer;
  /** The SSRF guard, for the save-time check of the IMAP host and the OAuth token URL. */
  guard: TargetGuard;
}

export class MailboxRegistry {
  constructor(private readonly deps: MailboxDeps) {}

  /** Every mailbox, read from the database. */
  async list(): Promise<Mailbox[]> {
    const rows = await this.deps.store.db.selectFrom('mailboxes').selectAll().orderBy('created_at').execute();
    return rows.map((row) => this.fromRow(row));
  }

  /** One mailbox, or NOT_FOUND. */
  async load(id: string): Promise<Mailbox> {
    const row = await this.deps.store.db
      .selectFrom('mailboxes')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw new AppError('NOT_FOUND', `no mailbox has the id ${id}`);
    return this.fromRow(row);
  }

  /** Creates a mailbox; its watcher starts on every instance that runs watchers. */
  async create(input: MailboxCreateInput): Promise<Mailbox> {
    const { settings, secrets } = splitCredentials(input);
    this.check(settings);
    await this.checkTargets(settings);
    const now = this.deps.clock.now();
    const id = uuidv7();
    await this.write((tx) =>
      tx.db
        .insertInto('mailboxes')
        .values({
          id,
          name: settings.name,
          status: 'active',
          config: JSON.stringify(settings),
          secrets: seal(this.deps.secretKey, JSON.stringify(secrets)),
          created_at: now,
          updated_at: now,
        })
        .execute(),
    );
    this.deps.logger.info({ event: 'mailbox.created', mailboxId: id }, 'mailbox created');
    return this.load(id);
  }

  /** Changes some settings; `auth`, when given, replaces the credentials. */
  async update(id: string, patch: MailboxUpdateInput): Promise<Mailbox> {
    const updated = await this.applyUpdate(id, patch);
    // A schedule that changed may be open now: routing that waited for it looks again.
    await runDeferredNow(this.deps.store, ROUTE_QUEUE, 'INBOUND_SCHEDULE_CLOSED', this.deps.clock.now());
    return updated;
  }

  private async applyUpdate(id: string, patch: MailboxUpdateInput): Promise<Mailbox> {
    const current = await this.load(id);
    const written = { ...current.settings, ...patch };
    let secrets = current.secrets;
    let settings: MailboxSettings;
    if (patch.auth) {
      const split = splitCredentials(parseOrThrow(mailboxCreateSchema, written, 'body'));
      settings = split.settings;
      secrets = split.secrets;
    } else {
      // Re-validate the merged form with the stored credentials, so every default and rule applies.
      const withAuth = { ...written, auth: authInput(current) };
      settings = splitCredentials(parseOrThrow(mailboxCreateSchema, withAuth, 'body')).settings;
    }
    this.check(settings);
    await this.checkTargets(settings);
    await this.write((tx) =>
      tx.db
        .updateTable('mailboxes')
        .set({
          name: settings.name,
          config: JSON.stringify(settings),
          secrets: seal(this.deps.secretKey, JSON.stringify(secrets)),
          updated_at: this.deps.clock.now(),
        })
        .where('id', '=', id)
        .execute(),
    );
    return this.load(id);
  }

  /** Pauses (the watcher disconnects; mail waits on the server) or resumes a mailbox. */
  async setStatus(id: string, status: 'active' | 'paused'): Promise<Mailbox> {
    await this.load(id);
    await this.write((tx) =>
      tx.db
        .updateTable('mailboxes')
        .set({ status, updated_at: this.deps.clock.now() })
        .where('id', '=', id)
        .execute(),
    );
    this.deps.logger.info({ event: `mailbox.${status === 'active' ? 'resumed' : 'paused'}`, mailboxId: id });
    return this.load(id);
  }

  /** Deletes a mailbox and its resume points; its ledger rows stay (they record what happened). */
  async remove(id: string): Promise<void> {
    const result = await this.write((tx) =>
      tx.db.deleteFrom('mailboxes').where('id', '=', id).executeTakeFirst(),
    );
    if (Number(result.numDeletedRows) === 0) throw new AppError('NOT_FOUND', `no mailbox has the id ${id}`);
    this.deps.logger.info({ event: 'mailbox.deleted', mailboxId: id }, 'mailbox deleted');
  }

  private async write<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    try {
      return await this.deps.store.transaction(async (tx) => {
        const result = await fn(tx);
        tx.notify(MAILBOXES_CHANNEL, 'changed');
        return result;
      });
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw validationError('body', [
          { in: 'body', field: 'name', message: 'is already used by another mailbox' },
        ]);
      }
      throw error;
    }
  }

  private check(settings: MailboxSettings): void {
    const problems = mailboxProblems(settings);
    if (problems.length > 0)
      throw validationError(
        'body',
        problems.map((p) => ({ in: 'body', ...p })),
      );
  }

  /** The IMAP host and the OAuth token URL must be hosts the SSRF guard lets Facteur reach. */
  private async checkTargets(settings: MailboxSettings): Promise<void> {
    await this.deps.guard.checkHost(settings.host, 'host');
    if (settings.auth.type === 'oauth2')
      await this.deps.guard.checkSecretUrl(settings.auth.tokenUrl, 'auth.tokenUrl');
  }

  /**
   * Credentials that cannot be unsealed (the database was restored under another key) stop
   * this mailbox's watcher with the reason, not the whole server.
   */
  private readSecrets(row: { id: string; secrets: string }): {
    secrets: MailboxSecrets;
    secretsProblem?: string;
  } {
    try {
      return { secrets: JSON.parse(unseal(this.deps.secretKey, row.secrets)) as MailboxSecrets };
    } catch (error) {
      return {
        secrets: {},
        secretsProblem: `the stored credentials of mailbox ${row.id} cannot be read (${(error as Error).message}); set them again with PATCH /api/mailboxes/${row.id}`,
      };
    }
  }

  private fromRow(row: {
    id: string;
    status: string;
    config: string;
    secrets: string;
    created_at: number;
    updated_at: number;
  }): Mailbox {
    return {
      id: row.id,
      status: row.status as Mailbox['status'],
      settings: JSON.parse(row.config) as MailboxSettings,
      ...this.readSecrets(row),
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
    };
  }
}

/** The stored credentials in the API's input form (for re-validating a patch without `auth`). */
function authInput(mailbox: Mailbox): MailboxCreateInput['auth'] {
  const { auth } = mailbox.settings;
  if (auth.type === 'password')
    return { type: 'password', user: auth.user, password: mailbox.secrets.password ?? '' };
  return {
    type: 'oauth2',
    user: auth.user,
    clientId: auth.clientId,
    tokenUrl: auth.tokenUrl,
    refreshToken: mailbox.secrets.refreshToken ?? '',
    ...(mailbox.secrets.clientSecret ? { clientSecret: mailbox.secrets.clientSecret } : {}),
  };
}
