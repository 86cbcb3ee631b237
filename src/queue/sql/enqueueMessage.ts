// Step 2 of a send, after the dedup claim and in the same transaction: append
// the message to its group.

import type { Db } from './db.ts';
import { toBigint } from './db.ts';

export interface Enqueued {
  readonly messageId: string;
  readonly seq: bigint;
}

export async function enqueueMessage(
  db: Db,
  message: { groupId: string; messageId: string; dedupId: string; body: string },
): Promise<Enqueued> {
  // locked_group runs first (message reads from it), so the group row is
  // locked before the message draws its sequence number: sends of one group
  // therefore commit in sequence order, and a receiver can never see seq 11
  // of a group while seq 10 is still uncommitted behind it.
  const result = await db.query<{ message_id: string; seq: string }>({
    name: 'queue_enqueue_message',
    text: `WITH locked_group AS (
       INSERT INTO queue_group AS g (group_id, pending) VALUES ($1, 1)
       ON CONFLICT (group_id) DO UPDATE SET pending = g.pending + 1
       RETURNING g.group_id
     ), message AS (
       INSERT INTO queue_message (message_id, group_id, dedup_id, body)
       SELECT $2, locked_group.group_id, $3, $4 FROM locked_group
       RETURNING message_id, seq
     ), remembered AS (
       UPDATE queue_dedup d SET seq = message.seq FROM message WHERE d.dedup_id = $3
     )
     SELECT message_id, seq FROM message`,
    values: [message.groupId, message.messageId, message.dedupId, message.body],
  });
  const row = result.rows[0];
  if (!row) throw new Error('enqueueMessage inserted no row');
  return { messageId: row.message_id, seq: toBigint(row.seq) };
}
