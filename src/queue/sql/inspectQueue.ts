// Read-only views of the queue: counts for health and alerts, and the
// dead-letter listing for operators.

import type { Db } from './db.ts';

export interface StatsRow {
  readonly visible: string;
  readonly in_flight: string;
  readonly dead_lettered: string;
  readonly oldest_age_sec: number;
}

export async function queueStats(db: Db): Promise<StatsRow> {
  // In flight = groups whose head is invisible (one message each); every other
  // live message counts as visible, as SQS counts a FIFO queue's backlog.
  const result = await db.query<StatsRow>({
    name: 'queue_stats',
    text: `WITH in_flight AS (
       SELECT count(*) AS n FROM queue_group WHERE pending > 0 AND visible_at > now()
     ), messages AS (
       SELECT count(*) FILTER (WHERE dead_lettered_at IS NULL) AS live,
              count(*) FILTER (WHERE dead_lettered_at IS NOT NULL) AS dead_lettered,
              min(sent_at) FILTER (WHERE dead_lettered_at IS NULL) AS oldest
       FROM queue_message
     )
     SELECT m.live - f.n AS visible, f.n AS in_flight, m.dead_lettered,
            coalesce(extract(epoch FROM now() - m.oldest), 0)::float8 AS oldest_age_sec
     FROM messages m, in_flight f`,
  });
  const row = result.rows[0];
  if (!row) throw new Error('queueStats returned no row');
  return row;
}

export interface DeadLetterRow {
  readonly message_id: string;
  readonly group_id: string;
  readonly dedup_id: string;
  readonly body: string;
  readonly seq: string;
  readonly receive_count: number;
  readonly sent_at: Date;
  readonly dead_lettered_at: Date;
}

export async function listDeadLetters(db: Db, limit: number): Promise<DeadLetterRow[]> {
  const result = await db.query<DeadLetterRow>({
    name: 'queue_list_dead_letters',
    text: `SELECT message_id, group_id, dedup_id, body, seq, receive_count, sent_at, dead_lettered_at
     FROM queue_message
     WHERE dead_lettered_at IS NOT NULL
     ORDER BY dead_lettered_at, seq
     LIMIT $1`,
    values: [limit],
  });
  return result.rows;
}
