// The renewal scheduler: turns due settlement schedules into renewal charges
// on the payment queue, exactly once per (subscription, period, attempt), even
// with several schedulers running and any of them crashing at any point.
//
// A run: (1) send what earlier runs claimed but did not send; (2) claim due
// schedules in batches, each batch in one ledger transaction
// (sql/claimDueRenewals.ts), and send each batch (sql/sendClaimedRenewals.ts);
// (3) refresh the gauges. The worker charges renewals like any checkout, and
// its ledger transaction settles the attempt (ledger/settleRenewal.ts): the
// schedule moves on, or the attempt is retried on the retry schedule.
//
// Time is injected (`now`): a run claims what is due at now(), so a test can
// walk a year of renewals in seconds. The scheduler never writes a wall-clock
// time into a schedule; the ledger computes the next dates from the anchor and
// from the claim time this clock wrote.
//
// Its calls go through the outbound policies of src/resilience: ledger
// transactions ("ledger") and queue sends ("queue") are retried on transient
// errors with full-jitter backoff within a retry budget, and a breaker per
// dependency fails a run fast while that dependency is down; the loop then
// backs off (full jitter, up to a minute) before the next run. Retrying is
// safe: a claim transaction that failed rolled back (or, if its COMMIT's fate
// is unknown, what it claimed is sent by this run's or the next run's
// sendUnsent), and a send carries the checkout id as its dedup id. No policy
// timeouts: the ledger pool's statement_timeout and connectionTimeoutMillis
// bound each statement on the server, where a client-side timeout could not
// cancel it.

import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { isTransientDbError } from '../db/pgErrors.ts';
import type { Ledger } from '../ledger/index.ts';
import type { SendInput, SendResult } from '../queue/Queue.ts';
import { isTransientQueueError } from '../queue/queueErrors.ts';
import { parseOrThrow } from '../queue/validateOptions.ts';
import {
  jitteredDelayMs,
  outboundPolicy,
  type BreakerLogger,
  type OutboundPolicy,
} from '../resilience/index.ts';
import { createSchedulerMetrics, type SchedulerMetrics } from './schedulerMetrics.ts';
import { claimDueRenewals, type ClaimedRenewal } from './sql/claimDueRenewals.ts';
import { renewalStats, type RenewalStats } from './sql/renewalStats.ts';
import { sendClaimedRenewals, type SendFn } from './sql/sendClaimedRenewals.ts';

/** Claims per transaction: bounds lock time and the size of one claim's blast radius. */
export const DEFAULT_BATCH_SIZE = 100;
export const DEFAULT_INTERVAL_MS = 10_000;
/** Bounds one run, so a huge backlog cannot keep a run (and its gauges) from finishing. */
export const DEFAULT_MAX_BATCHES_PER_RUN = 50;

export interface RenewalSchedulerOptions {
  readonly ledger: Ledger;
  /** The payment queue (only `send` is used). */
  readonly queue: { send(input: SendInput): Promise<SendResult> };
  readonly registry: Registry;
  /** The clock; defaults to the wall clock. */
  readonly now?: () => Date;
  /** Sends one message; defaults to queue.send. Tests inject a crash here. */
  readonly send?: SendFn;
  readonly batchSize?: number;
  readonly intervalMs?: number;
  readonly maxBatchesPerRun?: number;
  /** Fired after each successful run of the loop started by start(). */
  readonly onRun?: (summary: RunSummary) => void;
  /** Fired when a run of the loop fails; the loop backs off and carries on. */
  readonly onError?: (err: unknown) => void;
  /** Logs the ledger and queue breakers' state changes. */
  readonly logger?: BreakerLogger;
}

export interface RunSummary {
  readonly at: Date;
  readonly claimed: readonly ClaimedRenewal[];
  readonly sent: number;
  readonly duplicates: number;
  readonly stats: RenewalStats;
}

const Limits = z
  .object({
    batchSize: z.number().int().min(1).max(1_000).default(DEFAULT_BATCH_SIZE),
    intervalMs: z.number().int().min(1).max(3_600_000).default(DEFAULT_INTERVAL_MS),
    maxBatchesPerRun: z.number().int().min(1).max(100_000).default(DEFAULT_MAX_BATCHES_PER_RUN),
  })
  .strict();

export class RenewalScheduler {
  private readonly o: RenewalSchedulerOptions;
  private readonly limits: z.output<typeof Limits>;
  private readonly now: () => Date;
  private readonly send: SendFn;
  private readonly metrics: SchedulerMetrics;
  private readonly ledgerPolicy: OutboundPolicy;
  private readonly abort = new AbortController();
  private loopDone: Promise<void> | undefined;
  private running = false;

  constructor(options: RenewalSchedulerOptions) {
    this.o = options;
    this.limits = parseOrThrow(
      Limits,
      {
        batchSize: options.batchSize,
        intervalMs: options.intervalMs,
        maxBatchesPerRun: options.maxBatchesPerRun,
      },
      'RenewalScheduler options',
    );
    this.now = options.now ?? (() => new Date());
    this.metrics = createSchedulerMetrics(options.registry);
    // Three attempts within ~1.5 s at most: a run holds its claim transaction's
    // row locks while it sends, and the loop retries the run anyway.
    const retry = { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 1_000 };
    const breaker = { threshold: 3, halfOpenAfterMs: 5_000 };
    this.ledgerPolicy = outboundPolicy({
      dependency: 'ledger',
      isTransient: isTransientDbError,
      timeoutMs: null,
      retry,
      breaker,
      registry: options.registry,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    const queuePolicy = outboundPolicy({
      dependency: 'queue',
      isTransient: isTransientQueueError,
      timeoutMs: null,
      retry,
      breaker,
      registry: options.registry,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    const send: SendFn = options.send ?? ((input) => options.queue.send(input));
    this.send = (input) => queuePolicy.execute(() => send(input));
  }

  /** A ledger transaction under the ledger policy. */
  private transaction<T>(fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    return this.ledgerPolicy.execute(() => this.o.ledger.transaction(fn));
  }

  /** One run at now(). Rejects if a claim or a send fails; what was claimed stays for the next run. */
  async runOnce(): Promise<RunSummary> {
    const endTimer = this.metrics.runDuration.startTimer();
    const at = this.now();
    try {
      let { sent, duplicates } = await this.sendUnsent();
      const claimed: ClaimedRenewal[] = [];
      for (let batch = 0; batch < this.limits.maxBatchesPerRun; batch++) {
        const got = await this.transaction((c) => claimDueRenewals(c, at, this.limits.batchSize));
        claimed.push(...got);
        this.metrics.claimed.inc(got.length);
        const out = await this.sendUnsent();
        sent += out.sent;
        duplicates += out.duplicates;
        if (got.length < this.limits.batchSize) break;
      }
      const stats = await this.refreshGauges(at);
      this.metrics.runs.inc({ outcome: 'ok' });
      return { at, claimed, sent, duplicates, stats };
    } catch (err) {
      this.metrics.runs.inc({ outcome: 'error' });
      throw err;
    } finally {
      endTimer();
    }
  }

  private async sendUnsent(): Promise<{ sent: number; duplicates: number }> {
    let sent = 0;
    let duplicates = 0;
    for (let batch = 0; batch < this.limits.maxBatchesPerRun; batch++) {
      const out = await this.transaction((c) => sendClaimedRenewals(c, this.send, this.limits.batchSize));
      sent += out.sent;
      duplicates += out.duplicates;
      this.metrics.enqueued.inc({ result: 'sent' }, out.sent - out.duplicates);
      this.metrics.enqueued.inc({ result: 'duplicate' }, out.duplicates);
      if (out.error !== undefined) {
        throw new Error('sending claimed renewals to the payment queue failed; the next run sends them', {
          cause: out.error,
        });
      }
      if (out.locked < this.limits.batchSize) break;
    }
    return { sent, duplicates };
  }

  private async refreshGauges(at: Date): Promise<RenewalStats> {
    const stats = await this.ledgerPolicy.execute(() => renewalStats(this.o.ledger.pool, at));
    this.metrics.dueBacklog.set(stats.dueBacklog);
    this.metrics.pastDue.set(stats.pastDue);
    this.metrics.unsent.set(stats.unsent);
    const oldest = stats.oldestUnsettledClaimedAt;
    this.metrics.oldestUnsettled.set(oldest ? Math.max(0, (at.getTime() - oldest.getTime()) / 1000) : 0);
    return stats;
  }

  /** Runs every intervalMs until stop(); a failed run backs off (full jitter) and carries on. */
  start(): void {
    if (this.running) throw new Error('scheduler already started');
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Stops after the run in progress, if any, finishes. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        const summary = await this.runOnce();
        failures = 0;
        this.o.onRun?.(summary);
      } catch (err) {
        failures++;
        this.o.onError?.(err);
      }
      if (!this.running) break;
      const waitMs =
        failures === 0
          ? this.limits.intervalMs
          : Math.max(100, jitteredDelayMs(failures, Math.min(this.limits.intervalMs, 1_000), 60_000));
      await delay(waitMs, undefined, { signal: this.abort.signal }).catch(() => {});
    }
  }
}
