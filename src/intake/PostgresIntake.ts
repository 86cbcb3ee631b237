// The Postgres CheckoutIntake. Its table lives in the payment queue's database
// (migration src/queue/migrations/0002_intake.sql, one migration history for
// the database), for two reasons: the API writes intake and queue without
// touching the ledger, and get() can read a checkout's dead-letter state from
// the queue itself, so GET /v1/checkouts/:id says dead_lettered as soon as the
// queue moves the message, whether or not a worker ever calls markOutcome.
// The queue message of a checkout is found by its dedup id, which the API sets
// to the checkout id.
//
// Because both tables share a database, a new checkout is recorded and queued
// in one statement (recordAndSend, the plpgsql function checkout_accept of
// migration 0004): one round trip and one commit per accepted checkout, and no
// window where the intake says 'received' while the message is not queued.

import pg from 'pg';
import { z } from 'zod';
import { BatchCalls } from '../util/batchCalls.ts';
import { migrateQueueDatabase, PostgresQueue } from '../queue/PostgresQueue.ts';
import type { Queue } from '../queue/Queue.ts';
import { parseOrThrow } from '../queue/validateOptions.ts';
import type {
  CheckoutIntake,
  IntakeRecord,
  IntakeStatus,
  RecordAndSendInput,
  RecordInput,
  RecordResult,
} from './CheckoutIntake.ts';

const OptionsSchema = z
  .object({
    databaseUrl: z.string().min(1).optional(),
    pool: z.custom<pg.Pool>((v) => v instanceof pg.Pool, 'must be a pg.Pool').optional(),
    maxConnections: z.number().int().min(1).max(100).default(5),
    /** Errors of idle pooled connections (see PostgresQueue); only for the pool the intake makes itself. */
    onPoolError: z.custom<(err: Error) => void>((v) => typeof v === 'function').optional(),
  })
  .strict()
  .refine((o) => (o.databaseUrl === undefined) !== (o.pool === undefined), {
    message: 'give exactly one of databaseUrl and pool',
    path: ['databaseUrl'],
  });

export type PostgresIntakeOptions = z.input<typeof OptionsSchema>;

type TerminalStatus = 'charged' | 'declined' | 'dead_lettered';

interface OutcomeUpdate {
  readonly checkoutId: string;
  readonly status: TerminalStatus;
  readonly detail: string | null;
}

/** Concurrent markOutcome calls (a worker settles a batch at once) go out as one UPDATE of at most this many rows. */
const MAX_OUTCOME_BATCH = 100;

interface IntakeRow {
  readonly checkout_id: string;
  readonly creator_id: string;
  readonly request_hash: string;
  readonly status: IntakeStatus;
  readonly queue_sequence: string | null;
  readonly received_at: Date;
  readonly updated_at: Date;
  readonly detail: string | null;
  /** When the checkout's message sits in the dead-letter queue: since when. */
  readonly dead_lettered_at: Date | null;
  readonly dead_receive_count: number | null;
  /** True when a live (waiting or in-flight) message of the checkout exists, e.g. after a redrive. */
  readonly in_queue: boolean;
}

const SELECT_RECORD = `
  SELECT i.*, dlq.dead_lettered_at, dlq.receive_count AS dead_receive_count,
         EXISTS (SELECT 1 FROM queue_message m WHERE m.dedup_id = i.checkout_id AND m.dead_lettered_at IS NULL) AS in_queue
  FROM checkout_intake i
  LEFT JOIN LATERAL (
    SELECT m.dead_lettered_at, m.receive_count FROM queue_message m
    WHERE m.dedup_id = i.checkout_id AND m.dead_lettered_at IS NOT NULL
    ORDER BY m.dead_lettered_at DESC LIMIT 1
  ) dlq ON true
  WHERE i.checkout_id = $1`;

/** The status a client should see: the stored one, corrected by what the queue knows. */
function toRecord(row: IntakeRow): IntakeRecord {
  let status = row.status;
  let detail = row.detail;
  const settled = status === 'charged' || status === 'declined';
  if (!settled && row.dead_lettered_at && !row.in_queue) {
    status = 'dead_lettered';
    detail ??= `dead-lettered at ${row.dead_lettered_at.toISOString()} after ${row.dead_receive_count ?? '?'} deliveries`;
  } else if (status === 'dead_lettered' && row.in_queue) {
    // Redriven: back in the queue, waiting to be charged again.
    status = 'queued';
  }
  return {
    checkoutId: row.checkout_id,
    creatorId: row.creator_id,
    requestHash: row.request_hash,
    status,
    queueSequence: row.queue_sequence === null ? null : BigInt(row.queue_sequence),
    receivedAt: row.received_at,
    updatedAt: row.updated_at,
    detail,
  };
}

export class PostgresIntake implements CheckoutIntake {
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private closed = false;
  private readonly outcomes = new BatchCalls<OutcomeUpdate, void>({
    run: async (updates) => {
      await this.updateOutcomes(updates);
      return updates.map(() => ({ status: 'fulfilled', value: undefined }));
    },
    maxBatch: MAX_OUTCOME_BATCH,
    maxConcurrent: 1,
    // One UPDATE must not set one row twice (which of the two would win is undefined).
    keyOf: (u) => u.checkoutId,
  });

  private constructor(pool: pg.Pool, ownsPool: boolean) {
    this.pool = pool;
    this.ownsPool = ownsPool;
  }

  /** Validates options and connects; does not migrate (see open). */
  static connect(options: PostgresIntakeOptions): PostgresIntake {
    const o = parseOrThrow(OptionsSchema, options, 'PostgresIntake options');
    if (o.pool) return new PostgresIntake(o.pool, false);
    const pool = new pg.Pool({ connectionString: o.databaseUrl, max: o.maxConnections });
    // Without a listener, an idle connection dropped by a database restart would crash the process.
    pool.on('error', (err) => o.onPoolError?.(err));
    return new PostgresIntake(pool, true);
  }

  /** Validates options, connects and applies the queue database's migrations (idempotent). */
  static async open(options: PostgresIntakeOptions): Promise<PostgresIntake> {
    const intake = PostgresIntake.connect(options);
    try {
      await migrateQueueDatabase(intake.pool);
    } catch (err) {
      await intake.close();
      throw err;
    }
    return intake;
  }

  async record(input: RecordInput): Promise<RecordResult> {
    const inserted = await this.pool.query<IntakeRow>(
      `INSERT INTO checkout_intake (checkout_id, creator_id, request_hash) VALUES ($1, $2, $3)
       ON CONFLICT (checkout_id) DO NOTHING
       RETURNING *, NULL::timestamptz AS dead_lettered_at, NULL::int AS dead_receive_count, false AS in_queue`,
      [input.checkoutId, input.creatorId, input.requestHash],
    );
    const fresh = inserted.rows[0];
    if (fresh) return { kind: 'new', record: toRecord(fresh) };
    // The checkout exists (ON CONFLICT waited for a concurrent insert to commit; this
    // new statement sees it).
    return this.existing(input);
  }

  async recordAndSend(input: RecordAndSendInput, queue: Queue): Promise<RecordResult | null> {
    const target = queue instanceof PostgresQueue ? queue.sendTargetOn(this.pool) : null;
    if (!target) return null;
    const result = await this.pool.query<{
      accepted: boolean;
      queue_sequence: string | null;
      received_at: Date | null;
      updated_at: Date | null;
    }>({
      name: 'intake_checkout_accept',
      text: 'SELECT accepted, queue_sequence, received_at, updated_at FROM checkout_accept($1, $2, $3, $4, $5, $6)',
      values: [
        input.checkoutId,
        input.creatorId,
        input.requestHash,
        input.body,
        input.receivedAt,
        target.dedupWindowSec,
      ],
    });
    const row = result.rows[0];
    if (!row) throw new Error('checkout_accept returned no row');
    if (!row.accepted) return this.existing(input);
    target.sent();
    return {
      kind: 'new',
      record: {
        checkoutId: input.checkoutId,
        creatorId: input.creatorId,
        requestHash: input.requestHash,
        status: 'queued',
        queueSequence: row.queue_sequence === null ? null : BigInt(row.queue_sequence),
        receivedAt: row.received_at ?? input.receivedAt,
        updatedAt: row.updated_at ?? input.receivedAt,
        detail: null,
      },
    };
  }

  /** The existing record of a checkout seen before: the same key with another body, or for another creator, is refused forever. */
  private async existing(input: RecordInput): Promise<RecordResult> {
    const existing = await this.get(input.checkoutId);
    if (!existing) throw new Error(`checkout ${input.checkoutId} conflicted on insert but cannot be read`);
    const same = existing.requestHash === input.requestHash && existing.creatorId === input.creatorId;
    return { kind: same ? 'replay' : 'conflict', record: existing };
  }

  async markQueued(checkoutId: string, queueSequence: bigint): Promise<void> {
    // Never moves a record backwards: the worker may have charged it before the
    // API got here. The first sequence recorded is the acceptance order.
    const result = await this.pool.query(
      `UPDATE checkout_intake
       SET status = CASE WHEN status = 'received' THEN 'queued' ELSE status END,
           queue_sequence = coalesce(queue_sequence, $2),
           updated_at = now()
       WHERE checkout_id = $1 AND (status = 'received' OR queue_sequence IS NULL)`,
      [checkoutId, queueSequence.toString()],
    );
    if (result.rowCount === 0) {
      const exists = await this.pool.query(`SELECT 1 FROM checkout_intake WHERE checkout_id = $1`, [
        checkoutId,
      ]);
      if (exists.rowCount === 0) throw new Error(`markQueued: no intake record for checkout ${checkoutId}`);
    }
  }

  async markOutcome(checkoutId: string, status: TerminalStatus, detail?: string): Promise<void> {
    await this.outcomes.submit({ checkoutId, status, detail: detail ?? null });
  }

  private async updateOutcomes(updates: readonly OutcomeUpdate[]): Promise<void> {
    // charged and declined are final; dead_lettered can still become either
    // after a redrive. Unknown checkouts (renewals the scheduler enqueued
    // without an intake record) are ignored. Rows are visited in checkout id
    // order, so two batches that share rows cannot deadlock.
    const sorted = [...updates].sort((a, b) => (a.checkoutId < b.checkoutId ? -1 : 1));
    await this.pool.query({
      name: 'intake_mark_outcomes',
      text: `UPDATE checkout_intake i
       SET status = u.status, detail = u.detail, updated_at = now()
       FROM unnest($1::text[], $2::text[], $3::text[]) AS u (checkout_id, status, detail)
       WHERE i.checkout_id = u.checkout_id
         AND i.status NOT IN ('charged', 'declined')
         AND (i.status <> u.status OR i.detail IS DISTINCT FROM u.detail)`,
      values: [sorted.map((u) => u.checkoutId), sorted.map((u) => u.status), sorted.map((u) => u.detail)],
    });
  }

  async get(checkoutId: string): Promise<IntakeRecord | null> {
    const result = await this.pool.query<IntakeRow>({
      name: 'intake_get',
      text: SELECT_RECORD,
      values: [checkoutId],
    });
    const row = result.rows[0];
    return row ? toRecord(row) : null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.outcomes.idle();
    if (this.ownsPool) await this.pool.end();
  }
}
