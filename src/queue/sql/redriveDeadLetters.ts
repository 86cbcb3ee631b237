// Moving dead letters back to the tail of their groups, with their receive
// count reset. Two statements in one transaction: lock the groups first (in
// group_id order, so two redrives cannot deadlock), then move the messages
// with a fresh snapshot that sees everything committed before the locks.

import type pg from 'pg';

/** Must run inside a transaction. `messageIds` null = every dead letter. Returns how many moved. */
export async function redriveDeadLetters(
  client: pg.PoolClient,
  messageIds: readonly string[] | null,
): Promise<number> {
  const locked = await client.query<{ group_id: string }>(
    `SELECT g.group_id
     FROM queue_group g
     WHERE g.group_id IN (
       SELECT group_id FROM queue_message
       WHERE dead_lettered_at IS NOT NULL AND ($1::uuid[] IS NULL OR message_id = ANY ($1::uuid[]))
     )
     ORDER BY g.group_id
     FOR UPDATE`,
    [messageIds],
  );
  if (locked.rows.length === 0) return 0;

  // chosen is materialised in (group, seq) order and renumbered reads it in
  // that order, so dead letters of one group keep their relative order at the tail.
  const moved = await client.query<{ moved: string }>(
    `WITH chosen AS MATERIALIZED (
       SELECT message_id
       FROM queue_message
       WHERE dead_lettered_at IS NOT NULL
         AND ($1::uuid[] IS NULL OR message_id = ANY ($1::uuid[]))
         AND group_id = ANY ($2::text[])
       ORDER BY group_id, seq
     ), renumbered AS MATERIALIZED (
       SELECT message_id, nextval('queue_message_seq') AS seq FROM chosen
     ), moved AS (
       UPDATE queue_message m
       SET seq = r.seq, receive_count = 0, receipt = NULL, dead_lettered_at = NULL
       FROM renumbered r
       WHERE m.message_id = r.message_id
       RETURNING m.group_id
     ), per_group AS (
       UPDATE queue_group g
       SET pending = g.pending + c.n
       FROM (SELECT group_id, count(*)::int AS n FROM moved GROUP BY group_id) c
       WHERE g.group_id = c.group_id
     )
     SELECT count(*) AS moved FROM moved`,
    [messageIds, locked.rows.map((r) => r.group_id)],
  );
  return Number(moved.rows[0]?.moved ?? 0);
}
