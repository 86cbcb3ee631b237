// Deleting delivered messages, several in one statement (PostgresQueue
// coalesces concurrent delete() calls): each group's next message becomes
// deliverable at once. A receipt from an earlier delivery (the message was
// received again, or dead-lettered) matches nothing and changes nothing.

import type { Db } from './db.ts';

export interface ToDelete {
  readonly messageId: string;
  readonly receipt: string;
}

/** Returns the "messageId receipt" pairs that were deleted. The caller passes each message once. */
export async function deleteMessages(db: Db, items: readonly ToDelete[]): Promise<Set<string>> {
  // locked_group runs first (gone reads from it) and locks the groups in
  // group_id order, keeping the lock order group → message and the order
  // between groups that every multi-group statement uses (no deadlocks between
  // two batches). The DELETE re-checks the receipt on the row's latest version,
  // so a redelivery that committed while we waited for the lock wins.
  const result = await db.query<{ message_id: string; receipt: string }>({
    name: 'queue_delete_messages',
    text: `WITH input AS (
       SELECT * FROM unnest($1::uuid[], $2::uuid[]) AS t (message_id, receipt)
     ), locked_group AS MATERIALIZED (
       SELECT g.group_id FROM queue_group g
       WHERE g.group_id IN (SELECT m.group_id FROM queue_message m JOIN input i ON i.message_id = m.message_id)
       ORDER BY g.group_id
       FOR UPDATE
     ), gone AS (
       DELETE FROM queue_message m
       USING input i, locked_group lg
       WHERE m.message_id = i.message_id AND m.receipt = i.receipt AND m.group_id = lg.group_id
       RETURNING m.message_id, m.receipt, m.group_id
     ), per_group AS (
       UPDATE queue_group g
       SET pending = g.pending - c.n, visible_at = now()
       FROM (SELECT group_id, count(*)::int AS n FROM gone GROUP BY group_id) c
       WHERE g.group_id = c.group_id
     )
     SELECT message_id, receipt FROM gone`,
    values: [items.map((i) => i.messageId), items.map((i) => i.receipt)],
  });
  return new Set(result.rows.map((r) => `${r.message_id} ${r.receipt}`));
}
