// The outbox relay: moves committed outbox rows to the event bus, after
// commit, at least once, in order per creator.
//
// One batch is one ledger transaction: take the relay lock (outboxSql.ts says
// why a lock and not SKIP LOCKED), read the oldest unpublished rows, validate
// each (src/events validateEvent; an invalid row is parked, never published),
// publish the valid ones keyed by creator, and mark them published only after
// the bus acknowledged them. Anything failing rolls the transaction back and
// the batch is tried again with exponential backoff and full jitter
// (src/resilience): a dead broker makes the outbox grow, never lose a row. A
// relay killed between the ack and the commit republishes the batch on
// restart: duplicates are possible, consumers dedup by event id.
//
// The batch goes through the one outbound policy (dependency "outbox"), set
// for a loop that must never give up: unbounded attempts, no retry budget and
// no breaker. A budget bounds the retries of many concurrent callers as a
// share of their traffic; the relay is one caller with one batch in flight
// (the relay lock), so its backoff alone already bounds what it sends to the
// bus and the ledger to one batch per delay, and refusing a retry would only
// stall the outbox. A breaker would fail the same batch fast instead of
// waiting the same backoff. No policy timeout either: publish() is bounded by
// the bus (KafkaEventBus publishTimeoutMs) and the ledger by the pool's
// statement_timeout and idle_in_transaction_session_timeout (main.ts).

import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { Registry } from 'prom-client';
import type { DeclareResult, EventBus, TopicSpec } from '../eventBus/EventBus.ts';
import { toEventRecord } from '../eventBus/envelope.ts';
import { validateEvent } from '../events/index.ts';
import { outboundPolicy, type OutboundPolicy } from '../resilience/index.ts';
import {
  markPublished,
  outboxStats,
  parkRows,
  selectUnpublished,
  tryRelayLock,
  type OutboxRow,
  type OutboxStats,
} from './outboxSql.ts';
import { createRelayMetrics, type RelayMetrics } from './relayMetrics.ts';
import { checkTopics, type TopicCheck } from './topics.ts';

export const DEFAULT_BATCH_SIZE = 200;
/** How long an idle relay waits before looking again: the floor of publish latency when idle. */
export const DEFAULT_POLL_INTERVAL_MS = 200;
/** Backoff after a failure starts here and doubles (with full jitter) up to the max. */
export const DEFAULT_RETRY_INITIAL_MS = 200;
export const DEFAULT_RETRY_MAX_MS = 10_000;
/** Live topic config is compared with the declared one this often (and at start-up). */
export const DEFAULT_TOPIC_CHECK_INTERVAL_MS = 5 * 60_000;
/** Counting the backlog on every batch would scan it once per batch while draining. */
const STATS_MIN_INTERVAL_MS = 1_000;

export type RelayStage = 'publish' | 'ledger';

export class RelayError extends Error {
  readonly stage: RelayStage;
  constructor(stage: RelayStage, message: string, cause: unknown) {
    super(message, { cause });
    this.stage = stage;
  }
}

export interface ParkedEvent {
  readonly id: bigint;
  readonly eventId: string;
  readonly eventType: string;
  readonly reason: string;
}

/** What the relay reports; the process (main.ts) logs them. */
export interface RelayEvents {
  onPublished?(count: number, durationMs: number): void;
  onParked?(event: ParkedEvent): void;
  onRetry?(error: unknown, attempt: number, delayMs: number): void;
  onDeclared?(result: DeclareResult): void;
  onTopicCheck?(check: TopicCheck): void;
  onTopicCheckFailed?(error: unknown): void;
}

export interface OutboxRelayOptions {
  /** The ledger database, where the outbox is. */
  readonly pool: pg.Pool;
  readonly bus: EventBus;
  readonly topic: TopicSpec;
  readonly registry?: Registry;
  readonly batchSize?: number;
  readonly pollIntervalMs?: number;
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  readonly topicCheckIntervalMs?: number;
  readonly events?: RelayEvents;
}

export interface BatchResult {
  /** False when another relay holds the lock (this one is on standby). */
  readonly leader: boolean;
  readonly published: number;
  readonly parked: number;
}

const guarded = new WeakSet<pg.PoolClient>();

export class OutboxRelay {
  readonly metrics: RelayMetrics;
  readonly registry: Registry;
  private readonly o: OutboxRelayOptions;
  private readonly batchSize: number;
  private readonly abort = new AbortController();
  private readonly retry: OutboundPolicy;
  private running: Promise<void> | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private stats: (OutboxStats & { readAtMs: number }) | undefined;
  private statsInFlight: Promise<void> | undefined;
  /** Last topic checks, for the ready message and /readyz. */
  topicChecks: TopicCheck[] = [];
  declared: DeclareResult | undefined;

  constructor(options: OutboxRelayOptions) {
    this.o = options;
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    this.registry = options.registry ?? new Registry();
    this.metrics = createRelayMetrics(this.registry, { lastStats: () => this.stats });
    // Never gives up on its own: the relay's only job is to get these rows out
    // (the header says why no budget, breaker or timeout). Stopping aborts the
    // signal, and the policy starts no retry after that.
    this.retry = outboundPolicy({
      dependency: 'outbox',
      isTransient: () => true,
      timeoutMs: null,
      retry: {
        maxAttempts: Number.POSITIVE_INFINITY,
        initialDelayMs: options.retryInitialMs ?? DEFAULT_RETRY_INITIAL_MS,
        maxDelayMs: options.retryMaxMs ?? DEFAULT_RETRY_MAX_MS,
      },
      budget: null,
      breaker: null,
      registry: this.registry,
    });
    this.retry.onRetry((r) => options.events?.onRetry?.(r.error, r.attempt, r.delayMs));
  }

  get stopping(): boolean {
    return this.abort.signal.aborted;
  }

  /** Declares the topic (retrying until the bus answers) and checks it against what is live. */
  async declareTopics(): Promise<DeclareResult> {
    const result = await this.retry.execute(
      () => this.o.bus.declareTopics([this.o.topic]),
      this.abort.signal,
    );
    this.declared = result;
    this.o.events?.onDeclared?.(result);
    await this.checkTopics().catch((err: unknown) => this.o.events?.onTopicCheckFailed?.(err));
    return result;
  }

  async checkTopics(): Promise<TopicCheck[]> {
    const checks = await checkTopics(this.o.bus, [this.o.topic]);
    for (const c of checks) {
      if (c.retentionDrift !== null)
        this.metrics.topicRetentionDrift.set({ topic: c.topic }, c.retentionDrift ? 1 : 0);
      this.o.events?.onTopicCheck?.(c);
    }
    this.topicChecks = checks;
    return checks;
  }

  /** Starts the polling loop (declare topics first). */
  start(): void {
    if (this.running) throw new Error('relay already started');
    this.running = this.loop();
    const every = this.o.topicCheckIntervalMs ?? DEFAULT_TOPIC_CHECK_INTERVAL_MS;
    this.checkTimer = setInterval(() => {
      this.checkTopics().catch((err: unknown) => this.o.events?.onTopicCheckFailed?.(err));
    }, every);
    this.checkTimer.unref();
  }

  /** Stops after the batch in flight (if any) commits or rolls back. */
  async stop(): Promise<void> {
    this.abort.abort();
    clearInterval(this.checkTimer);
    await this.running;
  }

  /** Outbox figures as of the last read (the metrics' source). */
  lastStats(): (OutboxStats & { readAtMs: number }) | undefined {
    return this.stats;
  }

  private async loop(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let result: BatchResult | undefined;
      try {
        result = await this.retry.execute(() => this.relayBatch(), signal);
      } catch {
        // Only cancellation ends the retry policy; the loop condition sees it.
        continue;
      }
      if (result.leader && result.published + result.parked >= this.batchSize) continue;
      await sleep(this.o.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS, undefined, { signal }).catch(() => {});
    }
  }

  /** Reads the backlog figures, at most once a second (callers may ask for every batch). */
  async refreshStats(force = false): Promise<OutboxStats> {
    const fresh = this.stats && Date.now() - this.stats.readAtMs < STATS_MIN_INTERVAL_MS;
    if (!force && fresh && this.stats) return this.stats;
    this.statsInFlight ??= outboxStats(this.o.pool)
      .then((s) => {
        this.stats = { ...s, readAtMs: Date.now() };
      })
      .finally(() => {
        this.statsInFlight = undefined;
      });
    await this.statsInFlight;
    return this.stats!;
  }

  /** One batch, one transaction. Throws RelayError; the loop retries it with backoff. */
  async relayBatch(): Promise<BatchResult> {
    const client = await this.ledger(() => this.refreshStats().then(() => this.o.pool.connect()));
    if (!guarded.has(client)) {
      // A server lost mid-transaction makes a checked-out client emit 'error'; the query rejects anyway.
      guarded.add(client);
      client.on('error', () => {});
    }
    let broken: Error | undefined;
    try {
      return await this.inTransaction(client);
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError as Error;
      });
      const e = err instanceof RelayError ? err : new RelayError('ledger', (err as Error).message, err);
      this.metrics.publishErrors.inc({ stage: e.stage });
      throw e;
    } finally {
      client.release(broken);
    }
  }

  private async ledger<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.metrics.publishErrors.inc({ stage: 'ledger' });
      throw new RelayError('ledger', `outbox database: ${(err as Error).message}`, err);
    }
  }

  private async inTransaction(client: pg.PoolClient): Promise<BatchResult> {
    await client.query('BEGIN');
    if (!(await tryRelayLock(client))) {
      await client.query('ROLLBACK');
      return { leader: false, published: 0, parked: 0 };
    }
    const rows = await selectUnpublished(client, this.batchSize);
    const valid: OutboxRow[] = [];
    const parked: ParkedEvent[] = [];
    for (const row of rows) {
      const reason = invalidReason(row);
      if (reason === null) valid.push(row);
      else parked.push({ id: row.id, eventId: row.eventId, eventType: row.eventType, reason });
    }
    await parkRows(client, parked);
    const started = performance.now();
    if (valid.length > 0) {
      try {
        await this.o.bus.publish(valid.map((r) => toEventRecord(this.o.topic.name, envelopeOf(r))));
      } catch (err) {
        throw new RelayError('publish', `event bus (${this.o.bus.kind}): ${(err as Error).message}`, err);
      }
    }
    await markPublished(
      client,
      valid.map((r) => r.id),
    );
    await client.query('COMMIT');
    // Counted and reported only once committed, so a retried batch is not counted twice.
    if (valid.length > 0) {
      this.metrics.published.inc(valid.length);
      this.o.events?.onPublished?.(valid.length, performance.now() - started);
    }
    for (const p of parked) {
      this.metrics.invalidEvents.inc({ event_type: p.eventType.slice(0, 64) });
      this.o.events?.onParked?.(p);
    }
    return { leader: true, published: valid.length, parked: parked.length };
  }
}

function envelopeOf(r: OutboxRow) {
  return {
    eventId: r.eventId,
    type: r.eventType,
    schemaVersion: r.schemaVersion,
    creatorId: r.creatorId,
    occurredAt: r.createdAt.toISOString(),
    data: r.payload,
  };
}

/** null when the row may be published; otherwise why not. */
function invalidReason(r: OutboxRow): string | null {
  const v = validateEvent(r.eventType, r.schemaVersion, r.payload);
  if (!v.ok) return v.reason;
  // The key must be the creator the event is about, or it lands in another creator's order.
  const creator = (r.payload as { creatorId?: unknown }).creatorId;
  if (creator !== undefined && creator !== r.creatorId) {
    return `payload creatorId ${JSON.stringify(creator)} differs from the outbox row's creator_id ${r.creatorId}`;
  }
  return null;
}
