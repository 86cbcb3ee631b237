// Step 1 of a send: claim the dedup id for a new message, SQS-style. The
// claim is an upsert on queue_dedup's primary key, so two concurrent sends of
// one dedup id serialise on that row: the second waits for the first to
// commit and then sees it as a duplicate (unless the window has passed).

import type { Db } from './db.ts';
import { toBigint } from './db.ts';

export type DedupClaim =
  | { readonly claimed: true; readonly messageId: string }
  | { readonly claimed: false; readonly messageId: string; readonly seq: bigint };

/** Runs inside the send transaction; the claimed row stays locked until it commits. */
export async function claimDedupId(db: Db, dedupId: string, windowSec: number): Promise<DedupClaim> {
  const claimed = await db.query<{ message_id: string }>({
    name: 'queue_claim_dedup_id',
    text: `INSERT INTO queue_dedup AS d (dedup_id, message_id, seq, expires_at)
     VALUES ($1, uuidv7(), NULL, now() + make_interval(secs => $2))
     ON CONFLICT (dedup_id) DO UPDATE
       SET message_id = excluded.message_id, seq = NULL, expires_at = excluded.expires_at
       WHERE d.expires_at <= now()
     RETURNING d.message_id`,
    values: [dedupId, windowSec],
  });
  const row = claimed.rows[0];
  if (row) return { claimed: true, messageId: row.message_id };

  // A duplicate. This is a new statement, so it sees the original's committed row.
  const original = await db.query<{ message_id: string; seq: string }>({
    name: 'queue_find_dedup_id',
    text: `SELECT message_id, seq FROM queue_dedup WHERE dedup_id = $1`,
    values: [dedupId],
  });
  const found = original.rows[0];
  if (!found) throw new Error(`queue_dedup row for ${dedupId} vanished inside its own lock`);
  return { claimed: false, messageId: found.message_id, seq: toBigint(found.seq) };
}

/** Deletes up to `limit` dedup ids whose window has passed; returns how many. */
export async function pruneExpiredDedupIds(db: Db, limit: number): Promise<number> {
  const result = await db.query({
    name: 'queue_prune_dedup_ids',
    text: `DELETE FROM queue_dedup
     WHERE dedup_id IN (
       SELECT dedup_id FROM queue_dedup WHERE expires_at < now() ORDER BY expires_at LIMIT $1
       FOR UPDATE SKIP LOCKED
     )`,
    values: [limit],
  });
  return result.rowCount ?? 0;
}
