// Sending a message: claim its dedup id, SQS-style, then append it to its
// group, in one round trip. The steps live in the plpgsql function queue_send
// (migrations/0004_send_in_one_round_trip.sql), which runs them in order inside
// this one statement: one commit, and the lock order dedup row → group row →
// message that keeps each group's sequence in commit order.

import type { Db } from './db.ts';
import { toBigint } from './db.ts';

export interface Sent {
  readonly messageId: string;
  readonly seq: bigint;
  /** True when the dedup id was already taken inside its window: nothing new was queued. */
  readonly duplicate: boolean;
}

export async function sendMessage(
  db: Db,
  message: { groupId: string; dedupId: string; body: string },
  dedupWindowSec: number,
): Promise<Sent> {
  const result = await db.query<{ message_id: string; seq: string; duplicate: boolean }>({
    name: 'queue_send',
    text: 'SELECT message_id, seq, duplicate FROM queue_send($1, $2, $3, $4)',
    values: [message.groupId, message.dedupId, message.body, dedupWindowSec],
  });
  const row = result.rows[0];
  if (!row) throw new Error('queue_send returned no row');
  return { messageId: row.message_id, seq: toBigint(row.seq), duplicate: row.duplicate };
}
