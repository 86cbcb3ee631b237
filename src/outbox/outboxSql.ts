// The relay's SQL, one named function per statement, against the ledger's
// outbox table (src/ledger/migrations/0001_ledger.sql) and the relay's own
// outbox_parked table (./migrations).

import type pg from 'pg';
import { migrate } from '../db/migrate.ts';

export const OUTBOX_MIGRATIONS = new URL('./migrations/', import.meta.url);

/**
 * The one advisory lock every relay takes, per batch, inside the batch's
 * transaction. One relay publishes at a time: with several (standbys, or two
 * during a rolling deploy) each skips a cycle when another holds it. A lock
 * per batch rather than FOR UPDATE SKIP LOCKED because SKIP LOCKED lets a
 * second relay take the *next* rows while the first still publishes earlier
 * ones, and a creator's later event could reach the bus first. Being
 * transaction-scoped, the lock ends with the transaction that marks the rows:
 * a relay that dies or loses its connection cannot hold it, and cannot mark
 * rows it no longer holds the lock for.
 */
export const RELAY_LOCK_KEY = 0x4f5554424f58n; // 'OUTBOX'

export interface OutboxRow {
  readonly id: bigint;
  readonly eventId: string;
  readonly creatorId: string;
  readonly eventType: string;
  readonly schemaVersion: number;
  readonly payload: unknown;
  readonly createdAt: Date;
}

export async function migrateOutbox(databaseUrl: string): Promise<string[]> {
  return migrate({ databaseUrl, dir: OUTBOX_MIGRATIONS, migrationsTable: 'outbox_migrations' });
}

/** True when this transaction now holds the relay lock (false: another relay is publishing). */
export async function tryRelayLock(client: pg.ClientBase): Promise<boolean> {
  const res = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [
    RELAY_LOCK_KEY.toString(),
  ]);
  return res.rows[0]?.locked === true;
}

/**
 * The oldest unpublished, unparked rows, in id order. Ids are assigned at
 * insert; a creator's charge transactions run one after another (the queue
 * hands out one message per creator group at a time), so for them id order is
 * commit order. A row whose transaction commits after a higher id was
 * published is picked up by a later poll (there is no cursor to skip past
 * it), i.e. in the order it became visible.
 */
export async function selectUnpublished(client: pg.ClientBase, limit: number): Promise<OutboxRow[]> {
  const res = await client.query<{
    id: string;
    event_id: string;
    creator_id: string;
    event_type: string;
    schema_version: number;
    payload: unknown;
    created_at: Date;
  }>(
    `SELECT o.id::text, o.event_id, o.creator_id, o.event_type, o.schema_version, o.payload, o.created_at
       FROM outbox o
      WHERE o.published_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM outbox_parked p WHERE p.outbox_id = o.id)
      ORDER BY o.id
      LIMIT $1`,
    [limit],
  );
  return res.rows.map((r) => ({
    id: BigInt(r.id),
    eventId: r.event_id,
    creatorId: r.creator_id,
    eventType: r.event_type,
    schemaVersion: r.schema_version,
    payload: r.payload,
    createdAt: r.created_at,
  }));
}

export async function markPublished(client: pg.ClientBase, ids: readonly bigint[]): Promise<void> {
  if (ids.length === 0) return;
  await client.query(`UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])`, [
    ids.map(String),
  ]);
}

export async function parkRows(
  client: pg.ClientBase,
  rows: readonly { id: bigint; eventId: string; reason: string }[],
): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO outbox_parked (outbox_id, event_id, reason)
     SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[])
     ON CONFLICT (outbox_id) DO NOTHING`,
    [rows.map((r) => String(r.id)), rows.map((r) => r.eventId), rows.map((r) => r.reason.slice(0, 2_000))],
  );
}

export interface OutboxStats {
  /** Unpublished rows the relay will publish (parked ones excluded). */
  readonly unpublished: number;
  /** Age of the oldest of them, by the database's clock; 0 when there are none. */
  readonly lagSeconds: number;
  readonly parked: number;
}

export async function outboxStats(client: pg.ClientBase | pg.Pool): Promise<OutboxStats> {
  const res = await client.query<{ unpublished: number; lag_seconds: number | null; parked: number }>(
    `SELECT count(*)::int AS unpublished,
            extract(epoch FROM now() - min(o.created_at))::float8 AS lag_seconds,
            (SELECT count(*) FROM outbox_parked)::int AS parked
       FROM outbox o
      WHERE o.published_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM outbox_parked p WHERE p.outbox_id = o.id)`,
  );
  const row = res.rows[0];
  return {
    unpublished: row?.unpublished ?? 0,
    lagSeconds: Math.max(0, row?.lag_seconds ?? 0),
    parked: row?.parked ?? 0,
  };
}
