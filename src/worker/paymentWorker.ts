// The payment worker: receive → charge the provider with an idempotency key
// that is the same on every redelivery → one ledger transaction → delete.
//
// A crash anywhere in between is harmless: a redelivered message reaches the
// provider with the same key (which returns the original capture) and then
// finds its ledger row already written.
//
// Outages are held, not burned: while the ledger database or the provider is
// down (its breaker is open), the worker stops receiving and keeps the
// messages it already holds, extending their visibility, instead of letting
// them be redelivered until they reach the dead-letter queue. Only failures
// particular to one message (a provider error that persists through retries, a
// body that does not parse) count towards the max receive count.

import { setTimeout as delay } from 'node:timers/promises';
import { BrokenCircuitError, type CircuitBreakerPolicy } from 'cockatiel';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { decodeCheckoutMessage, type CheckoutMessage } from '../checkout/checkoutMessage.ts';
import { isTransientDbError } from '../db/pgErrors.ts';
import type { CheckoutIntake } from '../intake/CheckoutIntake.ts';
import type { Ledger } from '../ledger/index.ts';
import type { CommitResult, ProviderOutcome } from '../ledger/commitOutcome.ts';
import { ProviderError, type PaymentProvider } from '../psp/Provider.ts';
import type { Queue, ReceivedMessage } from '../queue/Queue.ts';
import { isTransientQueueError } from '../queue/queueErrors.ts';
import {
  isOpen,
  jitteredDelayMs,
  outboundPolicy,
  retryRefused,
  watchBreaker,
  type BreakerOptions,
  type OutboundPolicy,
  type RetryOptions,
} from '../resilience/index.ts';
import { createWorkerMetrics, type WorkerMetrics } from './workerMetrics.ts';

export interface PaymentWorkerOptions {
  readonly queue: Queue;
  readonly ledger: Ledger;
  readonly provider: PaymentProvider;
  /** Mirrors outcomes for GET /v1/checkouts/:id; best effort, the ledger is the truth. */
  readonly intake?: CheckoutIntake;
  readonly registry: Registry;
  readonly logger: Logger;
  /**
   * Messages (hence creators) processed at once (default 64). Larger batches
   * make each checkout cheaper (docs/performance.md: 16 gave ledger batches of
   * ~6, 64 of ~20, and ~25% less CPU per settled checkout).
   */
  readonly concurrency?: number;
  /** Must match the queue's; the worker extends visibility every third of it while it works. */
  readonly visibilityTimeoutSec?: number;
  readonly receiveWaitMs?: number;
  readonly providerRetry?: RetryOptions;
  readonly providerBreaker?: BreakerOptions;
  readonly dbRetry?: RetryOptions;
  readonly dbBreaker?: BreakerOptions;
  /** Delay before a message whose provider call failed is delivered again (full jitter, doubling per receive). */
  readonly redelivery?: { readonly baseMs: number; readonly maxMs: number };
}

export const PROVIDER_IDEMPOTENCY_PREFIX = 'checkout-';
/**
 * The most a receive may ask for: both Queue adapters refuse more than 100
 * (SQS then returns at most 10). A concurrency above it is filled by several
 * receives; asking for more made every receive fail, and the worker stall.
 */
const MAX_MESSAGES_PER_RECEIVE = 100;

export class PaymentWorker {
  private readonly o: Required<Omit<PaymentWorkerOptions, 'intake'>> & { intake?: CheckoutIntake };
  private readonly metrics: WorkerMetrics;
  private readonly providerBreaker: CircuitBreakerPolicy;
  private readonly dbBreaker: CircuitBreakerPolicy;
  private readonly providerPolicy: OutboundPolicy;
  private readonly dbPolicy: OutboundPolicy;
  private readonly queuePolicy: OutboundPolicy;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private loopDone: Promise<void> | undefined;
  /** Smallest receive while work is in flight: a quarter of the slots. */
  private readonly minReceive: number;
  private running = false;

  constructor(options: PaymentWorkerOptions) {
    this.o = {
      concurrency: 64,
      visibilityTimeoutSec: 300,
      receiveWaitMs: 1_000,
      // maxAttempts counts the first attempt (the same 3 and 4 calls as before src/resilience's outboundPolicy).
      providerRetry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 1_000 },
      providerBreaker: { threshold: 5, halfOpenAfterMs: 2_000 },
      dbRetry: { maxAttempts: 4, initialDelayMs: 50, maxDelayMs: 1_000 },
      dbBreaker: { threshold: 3, halfOpenAfterMs: 1_000 },
      redelivery: { baseMs: 1_000, maxMs: 60_000 },
      ...options,
    };
    this.metrics = createWorkerMetrics(this.o.registry);
    this.minReceive = Math.max(1, Math.floor(this.o.concurrency / 4));
    const retryableProvider = (err: unknown) => err instanceof ProviderError && err.retryable;
    // The one outbound policy (src/resilience): backoff with full jitter, the
    // default retry budget, a breaker. No policy timeouts: HttpProvider bounds
    // each capture (PSP_TIMEOUT_MS, through the same module), the ledger pool
    // each statement (statement_timeout, connectionTimeoutMillis).
    const common = { timeoutMs: null, registry: this.o.registry, logger: this.o.logger } as const;
    this.providerPolicy = outboundPolicy({
      dependency: 'provider',
      isTransient: retryableProvider,
      retry: this.o.providerRetry,
      breaker: this.o.providerBreaker,
      ...common,
    });
    this.dbPolicy = outboundPolicy({
      dependency: 'ledger',
      isTransient: isTransientDbError,
      retry: this.o.dbRetry,
      breaker: this.o.dbBreaker,
      ...common,
    });
    // Deletes only (receive backs off in the loop; changeVisibility is best
    // effort). No breaker: a delete that fails is harmless, the redelivery
    // finds the ledger row and deletes then.
    this.queuePolicy = outboundPolicy({
      dependency: 'queue',
      isTransient: isTransientQueueError,
      retry: { maxAttempts: 5, initialDelayMs: 50, maxDelayMs: 1_000 },
      breaker: null,
      ...common,
    });
    this.providerBreaker = this.providerPolicy.breaker!;
    this.dbBreaker = this.dbPolicy.breaker!;
    // The worker's own gauge (alerts and the dashboard read it); the policies log the changes.
    watchBreaker(this.providerBreaker, 'provider', { gauges: [this.metrics.breakerState] });
    watchBreaker(this.dbBreaker, 'ledger', { gauges: [this.metrics.breakerState] });
  }

  start(): void {
    if (this.running) throw new Error('worker already started');
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Stops receiving, lets held messages go back to the queue, and waits for in-flight work. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    await this.loopDone;
    await Promise.allSettled([...this.inFlight]);
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  private async pause(ms: number): Promise<void> {
    await delay(ms, undefined, { signal: this.abort.signal }).catch(() => {});
  }

  private async loop(): Promise<void> {
    let receiveFailures = 0;
    while (this.running) {
      if (isOpen(this.dbBreaker) || isOpen(this.providerBreaker)) {
        // A dependency is down: receiving more would only push healthy messages towards the DLQ.
        await this.probeDependencies();
        continue;
      }
      const free = this.o.concurrency - this.inFlight.size;
      // Receive in batches: with work in flight, wait until a quarter of the
      // slots are free, so that one receive, one ledger statement and one
      // delete statement each serve several checkouts (Ledger.commit and the
      // queue's delete coalesce whatever arrives together; docs/performance.md).
      if (free <= 0 || (free < this.minReceive && this.inFlight.size > 0)) {
        await Promise.race([...this.inFlight]);
        continue;
      }
      let messages: ReceivedMessage[];
      try {
        messages = await this.o.queue.receive({
          maxMessages: Math.min(free, MAX_MESSAGES_PER_RECEIVE),
          waitTimeMs: this.o.receiveWaitMs,
        });
        receiveFailures = 0;
      } catch (err) {
        receiveFailures++;
        this.o.logger.warn({ err, attempt: receiveFailures }, 'queue receive failed; backing off');
        await this.pause(jitteredDelayMs(receiveFailures, 100, 5_000));
        continue;
      }
      for (const message of messages) this.track(this.handle(message));
    }
  }

  private async probeDependencies(): Promise<void> {
    await this.pause(Math.min(this.o.dbBreaker.halfOpenAfterMs, this.o.providerBreaker.halfOpenAfterMs));
    if (!this.running) return;
    if (isOpen(this.dbBreaker)) {
      await this.dbBreaker.execute(() => this.o.ledger.ping()).catch(() => {});
    }
    // The provider breaker is probed by the held messages themselves (a real capture is the only honest probe).
    if (isOpen(this.providerBreaker) && this.inFlight.size > 0) await Promise.race([...this.inFlight]);
  }

  private track(work: Promise<void>): void {
    const tracked = work
      .catch((err: unknown) => this.o.logger.error({ err }, 'unexpected error handling a message'))
      .finally(() => {
        this.inFlight.delete(tracked);
        this.metrics.inFlight.set(this.inFlight.size);
      });
    this.inFlight.add(tracked);
    this.metrics.inFlight.set(this.inFlight.size);
  }

  private async handle(message: ReceivedMessage): Promise<void> {
    const started = process.hrtime.bigint();
    if (message.receiveCount > 1) this.metrics.retryCount.inc({ queue: 'fifo' });
    const decoded = decodeCheckoutMessage(message.body);
    if (!decoded.ok) {
      this.o.logger.error(
        { code: 'FB_MESSAGE_INVALID', messageId: message.messageId, reason: decoded.reason },
        'queue message does not match the checkout schema; it will be dead-lettered',
      );
      this.metrics.processed.inc({ outcome: 'invalid' });
      await this.release(message, 0);
      return;
    }
    const m = decoded.message;
    const log = this.o.logger.child({
      checkoutId: m.checkoutId,
      creatorId: m.creatorId,
      receive: message.receiveCount,
    });
    const heartbeat = this.keepInvisible(message);
    try {
      const outcome = await this.charge(m, message, log);
      if (outcome === null) return; // released for redelivery, or shutting down
      const result = await this.commit(m, message, outcome, log);
      if (result === null) return;
      const status = outcome.kind === 'captured' ? 'charged' : 'declined';
      await this.o.intake?.markOutcome(m.checkoutId, status).catch((err: unknown) => {
        log.warn({ err }, 'could not mirror the outcome to the intake; the ledger has it');
      });
      await this.deleteMessage(message, log);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.metrics.chargeDuration.observe({ outcome: status }, seconds);
      this.metrics.processed.inc({ outcome: result.kind === 'already_recorded' ? 'duplicate' : status });
      log.debug({ outcome: status, result: result.kind }, 'checkout settled');
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Returns the provider's outcome, or null when the message was released. */
  private async charge(
    m: CheckoutMessage,
    message: ReceivedMessage,
    log: Logger,
  ): Promise<ProviderOutcome | null> {
    const request = {
      idempotencyKey: `${PROVIDER_IDEMPOTENCY_PREFIX}${m.checkoutId}`,
      checkoutId: m.checkoutId,
      creatorId: m.creatorId,
      customerRef: m.customerRef,
      amountMinor: BigInt(m.amountMinor),
      currency: m.currency,
    };
    while (this.running) {
      try {
        const result = await this.providerPolicy.execute(({ signal }) =>
          this.o.provider.capture(request, signal),
        );
        return result.outcome === 'captured'
          ? { kind: 'captured', captureId: result.captureId }
          : { kind: 'declined', providerRef: result.captureId, declineCode: result.declineCode };
      } catch (err) {
        if (err instanceof BrokenCircuitError || retryRefused(err)) {
          // Provider outage (or failing beyond the retry budget): hold the
          // message, without burning a receive, until a probe may go through.
          await this.pause(this.o.providerBreaker.halfOpenAfterMs);
          continue;
        }
        const kind = err instanceof ProviderError ? (err.retryable ? 'transient' : 'rejected') : 'unexpected';
        this.metrics.providerErrors.inc({ kind });
        log.warn({ err, kind }, 'provider call failed; the message will be delivered again later');
        await this.o.ledger
          .recordProviderError(m.checkoutId, message.receiveCount, `${kind}: ${(err as Error).message}`)
          .catch(() => {});
        await this.release(
          message,
          jitteredDelayMs(message.receiveCount, this.o.redelivery.baseMs, this.o.redelivery.maxMs),
        );
        return null;
      }
    }
    await this.release(message, 0);
    return null;
  }

  /** Commits the outcome, holding through ledger outages. Null when shutting down or released. */
  private async commit(
    m: CheckoutMessage,
    message: ReceivedMessage,
    outcome: ProviderOutcome,
    log: Logger,
  ): Promise<CommitResult | null> {
    const input = {
      message: m,
      queueSequence: message.sequence,
      receiveCount: message.receiveCount,
      outcome,
    };
    while (this.running) {
      try {
        return await this.dbPolicy.execute(() => this.o.ledger.commit(input));
      } catch (err) {
        if (err instanceof BrokenCircuitError || isTransientDbError(err)) {
          // The ledger is down: keep the message (its capture is safe at the provider) and try again.
          await this.pause(this.o.dbBreaker.halfOpenAfterMs);
          continue;
        }
        log.error({ err }, 'ledger refused the checkout; the message will be delivered again later');
        await this.release(
          message,
          jitteredDelayMs(message.receiveCount, this.o.redelivery.baseMs, this.o.redelivery.maxMs),
        );
        return null;
      }
    }
    await this.release(message, 0);
    return null;
  }

  private async deleteMessage(message: ReceivedMessage, log: Logger): Promise<void> {
    try {
      const deleted = await this.queuePolicy.execute(() => this.o.queue.delete(message.receiptHandle));
      if (!deleted) log.warn('receipt was stale when deleting; the redelivery will find the ledger row');
    } catch (err) {
      // Leaving it is safe: the redelivery finds the ledger row and deletes then.
      log.warn({ err }, 'delete failed; the redelivery will find the ledger row and delete then');
    }
  }

  /** Makes the message visible again after delayMs (0 = now). Best effort: if it fails, the timeout does it. */
  private async release(message: ReceivedMessage, delayMs: number): Promise<void> {
    await this.o.queue.changeVisibility(message.receiptHandle, Math.ceil(delayMs / 1000)).catch(() => false);
  }

  private keepInvisible(message: ReceivedMessage): NodeJS.Timeout {
    const everyMs = Math.max(1, Math.floor((this.o.visibilityTimeoutSec * 1000) / 3));
    const timer = setInterval(() => {
      this.o.queue.changeVisibility(message.receiptHandle, this.o.visibilityTimeoutSec).catch(() => false);
    }, everyMs);
    timer.unref();
    return timer;
  }
}
