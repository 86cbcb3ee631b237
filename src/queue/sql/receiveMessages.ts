// The hot path: deliver the heads of up to `limit` receivable groups, in one
// statement.
//
// How it stays correct under concurrent receivers (several worker processes):
// - candidate locks group rows FOR UPDATE SKIP LOCKED, so two receivers never
//   work on one group at once; Postgres re-checks `pending > 0 AND
//   visible_at <= now()` on the row's latest version after locking, so a group
//   another receiver has just made invisible is dropped, not delivered twice.
// - head reads each group's lowest live seq from the statement's snapshot,
//   which may predate a delete that committed while we waited. The updates
//   below therefore repeat their conditions (same receive count, not dead),
//   which Postgres re-checks on the row's latest version: a stale head updates
//   nothing, and its group is simply not delivered this time.
// - the group row is changed only for heads actually delivered or
//   dead-lettered, never for a stale one, so a group is never left invisible
//   with nothing in flight.
// Lock order is group row, then message rows, as in every other statement.

import type { Db } from './db.ts';

export interface ReceivedRow {
  readonly outcome: 'delivered' | 'dead_lettered';
  readonly message_id: string;
  readonly group_id: string;
  readonly dedup_id: string;
  readonly body: string | null;
  readonly seq: string;
  readonly receive_count: number;
  readonly sent_at: Date;
  readonly receipt: string | null;
}

export async function receiveMessages(
  db: Db,
  options: { limit: number; visibilityTimeoutSec: number; maxReceiveCount: number },
): Promise<ReceivedRow[]> {
  const result = await db.query<ReceivedRow>({
    name: 'queue_receive_messages',
    text: `WITH candidate AS (
       SELECT g.group_id
       FROM queue_group g
       WHERE g.pending > 0 AND g.visible_at <= now()
       ORDER BY g.visible_at
       LIMIT $1
       FOR UPDATE SKIP LOCKED
     ), head AS (
       SELECT m.message_id, m.receive_count, m.receive_count >= $3 AS exhausted
       FROM candidate c
       CROSS JOIN LATERAL (
         SELECT message_id, receive_count
         FROM queue_message
         WHERE group_id = c.group_id AND dead_lettered_at IS NULL
         ORDER BY seq
         LIMIT 1
       ) m
     ), delivered AS (
       UPDATE queue_message m
       SET receive_count = m.receive_count + 1, receipt = gen_random_uuid()
       FROM head h
       WHERE m.message_id = h.message_id AND NOT h.exhausted
         AND m.receive_count = h.receive_count AND m.dead_lettered_at IS NULL
       RETURNING m.message_id, m.group_id, m.dedup_id, m.body, m.seq, m.receive_count, m.sent_at, m.receipt
     ), dead_lettered AS (
       UPDATE queue_message m
       SET dead_lettered_at = now(), receipt = NULL
       FROM head h
       WHERE m.message_id = h.message_id AND h.exhausted
         AND m.receive_count = h.receive_count AND m.dead_lettered_at IS NULL
       RETURNING m.message_id, m.group_id, m.dedup_id, m.seq, m.receive_count, m.sent_at
     ), group_change AS (
       UPDATE queue_group g
       SET visible_at = CASE WHEN x.delivered THEN now() + make_interval(secs => $2) ELSE now() END,
           pending = g.pending - CASE WHEN x.delivered THEN 0 ELSE 1 END
       FROM (
         SELECT group_id, true AS delivered FROM delivered
         UNION ALL
         SELECT group_id, false FROM dead_lettered
       ) x
       WHERE g.group_id = x.group_id
     )
     SELECT 'delivered' AS outcome, message_id, group_id, dedup_id, body, seq, receive_count, sent_at, receipt
     FROM delivered
     UNION ALL
     SELECT 'dead_lettered', message_id, group_id, dedup_id, NULL, seq, receive_count, sent_at, NULL
     FROM dead_lettered
     ORDER BY seq`,
    values: [options.limit, options.visibilityTimeoutSec, options.maxReceiveCount],
  });
  return result.rows;
}
