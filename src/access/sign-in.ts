import type { Kysely } from 'kysely';
import { randomToken, sha256Hex } from '../core/crypto/index.js';
import type { Database } from '../core/db/index.js';
import { formatDuration } from '../core/duration.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import { parseOrThrow } from '../core/validation.js';
import { type MailDeps, recordMessage, SIGN_IN_MAIL_HEADER } from '../mail/index.js';
import {
  type Accounts,
  type ActiveSession,
  type OpenedSession,
  type RequestContext,
  sessionActor,
} from './accounts.js';
import { decoyHash, hashPassword, verifyPassword } from './password.js';
import { loginSchema, magicLinkRequestSchema, passwordChangeSchema, setupSchema } from './users-model.js';
import {
  clearThrottle,
  countLinksSince,
  countUsers,
  deleteOtherSessions,
  findLoginLink,
  findUserByEmail,
  findUserById,
  getThrottles,
  insertLoginLink,
  insertUser,
  type LoginLinkRow,
  revokeLoginLinks,
  saveThrottle,
  type ThrottleRow,
  updateUser,
  useLoginLink,
  userFromRow,
} from './users-store.js';

/** How sign-in is limited and how long links live. */
export interface SignInPolicy {
  /** Wrong passwords within `failureWindowMs` that lock an account and an address. */
  maxFailures: number;
  failureWindowMs: number;
  /** How long a lock lasts (FACTEUR_LOGIN_LOCK). */
  lockMs: number;
  /** How long an emailed sign-in link works (FACTEUR_LOGIN_LINK_TTL). */
  linkTtlMs: number;
  /** How long the first admin's setup link works. */
  setupTtlMs: number;
}

export const DEFAULT_SIGN_IN_POLICY: SignInPolicy = {
  maxFailures: 10,
  failureWindowMs: 60_000,
  lockMs: 15 * 60_000,
  linkTtlMs: 15 * 60_000,
  setupTtlMs: 24 * 60 * 60_000,
};

export interface SignInDeps {
  accounts: Accounts;
  mail: Pick<MailDeps, 'retryScheduleMs' | 'defaultFrom'>;
  /** The base URL people reach Facteur at (FACTEUR_PUBLIC_URL, else the listen address). */
  publicUrl: () => string;
  policy: SignInPolicy;
}

/** Sign-in links one account can be sent within a link's lifetime; more are not sent (and audited). */
const MAX_LINKS_PER_TTL = 5;

/** What a sign-in link is, as its page shows it. */
export type LinkState =
  | { state: 'valid'; purpose: LoginLinkRow['purpose']; email: string | null; expiresAt: number }
  | { state: 'used' | 'expired' | 'revoked' | 'unknown' };

/** Sign-in by password (rate-limited), by emailed link, and the first admin's setup. */
export class SignIn {
  constructor(private readonly deps: SignInDeps) {}

  private get base() {
    return this.deps.accounts.deps;
  }

  /**
   * Signs in with email and password. The same AUTH_INVALID answers a wrong email and a wrong
   * password, after the same work. Ten failures in a minute (per account and per address) lock
   * further tries for FACTEUR_LOGIN_LOCK, even with the right password: LOGIN_LOCKED (429).
   */
  async withPassword(input: unknown, context: RequestContext): Promise<OpenedSession> {
    const { email, password } = parseOrThrow(loginSchema, input, 'body');
    const { store, clock, audit } = this.base;
    const keys = throttleKeys(email, context.address);
    const now = clock.now();
    const throttles = await getThrottles(store.db, keys);
    const lockedUntil = Math.max(
      0,
      ...throttles.map((t) => (t.lockedUntil !== null && t.lockedUntil > now ? t.lockedUntil : 0)),
    );
    if (lockedUntil > 0) {
      await audit.record(store.db, {
        ...context,
        actor: { kind: 'anonymous', name: email },
        action: 'session.login_refused_locked',
        target: { type: 'account', id: email },
        outcome: 'refused',
      });
      throw lockedError(lockedUntil - now);
    }
    const row = await findUserByEmail(store.db, email);
    const stored = row?.password_hash ?? (await decoyHash());
    const matches = await verifyPassword(password, stored);
    if (!row || !matches || row.password_hash === null || row.disabled_at !== null) {
      await this.recordFailure(keys, throttles, email, context);
      throw new AppError('AUTH_INVALID', 'wrong email or password');
    }
    return store.transaction(async (tx) => {
      await clearThrottle(tx.db, `account:${email}`);
      return this.deps.accounts.openSession(tx.db, userFromRow(row), 'password', context);
    });
  }

  private async recordFailure(
    keys: string[],
    current: ThrottleRow[],
    email: string,
    context: RequestContext,
  ): Promise<void> {
    const { store, clock, audit, logger } = this.base;
    const { maxFailures, failureWindowMs, lockMs } = this.deps.policy;
    const now = clock.now();
    await store.transaction(async (tx) => {
      // Read again inside the transaction: another instance may have counted meanwhile.
      const rows = new Map((await getThrottles(tx.db, keys)).map((t) => [t.key, t]));
      for (const key of keys) {
        const old = rows.get(key) ?? current.find((t) => t.key === key);
        const fresh = !old || now - old.windowStartedAt >= failureWindowMs;
        const failures = fresh ? 1 : (old as ThrottleRow).failures + 1;
        const locks = failures >= maxFailures;
        await saveThrottle(tx.db, {
          key,
          windowStartedAt: fresh ? now : (old as ThrottleRow).windowStartedAt,
          failures: locks ? 0 : failures,
          lockedUntil: locks ? now + lockMs : null,
        });
        if (locks) {
          logger.warn(
            { event: 'login.locked', key: redactKey(key), lockMs },
            'sign-in locked after repeated failures',
          );
          await audit.record(tx.db, {
            ...context,
            actor: { kind: 'anonymous', name: email },
            action: 'login.locked',
            target: {
              type: key.startsWith('account:') ? 'account' : 'address',
              id: key.slice(key.indexOf(':') + 1),
            },
            after: { failures, lockedUntil: now + lockMs },
            outcome: 'refused',
          });
        }
      }
      await audit.record(tx.db, {
        ...context,
        actor: { kind: 'anonymous', name: email },
        action: 'session.login_failed',
        target: { type: 'account', id: email },
        outcome: 'refused',
      });
    });
  }

  /**
   * Emails a sign-in link to the account with this email, through the outbox. Answers the same
   * whether or not the account exists. A new link revokes the account's unused ones; past five
   * within a link's lifetime, no more are sent until the older ones age out.
   */
  async requestLink(input: unknown, context: RequestContext): Promise<void> {
    const { email } = parseOrThrow(magicLinkRequestSchema, input, 'body');
    const { store, clock, audit } = this.base;
    const now = clock.now();
    await store.transaction(async (tx) => {
      const row = await findUserByEmail(tx.db, email);
      if (!row || row.disabled_at !== null) {
        await audit.record(tx.db, {
          ...context,
          actor: { kind: 'anonymous', name: email },
          action: 'session.link_refused',
          target: { type: 'account', id: email },
          outcome: 'refused',
        });
        return;
      }
      // A bound on how many links one can make Facteur mail to someone's inbox.
      if ((await countLinksSince(tx.db, row.id, now - this.deps.policy.linkTtlMs)) >= MAX_LINKS_PER_TTL) {
        await audit.record(tx.db, {
          ...context,
          actor: { kind: 'anonymous', name: email },
          action: 'session.link_throttled',
          target: { type: 'user', id: row.id },
          outcome: 'refused',
        });
        return;
      }
      await revokeLoginLinks(tx.db, 'magic_link', row.id, now);
      const { token, expiresAt } = await this.newLink(tx.db, 'magic_link', row.id, context);
      const url = `${this.deps.publicUrl()}/auth/magic/${token}`;
      const ttl = formatDuration(this.deps.policy.linkTtlMs);
      await recordMessage(tx, this.deps.mail, {
        id: uuidv7(),
        input: {
          to: [row.email],
          subject: 'Your sign-in link to Facteur',
          headers: { [SIGN_IN_MAIL_HEADER]: 'link' },
          text:
            `Hello ${row.name},\n\nOpen this link to sign in to Facteur. It works once, for ${ttl}:\n\n${url}\n\n` +
            'If you did not ask for it, ignore this message: nobody can sign in without opening the link.\n',
        },
        from: this.deps.mail.defaultFrom,
        hash: sha256Hex(`login-link:${token}`),
        origin: { source: 'access' },
        now,
      });
      await audit.record(tx.db, {
        ...context,
        actor: { kind: 'anonymous', name: email },
        action: 'session.link_sent',
        target: { type: 'user', id: row.id },
        after: { expiresAt },
      });
    });
  }

  private async newLink(
    db: Kysely<Database>,
    purpose: LoginLinkRow['purpose'],
    userId: string | null,
    context: RequestContext,
  ): Promise<{ token: string; expiresAt: number }> {
    const token = randomToken(32);
    const now = this.base.clock.now();
    const ttl = purpose === 'setup' ? this.deps.policy.setupTtlMs : this.deps.policy.linkTtlMs;
    await insertLoginLink(db, {
      id: uuidv7(),
      token_hash: sha256Hex(token),
      purpose,
      user_id: userId,
      created_at: now,
      expires_at: now + ttl,
      used_at: null,
      revoked_at: null,
      address: context.address ?? null,
    });
    return { token, expiresAt: now + ttl };
  }

  /** What a link is, without using it (its page, which a mail scanner may fetch). */
  async inspectLink(token: string): Promise<LinkState> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return { state: 'unknown' };
    const db = this.base.store.db;
    const link = await findLoginLink(db, sha256Hex(token));
    if (!link) return { state: 'unknown' };
    if (link.used_at !== null) return { state: 'used' };
    if (link.revoked_at !== null) return { state: 'revoked' };
    if (Number(link.expires_at) <= this.base.clock.now()) return { state: 'expired' };
    const user = link.user_id ? await findUserById(db, link.user_id) : undefined;
    if (link.user_id && (!user || user.disabled_at !== null)) return { state: 'revoked' };
    return {
      state: 'valid',
      purpose: link.purpose,
      email: user?.email ?? null,
      expiresAt: Number(link.expires_at),
    };
  }

  /** Signs in with an emailed link, once: LINK_USED, LINK_EXPIRED, LINK_REVOKED or LINK_UNKNOWN otherwise. */
  async withLink(token: string, context: RequestContext): Promise<OpenedSession> {
    const state = await this.inspectLink(token);
    if (state.state !== 'valid' || state.purpose !== 'magic_link')
      throw linkError(state.state === 'valid' ? 'unknown' : state.state);
    const { store } = this.base;
    return store.transaction(async (tx) => {
      const link = (await findLoginLink(tx.db, sha256Hex(token))) as LoginLinkRow;
      if (!(await useLoginLink(tx.db, link.id, this.base.clock.now()))) throw linkError('used');
      const row = await findUserById(tx.db, link.user_id as string);
      if (!row || row.disabled_at !== null) throw linkError('revoked');
      return this.deps.accounts.openSession(tx.db, userFromRow(row), 'magic_link', context);
    });
  }

  /**
   * When no user exists, a fresh one-time setup link for the first admin (older ones are
   * revoked); undefined once there is a user.
   */
  async setupLink(): Promise<{ url: string; expiresAt: number } | undefined> {
    const { store } = this.base;
    return store.transaction(async (tx) => {
      if ((await countUsers(tx.db)) > 0) return undefined;
      await revokeLoginLinks(tx.db, 'setup', null, this.base.clock.now());
      const { token, expiresAt } = await this.newLink(tx.db, 'setup', null, {});
      return { url: `${this.deps.publicUrl()}/#/setup?token=${token}`, expiresAt };
    });
  }

  /** Changes the signed-in user's password after checking the current one; their other sessions end. */
  async changePassword(session: ActiveSession, input: unknown, context: RequestContext): Promise<void> {
    const { current, password } = parseOrThrow(passwordChangeSchema, input, 'body');
    const { store, clock, audit } = this.base;
    const row = await findUserById(store.db, session.user.id);
    if (!row?.password_hash || !(await verifyPassword(current, row.password_hash))) {
      throw new AppError('VALIDATION_FAILED', 'the current password is wrong', {
        details: [{ in: 'body', field: 'current', message: 'does not match the current password' }],
      });
    }
    const passwordHash = await hashPassword(password);
    await store.transaction(async (tx) => {
      await updateUser(tx.db, row.id, { passwordHash }, clock.now());
      await deleteOtherSessions(tx.db, row.id, session.id);
      await audit.record(tx.db, {
        ...context,
        actor: sessionActor(session),
        action: 'user.password_changed',
        target: { type: 'user', id: row.id },
      });
    });
  }

  /** True while no user exists (the dashboard then shows the setup screen). */
  async setupRequired(): Promise<boolean> {
    return (await countUsers(this.base.store.db)) === 0;
  }

  /** Creates the first admin with the setup link's token, and signs them in. */
  async completeSetup(input: unknown, context: RequestContext): Promise<OpenedSession> {
    const valid = parseOrThrow(setupSchema, input, 'body');
    const state = await this.inspectLink(valid.token);
    if (state.state !== 'valid' || state.purpose !== 'setup')
      throw linkError(state.state === 'valid' ? 'unknown' : state.state);
    const passwordHash = await hashPassword(valid.password);
    const { store, audit, clock } = this.base;
    return store.transaction(async (tx) => {
      const link = (await findLoginLink(tx.db, sha256Hex(valid.token))) as LoginLinkRow;
      if ((await countUsers(tx.db)) > 0 || !(await useLoginLink(tx.db, link.id, clock.now())))
        throw linkError('used');
      const id = uuidv7();
      await insertUser(tx.db, {
        id,
        email: valid.email,
        name: valid.name,
        role: 'admin',
        passwordHash,
        now: clock.now(),
      });
      const user = userFromRow(
        (await findUserById(tx.db, id)) as NonNullable<Awaited<ReturnType<typeof findUserById>>>,
      );
      await audit.record(tx.db, {
        ...context,
        actor: { kind: 'anonymous', name: valid.email },
        action: 'user.created',
        target: { type: 'user', id },
        after: user,
      });
      return this.deps.accounts.openSession(tx.db, user, 'setup', context);
    });
  }
}

function throttleKeys(email: string, address: string | undefined): string[] {
  return [`account:${email}`, ...(address ? [`address:${address}`] : [])];
}

/** A throttle key for the logs: the account's domain only, the address whole. */
function redactKey(key: string): string {
  return key.startsWith('account:') ? `account:*@${key.split('@')[1] ?? ''}` : key;
}

function lockedError(retryAfterMs: number): AppError {
  return new AppError(
    'LOGIN_LOCKED',
    `too many wrong passwords: sign-in is locked for ${formatDuration(Math.ceil(retryAfterMs / 1000) * 1000)}; try again later or ask for an emailed sign-in link`,
    { retryAfterMs },
  );
}

const LINK_ERRORS = {
  used: ['LINK_USED', 'this sign-in link was used already; ask for a new one'],
  expired: ['LINK_EXPIRED', 'this sign-in link has expired; ask for a new one'],
  revoked: [
    'LINK_REVOKED',
    'this sign-in link was revoked (a newer link was sent, or the account was signed out or disabled)',
  ],
  unknown: ['LINK_UNKNOWN', 'this sign-in link is not valid; check that it was copied whole'],
} as const;

function linkError(state: keyof typeof LINK_ERRORS): AppError {
  const [code, message] = LINK_ERRORS[state];
  return new AppError(code, message);
}
