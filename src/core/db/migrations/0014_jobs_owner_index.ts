import { type Kysely, sql } from 'kysely';

/**
 * Drops `jobs_owner` (lease_owner of running jobs). Every job pays it twice, an entry when it is
 * claimed and its removal when it settles, and no query needs it: settlements and releases find
 * their jobs by id, and the lease renewal's `lease_owner = ? and status = 'running'` reads the
 * running jobs through `jobs_leased`, which holds every running job and nothing else (a few
 * hundred rows at most: each instance runs no more than its queues' concurrency).
 */
export function jobsOwnerIndex() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`drop index if exists jobs_owner`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await sql`create index if not exists jobs_owner on jobs (lease_owner) where status = 'running'`.execute(
        db,
      );
    },
  };
}
