// Step 2 of a renewal: send claimed attempts that are not yet known to be
// sent, then mark them. Whatever a run leaves unsent (it crashed, the queue
// was down) the next run of any scheduler sends.
//
// The rows are locked (FOR UPDATE SKIP LOCKED) while their messages are sent,
// so two schedulers never send the same attempt at once. A crash after the
// send and before the mark commits leaves the attempt unsent in the ledger:
// it is sent again, byte for byte, and the queue's dedup (same dedup id) or,
// past its window, the provider's idempotency key and the ledger's checkouts
// primary key make the second delivery charge nothing. An attempt whose
// checkout is already in the ledger obviously reached the queue: it is marked,
// not sent again. Nothing else locks these rows: the worker's ledger
// transaction only reads them.

import type pg from 'pg';
import type { SendInput, SendResult } from '../../queue/Queue.ts';

export type SendFn = (input: SendInput) => Promise<SendResult>;

export interface SendOutcome {
  readonly sent: number;
  /** Of those sent, how many the queue already knew (dedup): a re-send after a crash. */
  readonly duplicates: number;
  /** The first send that failed; the rows not sent stay unsent for the next run. */
  readonly error: unknown;
}

interface UnsentRow {
  readonly checkout_id: string;
  readonly creator_id: string;
  readonly message: string;
  readonly settled: boolean;
}

/** Sends up to `limit` unsent attempts, in claim order. Runs inside the caller's transaction. */
export async function sendClaimedRenewals(
  client: pg.ClientBase,
  send: SendFn,
  limit: number,
): Promise<SendOutcome & { readonly locked: number }> {
  const unsent = await client.query<UnsentRow>(
    `SELECT a.checkout_id, a.creator_id, a.message,
            EXISTS (SELECT 1 FROM checkouts c WHERE c.id = a.checkout_id) AS settled
       FROM renewal_attempts a
      WHERE a.enqueued_at IS NULL
      ORDER BY a.claimed_at, a.checkout_id
      LIMIT $1
      FOR UPDATE OF a SKIP LOCKED`,
    [limit],
  );
  const ids: string[] = [];
  const messageIds: (string | null)[] = [];
  let duplicates = 0;
  let error: unknown;
  for (const row of unsent.rows) {
    if (row.settled) {
      ids.push(row.checkout_id);
      messageIds.push(null);
      continue;
    }
    try {
      // Group = creator and dedup id = checkout id, as the API sends first checkouts.
      const result = await send({ groupId: row.creator_id, dedupId: row.checkout_id, body: row.message });
      ids.push(row.checkout_id);
      messageIds.push(result.messageId);
      if (result.duplicate) duplicates++;
    } catch (err) {
      // Stop at the first failure: the queue is likely down, and order within a creator matters.
      error = err;
      break;
    }
  }
  if (ids.length > 0) {
    await client.query(
      `UPDATE renewal_attempts a SET enqueued_at = now(), queue_message_id = u.message_id
         FROM unnest($1::uuid[], $2::text[]) AS u(checkout_id, message_id)
        WHERE a.checkout_id = u.checkout_id`,
      [ids, messageIds],
    );
  }
  const sent = messageIds.filter((id) => id !== null).length;
  return { sent, duplicates, error, locked: unsent.rows.length };
}
