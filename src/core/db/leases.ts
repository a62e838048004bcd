import type { Kysely } from 'kysely';
import type { Clock, Timer } from '../clock.js';
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

/** What a `LeaseHolder` holds, and how. */
export interface LeaseHolderOptions {
  db: Kysely<Database>;
  /** Its timers schedule the renewals. */
  clock: Clock;
  name: string;
  owner: string;
  /** Lease length; renewed every third of it while held. */
  ttlMs: number;
  /** Whether a lease held by `owner` may be taken before it expires (an earlier run of this instance). */
  mayTakeOver?: (owner: string) => boolean;
  /** A renewal found the lease taken by another owner, or could not write it: it is not ours any more. */
  onLost?: () => void;
}

/**
 * One named lease held by this process (a mailbox folder's watcher, the scheduled reports):
 * `acquire` takes it and renews it every ttl/3 on the clock's timers until `pause`, `release`
 * or loss (reported through `onLost`). Attempts run one at a time, so a renewal in flight
 * never writes the lease back after `release` gave it up. A database error counts as not held:
 * whoever cannot renew must stop before the lease expires under it.
 */
export class LeaseHolder {
  private timer: Timer | undefined;
  /** Bumped by every acquire, pause and release: a renewal of an older generation does nothing. */
  private generation = 0;
  private last: Promise<boolean> = Promise.resolve(false);
  private isHeld = false;

  constructor(private readonly options: LeaseHolderOptions) {}

  /** Whether the last attempt (take or renewal) found the lease ours. */
  get held(): boolean {
    return this.isHeld;
  }

  /** Takes the lease (or renews it); when it is ours, keeps renewing it. False: someone else holds it. */
  async acquire(): Promise<boolean> {
    this.pause();
    const generation = this.generation;
    const held = await this.attempt();
    if (held && generation === this.generation) this.renewLater(generation);
    return held;
  }

  /** Stops renewing; the lease stays ours until it expires or is acquired again. */
  pause(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.generation++;
  }

  /** Stops renewing and gives the lease up, so another instance may take it at once. Errors are ignored: it expires. */
  async release(): Promise<void> {
    this.pause();
    await this.last;
    this.isHeld = false;
    const { db, name, owner } = this.options;
    await releaseLease(db, name, owner).catch(() => undefined);
  }

  private renewLater(generation: number): void {
    const every = Math.max(1, Math.floor(this.options.ttlMs / 3));
    this.timer = this.options.clock.setTimer(every, () => {
      void this.attempt().then((held) => {
        if (generation !== this.generation) return;
        if (held) return this.renewLater(generation);
        this.timer = undefined;
        this.options.onLost?.();
      });
    });
  }

  /** One take-or-renew, after the one before it. */
  private attempt(): Promise<boolean> {
    const { db, clock, name, owner, ttlMs, mayTakeOver } = this.options;
    this.last = this.last.then(async () => {
      const lease = { name, owner, ttlMs, ...(mayTakeOver ? { mayTakeOver } : {}) };
      this.isHeld = await acquireLease(db, lease, clock.now()).catch(() => false);
      return this.isHeld;
    });
    return this.last;
  }
}
