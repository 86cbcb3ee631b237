// The Postgres adapter of the Queue port (SQS FIFO semantics, see Queue.ts),
// in a database of its own, never the ledger's.
//
// Why hand-written rather than pg-boss or graphile-worker (measured and
// argued in docs/queue.md): neither gives SQS FIFO semantics. pg-boss's
// key_strict_fifo picks a key's head by (created_on, random id), so jobs
// inserted together run out of order, and a job that exhausts its retries
// blocks its key until someone deletes it, where we need it dead-lettered and
// the group moving on. graphile-worker's named queues release the queue when
// a job fails and schedule the retry later, so the next job overtakes it. Both
// bring their own retry, expiry and retention rules, which would sit between
// the port's contract tests and what SQS does in production.
//
// The design in one paragraph: queue_group has one row per group, holding how
// many messages it has and when its head may next be delivered (the
// visibility deadline while the head is in flight). Every operation locks the
// group row before touching its messages, so receive can pick groups with
// FOR UPDATE SKIP LOCKED and deliver each one's head, distinct groups by
// construction, safely across processes. See sql/ for one file per query.

import pg from 'pg';
import { z } from 'zod';
import { migrate } from '../db/migrate.ts';
import {
  DEFAULT_MAX_RECEIVE_COUNT,
  DEFAULT_VISIBILITY_TIMEOUT_SEC,
  type DeadLetter,
  type Queue,
  type QueueStats,
  type ReceivedMessage,
  type ReceiveOptions,
  type SendInput,
  type SendResult,
} from './Queue.ts';
import { formatReceiptHandle, parseReceiptHandle } from './receiptHandle.ts';
import { parseArgument, parseOrThrow } from './validateOptions.ts';
import { changeVisibility } from './sql/changeVisibility.ts';
import { BatchCalls } from '../util/batchCalls.ts';
import { toBigint } from './sql/db.ts';
import { deleteMessages, type ToDelete } from './sql/deleteMessages.ts';
import { listDeadLetters, queueStats } from './sql/inspectQueue.ts';
import { pruneExpiredDedupIds } from './sql/pruneDedupIds.ts';
import { receiveMessages } from './sql/receiveMessages.ts';
import { redriveDeadLetters } from './sql/redriveDeadLetters.ts';
import { sendMessage } from './sql/sendMessage.ts';

export const QUEUE_MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
export const QUEUE_MIGRATIONS_TABLE = 'queue_migrations';

/** SQS's own limits, kept so that what passes here also passes there. */
export const MAX_VISIBILITY_TIMEOUT_SEC = 43_200;
/** SQS FIFO's deduplication interval. */
export const DEFAULT_DEDUP_WINDOW_SEC = 300;
/**
 * Cross-process long polls re-check this often. Polling rather than
 * LISTEN/NOTIFY: a NOTIFY in every send serialises commits on a database-wide
 * lock, a listener needs a pinned connection (no transaction pooler), and a
 * notification would still miss the other ways a group becomes receivable (a
 * visibility timeout running out). An idle poll is one index probe.
 */
export const DEFAULT_POLL_INTERVAL_MS = 100;
/** Upper bound of one receive; SQS caps at 10, the worker asks for as many as it has free slots. */
export const MAX_RECEIVE_BATCH = 100;
/** Expired dedup ids are pruned in the background after this many sends, this many at a time. */
const PRUNE_EVERY_SENDS = 500;
const PRUNE_BATCH = 1_000;
/**
 * Concurrent delete() calls go out as one statement (a worker deletes a whole
 * batch of settled messages at once), at most this many messages in it, and
 * one such statement at a time: deletes that arrive while it runs make the next.
 */
const MAX_DELETE_BATCH = 100;
const DELETE_BATCHES_IN_FLIGHT = 1;

/** What PostgresIntake needs to send on this queue's behalf, inside its own statement. */
export interface SendTarget {
  readonly dedupWindowSec: number;
  /** Call after a send committed: wakes this instance's long polls and prunes dedup ids now and then. */
  readonly sent: () => void;
}

export interface DeadLetteredEvent {
  readonly messageId: string;
  readonly groupId: string;
  readonly dedupId: string;
  readonly receiveCount: number;
}

const OptionsSchema = z
  .object({
    databaseUrl: z.string().min(1).optional(),
    pool: z.custom<pg.Pool>((v) => v instanceof pg.Pool, 'must be a pg.Pool').optional(),
    /** Pool size when the queue makes its own pool from databaseUrl. */
    maxConnections: z.number().int().min(1).max(100).default(10),
    visibilityTimeoutSec: z
      .number()
      .int()
      .min(0)
      .max(MAX_VISIBILITY_TIMEOUT_SEC)
      .default(DEFAULT_VISIBILITY_TIMEOUT_SEC),
    maxReceiveCount: z.number().int().min(1).max(1_000).default(DEFAULT_MAX_RECEIVE_COUNT),
    dedupWindowSec: z.number().int().min(0).max(86_400).default(DEFAULT_DEDUP_WINDOW_SEC),
    pollIntervalMs: z.number().int().min(1).max(60_000).default(DEFAULT_POLL_INTERVAL_MS),
    /**
     * Errors of idle pooled connections (the database restarted, a drill killed
     * it). Without a listener node-postgres would crash the process; the next
     * query reconnects. Only for the pool the queue makes itself.
     */
    onPoolError: z.custom<(err: Error) => void>((v) => typeof v === 'function').optional(),
    /** Fired after a receive moved messages to the dead-letter queue. Must not throw. */
    onDeadLettered: z
      .custom<(events: readonly DeadLetteredEvent[]) => void>((v) => typeof v === 'function')
      .optional(),
  })
  .strict()
  .refine((o) => (o.databaseUrl === undefined) !== (o.pool === undefined), {
    message: 'give exactly one of databaseUrl and pool',
    path: ['databaseUrl'],
  });

export type PostgresQueueOptions = z.input<typeof OptionsSchema>;
type ResolvedOptions = z.output<typeof OptionsSchema>;

const ReceiveOptionsSchema = z.object({
  maxMessages: z.number().int().min(1).max(MAX_RECEIVE_BATCH),
  waitTimeMs: z.number().int().min(0).max(60_000).optional(),
});

export class PostgresQueue implements Queue {
  private readonly options: ResolvedOptions;
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private closed = false;
  private sendsSincePrune = 0;
  private pruning: Promise<void> | null = null;
  /** Long polls of this instance, woken early by its own sends, deletes and redrives. */
  private readonly sleepers = new Set<() => void>();
  /** Receives under way; close() lets them finish before it ends the pool. */
  private readonly receiving = new Set<Promise<unknown>>();
  private readonly deletes = new BatchCalls<ToDelete, boolean>({
    run: async (items) => {
      const gone = await deleteMessages(this.pool, items);
      return items.map((i) => ({ status: 'fulfilled', value: gone.has(`${i.messageId} ${i.receipt}`) }));
    },
    maxBatch: MAX_DELETE_BATCH,
    maxConcurrent: DELETE_BATCHES_IN_FLIGHT,
    // Two deletes of one message never share a statement: the second finds it gone (false), as it would alone.
    keyOf: (i) => i.messageId,
  });

  private constructor(options: ResolvedOptions) {
    this.options = options;
    this.ownsPool = options.pool === undefined;
    this.pool = options.pool ?? ownPool(options);
  }

  /** Validates options and connects; does not migrate (see open). */
  static connect(options: PostgresQueueOptions): PostgresQueue {
    return new PostgresQueue(parseOrThrow(OptionsSchema, options, 'PostgresQueue options'));
  }

  /** Validates options, connects and applies the queue database's migrations (idempotent). */
  static async open(options: PostgresQueueOptions): Promise<PostgresQueue> {
    const queue = PostgresQueue.connect(options);
    try {
      await migrateQueueDatabase(queue.pool);
    } catch (err) {
      await queue.close();
      throw err;
    }
    return queue;
  }

  async send(input: SendInput): Promise<SendResult> {
    const sent = await sendMessage(this.pool, input, this.options.dedupWindowSec);
    if (!sent.duplicate) this.afterSend();
    return { messageId: sent.messageId, sequence: sent.seq, duplicate: sent.duplicate };
  }

  /**
   * For an intake in this queue's database that sends in the same statement as
   * it records (PostgresIntake.recordAndSend): the send settings, when `pool`
   * is this queue's own pool (so both surely write to the same database), and
   * null otherwise.
   */
  sendTargetOn(pool: pg.Pool): SendTarget | null {
    if (pool !== this.pool || this.closed) return null;
    return { dedupWindowSec: this.options.dedupWindowSec, sent: () => this.afterSend() };
  }

  private afterSend(): void {
    this.wakeSleepers();
    this.maybePruneDedupIds();
  }

  async receive(options: ReceiveOptions): Promise<ReceivedMessage[]> {
    const parsed = parseArgument(ReceiveOptionsSchema, options, 'receive options');
    const receiving = this.receiveUntil(parsed.maxMessages, Date.now() + (parsed.waitTimeMs ?? 0));
    this.receiving.add(receiving);
    try {
      return await receiving;
    } finally {
      this.receiving.delete(receiving);
    }
  }

  private async receiveUntil(maxMessages: number, deadline: number): Promise<ReceivedMessage[]> {
    const received: ReceivedMessage[] = [];
    while (!this.closed) {
      const rows = await receiveMessages(this.pool, {
        limit: maxMessages - received.length,
        visibilityTimeoutSec: this.options.visibilityTimeoutSec,
        maxReceiveCount: this.options.maxReceiveCount,
      });
      const dead: DeadLetteredEvent[] = [];
      for (const row of rows) {
        if (row.outcome === 'dead_lettered') {
          dead.push({
            messageId: row.message_id,
            groupId: row.group_id,
            dedupId: row.dedup_id,
            receiveCount: row.receive_count,
          });
          continue;
        }
        received.push({
          messageId: row.message_id,
          groupId: row.group_id,
          dedupId: row.dedup_id,
          body: row.body ?? '',
          sequence: toBigint(row.seq),
          receiveCount: row.receive_count,
          sentAt: row.sent_at,
          receiptHandle: formatReceiptHandle(row.message_id, row.receipt ?? ''),
        });
      }
      if (dead.length > 0) this.options.onDeadLettered?.(dead);
      if (received.length >= maxMessages) break;
      // A dead-lettered head frees its group at once: look again before waiting.
      if (dead.length > 0) continue;
      if (received.length > 0) break;
      const remaining = deadline - Date.now();
      if (remaining <= 0 || this.closed) break;
      await this.sleep(Math.min(this.options.pollIntervalMs, remaining));
    }
    return received;
  }

  async delete(receiptHandle: string): Promise<boolean> {
    const parsed = parseReceiptHandle(receiptHandle);
    if (!parsed) return false;
    const deleted = await this.deletes.submit(parsed);
    if (deleted) this.wakeSleepers();
    return deleted;
  }

  async changeVisibility(receiptHandle: string, timeoutSec: number): Promise<boolean> {
    parseArgument(
      z.number().int().min(0).max(MAX_VISIBILITY_TIMEOUT_SEC),
      timeoutSec,
      'changeVisibility timeoutSec',
    );
    const parsed = parseReceiptHandle(receiptHandle);
    if (!parsed) return false;
    const changed = await changeVisibility(this.pool, parsed.messageId, parsed.receipt, timeoutSec);
    if (changed && timeoutSec === 0) this.wakeSleepers();
    return changed;
  }

  async stats(): Promise<QueueStats> {
    const row = await queueStats(this.pool);
    return {
      visible: Number(row.visible),
      inFlight: Number(row.in_flight),
      deadLettered: Number(row.dead_lettered),
      oldestAgeSec: row.oldest_age_sec,
    };
  }

  async listDeadLetters(limit: number): Promise<DeadLetter[]> {
    parseArgument(z.number().int().min(1).max(10_000), limit, 'listDeadLetters limit');
    const rows = await listDeadLetters(this.pool, limit);
    return rows.map((row) => ({
      messageId: row.message_id,
      groupId: row.group_id,
      dedupId: row.dedup_id,
      body: row.body,
      sequence: toBigint(row.seq),
      receiveCount: row.receive_count,
      sentAt: row.sent_at,
      deadLetteredAt: row.dead_lettered_at,
    }));
  }

  async redrive(messageIds?: readonly string[]): Promise<number> {
    let ids: string[] | null = null;
    if (messageIds) {
      ids = messageIds.map((id) => id.toLowerCase()).filter((id) => z.uuid().safeParse(id).success);
      if (ids.length === 0) return 0;
    }
    const moved = await this.transaction((client) => redriveDeadLetters(client, ids));
    if (moved > 0) this.wakeSleepers();
    return moved;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeSleepers();
    // A long poll ends at its next check; ending the pool under a running query would orphan it.
    await Promise.allSettled([...this.receiving, this.pruning, this.deletes.idle()]);
    if (this.ownsPool) await this.pool.end();
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      });
      throw err;
    } finally {
      // A connection whose ROLLBACK failed is not handed to the next caller.
      client.release(broken);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  private wakeSleepers(): void {
    for (const wake of [...this.sleepers]) wake();
  }

  private maybePruneDedupIds(): void {
    if (++this.sendsSincePrune < PRUNE_EVERY_SENDS || this.pruning || this.closed) return;
    this.sendsSincePrune = 0;
    // Housekeeping only: a failed prune is retried after the next PRUNE_EVERY_SENDS sends.
    this.pruning = pruneExpiredDedupIds(this.pool, PRUNE_BATCH)
      .then(
        () => {},
        () => {},
      )
      .finally(() => {
        this.pruning = null;
      });
  }
}

function ownPool(options: ResolvedOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: options.maxConnections,
    // Our statements are few, prepared, and their best plan does not depend on
    // their parameters: plan once per connection instead of on every call
    // (planning the receive statement costs twice its execution).
    options: '-c plan_cache_mode=force_generic_plan',
  });
  pool.on('error', (err) => options.onPoolError?.(err));
  return pool;
}

/** Applies the queue database's migrations (queue, then checkout intake) on a client of the pool. */
export async function migrateQueueDatabase(pool: pg.Pool): Promise<string[]> {
  const client = await pool.connect();
  let failed: Error | undefined;
  try {
    return await migrate({
      dbClient: client,
      dir: QUEUE_MIGRATIONS_DIR,
      migrationsTable: QUEUE_MIGRATIONS_TABLE,
    });
  } catch (err) {
    // The session may still hold node-pg-migrate's advisory lock or an aborted transaction.
    failed = err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.release(failed);
  }
}
