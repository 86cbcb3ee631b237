// What the auditor reads from the queue database: the acceptance order the
// intake recorded (queue sequence per checkout) and the dead letters.

import type pg from 'pg';

type Queryable = Pick<pg.ClientBase, 'query'> | Pick<pg.Pool, 'query'>;

export interface QueueAudit {
  readonly acceptanceSequence: Map<string, bigint>;
  /** Checkout ids (dedup ids) of dead-lettered messages. */
  readonly deadLettered: Set<string>;
}

export async function readQueueAudit(db: Queryable): Promise<QueueAudit> {
  const intake = await db.query<{ checkout_id: string; queue_sequence: string }>(
    `SELECT checkout_id, queue_sequence::text FROM checkout_intake WHERE queue_sequence IS NOT NULL`,
  );
  const dead = await db.query<{ dedup_id: string }>(
    `SELECT dedup_id FROM queue_message WHERE dead_lettered_at IS NOT NULL`,
  );
  return {
    acceptanceSequence: new Map(intake.rows.map((r) => [r.checkout_id, BigInt(r.queue_sequence)])),
    deadLettered: new Set(dead.rows.map((r) => r.dedup_id)),
  };
}

export async function countDeadLetters(db: Queryable): Promise<number> {
  const res = await db.query<{ n: string }>(
    `SELECT count(*)::text n FROM queue_message WHERE dead_lettered_at IS NOT NULL`,
  );
  return Number(res.rows[0]?.n ?? 0);
}
