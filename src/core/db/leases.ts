import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * Leases for singleton work shared by instances on one database (one watcher per mailbox):
 * a row per lease, taken when free or expired, renewed by its owner. An owner that dies stops
 * renewing and another instance takes over once the lease has expired; the same instance,
 * restarted, takes it back at once (`mayTakeOver`, see `core/instance.ts`).
 */

/**
 * Takes or renews `name` for `owner` until `now + ttlMs`; false when another owner holds it,
 * unless `mayTakeOver(thatOwner)` says its holder is gone (an earlier run of this instance).
 */
export async function acquireLease(
  db: Kysely<Database>,
  lease: { name: string; owner: string; ttlMs: number; mayTakeOver?: (owner: string) => boolean },
  now: number,
): Promise<boolean> {
  const expiresAt = now + lease.ttlMs;
  const row = await db
    .insertInto('leases')
    .values({ name: lease.name, owner: lease.owner, expires_at: expiresAt })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet({ owner: lease.owner, expires_at: expiresAt })
        .where((eb) => eb.or([eb('leases.owner', '=', lease.owner), eb('leases.expires_at', '<', now)])),
    )
    .returning('owner')
    .executeTakeFirst();
  if (row?.owner === lease.owner) return true;
  if (!lease.mayTakeOver) return false;
  const held = await db
    .selectFrom('leases')
    .select('owner')
    .where('name', '=', lease.name)
    .executeTakeFirst();
  if (!held || !lease.mayTakeOver(held.owner)) return false;
  // Only from the owner just read: if anyone else took it meanwhile, theirs it stays.
  const taken = await db
    .updateTable('leases')
    .set({ owner: lease.owner, expires_at: expiresAt })
    .where('name', '=', lease.name)
    .where('owner', '=', held.owner)
    .executeTakeFirst();
  return Number(taken.numUpdatedRows) === 1;
}

/** Gives `name` up if `owner` holds it, so another instance may take it at once. */
export async function releaseLease(db: Kysely<Database>, name: string, owner: string): Promise<void> {
  await db.deleteFrom('leases').where('name', '=', name).where('owner', '=', owner).execute();
}
