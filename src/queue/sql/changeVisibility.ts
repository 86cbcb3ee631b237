// Extending (or ending) the invisibility of a message in flight. As in SQS
// (MessageNotInflight), a message whose visibility has already run out is no
// longer held by anyone: the change is refused, and the caller learns it may
// have been overtaken.

import type { Db } from './db.ts';

export async function changeVisibility(
  db: Db,
  messageId: string,
  receipt: string,
  timeoutSec: number,
): Promise<boolean> {
  // current re-reads the message FOR SHARE after the group lock is held, so
  // its receipt is compared on the latest version, not on a snapshot that may
  // predate a redelivery.
  const result = await db.query({
    name: 'queue_change_visibility',
    text: `WITH locked_group AS (
       SELECT g.group_id FROM queue_group g
       WHERE g.group_id = (SELECT group_id FROM queue_message WHERE message_id = $1)
       FOR UPDATE
     ), current AS (
       SELECT m.group_id
       FROM queue_message m
       JOIN locked_group lg ON lg.group_id = m.group_id
       WHERE m.message_id = $1 AND m.receipt = $2
       FOR SHARE OF m
     )
     UPDATE queue_group g
     SET visible_at = now() + make_interval(secs => $3)
     FROM current
     WHERE g.group_id = current.group_id AND g.visible_at > now()`,
    values: [messageId, receipt, timeoutSec],
  });
  return result.rowCount === 1;
}
