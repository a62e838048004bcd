import { createHmac } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditRecorder } from '../core/audit-entry.js';
import type { Clock } from '../core/clock.js';
import { randomToken, safeEqual, sha256Hex } from '../core/crypto/index.js';
import type { Database, Store } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import type { Principal } from '../core/http/auth.js';
import { uuidv7 } from '../core/ids.js';
import type { Logger } from '../core/observability/index.js';
import { parseOrThrow } from '../core/validation.js';
import { hashPassword } from './password.js';
import {
  type NewUser,
  newUserSchema,
  type UserInfo,
  type UserPatch,
  userPatchSchema,
} from './users-model.js';
import {
  countActiveAdmins,
  deleteSession,
  deleteUser,
  deleteUserSessions,
  findSession,
  findUserByEmail,
  findUserById,
  insertSession,
  insertUser,
  listUsers,
  revokeLoginLinks,
  type SessionRow,
  touchSession,
  updateUser,
  userFromRow,
} from './users-store.js';

/** Who did something, for the audit log: a principal, or nobody signed in yet. */
export type Actor =
  | Principal
  | { kind: 'anonymous' | 'system'; id?: undefined; name?: string; role?: undefined };

/** Where a request came from. */
export interface RequestContext {
  address?: string;
  userAgent?: string;
  requestId?: string;
}

/** Session lifetimes. */
export interface SessionPolicy {
  /** A session unused for this long ends (FACTEUR_SESSION_IDLE). */
  idleMs: number;
  /** A session ends this long after sign-in, used or not (FACTEUR_SESSION_MAX_AGE). */
  maxAgeMs: number;
}

export interface AccountsDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** The server's secret key: the CSRF token of a session is an HMAC of its token under it. */
  secretKey: Buffer;
  /** The audit log: every change and sign-in event is recorded in the transaction that makes it. */
  audit: AuditRecorder;
  sessions: SessionPolicy;
}

/** A session just opened: the cookie's token (shown once), and what the dashboard needs. */
export interface OpenedSession {
  token: string;
  user: UserInfo;
  csrfToken: string;
  idleExpiresAt: number;
  expiresAt: number;
}

/** A session found by its cookie. */
export interface ActiveSession {
  id: string;
  user: UserInfo;
  csrfToken: string;
  idleExpiresAt: number;
  expiresAt: number;
}

/** Recording every request would be a write per request; once a minute shows activity well enough. */
const TOUCH_INTERVAL_MS = 60_000;

/** Users and their sessions: creation, changes, sign-in sessions, sign-out. */
export class Accounts {
  constructor(readonly deps: AccountsDeps) {}

  /** Creates a user; EMAIL_TAKEN when the email has an account already. */
  async createUser(input: unknown, actor: Actor, context: RequestContext = {}): Promise<UserInfo> {
    const valid: NewUser = parseOrThrow(newUserSchema, input, 'body');
    const passwordHash = valid.password === undefined ? null : await hashPassword(valid.password);
    const id = uuidv7();
    const now = this.deps.clock.now();
    return this.deps.store.transaction(async (tx) => {
      if (await findUserByEmail(tx.db, valid.email)) {
        throw new AppError('EMAIL_TAKEN', `a user with the email ${valid.email} exists already`, {
          details: [{ in: 'body', field: 'email', message: 'already used by another user' }],
        });
      }
      await insertUser(tx.db, {
        id,
        email: valid.email,
        name: valid.name,
        role: valid.role,
        passwordHash,
        now,
      });
      const user = userFromRow(
        (await findUserById(tx.db, id)) as NonNullable<Awaited<ReturnType<typeof findUserById>>>,
      );
      await this.deps.audit.record(tx.db, {
        ...context,
        actor,
        action: 'user.created',
        target: { type: 'user', id },
        after: user,
      });
      return user;
    });
  }

  list(): Promise<UserInfo[]> {
    return listUsers(this.deps.store.db);
  }

  async get(id: string): Promise<UserInfo> {
    const row = await findUserById(this.deps.store.db, id);
    if (!row) throw new AppError('NOT_FOUND', `no user has the id ${JSON.stringify(id)}`);
    return userFromRow(row);
  }

  /**
   * Changes a user's name, role, password or disabled state. Disabling or demoting ends every
   * session of the user; the last admin who can sign in may not be demoted or disabled.
   */
  async update(id: string, input: unknown, actor: Actor, context: RequestContext = {}): Promise<UserInfo> {
    const patch: UserPatch = parseOrThrow(userPatchSchema, input, 'body');
    const passwordHash = patch.password === undefined ? undefined : await hashPassword(patch.password);
    const now = this.deps.clock.now();
    return this.deps.store.transaction(async (tx) => {
      const row = await findUserById(tx.db, id);
      if (!row) throw new AppError('NOT_FOUND', `no user has the id ${JSON.stringify(id)}`);
      const before = userFromRow(row);
      const demoted = patch.role !== undefined && patch.role !== 'admin' && row.role === 'admin';
      const disabling = patch.disabled === true && row.disabled_at === null;
      if ((demoted || (disabling && row.role === 'admin')) && row.disabled_at === null)
        await this.keepAnAdmin(tx.db, 'body', demoted ? 'role' : 'disabled');
      await updateUser(
        tx.db,
        id,
        {
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.role !== undefined ? { role: patch.role } : {}),
          ...(patch.disabled !== undefined
            ? { disabledAt: patch.disabled ? (row.disabled_at ?? now) : null }
            : {}),
          ...(passwordHash !== undefined ? { passwordHash } : {}),
        },
        now,
      );
      // A role lowered or an account disabled takes effect at once, not when sessions expire.
      if (demoted || disabling || (patch.role !== undefined && patch.role !== row.role)) {
        await deleteUserSessions(tx.db, id);
        await revokeLoginLinks(tx.db, 'magic_link', id, now);
      }
      const after = userFromRow((await findUserById(tx.db, id)) as NonNullable<typeof row>);
      await this.deps.audit.record(tx.db, {
        ...context,
        actor,
        action: patch.password !== undefined ? 'user.password_set' : 'user.updated',
        target: { type: 'user', id },
        before,
        after,
      });
      return after;
    });
  }

  /** Deletes a user with their sessions and links; not the last admin. */
  async remove(id: string, actor: Actor, context: RequestContext = {}): Promise<void> {
    await this.deps.store.transaction(async (tx) => {
      const row = await findUserById(tx.db, id);
      if (!row) throw new AppError('NOT_FOUND', `no user has the id ${JSON.stringify(id)}`);
      if (row.role === 'admin' && row.disabled_at === null) await this.keepAnAdmin(tx.db, 'params', 'id');
      await deleteUser(tx.db, id);
      await this.deps.audit.record(tx.db, {
        ...context,
        actor,
        action: 'user.deleted',
        target: { type: 'user', id },
        before: userFromRow(row),
      });
    });
  }

  private async keepAnAdmin(db: Kysely<Database>, location: string, field: string): Promise<void> {
    if ((await countActiveAdmins(db)) > 1) return;
    throw new AppError(
      'LAST_ADMIN',
      'this is the last admin who can sign in; make another user admin first',
      {
        details: [{ in: location, field, message: 'the last active admin cannot lose the role' }],
      },
    );
  }

  /** Opens a session for a user who just proved who they are (inside the caller's transaction), audited. */
  async openSession(
    db: Kysely<Database>,
    user: UserInfo,
    method: SessionRow['method'],
    context: RequestContext,
  ): Promise<OpenedSession> {
    const token = randomToken(32);
    const now = this.deps.clock.now();
    const expiresAt = now + this.deps.sessions.maxAgeMs;
    await insertSession(db, {
      id: uuidv7(),
      token_hash: sha256Hex(token),
      user_id: user.id,
      method,
      created_at: now,
      last_seen_at: now,
      expires_at: expiresAt,
      address: context.address ?? null,
      user_agent: context.userAgent?.slice(0, 300) ?? null,
    });
    await this.deps.audit.record(db, {
      ...context,
      actor: { kind: 'user', id: user.id, name: user.email, role: user.role },
      action: 'session.signed_in',
      target: { type: 'user', id: user.id },
      after: { method },
    });
    return {
      token,
      user,
      csrfToken: this.csrfTokenFor(token),
      idleExpiresAt: Math.min(expiresAt, now + this.deps.sessions.idleMs),
      expiresAt,
    };
  }

  /**
   * The session of a cookie's token: `ended` when it expired (idle or absolute), its user was
   * disabled, or it was signed out; undefined when the token is unknown.
   */
  async findSession(token: string): Promise<ActiveSession | 'ended' | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const found = await findSession(this.deps.store.db, sha256Hex(token));
    if (!found) return undefined;
    const { session, user } = found;
    const now = this.deps.clock.now();
    const idleExpiresAt = Number(session.last_seen_at) + this.deps.sessions.idleMs;
    const expiresAt = Number(session.expires_at);
    if (now >= expiresAt || now >= idleExpiresAt || user.disabled_at !== null) {
      await deleteSession(this.deps.store.db, session.id);
      return 'ended';
    }
    if (now - Number(session.last_seen_at) >= TOUCH_INTERVAL_MS) {
      await touchSession(this.deps.store.db, session.id, now).catch((error) =>
        this.deps.logger.warn({ event: 'session.touch_failed', err: error }, 'cannot record session use'),
      );
    }
    return {
      id: session.id,
      user: userFromRow(user),
      csrfToken: this.csrfTokenFor(token),
      idleExpiresAt: Math.min(expiresAt, now + this.deps.sessions.idleMs),
      expiresAt,
    };
  }

  /** The CSRF token of a session: derived from its token, so nothing more is stored. */
  csrfTokenFor(token: string): string {
    return createHmac('sha256', this.deps.secretKey).update(`facteur csrf v1\0${token}`).digest('base64url');
  }

  /** True when `given` is the session's CSRF token. */
  csrfMatches(session: ActiveSession, given: string | undefined): boolean {
    return typeof given === 'string' && safeEqual(given, session.csrfToken);
  }

  /** Signs one session out. */
  async signOut(session: ActiveSession, context: RequestContext): Promise<void> {
    await this.deps.store.transaction(async (tx) => {
      await deleteSession(tx.db, session.id);
      await this.deps.audit.record(tx.db, {
        ...context,
        actor: sessionActor(session),
        action: 'session.signed_out',
        target: { type: 'user', id: session.user.id },
      });
    });
  }

  /** Ends every session of the user and revokes their unused sign-in links. */
  async signOutEverywhere(session: ActiveSession, context: RequestContext): Promise<number> {
    return this.deps.store.transaction(async (tx) => {
      const ended = await deleteUserSessions(tx.db, session.user.id);
      await revokeLoginLinks(tx.db, 'magic_link', session.user.id, this.deps.clock.now());
      await this.deps.audit.record(tx.db, {
        ...context,
        actor: sessionActor(session),
        action: 'session.signed_out_everywhere',
        target: { type: 'user', id: session.user.id },
        after: { sessionsEnded: ended },
      });
      return ended;
    });
  }
}

/** The principal of a session, as the `/api` routes see it. */
export function sessionActor(session: ActiveSession): Principal {
  return {
    kind: 'user',
    id: session.user.id,
    name: session.user.email,
    role: session.user.role,
    sessionId: session.id,
  };
}
