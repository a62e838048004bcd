import { runDeferredNow } from '../core/jobs/index.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import {
  SettingsCollection,
  type SettingsDeps,
  type SettingsKind,
  type SettingsRecord,
} from '../core/settings/index.js';
import { parseOrThrow } from '../core/validation.js';
import { ROUTE_QUEUE } from './ledger.js';
import {
  type MailboxCreateInput,
  type MailboxSecrets,
  type MailboxSettings,
  type MailboxUpdateInput,
  mailboxCreateSchema,
  mailboxProblems,
  mailboxUpdateSchema,
  splitCredentials,
} from './mailbox-model.js';

/**
 * Mailboxes: one kind of runtime setting (core/settings), with their credentials sealed. Every
 * process (its watcher manager) listens to the collection's notification, so a changed mailbox
 * reconnects with its new settings without a restart.
 */

/** The notification channel for mailbox changes. */
export const MAILBOXES_CHANNEL = 'mailboxes';

/** A mailbox with its credentials in clear (for the watcher only; never returned by the API). */
export interface Mailbox extends SettingsRecord<MailboxSettings, MailboxSecrets> {
  status: 'active' | 'paused';
}

/** Dependencies of the mailbox registry. */
export interface MailboxDeps extends SettingsDeps {
  secretKey: Buffer;
  /** The SSRF guard, for the save-time check of the IMAP host and the OAuth token URL. */
  guard: TargetGuard;
  /**
   * Brings forward jobs deferred for `errorCode` (the engine's `runDeferredNow`, which first waits
   * for deferrals still being recorded); default the store function alone.
   */
  resumeDeferred?: (queue: string, errorCode: string) => Promise<unknown>;
}

/** The stored credentials in the API's input form (what a patch without `auth` keeps). */
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

/** What is particular to mailboxes as settings. */
function mailboxKind(
  deps: MailboxDeps,
): SettingsKind<MailboxSettings, MailboxSecrets, MailboxCreateInput, MailboxUpdateInput, Mailbox> {
  const { guard } = deps;
  return {
    noun: 'mailbox',
    table: 'mailboxes',
    path: '/api/mailboxes',
    channel: MAILBOXES_CHANNEL,
    columns: { status: true, secrets: true, position: false },
    createSchema: mailboxCreateSchema,
    patchSchema: mailboxUpdateSchema,
    emptySecrets: {},
    prepare(input) {
      const { settings, secrets } = splitCredentials(input);
      return { settings, secrets, problems: mailboxProblems(settings) };
    },
    toInput: (mailbox) => ({ ...mailbox.settings, auth: authInput(mailbox) }),
    // `auth`, when given, replaces the credentials; the merged form is validated again so that
    // every default and rule applies.
    merge: (current, patch) => parseOrThrow(mailboxCreateSchema, { ...current, ...patch }, 'body'),
    // The IMAP host and the OAuth token URL must be hosts the SSRF guard lets Facteur reach.
    check: async (settings) => {
      await guard.checkHost(settings.host, 'host');
      if (settings.auth.type === 'oauth2')
        await guard.checkSecretUrl(settings.auth.tokenUrl, 'auth.tokenUrl');
    },
    exportForm: (mailbox) => ({ ...mailbox.settings }),
    // An export leaves the secrets out: the same login keeps the stored ones.
    withStoredSecrets: (written, current) => {
      const auth = written.auth as Record<string, unknown> | undefined;
      const stored = current.settings.auth;
      if (!auth || auth.type !== stored.type || auth.user !== stored.user) return written;
      return { ...written, auth: { ...authInput(current), ...auth } };
    },
    decorate: (record) => record as Mailbox,
    // A schedule that changed may be open now: routing that waited for it looks again.
    afterCommit: async (change) => {
      if (change.op !== 'update') return;
      if (deps.resumeDeferred) await deps.resumeDeferred(ROUTE_QUEUE, 'INBOUND_SCHEDULE_CLOSED');
      else await runDeferredNow(deps.store, ROUTE_QUEUE, 'INBOUND_SCHEDULE_CLOSED', deps.clock.now());
    },
  };
}

/** Every mailbox: create, change, pause, resume, delete (its ledger rows stay). */
export class MailboxRegistry extends SettingsCollection<
  MailboxSettings,
  MailboxSecrets,
  MailboxCreateInput,
  MailboxUpdateInput,
  Mailbox
> {
  constructor(deps: MailboxDeps) {
    super(mailboxKind(deps), deps);
  }
}
