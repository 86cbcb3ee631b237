// Deleting a delivered message: the group's next message becomes deliverable
// at once. A receipt from an earlier delivery (the message was received
// again, or dead-lettered) matches nothing and changes nothing.

import type { Db } from './db.ts';

export async function deleteMessage(db: Db, messageId: string, receipt: string): Promise<boolean> {
  // locked_group runs first (gone reads from it), keeping the lock order group
  // → message. The DELETE re-checks the receipt on the row's latest version,
  // so a redelivery that committed while we waited for the lock wins.
  const result = await db.query({
    name: 'queue_delete_message',
    text: `WITH locked_group AS (
       SELECT g.group_id FROM queue_group g
       WHERE g.group_id = (SELECT group_id FROM queue_message WHERE message_id = $1)
       FOR UPDATE
     ), gone AS (
       DELETE FROM queue_message m
       USING locked_group lg
       WHERE m.message_id = $1 AND m.receipt = $2 AND m.group_id = lg.group_id
       RETURNING m.group_id
     )
     UPDATE queue_group g
     SET pending = g.pending - 1, visible_at = now()
     FROM gone
     WHERE g.group_id = gone.group_id`,
    values: [messageId, receipt],
  });
  return result.rowCount === 1;
}
