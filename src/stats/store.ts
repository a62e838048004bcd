import { type Expression, type Kysely, type RawBuilder, sql } from 'kysely';
import type { Database } from '../core/db/index.js';
import { type ActivityCounts, LATENCY_BOUNDS_MS, type WindowRange } from './model.js';

/**
 * The activity series' SQL: counts per (bucket, latency class) over a window, read from the
 * tables every instance writes (messages, webhook_attempts, inbound_messages), so the series
 * covers all instances and survives restarts. The same SQL on SQLite and PostgreSQL: times are
 * epoch ms integers and the bucket is `(t - from) / bucketMs` with both operands cast to
 * bigint, an integer division on both (the rows are at or after `from`, so it never rounds a
 * negative). Each range is served by an index of migration 0013.
 */

/** The bucket index of `column` (epoch ms) in `range`. */
function bucketOf(column: string, range: WindowRange): RawBuilder<number> {
  return sql<number>`(${sql.ref(column)} - cast(${range.from} as bigint)) / cast(${range.bucketMs} as bigint)`;
}

/** The latency class of `ms` (see `latencyClass` in model.ts; null when `ms` is null). */
function classOf(ms: Expression<unknown> | RawBuilder<unknown>): RawBuilder<number | null> {
  const whens = LATENCY_BOUNDS_MS.map((bound, i) => sql`when ${ms} <= ${sql.lit(bound)} then ${sql.lit(i)}`);
  return sql<
    number | null
  >`case when ${ms} is null then null ${sql.join(whens, sql` `)} else ${sql.lit(LATENCY_BOUNDS_MS.length)} end`;
}

const toNumber = (value: unknown): number => Number(value);
const toClass = (value: unknown): number | null =>
  value === null || value === undefined ? null : Number(value);

/** Counts of sent and failed messages, webhook attempts and inbound messages per bucket of `range`. */
export async function activityCounts(db: Kysely<Database>, range: WindowRange): Promise<ActivityCounts> {
  const [sent, failed, attempts, received] = await Promise.all([
    db
      .selectFrom('messages')
      .select([
        bucketOf('sent_at', range).as('bucket'),
        classOf(sql`sent_at - created_at`).as('latency_class'),
        sql<number>`count(*)`.as('count'),
      ])
      .where('sent_at', '>=', range.from)
      .where('sent_at', '<', range.to)
      .groupBy(['bucket', 'latency_class'])
      .execute(),
    // `status = 'failed'` written as a literal, so SQLite uses the partial index.
    db
      .selectFrom('messages')
      .select([bucketOf('updated_at', range).as('bucket'), sql<number>`count(*)`.as('count')])
      .where(sql<boolean>`status = 'failed'`)
      .where('updated_at', '>=', range.from)
      .where('updated_at', '<', range.to)
      .groupBy('bucket')
      .execute(),
    db
      .selectFrom('webhook_attempts')
      .select([
        bucketOf('finished_at', range).as('bucket'),
        sql<number>`case when outcome = 'succeeded' then 1 else 0 end`.as('succeeded'),
        classOf(sql.ref('latency_ms')).as('latency_class'),
        sql<number>`count(*)`.as('count'),
      ])
      .where('finished_at', '>=', range.from)
      .where('finished_at', '<', range.to)
      .groupBy(['bucket', 'succeeded', 'latency_class'])
      .execute(),
    db
      .selectFrom('inbound_messages')
      .select([bucketOf('received_at', range).as('bucket'), sql<number>`count(*)`.as('count')])
      .where('received_at', '>=', range.from)
      .where('received_at', '<', range.to)
      .groupBy('bucket')
      .execute(),
  ]);
  return {
    sent: sent.map((r) => ({
      bucket: toNumber(r.bucket),
      latencyClass: toClass(r.latency_class),
      count: toNumber(r.count),
    })),
    failed: failed.map((r) => ({ bucket: toNumber(r.bucket), latencyClass: null, count: toNumber(r.count) })),
    attempts: attempts.map((r) => ({
      bucket: toNumber(r.bucket),
      succeeded: toNumber(r.succeeded) === 1,
      latencyClass: toClass(r.latency_class),
      count: toNumber(r.count),
    })),
    received: received.map((r) => ({
      bucket: toNumber(r.bucket),
      latencyClass: null,
      count: toNumber(r.count),
    })),
  };
}
