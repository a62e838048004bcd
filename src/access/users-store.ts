import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../core/db/index.js';
import type { LoginLinksTable, SessionsTable, UsersTable } from '../core/db/schema.js';
import type { Role } from '../core/http/access-policy.js';
import type { UserInfo } from './users-model.js';

/** The SQL of users, sessions, sign-in links and the login throttle. */

type Db = Kysely<Database>;
export type UserRow = Selectable<UsersTable>;
export type SessionRow = Selectable<SessionsTable>;
export type LoginLinkRow = Selectable<LoginLinksTable>;

export function userFromRow(row: UserRow): UserInfo {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    hasPassword: row.password_hash !== null,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    disabledAt: row.disabled_at === null ? null : Number(row.disabled_at),
  };
}

export async function insertUser(
  db: Db,
  row: { id: string; email: string; name: string; role: Role; passwordHash: string | null; now: number },
): Promise<void> {
  await db
    .insertInto('users')
    .values({
      id: row.id,
      email: row.email,
      name: row.name,
      role: row.role,
      password_hash: row.passwordHash,
      created_at: row.now,
      updated_at: row.now,
    })
    .execute();
}

export function findUserById(db: Db, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
}

export async function listUsers(db: Db): Promise<UserInfo[]> {
  const rows = await db.selectFrom('users').selectAll().orderBy('email').execute();
  return rows.map(userFromRow);
}

export async function countUsers(db: Db): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Admins who can still sign in (the last one may not be demoted, disabled or deleted). */
export async function countActiveAdmins(db: Db): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('role', '=', 'admin')
    .where('disabled_at', 'is', null)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

export async function updateUser(
  db: Db,
  id: string,
  changes: { name?: string; role?: Role; disabledAt?: number | null; passwordHash?: string },
  now: number,
): Promise<void> {
  await db
    .updateTable('users')
    .set({
      ...(changes.name !== undefined ? { name: changes.name } : {}),
      ...(changes.role !== undefined ? { role: changes.role } : {}),
      ...(changes.disabledAt !== undefined ? { disabled_at: changes.disabledAt } : {}),
      ...(changes.passwordHash !== undefined ? { password_hash: changes.passwordHash } : {}),
      updated_at: now,
    })
    .where('id', '=', id)
    .execute();
}

export async function deleteUser(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

// Sessions

export async function insertSession(db: Db, row: SessionRow): Promise<void> {
  await db.insertInto('sessions').values(row).execute();
}

/** The session with this token digest and its user, if both exist. */
export async function findSession(
  db: Db,
  tokenHash: string,
): Promise<{ session: SessionRow; user: UserRow } | undefined> {
  const session = await db
    .selectFrom('sessions')
    .selectAll()
    .where('token_hash', '=', tokenHash)
    .executeTakeFirst();
  if (!session) return undefined;
  const user = await findUserById(db, session.user_id);
  return user ? { session, user } : undefined;
}

export async function touchSession(db: Db, id: string, now: number): Promise<void> {
  await db.updateTable('sessions').set({ last_seen_at: now }).where('id', '=', id).execute();
}

export async function deleteSession(db: Db, id: string): Promise<void> {
  await db.deleteFrom('sessions').where('id', '=', id).execute();
}

/** Ends every session of a user; returns how many there were. */
export async function deleteUserSessions(db: Db, userId: string): Promise<number> {
  const result = await db.deleteFrom('sessions').where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Ends a user's sessions but one (a password change keeps the session that made it). */
export async function deleteOtherSessions(db: Db, userId: string, keepId: string): Promise<void> {
  await db.deleteFrom('sessions').where('user_id', '=', userId).where('id', '<>', keepId).execute();
}

/** Removes sessions past their absolute expiry or idle for longer than `idleMs`. */
export async function deleteExpiredSessions(db: Db, now: number, idleMs: number): Promise<number> {
  const result = await db
    .deleteFrom('sessions')
    .where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<=', now - idleMs)]))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

// Sign-in links

export async function insertLoginLink(db: Db, row: LoginLinkRow): Promise<void> {
  await db.insertInto('login_links').values(row).execute();
}

export function findLoginLink(db: Db, tokenHash: string): Promise<LoginLinkRow | undefined> {
  return db.selectFrom('login_links').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
}

/** Links of a purpose created for a user since `since` (a bound on how many one can ask for). */
export async function countLinksSince(db: Db, userId: string, since: number): Promise<number> {
  const row = await db
    .selectFrom('login_links')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('purpose', '=', 'magic_link')
    .where('created_at', '>=', since)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Marks a link used, once: false when another request used it first. */
export async function useLoginLink(db: Db, id: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('login_links')
    .set({ used_at: now })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Revokes the unused links of a purpose (and user); returns how many. */
export async function revokeLoginLinks(
  db: Db,
  purpose: LoginLinkRow['purpose'],
  userId: string | null,
  now: number,
): Promise<number> {
  let query = db
    .updateTable('login_links')
    .set({ revoked_at: now })
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null);
  query = userId === null ? query.where('user_id', 'is', null) : query.where('user_id', '=', userId);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

// Login throttle

export interface ThrottleRow {
  key: string;
  windowStartedAt: number;
  failures: number;
  lockedUntil: number | null;
}

export async function getThrottles(db: Db, keys: readonly string[]): Promise<ThrottleRow[]> {
  const rows = await db.selectFrom('login_throttle').selectAll().where('key', 'in', keys).execute();
  return rows.map((r) => ({
    key: r.key,
    windowStartedAt: Number(r.window_started_at),
    failures: Number(r.failures),
    lockedUntil: r.locked_until === null ? null : Number(r.locked_until),
  }));
}

export async function saveThrottle(db: Db, row: ThrottleRow): Promise<void> {
  await db
    .insertInto('login_throttle')
    .values({
      key: row.key,
      window_started_at: row.windowStartedAt,
      failures: row.failures,
      locked_until: row.lockedUntil,
    })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({
        window_started_at: row.windowStartedAt,
        failures: row.failures,
        locked_until: row.lockedUntil,
      }),
    )
    .execute();
}

export async function clearThrottle(db: Db, key: string): Promise<void> {
  await db.deleteFrom('login_throttle').where('key', '=', key).execute();
}
