// Housekeeping of the deduplication window: dedup ids whose window has passed
// are deleted in the background, a bounded batch at a time, skipping rows a
// concurrent send holds.

import type { Db } from './db.ts';

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
