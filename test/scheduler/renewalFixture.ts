// A ledger and a payment queue on real Postgres servers, a catalog with a
// weekly, a monthly and a yearly plan per creator, an injectable clock, and an
// in-process "worker" that settles queued checkouts straight into the ledger
// (the real PaymentWorker is exercised in endToEnd.test.ts).

import type { TestContext } from 'node:test';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Registry } from 'prom-client';
import { parseCatalog, type Catalog } from '../../src/catalog/index.ts';
import { decodeCheckoutMessage, type CheckoutMessage } from '../../src/checkout/checkoutMessage.ts';
import { Ledger, type ProviderOutcome } from '../../src/ledger/index.ts';
import { PostgresQueue } from '../../src/queue/PostgresQueue.ts';
import { RenewalScheduler, type RenewalSchedulerOptions } from '../../src/scheduler/index.ts';
import type { Cadence } from '../../src/ledger/settlementSchedule.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { makeTestCatalog } from '../helpers/catalog.ts';

export function renewalCatalog(creators = 2): Catalog {
  const list = Array.from({ length: creators }, (_, i) => ({
    id: randomUUID(),
    name: `Creator ${i}`,
    apiKeySha256: ['0'.repeat(64)],
  }));
  return parseCatalog({
    creators: list,
    plans: list.flatMap((c) =>
      (['weekly', 'monthly', 'yearly'] as const).map((cadence) => ({
        id: randomUUID(),
        creatorId: c.id,
        name: cadence,
        currency: 'USD',
        amountMinor: { weekly: '300', monthly: '999', yearly: '9900' }[cadence],
        cadence,
      })),
    ),
    fxRates: makeTestCatalog(1).catalog.fxRates,
    fxSnapshotId: 'fx-renewals-1',
  });
}

export interface SubscriptionEvent {
  readonly type: string;
  readonly [field: string]: unknown;
}

export interface Clock {
  now: Date;
}

export type Decide = (m: CheckoutMessage) => ProviderOutcome;

export const capture: Decide = (m) => ({ kind: 'captured', captureId: `cap_${m.checkoutId}` });
export const decline: Decide = (m) => ({
  kind: 'declined',
  providerRef: `dec_${m.checkoutId}`,
  declineCode: 'insufficient_funds',
});

export interface RenewalRow {
  readonly period: number;
  readonly attempt: number;
  readonly periodStart: string;
  readonly claimedAt: string;
  readonly checkoutId: string;
  readonly status: string | null;
}

export async function renewalFixture(t: TestContext, creators = 2) {
  const catalog = renewalCatalog(creators);
  const ledgerUrl = await freshDatabase();
  const queueUrl = await freshDatabase();
  const ledger = await Ledger.open({ databaseUrl: ledgerUrl });
  const queue = await PostgresQueue.open({ databaseUrl: queueUrl, visibilityTimeoutSec: 60 });
  const schedulers: RenewalScheduler[] = [];
  const beforeClose: (() => Promise<void>)[] = [];
  t.after(async () => {
    for (const fn of beforeClose.reverse()) await fn();
    for (const s of schedulers) await s.stop();
    await queue.close();
    await ledger.close();
  });
  await ledger.seedCatalog(catalog);
  const clock: Clock = { now: new Date('2000-01-01T00:00:00Z') };
  let sequence = 0;

  const plan = (cadence: Cadence, creator = 0) => {
    const creatorId = catalog.creators[creator]!.id;
    const found = catalog.plans.find((p) => p.creatorId === creatorId && p.cadence === cadence);
    if (!found) throw new Error(`no ${cadence} plan`);
    return found;
  };

  return {
    ledger,
    ledgerUrl,
    queue,
    queueUrl,
    catalog,
    clock,
    plan,
    /** Registers clean-up that must run before the ledger and queue close (a worker, a provider). */
    beforeClose(fn: () => Promise<void>): void {
      beforeClose.push(fn);
    },

    scheduler(over: Partial<RenewalSchedulerOptions> = {}): RenewalScheduler {
      const s = new RenewalScheduler({
        ledger,
        queue,
        registry: new Registry(),
        now: () => clock.now,
        ...over,
      });
      schedulers.push(s);
      return s;
    },

    /** Commits a first plan checkout accepted at `anchor`; returns the new subscription's id. */
    async subscribe(cadence: Cadence, anchor: string, creator = 0): Promise<string> {
      const p = plan(cadence, creator);
      const checkoutId = randomUUID();
      await ledger.commit({
        message: {
          v: 1,
          checkoutId,
          creatorId: p.creatorId,
          customerRef: `cus_${++sequence}`,
          planId: p.id,
          amountMinor: p.amountMinor,
          currency: p.currency,
          acceptedAt: new Date(anchor).toISOString(),
        },
        queueSequence: BigInt(sequence),
        receiveCount: 1,
        outcome: { kind: 'captured', captureId: `cap_first_${checkoutId}` },
      });
      const res = await ledger.pool.query<{ id: string }>(
        `SELECT id FROM subscriptions WHERE started_checkout_id = $1`,
        [checkoutId],
      );
      return res.rows[0]!.id;
    },

    /** Receives, settles (as `decide` says) and deletes every queued checkout, until the queue is empty. */
    async settleQueued(decide: Decide = capture): Promise<CheckoutMessage[]> {
      const settled: CheckoutMessage[] = [];
      for (;;) {
        const received = await queue.receive({ maxMessages: 10, waitTimeMs: 0 });
        if (received.length === 0) return settled;
        for (const r of received) {
          const decoded = decodeCheckoutMessage(r.body);
          if (!decoded.ok) throw new Error(`queued message does not parse: ${decoded.reason}`);
          await ledger.commit({
            message: decoded.message,
            queueSequence: r.sequence,
            receiveCount: r.receiveCount,
            outcome: decide(decoded.message),
          });
          await queue.delete(r.receiptHandle);
          settled.push(decoded.message);
        }
      }
    },

    /** Every claimed attempt of a subscription with its ledger outcome, in order. */
    async renewals(subscriptionId: string): Promise<RenewalRow[]> {
      const res = await ledger.pool.query<{
        period: number;
        attempt: number;
        period_start: Date;
        claimed_at: Date;
        checkout_id: string;
        status: string | null;
      }>(
        `SELECT a.period, a.attempt, a.period_start, a.claimed_at, a.checkout_id, c.status
           FROM renewal_attempts a LEFT JOIN checkouts c ON c.id = a.checkout_id
          WHERE a.subscription_id = $1 ORDER BY a.period, a.attempt`,
        [subscriptionId],
      );
      return res.rows.map((r) => ({
        period: r.period,
        attempt: r.attempt,
        periodStart: r.period_start.toISOString(),
        claimedAt: r.claimed_at.toISOString(),
        checkoutId: r.checkout_id,
        status: r.status,
      }));
    },

    async subscription(subscriptionId: string) {
      const res = await ledger.pool.query<{
        status: string;
        period: number;
        attempt: number;
        next_charge_at: Date;
        pending_checkout_id: string | null;
      }>(
        `SELECT sub.status, s.period, s.attempt, s.next_charge_at, s.pending_checkout_id
           FROM subscriptions sub JOIN settlement_schedules s ON s.subscription_id = sub.id WHERE sub.id = $1`,
        [subscriptionId],
      );
      const r = res.rows[0]!;
      return {
        status: r.status,
        period: r.period,
        attempt: r.attempt,
        nextChargeAt: r.next_charge_at.toISOString(),
        pending: r.pending_checkout_id,
      };
    },

    /** Outbox events of the subscription's types, in commit order. */
    async subscriptionEvents(subscriptionId: string) {
      const res = await ledger.pool.query<{ event_type: string; payload: Record<string, unknown> }>(
        `SELECT event_type, payload FROM outbox
          WHERE event_type LIKE 'subscription.%' AND payload->>'subscriptionId' = $1 ORDER BY id`,
        [subscriptionId],
      );
      return res.rows.map((r): SubscriptionEvent => ({ ...r.payload, type: r.event_type }));
    },

    /** Queue messages (live or dead) per dedup id, read from the queue database itself. */
    async queuedPerCheckout(): Promise<Map<string, number>> {
      const client = new pg.Client({ connectionString: queueUrl });
      await client.connect();
      try {
        const res = await client.query<{ dedup_id: string; n: number }>(
          `SELECT dedup_id, count(*)::int n FROM queue_message GROUP BY dedup_id`,
        );
        return new Map(res.rows.map((r) => [r.dedup_id, r.n]));
      } finally {
        await client.end();
      }
    },
  };
}

export type RenewalFixture = Awaited<ReturnType<typeof renewalFixture>>;

/** Adds days (UTC, exact 24 h) to an instant. */
export function plusDays(at: Date | string, days: number): Date {
  return new Date(new Date(at).getTime() + days * 24 * 3600 * 1000);
}
